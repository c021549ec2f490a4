"""``dancu serve`` with timing probes, to find what stalls the lookup's requests (bench/RESULTS.md,
"The lookup's tail: stalls"). Run it in place of ``dancu serve`` (same environment), drive it
with ``bench/open_loop.py``; every two seconds it rewrites ``--events`` with one line per event:
seconds since start, milliseconds taken, kind, thread, and ``cpu=`` the milliseconds of CPU
that thread used meanwhile (``time.thread_time``: what the event took of the GIL, which a loaded
machine's waits for a CPU do not inflate).

    DANCU_...=... .venv/bin/python -P bench/lookup_stalls.py --events stalls.txt

Kinds: ``looplag`` (a 1 ms sleep of the event loop that took more than 5 ms: the loop was held),
``quota_wait`` (a request that found its process's quota block empty and waited for a lease),
``lease`` (the lease's write transaction: SQLite's, inline or in a worker thread, the thread
named), ``lease_pg`` (PostgreSQL's, from the event loop: its wall time, the loop free meanwhile),
``at_once`` (an inline SQLite write
on the loop: the audit trail's group commits), ``waiting`` (the same in a worker thread, when the
lock was taken), ``checkpoint`` (a WAL checkpoint, background thread), ``gc0/1/2`` (collections,
from ``gc.callbacks``: every young one over 2 ms, every older one), ``audit_wait`` (each request's
wait for its audit record's commit), ``audit_pg`` (a PostgreSQL group commit, ``records=``),
``read_pg`` (a PostgreSQL batched citizen read, ``pins=``). Events are appended to the file.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn

from app import security
from app.cli import app as cli
from app.services.kit import rate_limit
from app.services.storage import checkpoints, units

EVENTS: list[tuple[float, float, str, str]] = []
START = time.perf_counter()
DUMPED: list[float] = []
TYPES: collections.Counter[str] = collections.Counter()  # the first full collection's survivors


def event(kind: str, began: float, seconds: float, detail: str = "") -> None:
    EVENTS.append((began - START, seconds * 1000, kind, detail))


def watch_collections() -> None:
    began: dict[str, float] = {}

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began["at"], began["cpu"] = time.perf_counter(), time.thread_time()
        elif "at" in began:
            took = time.perf_counter() - began["at"]
            if info["generation"] >= 1 or took > 0.002:
                cpu = 1000 * (time.thread_time() - began["cpu"])
                # a full one: how many objects it walked (the old generation, after it)
                old = f" old={len(gc.get_objects(2))}" if info["generation"] == 2 else ""
                if old and not DUMPED:
                    DUMPED.append(time.perf_counter())
                    TYPES.update(type(o).__name__ for o in gc.get_objects(2))
                event(f"gc{info['generation']}", began["at"], took, f"cpu={cpu:.2f}{old}")

    gc.callbacks.append(callback)


def timed(owner: Any, name: str, kind: str, *, over_ms: float = 0.0) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    def probe(*args: Any, **kwargs: Any) -> Any:
        began, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            took = time.perf_counter() - began
            if took * 1000 >= over_ms:
                event(kind, began, took, f"{threading.current_thread().name} "
                      f"cpu={1000 * (time.thread_time() - cpu):.2f}")

    setattr(owner, name, probe)


def timed_async(owner: Any, name: str, kind: str,
                detail: Callable[..., str] | None = None) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    async def probe(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            event(kind, began, time.perf_counter() - began,
                  detail(*args, **kwargs) if detail else "")

    setattr(owner, name, probe)


def time_audit_and_reads() -> None:
    """Every request's wait for its audit record's commit (``audit_wait``), every group commit
    on PostgreSQL (``audit_pg``, with its records) and every batched citizen read there
    (``read_pg``, with its PINs): where a PostgreSQL lookup's milliseconds go."""
    from app.services.population.reading import AsyncPostgresCitizens
    from app.services.sharing.audit_writer import AuditWriter, PostgresAppends

    timed_async(AuditWriter, "append", "audit_wait")
    timed_async(PostgresAppends, "append", "audit_pg",
                lambda _self, groups: f"records={sum(len(e) for e, _ in groups)}")
    timed_async(AsyncPostgresCitizens, "_query", "read_pg",
                lambda _self, _state, pins: f"pins={len(pins)}")


def time_quota_waits() -> None:
    original = security._count_request

    async def probe(*args: Any, **kwargs: Any) -> None:
        began = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            event("quota_wait", began, time.perf_counter() - began)

    security._count_request = probe  # type: ignore[assignment]


async def loop_lag() -> None:
    while True:
        began = time.perf_counter()
        await asyncio.sleep(0.001)
        took = time.perf_counter() - began
        if took > 0.005:
            event("looplag", began, took)


def watch_loop() -> None:
    original = uvicorn.Server.serve

    async def serve(self: uvicorn.Server, *args: Any, **kwargs: Any) -> None:
        task = asyncio.get_running_loop().create_task(loop_lag())
        try:
            await original(self, *args, **kwargs)
        finally:
            task.cancel()

    uvicorn.Server.serve = serve  # type: ignore[method-assign]


def audit_commits_not_flushed() -> None:
    """``DANCU_BENCH_AUDIT_SYNC_OFF=1``, a measurement only: the PostgreSQL audit writer's
    connections commit with ``synchronous_commit`` off, so a request's answer no longer waits for
    its audit record's WAL flush (the record is not durable when the answer leaves: never a way to
    serve). Served beside the unchanged code (``bench/open_loop_ab.py --env``), it shows what
    the record's durability costs a lookup."""
    import psycopg

    from app.services.sharing.audit_writer import APPLICATION_NAME, PostgresAppends

    async def connect(self: PostgresAppends) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._dsn, application_name=APPLICATION_NAME, autocommit=True,
            options="-c synchronous_commit=off")

    PostgresAppends._connect = connect  # type: ignore[method-assign]


def write_events(path: str) -> None:
    written = 0
    open(path, "w").close()
    while True:
        time.sleep(2)
        new = EVENTS[written:]  # appended only: the per-request events are many
        written += len(new)
        with open(path, "a") as out:
            out.writelines(f"{at:.3f} {ms:.2f} {kind} {detail}\n" for at, ms, kind, detail in new)
        if TYPES:
            with open(path + ".types", "w") as out:
                out.writelines(f"{n} {name}\n" for name, n in TYPES.most_common(40))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", required=True)
    args = parser.parse_args()
    watch_collections()
    timed(checkpoints, "checkpoint", "checkpoint")
    timed(units, "_at_once", "at_once", over_ms=0.5)
    timed(units, "_waiting", "waiting")
    if hasattr(security, "_charged"):  # bench/RESULTS.md, "The tail, sixth pass"
        timed(security, "_charged", "lease")
        timed_async(rate_limit.AsyncPostgresCharges, "charge", "lease_pg")
    else:  # the code before it: the lease in a worker thread
        timed(security, "_lease", "lease")
    time_quota_waits()
    time_audit_and_reads()
    if os.environ.get("DANCU_BENCH_AUDIT_SYNC_OFF") == "1":
        audit_commits_not_flushed()
    watch_loop()
    threading.Thread(target=write_events, args=(args.events,), daemon=True).start()
    cli(["serve"])


if __name__ == "__main__":
    main()
