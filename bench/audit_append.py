"""CPU per audit record of a group commit, the way requests append them.

Each round commits ``--group`` records (one per request, as the group-commit writer batches the
requests in flight) ``--commits`` times and prints the process CPU and the wall time per commit
and the CPU per record. Paths:

* ``writer`` -- what requests use: on PostgreSQL the event-loop appends over psycopg's async
  connections (``PostgresAppends``: head locked, ``COPY``, head moved); on SQLite the writer's
  ``append_groups`` in a write transaction (run here without the thread hand-off).
* ``session`` -- ``audit.append_groups`` in a SQLAlchemy write session (the CLI's and tests'
  path; on PostgreSQL a multi-row ``INSERT ... VALUES``, which psycopg parses again on every
  commit: what the writer used before ``COPY``).

    .venv/bin/python -P bench/audit_append.py URL [--group 32] [--commits 200] [--rounds 3]

The records go into the database's real audit chain (client ``bench-audit``), which stays whole.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from app.db import Database
from app.services.sharing import audit
from app.services.sharing.audit_writer import PostgresAppends


def _groups(size: int) -> list[audit.Group]:
    now = datetime.now(UTC)
    return [((audit.AuditEntry("bench-audit", "benchmark", "lookup", f"0012{n:08d}",
                               ("birth_date", "full_name", "pin", "sex"), "disclosed",
                               f"bench-{n}"),), now) for n in range(size)]


def _timed(commit: Callable[[], None], commits: int) -> tuple[float, float]:
    for _ in range(10):  # warm-up: connections, prepared statements
        commit()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(commits):
        commit()
    return (time.process_time() - cpu) / commits, (time.perf_counter() - wall) / commits


def session_path(database: Database, groups: list[audit.Group]) -> Callable[[], None]:
    def commit() -> None:
        with database.write() as session:
            audit.append_groups(session, groups)
    return commit


def writer_path(database: Database, groups: list[audit.Group]) -> Callable[[], None]:
    if database.is_sqlite:
        return session_path(database, groups)
    appends, loop = PostgresAppends(database.url), asyncio.new_event_loop()
    return lambda: loop.run_until_complete(appends.append(groups))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--group", type=int, default=32)
    parser.add_argument("--commits", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    database, groups = Database.connect(args.url), _groups(args.group)
    paths = {"writer": writer_path(database, groups), "session": session_path(database, groups)}
    for _ in range(args.rounds):
        for name, commit in paths.items():
            cpu, wall = _timed(commit, args.commits)
            print(f"{name:8} commit of {args.group}: CPU {cpu * 1000:.2f} ms, wall "
                  f"{wall * 1000:.2f} ms; CPU per record {cpu / args.group * 1e6:.0f} us")
    database.dispose()


if __name__ == "__main__":
    main()
