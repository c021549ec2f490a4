"""Server CPU per request: authenticated GET /v1/citizens/{pin} and GET /healthz against the bare
FastAPI app of bench/edge.py (bench/bare_app.py), in-process.

Complements bench/lookup.sh on a shared machine: wall-clock throughput moves with whatever else
runs, the CPU time the service process spends per request much less. The app is driven through
ASGI (no sockets, no HTTP parsing: the same for both endpoints) by 32 concurrent clients, the
database as for the wrk run (migrated, populated, with the ``bench`` client of bench/lookup.sh).
PostgreSQL's own CPU is not counted (it is another process).

    .venv/bin/python -P bench/lookup_cpu.py sqlite:///./bench-1m.db [requests]
        [--profile lookup.prof]

(``-P``: bench/seed.py must not shadow the ``seed`` package.) ``--profile``: after the rounds,
one more round of lookups under cProfile, timed by the thread's CPU clock (not the wall clock,
which a shared machine's other processes move), its statistics written to the file.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.db import Database
from app.main import create_app
from app.models.population import Citizen
from app.settings import load_settings

CLIENTS = 32
DANCU = str(Path(sys.executable).with_name("dancu"))


async def call(app: Any, path: str, headers: dict[str, str], method: str = "GET",
               body: bytes = b"") -> tuple[int, bytes]:
    scope = {"type": "http", "http_version": "1.1", "method": method, "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "scheme": "http",
             "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def measure(app: Any, path: Callable[[int], str], headers: dict[str, str],
                  requests: int) -> tuple[float, set[int]]:
    """Process CPU seconds per request, and the statuses seen."""
    numbers, statuses = iter(range(requests)), set()

    async def client() -> None:
        for n in numbers:
            statuses.add((await call(app, path(n), headers))[0])

    started = time.process_time()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return (time.process_time() - started) / requests, statuses


async def bench_token(app: Any, url: str) -> str:
    env = dict(os.environ, DANCU_DATABASE_URL=url)
    rotated = subprocess.run([DANCU, "clients", "rotate-secret", "bench"], env=env,
                             capture_output=True, text=True, check=True).stdout
    secret = rotated.split("client_secret: ")[1].strip()
    auth = "Basic " + base64.b64encode(f"bench:{secret}".encode()).decode()
    _, body = await call(app, "/oauth2/token", {
        "authorization": auth, "content-type": "application/x-www-form-urlencoded"}, "POST",
        b"grant_type=client_credentials&scope=citizen.basic")
    return str(json.loads(body)["access_token"])


def bare_app() -> Any:
    """bench/bare_app.py's app (the yardstick of bench/edge.py), driven the same way."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bare_app", Path(__file__).with_name(
        "bare_app.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


async def profiled(app: Any, path: Callable[[int], str], headers: dict[str, str], requests: int,
                   out: str) -> None:
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    await measure(app, path, headers, requests)
    profile.disable()
    profile.dump_stats(out)
    print(f"profile of {requests} lookups: {out}")


def steady_clients() -> None:
    """Keep client snapshots for the run. Under valgrind (bench/lookup_instructions.sh) a lookup
    takes ~50x as long, so the two-second client cache would reload (an ORM read) every ~100
    lookups instead of every ~10,000 as in a server, by the machine's load: the count would
    measure how fast valgrind ran."""
    from app.services.storage import runtime

    runtime.CLIENT_CACHE_SECONDS = 3600.0


async def main(url: str, requests: int, *, rounds: int = 3, lookups_only: bool = False,
               profile: str | None = None) -> None:
    if lookups_only:
        steady_clients()
    # settle_gc: start-up's objects frozen out of the collector's passes, as in the server's
    # process (app.asgi); else full collections over them land in some runs and not in others
    app = create_app(load_settings(database_url=url, auto_seed=False, log_level="warning"),
                     settle_gc=True)
    bare = bare_app()
    with Database.connect(url).read() as session:
        pins = session.scalars(select(Citizen.pin).order_by(func.random()).limit(2000)).all()
    async with app.router.lifespan_context(app):
        headers = {"authorization": "Bearer " + await bench_token(app, url)}
        noop, lookup = (lambda n: "/healthz"), (lambda n: f"/v1/citizens/{pins[n % len(pins)]}")
        await measure(bare, noop, {}, 500)
        await measure(app, noop, {}, 500)
        await measure(app, lookup, headers, 500)
        for _ in range(rounds):
            if lookups_only:
                lookup_cpu, lookup_status = await measure(app, lookup, headers, requests)
                print(f"CPU per lookup: {lookup_cpu * 1e6:.0f} us "
                      f"(statuses {sorted(lookup_status)})")
                continue
            bare_cpu, _ = await measure(bare, noop, {}, requests)
            noop_cpu, noop_status = await measure(app, noop, {}, requests)
            lookup_cpu, lookup_status = await measure(app, lookup, headers, requests)
            print(f"CPU per request: bare app {bare_cpu * 1e6:.0f} us, /healthz "
                  f"{noop_cpu * 1e6:.0f} us ({bare_cpu / noop_cpu:.2f}x bare), lookup "
                  f"{lookup_cpu * 1e6:.0f} us ({bare_cpu / lookup_cpu:.2f}x bare) "
                  f"(statuses {sorted(noop_status | lookup_status)})")
        if profile:
            await profiled(app, lookup, headers, requests, profile)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("url")
    parser.add_argument("requests", type=int, nargs="?", default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lookups-only", action="store_true",
                        help="rounds of lookups alone, client snapshots kept for the run "
                             "(bench/lookup_instructions.sh)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile one more round of lookups")
    options = parser.parse_args()
    asyncio.run(main(options.url, options.requests, rounds=options.rounds,
                     lookups_only=options.lookups_only, profile=options.profile))
