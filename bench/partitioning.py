#!/usr/bin/env python3
"""Would PostgreSQL declarative partitioning of ``citizen`` help? Measure it on a seeded database.

    .venv/bin/python bench/partitioning.py postgresql://postgres@127.0.0.1:5432/dancu_bench_1m
    .venv/bin/python bench/partitioning.py URL --partitions 16 --lookups 20000

In a scratch schema ``partition_probe`` of the given database (dropped at the end) it copies the
``citizen`` table three ways and times each step: a plain table, the same table hash-partitioned
by ``pin`` (``--partitions``, the Citus-compatible key), and the same partitioned by the first
three PIN digits (the place of birth registration, list partitions per province code). For each:

- load: ``INSERT ... SELECT`` of all rows (the routing cost a COPY would pay too);
- index build: the primary key on ``pin`` (one build, or one per partition);
- lookups: the service's own statement (``SELECT <columns> FROM citizen WHERE pin = ANY(%s)``,
  prepared, one PIN each; by place it also names the place digits, or no partition is pruned)
  for ``--lookups`` random existing PINs, sequentially on one connection (latency p50/p99) and
  from 4 threads (throughput), after one warm-up pass.

Prints a markdown table. Nothing is recorded automatically: copy the rows into bench/RESULTS.md
with the date, machine load and database size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable

import psycopg

SCHEMA = "partition_probe"
THREADS = 4


def timed(conn: psycopg.Connection, sql: str) -> float:
    started = time.perf_counter()
    conn.execute(sql)
    return time.perf_counter() - started


def columns(conn: psycopg.Connection) -> str:
    rows = conn.execute("SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = 'public' AND table_name = 'citizen' "
                        "ORDER BY ordinal_position").fetchall()
    return ", ".join(r[0] for r in rows)


def create_plain(conn: psycopg.Connection) -> None:
    conn.execute(f"CREATE TABLE {SCHEMA}.plain (LIKE public.citizen INCLUDING DEFAULTS)")


def create_hash(conn: psycopg.Connection, partitions: int) -> None:
    conn.execute(f"CREATE TABLE {SCHEMA}.by_hash (LIKE public.citizen INCLUDING DEFAULTS) "
                 "PARTITION BY HASH (pin)")
    for i in range(partitions):
        conn.execute(f"CREATE TABLE {SCHEMA}.by_hash_{i} PARTITION OF {SCHEMA}.by_hash "
                     f"FOR VALUES WITH (MODULUS {partitions}, REMAINDER {i})")


def create_place(conn: psycopg.Connection) -> None:
    """List partitions on the place of birth registration (= the PIN's first three digits)."""
    conn.execute(f"CREATE TABLE {SCHEMA}.by_place (LIKE public.citizen INCLUDING DEFAULTS) "
                 "PARTITION BY LIST (birth_registration_place)")
    places = [r[0] for r in conn.execute(
        "SELECT DISTINCT birth_registration_place FROM public.citizen ORDER BY 1")]
    for place in places:
        conn.execute(f"CREATE TABLE {SCHEMA}.by_place_{place} PARTITION OF {SCHEMA}.by_place "
                     f"FOR VALUES IN ('{place}')")


def primary_key(name: str) -> str:
    key = "(pin)" if name != "by_place" else "(birth_registration_place, pin)"
    return f"ALTER TABLE {SCHEMA}.{name} ADD PRIMARY KEY {key} WITH (fillfactor = 100)"


def sample_pins(conn: psycopg.Connection, count: int) -> list[str]:
    return [r[0] for r in conn.execute(
        f"SELECT pin FROM public.citizen TABLESAMPLE SYSTEM (5) LIMIT {count}")]


def lookups(url: str, name: str, cols: str, pins: list[str]) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, lookups/s with THREADS threads)."""
    sql = f"SELECT {cols} FROM {SCHEMA}.{name} WHERE pin = ANY(%s)"
    if name == "by_place":  # pruning needs the key in the query: the PIN's first digits
        sql += " AND birth_registration_place = ANY(%s)"

    def run(chunk: list[str], out: list[float] | None) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            for pin in chunk:
                values = ([pin],) if name != "by_place" else ([pin], [pin[:3]])
                started = time.perf_counter()
                conn.execute(sql, values, prepare=True).fetchall()
                if out is not None:
                    out.append(time.perf_counter() - started)

    run(pins, None)  # warm-up: the same pages, cached, for every layout
    latencies: list[float] = []
    run(pins, latencies)
    latencies.sort()
    chunks = [pins[i::THREADS] for i in range(THREADS)]
    threads = [threading.Thread(target=run, args=(c, None)) for c in chunks]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = len(pins) / (time.perf_counter() - started)
    return (statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99)] * 1000,
            rate)


def size_mib(conn: psycopg.Connection, name: str) -> float:
    row = conn.execute(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = '{SCHEMA}' AND c.relkind = 'r' AND "
        f"(c.relname = '{name}' OR c.relname LIKE '{name}\\_%')").fetchone()
    return float(row[0]) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", help="libpq URL of a seeded database")
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--lookups", type=int, default=20000)
    args = parser.parse_args()
    url = args.url.replace("postgresql+psycopg://", "postgresql://")
    layouts: dict[str, Callable[[psycopg.Connection], None]] = {
        "plain": create_plain,
        "by_hash": lambda c: create_hash(c, args.partitions),
        "by_place": create_place,
    }
    print(f"load avg {os.getloadavg()[0]:.1f}")
    print("| layout | rows/s loaded | primary key build | size | lookup p50 | lookup p99 | "
          f"lookups/s ({THREADS} threads) |\n|---|---:|---:|---:|---:|---:|---:|")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute("SET maintenance_work_mem = '1GB'")
        cols = columns(conn)
        people = conn.execute("SELECT count(*) FROM public.citizen").fetchone()[0]
        pins = sample_pins(conn, args.lookups)
        try:
            for name, create in layouts.items():
                create(conn)
                load = timed(conn, f"INSERT INTO {SCHEMA}.{name} ({cols}) "
                                   f"SELECT {cols} FROM public.citizen")
                build = timed(conn, primary_key(name))
                conn.execute(f"ANALYZE {SCHEMA}.{name}")
                p50, p99, rate = lookups(url, name, cols, pins)
                print(f"| {name} | {people / load:,.0f} | {build:.1f} s | "
                      f"{size_mib(conn, name):,.0f} MiB | {p50:.3f} ms | {p99:.3f} ms | "
                      f"{rate:,.0f} |", flush=True)
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
