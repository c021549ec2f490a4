"""Full OpenID Connect flows per second: dancu-sandbox vs MockPass, same driver, same run.

One flow = authorize -> token -> userinfo, headless:

* dancu-sandbox: ``GET /oauth2/authorize`` with ``X-Sandbox-Login: <PIN>`` (persona
  ``citizen-l2``), PKCE S256, state and nonce; ``POST /oauth2/token`` with client_secret_basic and
  the verifier; ``GET /oauth2/userinfo``. Everything is enforced: client, exact redirect URI, PKCE,
  account state, consent, code stored and consumed atomically, access token registered
  (revocable), pairwise sub, ES256 ID and access tokens, all state in the database.
* MockPass (``npx @opengovsg/mockpass``), sgID v2 -- its only authorize/token/userinfo trio --
  with auto-login (``SHOW_LOGIN_PAGE=false``, ``MOCKPASS_NRIC``): no client authentication, no
  PKCE, any redirect URI, codes in process memory; RS256 ID token, JWE-encrypted userinfo.

The driver is ``wrk`` with ``bench/oidc_flows.lua`` (one flow in flight per connection, threads =
connections), the same for both. The two servers are measured alternately (``--rounds``) and the
medians reported. By default nothing is pinned and dancu-sandbox runs as deployed on this machine,
one worker process per core (``--workers 2``), against MockPass as shipped (one Node process: its
codes live in that process's memory, so it cannot run several). ``--workers 1`` compares one
process with one process; ``--server-cpus``/``--driver-cpus`` pin them with ``taskset``.

Install MockPass once, into bench/.node (ignored by git)::

    npm install --prefix bench/.node @opengovsg/mockpass

Run::

    .venv/bin/python bench/oidc_flows.py --mockpass bench/.node [--duration 20] [--rounds 3]
        [--connections 32] [--workers 2] [--database-url sqlite:///...]

It prints a JSON summary and a markdown table row for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import json
import os
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
MOCKPASS_NRIC = "S9812379B"  # a persona with MyInfo data (sgID userinfo needs one)



@dataclass(frozen=True)
class Run:
    flows: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.flows / self.seconds if self.seconds else 0.0


def wrk(base: str, env: dict[str, str], args: argparse.Namespace, duration: float) -> Run:
    """One wrk run of the Lua flow script against ``base``."""
    command = [*_taskset(args.driver_cpus), "wrk", "-t", str(args.connections), "-c",
               str(args.connections), "-d", f"{max(1, round(duration))}s", "--latency", "-s",
               str(ROOT / "bench" / "oidc_flows.lua"), base]
    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
                           f" {done.stdout.strip()[-2000:]}")
    output = done.stdout
    line = next(row for row in output.splitlines() if row.startswith("FLOWS "))
    values = line.split()
    return Run(int(values[1]), int(values[3]), float(values[5]), float(values[7]),
               float(values[9]))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pkce_file(directory: str, count: int = 20_000) -> str:
    path = Path(directory) / "pkce.txt"
    with path.open("w") as out:
        for _ in range(count):
            verifier = secrets.token_urlsafe(48)
            digest = hashlib.sha256(verifier.encode()).digest()
            out.write(f"{verifier} {base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}\n")
    return str(path)


def _taskset(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []


def _wait(url: str, process: subprocess.Popen[bytes], seconds: float = 600) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server behind {url} exited")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


@contextmanager
def dancu_server(args: argparse.Namespace) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DANCU_DATABASE_URL": args.database_url, "DANCU_ISSUER": base,
           "DANCU_PORT": str(port), "DANCU_POPULATION_SIZE": str(args.population)}
    command = [*_taskset(args.server_cpus), sys.executable, "-m", "uvicorn", "app.asgi:app",
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
               "--log-level", "warning", "--no-access-log"]
    log = tempfile.TemporaryFile()  # the server's output, shown if the run fails
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(f"{base}/readyz", process)
        _checkpoint(args.database_url)
        args.dancu_pid = process.pid  # for --profile
        yield base
    except BaseException:
        log.seek(0)
        sys.stderr.write(log.read()[-4000:].decode(errors="replace"))
        raise
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _checkpoint(database_url: str) -> None:
    """Start from a steady database: the first start wrote the whole population through the WAL,
    whose first checkpoint would otherwise land in the measurement."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@contextmanager
