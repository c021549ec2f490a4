#!/usr/bin/env python3
"""Time ``dancu seed`` on SQLite and PostgreSQL and record the figures in bench/RESULTS.md.

    .venv/bin/python bench/seed.py --size 1000000                 # both backends
    .venv/bin/python bench/seed.py --size 10000000 --backend postgresql
    .venv/bin/python bench/seed.py --size 1000000 --backend sqlite --cards-accounts

Each run is ``dancu seed --population-only`` (the people: the figures of issue 2); with
``--cards-accounts``, each is followed by the default ``dancu seed``, which also generates the
chip cards and VNeID accounts in the same transaction, so the ratio of the two is taken in one run.

Each run is ``/usr/bin/time -v dancu seed --size N --seed S --database-url URL`` into a fresh
database (a temporary SQLite file, or ``dancu_bench_<N>`` created on the PostgreSQL server). Peak
memory is reported two ways: the largest single process (GNU time: the CLI or its generator worker)
and the largest sum over the process tree, sampled every 100 ms from /proc. The load average at
the start is recorded too: this machine is shared, and other work slows the run down; the CPU
time (user + system, the CLI and its worker; the PostgreSQL server's own work is not included)
moves less with the load than the wall time.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "RESULTS.md"
DANCU = Path(sys.executable).with_name("dancu")
SECTION = "## Population seed (`bench/seed.py`)"
HEADER = ("| date (UTC) | code | backend | people | wall | people/s | CPU user+sys | "
          "peak RSS, largest process | peak RSS, process tree | database size | "
          "load avg at start | command |\n"
          "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")


def tree_rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, in KiB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        match = re.search(r"VmRSS:\s+(\d+)", status)
        total += int(match.group(1)) if match else 0
        todo += [int(c) for c in children]
    return total


def sample_peak(process: subprocess.Popen, peak: list[int]) -> None:
    while process.poll() is None:
        peak[0] = max(peak[0], tree_rss_kib(process.pid))
        time.sleep(0.1)


def gnu_time(stderr: str, label: str) -> str:
    match = re.search(rf"{re.escape(label)}: (.+)", stderr)
    return match.group(1).strip() if match else "?"


def wall_seconds(text: str) -> float:
    parts = [float(p) for p in text.split(":")]
    return sum(p * 60 ** i for i, p in enumerate(reversed(parts)))


def machine() -> str:
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = re.search(r"Model name:\s+(.+)", cpu)
    cpus = re.search(r"^CPU\(s\):\s+(\d+)", cpu, re.M)
    memory = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.split("\n")[1]
    return (f"{model.group(1).strip() if model else '?'}, {cpus.group(1) if cpus else '?'} CPUs, "
            f"{memory.split()[1]} GiB RAM")


def fresh_target(backend: str, size: int, pg_server: str, work: Path) -> tuple[str, str]:
    """(database URL, name for the size query)."""
    if backend == "sqlite":
        path = work / f"bench-{size}.db"
        return f"sqlite:///{path}", str(path)
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"dancu_bench_{size}"
    admin = make_url(pg_server).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(pg_server).set(database=name).render_as_string(hide_password=False), name


def database_size(backend: str, url: str, name: str) -> int:
    if backend == "sqlite":
        return sum(p.stat().st_size for p in Path(name).parent.glob(Path(name).name + "*"))
    import psycopg
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])


def drop(backend: str, url: str, name: str, pg_server: str) -> None:
    if backend == "sqlite":
        for p in Path(name).parent.glob(Path(name).name + "*"):
            p.unlink()
        return
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(pg_server).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(backend: str, args: argparse.Namespace, work: Path, *, population_only: bool) -> str:
    url, name = fresh_target(backend, args.size, args.pg_server, work)
    command = ["/usr/bin/time", "-v", str(DANCU), "seed", "--size", str(args.size),
               "--seed", str(args.seed), *(["--population-only"] if population_only else []),
               "--database-url", url]
    load = os.getloadavg()[0]
    peak = [0]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    sampler = threading.Thread(target=sample_peak, args=(process, peak), daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{backend}: dancu seed failed\n{stderr[-2000:]}")
    wall = wall_seconds(gnu_time(stderr, "Elapsed (wall clock) time (h:mm:ss or m:ss)"))
    largest = int(gnu_time(stderr, "Maximum resident set size (kbytes)"))
    cpu = sum(float(gnu_time(stderr, f"{kind} time (seconds)")) for kind in ("User", "System"))
    size = database_size(backend, url, name)
    if not args.keep:
        drop(backend, url, name, args.pg_server)
    target = "sqlite:///…" if backend == "sqlite" else "postgresql+psycopg://…"
    shown = " ".join(["dancu", *command[3:-1], target])
    return (f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {revision()} | {backend} | {args.size:,} | "
            f"{wall:.1f} s | "
            f"{args.size / wall:,.0f} | {cpu:.1f} s | {largest / 1024:,.0f} MiB | "
            f"{peak[0] / 1024:,.0f} MiB | "
            f"{size / 2**20:,.0f} MiB | {load:.1f} | `{shown}` |\n")


GENERATOR = ["seed", "app/models/population.py", "app/cli/population.py",
             "alembic/versions/0001_population_database.py"]


def revision() -> str:
    """The last commit of the generator's files (``+``: they have uncommitted changes)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--", *GENERATOR)
    return git("log", "-1", "--format=%h", "--", *GENERATOR) + ("+" if dirty else "")


def record(rows: list[str]) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if SECTION not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\nMachine: {machine()}.\n\n{HEADER}"
    start = text.index(SECTION)
    following = text.find("\n## ", start + len(SECTION))
    end = len(text) if following < 0 else following
    section = text[start:end].rstrip("\n") + "\n" + "".join(rows)
    RESULTS.write_text(text[:start] + section + ("\n" + text[end:] if following >= 0 else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backend", action="append", choices=("sqlite", "postgresql"))
    parser.add_argument("--pg-server", default=os.environ.get(
        "DANCU_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--no-record", action="store_true", help="print, do not write RESULTS.md")
    parser.add_argument("--cards-accounts", action="store_true",
                        help="after each population-only run, the default `dancu seed` (with the "
                             "chip cards and VNeID accounts) into another fresh database")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="dancu-bench-") as work:
        for backend in args.backend or ["sqlite", "postgresql"]:
            for population_only in (True, False) if args.cards_accounts else (True,):
                rows.append(run(backend, args, Path(work), population_only=population_only))
                print(rows[-1], end="")
    if not args.no_record:
        record(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
