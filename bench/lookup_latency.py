#!/usr/bin/env python3
"""Latency of the lookup by PIN in the database itself, to compare population sizes (1M vs 105M).

    .venv/bin/python bench/lookup_latency.py postgresql://postgres@127.0.0.1:5432/dancu_bench_1m
    .venv/bin/python bench/lookup_latency.py URL --pins 20000

The statement is the service's own fast path (``SELECT <columns> FROM citizen WHERE pin =
ANY(%s)``, prepared, autocommit, one PIN each), run sequentially on one connection for ``--pins``
random existing PINs, twice: the first pass touches people no earlier statement of the benchmark
read (on a population larger than memory, their pages mostly come from disk: "first touch"), the
second reads the same people again (cached: what bench/lookup.sh measures over HTTP, where 10,000
PINs cycle). The PINs are sampled from ``family_relation`` (TABLESAMPLE), so the sampling itself
reads no ``citizen`` page. Prints one markdown row per pass: p50, p95, p99, max, lookups/s.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime

import psycopg

STATEMENT = "SELECT {columns} FROM citizen WHERE pin = ANY(%s)"


def quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))]


def sample(conn: psycopg.Connection, count: int) -> list[str]:
    people = conn.execute("SELECT size FROM population_run").fetchone()[0]
    percent = min(100.0, 100.0 * 4 * count / max(people, 1))
    rows = conn.execute(f"SELECT DISTINCT pin FROM family_relation TABLESAMPLE SYSTEM ({percent}) "
                        f"LIMIT {count}").fetchall()
    return [r[0] for r in rows]


def run(conn: psycopg.Connection, sql: str, pins: list[str]) -> tuple[list[float], float]:
    latencies = []
    started = time.perf_counter()
    for pin in pins:
        begun = time.perf_counter()
        found = conn.execute(sql, ([pin],), prepare=True).fetchall()
        latencies.append((time.perf_counter() - begun) * 1000)
        assert len(found) == 1
    return sorted(latencies), len(pins) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--pins", type=int, default=20000)
    args = parser.parse_args()
    url = args.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        columns = ", ".join(r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'citizen' "
            "ORDER BY ordinal_position"))
        sql = STATEMENT.format(columns=columns)
        people = conn.execute("SELECT size FROM population_run").fetchone()[0]
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        pins = sample(conn, args.pins)
        print("| date (UTC) | people | database | pass | lookups | p50 | p95 | p99 | max | "
              "lookups/s | load |\n|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for label in ("first touch", "cached"):
            latencies, rate = run(conn, sql, pins)
            print(f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {people:,} | {size / 2**30:.1f} GiB | "
                  f"{label} | {len(pins):,} | {quantile(latencies, 0.5):.3f} ms | "
                  f"{quantile(latencies, 0.95):.3f} ms | {quantile(latencies, 0.99):.3f} ms | "
                  f"{latencies[-1]:.1f} ms | {rate:,.0f} | {os.getloadavg()[0]:.1f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