def mockpass_server(args: argparse.Namespace) -> Iterator[str]:
    entry = Path(args.mockpass) / "node_modules" / "@opengovsg" / "mockpass" / "index.js"
    if not entry.exists():
        raise SystemExit(f"MockPass not found at {entry}: npm install --prefix {args.mockpass} "
                         "@opengovsg/mockpass")
    port = free_port()
    env = {**os.environ, "MOCKPASS_PORT": str(port), "SHOW_LOGIN_PAGE": "false",
           "MOCKPASS_NRIC": MOCKPASS_NRIC}
    process = subprocess.Popen([*_taskset(args.server_cpus), "node", str(entry)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{base}/v2/.well-known/openid-configuration", process, seconds=60)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _dancu_env(base: str, pkce_file: str) -> dict[str, str]:
    """The persona's PIN and the demo client (sandbox defaults) for the Lua script."""
    admin = {"Authorization": "Bearer " + os.environ.get("DANCU_ADMIN_TOKEN", "admin-secret")}
    personas = httpx.get(f"{base}/v1/admin/accounts/personas", headers=admin).json()["personas"]
    client_id = os.environ.get("DANCU_DEMO_CLIENT_ID", "demo")
    secret = os.environ.get("DANCU_DEMO_CLIENT_SECRET", "demo-secret-for-the-sandbox-only")
    return {"FLOW_KIND": "dancu", "PKCE_FILE": pkce_file, "CLIENT_ID": client_id,
            "LOGIN_PIN": next(p["pin"] for p in personas if p["key"] == "citizen-l2"),
            "CLIENT_BASIC": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--mockpass", default=str(ROOT / "bench" / ".node"))
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    parser.add_argument("--population", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--server-cpus", default="", help="taskset list for each server ('': off)")
    parser.add_argument("--driver-cpus", default="", help="taskset list for wrk ('': off)")
    parser.add_argument("--profile", default=None, metavar="FILE",
                        help="then one more dancu round under py-spy (pip install py-spy): raw "
                             "samples into FILE, the shares of the endpoints and packages printed")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="dancu-bench-")
    args.database_url = args.database_url or f"sqlite:///{scratch}/bench.db"
    runs: dict[str, list[Run]] = {"dancu": [], "mockpass": []}
    try:
        with dancu_server(args) as dancu_base, mockpass_server(args) as mockpass_base:
            targets = {"dancu": (dancu_base, _dancu_env(dancu_base, _pkce_file(scratch))),
                       "mockpass": (mockpass_base, {"FLOW_KIND": "mockpass"})}
            for base, env in targets.values():
                wrk(base, env, args, args.warmup)
            for _ in range(args.rounds):
                for name, (base, env) in targets.items():
                    runs[name].append(wrk(base, env, args, args.duration))
            if args.profile:
                _profile(args, *targets["dancu"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _report(runs, args)


ENDPOINTS = {"authorize": "authorize (app/routers/oauth.py", "token": "token (app/routers/token.py",
             "userinfo": "userinfo (app/routers/oauth.py"}


def _profile(args: argparse.Namespace, base: str, env: dict[str, str]) -> None:
    """A dancu round sampled by py-spy (every worker), then where the samples were."""
    seconds = str(max(1, round(args.duration)))
    beside = Path(sys.executable).with_name("py-spy")  # installed in this venv, else on PATH
    command = [str(beside) if beside.exists() else "py-spy", "record", "--subprocesses",
               "--nonblocking", "--format", "raw", "-r", "200", "-d", seconds,
               "-p", str(args.dancu_pid), "-o", args.profile]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wrk(base, env, args, args.duration)
    spy.wait()
    shares: collections.Counter[str] = collections.Counter()
    total = 0
    for line in Path(args.profile).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, samples = stack.split(";"), int(count)
        total += samples
        for name, frame in ENDPOINTS.items():
            shares[f"endpoint {name}"] += samples * any(f.startswith(frame) for f in frames)
        package = frames[-1].partition("(")[2].split("/")[0].split(".py")[0] or "(native)"
        shares[f"package {package}"] += samples
    for name, samples in shares.most_common(15):
        print(f"profile: {100 * samples / max(total, 1):5.1f} % {name}")


def _report(runs: dict[str, list[Run]], args: argparse.Namespace) -> None:
    summary = {}
    for name, results in runs.items():
        median = statistics.median(run.rate for run in results)
        middle = min(results, key=lambda run: abs(run.rate - median))
        summary[name] = {"flows_per_s": round(median, 1),
                         "rounds": [round(run.rate, 1) for run in results],
                         "errors": sum(run.errors for run in results),
                         "request_p50_ms": middle.p50_ms, "request_p99_ms": middle.p99_ms}
    ratio = summary["dancu"]["flows_per_s"] / max(summary["mockpass"]["flows_per_s"], 1e-9)
    database = args.database_url.split(":")[0].split("+")[0]
    print(json.dumps({"settings": {"connections": args.connections, "workers": args.workers,
                                   "duration_s": args.duration, "rounds": args.rounds,
                                   "database": database, "server_cpus": args.server_cpus,
                                   "driver_cpus": args.driver_cpus},
                      **summary, "ratio": round(ratio, 2)}, indent=2))
    d, m = summary["dancu"], summary["mockpass"]
    print(f"| {database} | {args.workers} | {args.server_cpus or 'all'} | {args.connections} | "
          f"{d['flows_per_s']} | {m['flows_per_s']} | {ratio:.2f}x | "
          f"{d['errors']}/{m['errors']} |")


if __name__ == "__main__":
    main()
