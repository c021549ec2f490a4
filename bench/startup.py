#!/usr/bin/env python3
"""Start-up times a test suite waits for, each beside its yardstick in the same run.

    .venv/bin/python bench/startup.py [--rounds 10] [--size 2000] [--mockpass bench/.node]
                                      [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

* ``dancu --help`` and every sub-command's ``--help`` (wall time of a new process), beside
  ``python -c "import typer"`` and a one-command typer app's ``--help`` (typer's own floor: it
  builds its help with rich and its parameter types with pydantic);
* the first ``dancu serve`` on an empty SQLite database (migrations and the default 10,000 people)
  and a restart on it, each until ``/readyz`` answers 200, beside MockPass's cold start (until its
  discovery document answers);
* tenant create and reset through HTTP (``POST /v1/sandbox/tenants`` with ``--size`` people and
  ``POST /v1/sandbox/tenants/{id}/reset``): the first of a seed and size (it makes the template),
  then medians of ``--rounds``; on SQLite, and on PostgreSQL with ``--postgres``.

Medians of ``--rounds`` (first start: of ``--first-rounds``). Prints markdown tables.
The source trees (``app``, ``seed``, ``alembic``, and ``--before``'s) are byte-compiled first, as
an installed package is (pip compiles what it installs): with ``PYTHONDONTWRITEBYTECODE=1`` in the
environment an editable checkout is otherwise compiled from source at every start (~200 modules,
0.8 s of a restart on the shared machine). ``--no-compile`` measures that case.
``--before DIR`` adds the same ``dancu --help``, ``dancu serve --help`` and restart rows run from
another source tree (an older commit: ``git archive <commit> | tar -x -C DIR``) on ``PYTHONPATH``,
so a change is measured against what it replaced in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DANCU = str(BIN / "dancu")
ADMIN = {"Authorization": "Bearer " + os.environ.get("DANCU_ADMIN_TOKEN", "admin-secret")}
SUBCOMMANDS = ("", "serve", "migrate", "seed", "stats", "simulate", "export-collection",
               "accounts create", "accounts personas", "audit verify", "cards issue",
               "cards personas", "chip serve", "clients add", "clients list", "keys rotate",
               "events record", "events list", "sandbox personas", "sandbox clock freeze",
               "sandbox tenants create")
TYPER_APP = """
import typer
app = typer.Typer()
@app.command()
def hello(name: str = typer.Option("x", help="Who.")) -> None:
    '''Say hello.'''
@app.command()
def bye() -> None:
    '''Say goodbye.'''
app()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wall(command: list[str], **kwargs: object) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - started


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:,.0f} ms"


def compile_sources(trees: list[Path]) -> None:
    """Byte-compile each tree's packages (py_compile writes the caches whatever
    PYTHONDONTWRITEBYTECODE says; Python reads them either way)."""
    for tree in trees:
        folders = [str(tree / name) for name in ("app", "seed", "alembic")
                   if (tree / name).is_dir()]
        subprocess.run([str(BIN / "python"), "-m", "compileall", "-q", *folders], check=True,
                       stdout=subprocess.DEVNULL)


def before_env(before: str | None) -> dict[str, str] | None:
    return None if before is None else {**os.environ, "PYTHONPATH": before}


def cli_rows(rounds: int, before: str | None) -> list[tuple[str, list[float]]]:
    python = str(BIN / "python")
    rows: dict[str, list[float]] = {"python -c \"import typer\"": [],
                                    "one-command typer app: `hello --help`": []}
    rows.update({f"dancu {name} --help".replace("  ", " "): [] for name in SUBCOMMANDS})
    old = before_env(before)
    for _ in range(rounds):  # alternating, so the load hits every command alike
        rows["python -c \"import typer\""].append(wall([python, "-c", "import typer"]))
        rows["one-command typer app: `hello --help`"].append(
            wall([python, "-c", TYPER_APP, "hello", "--help"]))
        for name in SUBCOMMANDS:
            rows[f"dancu {name} --help".replace("  ", " ")].append(
                wall([DANCU, *name.split(), "--help"]))
        if old is not None:
            for name in ("", "serve"):
                rows.setdefault(f"before: dancu {name} --help".replace("  ", " "), []).append(
                    wall([DANCU, *name.split(), "--help"], env=old))
    return list(rows.items())


def wait_ready(url: str, process: subprocess.Popen, started: float, limit: float = 300) -> float:
    while time.perf_counter() - started < limit:
        if process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode}) before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.01)
    raise SystemExit(f"{url} not ready after {limit} s")


