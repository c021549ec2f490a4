#!/usr/bin/env python3
"""Where ``dancu seed``'s time goes, per process and per stage, on SQLite (issue 19).

    DANCU_SECRET_KEY=bench-secret-key-for-dancu-1m .venv/bin/python bench/seed_stages.py \
        --size 1000000 --database seed-stages.db

Runs what ``dancu seed`` runs (``populate`` with the cards and accounts, into a fresh file) with
timers around the writer's steps: for each, the wall time and the CPU time of the writing
process. The generator worker's CPU time (user + system) is read when it has exited, and its
share of the wall time follows from the time the writer spent waiting for batches. The process
that is busy all the time is the critical path; the other has room for more work.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

WALL: dict[str, float] = defaultdict(float)
CPU: dict[str, float] = defaultdict(float)
ENDS: dict[str, float] = {}


def timed(stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            ENDS[stage] = time.perf_counter()
            WALL[stage] += ENDS[stage] - wall
            CPU[stage] += time.process_time() - cpu
    return run


def timed_batches(original: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """The wait for each batch (receiving and unpickling included) as its own stage."""
    def batches(**kwargs: Any) -> Iterator[Any]:
        made = original(**kwargs)  # the worker starts now, as without the timers

        def received() -> Iterator[Any]:
            with closing(made):  # type: ignore[type-var]
                yield from timed_receive(iter(made))
        return received()
    return batches


def timed_receive(source: Iterator[Any]) -> Iterator[Any]:
    while True:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            batch = next(source)
        except StopIteration:
            return
        finally:
            WALL["receive"] += time.perf_counter() - wall
            CPU["receive"] += time.process_time() - cpu
        yield batch


def instrument() -> None:
    from seed import loader, pipeline

    writer = loader.SqliteWriter
    writer.write = timed("write people", writer.write)  # type: ignore[method-assign]
    writer.write_tuples = timed("write cards, accounts",  # type: ignore[method-assign]
                                writer.write_tuples)
    writer.finish = timed("indexes", writer.finish)  # type: ignore[method-assign]
    pipeline.batches = timed_batches(pipeline.batches)  # type: ignore[assignment]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", type=Path, required=True, help="a new SQLite file")
    args = parser.parse_args()
    here = Path(__file__).resolve().parent  # run as a script: bench/seed.py would hide seed/
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from app import migrations
    from app.db import Database
    from seed.populate import Extras, populate

    if args.database.exists():
        parser.error(f"{args.database} exists: give a new file")
    database = Database.connect(f"sqlite:///{args.database.resolve()}")
    migrations.upgrade(database.engine)
    instrument()
    started, cpu = time.perf_counter(), time.process_time()
    summary = populate(database, size=args.size, seed=args.seed, extras=Extras())
    # from the end of the index builds to the return: the commit (the journal's and the
    # file's fsync, which wait for the disk to take every page not yet written back)
    WALL["commit"] = time.perf_counter() - ENDS["indexes"]
    database.dispose()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    worker = resource.getrusage(resource.RUSAGE_CHILDREN)
    writer = resource.getrusage(resource.RUSAGE_SELF)
    for stage in WALL:
        print(f"{stage:24} wall {WALL[stage]:6.1f} s  writer CPU {CPU[stage]:6.1f} s")
    print(f"{'populate':24} wall {wall:6.1f} s  writer CPU {cpu:6.1f} s "
          f"({summary.rows['card']:,} cards, {summary.rows['vneid_account']:,} accounts)")
    print(f"{'writer process':24} CPU {writer.ru_utime + writer.ru_stime:6.1f} s "
          f"(user {writer.ru_utime:.1f}, sys {writer.ru_stime:.1f}, imports and migrations too)")
    print(f"{'generator worker':24} CPU {worker.ru_utime + worker.ru_stime:6.1f} s "
          f"(user {worker.ru_utime:.1f}, sys {worker.ru_stime:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