@contextlib.contextmanager
def dancu(database_url: str, *, port: int, before: str | None = None
          ) -> Iterator[tuple[str, float]]:
    env = {**(before_env(before) or os.environ), "DANCU_DATABASE_URL": database_url,
           "DANCU_PORT": str(port), "DANCU_LOG_LEVEL": "warning"}
    env.setdefault("DANCU_SECRET_KEY", "bench-startup-" + "0" * 50)
    started = time.perf_counter()
    process = subprocess.Popen([DANCU, "serve"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        yield base, wait_ready(f"{base}/readyz", process, started)
    finally:
        process.terminate()
        process.wait(timeout=60)


def mockpass_start(folder: str) -> float:
    entry = Path(folder) / "node_modules" / "@opengovsg" / "mockpass" / "index.js"
    if not entry.exists():
        raise SystemExit(f"MockPass not found at {entry}: npm install --prefix {folder} "
                         "@opengovsg/mockpass")
    port = free_port()
    env = {**os.environ, "MOCKPASS_PORT": str(port), "SHOW_LOGIN_PAGE": "false"}
    started = time.perf_counter()
    process = subprocess.Popen(["node", str(entry)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        return wait_ready(f"http://127.0.0.1:{port}/v2/.well-known/openid-configuration",
                          process, started)
    finally:
        process.terminate()
        process.wait(timeout=30)


def start_rows(args: argparse.Namespace) -> list[tuple[str, list[float]]]:
    first, restart, mockpass, old, old_first = [], [], [], [], []
    for _ in range(args.first_rounds):
        folder = tempfile.mkdtemp(prefix="dancu-start-")
        url = f"sqlite:///{folder}/dancu.db"
        try:
            if args.before:  # the other tree's first start, alternating with this one's
                with dancu(f"sqlite:///{folder}/before.db", port=free_port(),
                           before=args.before) as (_, seconds):
                    old_first.append(seconds)
            with dancu(url, port=free_port()) as (_, seconds):
                first.append(seconds)
            for _ in range(max(1, args.rounds // args.first_rounds)):
                with dancu(url, port=free_port()) as (_, seconds):
                    restart.append(seconds)
                mockpass.append(mockpass_start(args.mockpass))
                if args.before:  # on its own database: a newer one may carry migrations it
                    # does not know (it then refuses to start)
                    with dancu(f"sqlite:///{folder}/before.db", port=free_port(),
                               before=args.before) as (_, seconds):
                        old.append(seconds)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return [("first `dancu serve`, empty SQLite database (10,000 people) -> /readyz", first),
            ("`dancu serve` again on that database -> /readyz", restart),
            ("MockPass cold start -> discovery document", mockpass),
            ("before: `dancu serve` again on its own database -> /readyz", old),
            ("before: first `dancu serve`, empty SQLite database (10,000 people) -> /readyz",
             old_first)]


def tenant_rows(database_url: str, args: argparse.Namespace, label: str
                ) -> list[tuple[str, list[float]]]:
    created, reset, first = [], [], []
    with dancu(database_url, port=free_port()) as (base, _), httpx.Client(
            base_url=base, headers=ADMIN, timeout=600) as client:
        body = {"size": args.size, "seed": args.tenant_seed}

        def timed(method: str, path: str) -> tuple[float, dict[str, object]]:
            started = time.perf_counter()
            response = client.request(method, path, json=body if method == "POST" else None)
            seconds = time.perf_counter() - started
            response.raise_for_status()
            return seconds, response.json()

        seconds, made = timed("POST", "/v1/sandbox/tenants")
        first.append(seconds)
        ids = [str(made["id"])]
        for _ in range(args.rounds):
            seconds, made = timed("POST", "/v1/sandbox/tenants")
            created.append(seconds)
            ids.append(str(made["id"]))
            reset.append(timed("POST", f"/v1/sandbox/tenants/{ids[1]}/reset")[0])
            if len(ids) > 3:  # stay under the deployment's tenant limit
                client.delete(f"/v1/sandbox/tenants/{ids.pop()}")
        for tenant_id in ids:
            client.delete(f"/v1/sandbox/tenants/{tenant_id}")
    people = f"{args.size:,} people"
    return [(f"{label}: first tenant of a seed and size ({people}; makes the template)", first),
            (f"{label}: create a tenant ({people}, from the template)", created),
            (f"{label}: reset a tenant ({people})", reset)]


@contextlib.contextmanager
def postgres_database(server: str) -> Iterator[str]:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server)
    name = f"dancu_bench_start_{os.getpid()}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            left = connection.execute("SELECT datname FROM pg_database WHERE "
                                      "starts_with(datname, %s)", (name,)).fetchall()
            for (database,) in left:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def table(title: str, rows: list[tuple[str, list[float]]]) -> None:
    print(f"\n{title} (load average {os.getloadavg()[0]:.1f})\n")
    print("| what | median | min | max | n |\n|---|---:|---:|---:|---:|")
    for name, samples in rows:
        if samples:
            print(f"| {name} | {median_ms(samples)} | {min(samples) * 1000:,.0f} ms | "
                  f"{max(samples) * 1000:,.0f} ms | {len(samples)} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--first-rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=2000, help="people per tenant")
    parser.add_argument("--tenant-seed", type=int, default=6)
    parser.add_argument("--mockpass", default=str(ROOT / "bench" / ".node"))
    parser.add_argument("--postgres", help="a PostgreSQL server URL: tenants there too")
    parser.add_argument("--only", choices=("cli", "start", "tenants"), action="append")
    parser.add_argument("--before", help="another source tree to run the same commands from")
    parser.add_argument("--no-compile", action="store_true",
                        help="do not byte-compile the source trees first")
    args = parser.parse_args()
    if not args.no_compile:
        compile_sources([ROOT, *([Path(args.before)] if args.before else [])])
    only = set(args.only or ("cli", "start", "tenants"))
    if "cli" in only:
        table("Command line, new process each time", cli_rows(args.rounds, args.before))
    if "start" in only:
        table("Server start", start_rows(args))
    if "tenants" in only:
        folder = tempfile.mkdtemp(prefix="dancu-tenants-")
        try:
            rows = tenant_rows(f"sqlite:///{folder}/dancu.db", args, "SQLite")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if args.postgres:
            with postgres_database(args.postgres) as url:
                rows += tenant_rows(url, args, "PostgreSQL")
        table("Tenants through HTTP", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
