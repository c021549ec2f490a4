"""The base cost of a request: dancu-sandbox's endpoints against a bare FastAPI app, same run.

The yardstick is a separate process, ``bench/bare_app.py`` (a minimal FastAPI app: one ``async
def`` route returning a four-field dict), served by uvicorn with the settings and log level of
``dancu serve``. Both servers run at once, pinned to the same CPU(s) (``--server-cpus``), and are
measured alternately: each round drives the bare app, then each endpoint of the service, with
``wrk`` (``--connections``, ``--threads``, ``--duration``; pinned to ``--driver-cpus``). Ratios are
medians over rounds, each endpoint's rate over the bare app's; and each server's CPU per answered
request over the round (``/proc/<pid>/stat``, all its threads), which other processes on a shared
machine move much less than the rates.

Endpoints: ``healthz`` (GET /healthz), ``lookup`` (an authenticated, audited GET
/v1/citizens/{pin}, cycling through random PINs), ``verify`` (POST /v1/cards/verify, cycling through
``--cards`` genuine chip reads of distinct cards, 1,000 by default, each with active authentication,
fully verified and audited: generated once before the rounds, see ``chip_reads``). Then, open-loop
(``bench/open_loop.py``): each endpoint at half its measured peak, the bare app at half its own,
for the p99 a user sees.

The database must be migrated and populated, with cards (``dancu seed --size 1000000`` and one
``dancu serve`` start). The script creates its benchmark clients (quota it cannot exhaust).

    .venv/bin/python -P bench/edge.py sqlite:///./bench-1m.db [--rounds 3] [--duration 8]
        [--endpoints healthz,lookup,verify] [--server-cpus 0 --driver-cpus 1] [--log-level warning]

Prints a JSON summary and markdown rows for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ADMIN = {"Authorization": "Bearer " + os.environ.get("DANCU_ADMIN_TOKEN", "admin-secret")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def taskset(cpus: str) -> list[str]:
    return ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []


@contextmanager
def server(command: list[str], env: dict[str, str], ready: str) -> Iterator[int]:
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 900
        while True:
            if process.poll() is not None or time.time() > deadline:
                log.seek(0)
                raise RuntimeError(f"{command} did not start: {log.read()[-3000:]!r}")
            try:
                if httpx.get(ready, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def dancu(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([str(BIN / "dancu"), *args], env={**os.environ, **env},
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return done.stdout


def bench_client(client_id: str, scopes: list[str], env: dict[str, str]) -> str:
    """A client whose quota the run cannot exhaust (created once); a new secret."""
    listed = dancu("clients", "list", env=env)
    if client_id not in {line.split("\t")[0] for line in listed.splitlines()}:
        dancu("clients", "add", "--name", f"benchmark {client_id}", "--client-id", client_id,
              *[part for scope in scopes for part in ("--scope", scope)],
              "--purpose", "benchmark", "--rate-limit", "100000000", env=env)
    rotated = dancu("clients", "rotate-secret", client_id, env=env)
    return re.search(r"client_secret: (\S+)", rotated).group(1)  # type: ignore[union-attr]


def token(base: str, client_id: str, secret: str, scope: str) -> str:
    answer = httpx.post(f"{base}/oauth2/token", auth=(client_id, secret),
                        data={"grant_type": "client_credentials", "scope": scope})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def random_pins(database_url: str, count: int) -> list[str]:
    from sqlalchemy import func, select

    from app.db import Database
    from app.models.population import Citizen

    database = Database.connect(database_url)
    with database.read() as session:
        pins = session.scalars(select(Citizen.pin).order_by(func.random()).limit(count)).all()
    database.dispose()
    return list(pins)


def chip_reads(database_url: str, count: int) -> list[str]:
    """``count`` genuine chip reads of distinct cards (JSON bodies of ``POST /v1/cards/verify``),
    each with its own SOD, face and an active-authentication answer to its own random challenge,
    generated in process with the service's own chip code (the seed and PKI of ``dancu serve``
    with the same environment). Reads that would not pass (a card past its expiry date, say) are
    left out, so every body is a full verification. Distinct cards: nothing per card can be
    cached across a benchmark's requests."""
    import random
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from app.db import Database
    from app.models.card import Card
    from app.services.cards import chip
    from app.services.cards.holder import card_content
    from app.services.cards.pki import card_pki
    from app.services.cards.verification import ChipRead, verify_read
    from app.settings import load_settings

    settings = load_settings(database_url=database_url, auto_seed=False)
    database = Database.connect(database_url)
    now = datetime.now(UTC)
    pki = card_pki(database, seed=settings.seed, key_type=settings.pki_key_type, now=now)
    chance, bodies = random.Random(19), []
    with database.read() as session:
        cards = session.scalars(select(Card).where(Card.status == "active",
                                                   Card.persona.is_(None))
                                .order_by(func.random()).limit(count + count // 4 + 10)).all()
        for card in cards:
            opened = chip.OpenedChip(card, card_content(session, card))
            files = chip.read_files(opened, seed=settings.seed, pki=pki)
            challenge = chance.randbytes(8)
            answer = chip.internal_authenticate(opened, challenge, seed=settings.seed)
            read = {name: base64.b64encode(data).decode("ascii") for name, data in files.items()}
            exchange = {"challenge": challenge.hex(),
                        "response": base64.b64encode(answer).decode("ascii")}
            checked = verify_read(session, ChipRead(read, exchange["challenge"],
                                                    exchange["response"]), pki=pki, now=now)
            if checked.verdict == "pass":
                bodies.append(json.dumps({"files": read, "active_authentication": exchange}))
            if len(bodies) == count:
                break
    database.dispose()
    if len(bodies) < count:
        raise SystemExit(f"only {len(bodies)} cards of the database verify; {count} needed")
    return bodies


def check_verify(base: str, bearer: str, body: str) -> None:
    """The server verifies the benchmark's reads as the generator did (same seed and PKI)."""
    checked = httpx.post(f"{base}/v1/cards/verify", content=body, headers={
        "Authorization": f"Bearer {bearer}", "Content-Type": "application/json"})
    if checked.json().get("verdict") != "pass":
        raise SystemExit(f"the benchmark's chip read does not verify: {checked.text[:300]}")


def lua_scripts(work: Path, pins: list[str], lookup_token: str, verify_token: str,
                bodies: list[str]) -> dict[str, Path]:
    status = ("local bad = 0\nresponse = function(status) if status ~= 200 then bad = bad + 1 "
              "end end\ndone = function() io.write(string.format(\"non200 %d\\n\", bad)) end\n")
    scripts = {"status": work / "status.lua", "lookup": work / "lookup.lua"}
    scripts["status"].write_text(status)
    table = ",".join(f'"{pin}"' for pin in pins)
    scripts["lookup"].write_text(
        f"local pins = {{{table}}}\nlocal i = 0\n"
        f'wrk.headers["Authorization"] = "Bearer {lookup_token}"\n'
        "request = function()\n  i = i + 1\n"
        '  return wrk.format("GET", "/v1/citizens/" .. pins[(i % #pins) + 1])\nend\n' + status)
    if bodies:
        (work / "verify.jsonl").write_text("".join(body + "\n" for body in bodies))
        scripts["verify"] = work / "verify.lua"
        scripts["verify"].write_text(
            f'local bodies = {{}}\nfor line in io.lines("{work / "verify.jsonl"}") do '
            'bodies[#bodies + 1] = line end\nlocal i = 0\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["Authorization"] = "Bearer {verify_token}"\n'
            "request = function()\n  i = i + 1\n"
            '  return wrk.format("POST", "/v1/cards/verify", nil, bodies[(i % #bodies) + 1])\n'
            "end\n" + status)
    return scripts


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process (all its threads) has used so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, script: Path, args: argparse.Namespace, duration: float,
        pid: int | None = None) -> dict[str, float]:
    """One wrk run; with the server's ``pid``, also the server's CPU per answered request
    (robust to other processes on the machine, unlike requests per second)."""
    used = cpu_seconds(pid) if pid is not None else 0.0
    command = [*taskset(args.driver_cpus), "wrk", f"-t{args.threads}", f"-c{args.connections}",
               f"-d{max(1, round(duration))}s", "--latency", "-s", str(script), url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1))  # type: ignore[union-attr]
    bad = sum(int(n) for n in re.findall(r"non200 (\d+)", output))
    errors = re.search(r"Socket errors: (.*)", output)
    answered = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    cpu_us = ((cpu_seconds(pid) - used) / answered * 1e6) if pid is not None and answered \
        else float("nan")
    return {"rps": rate, "cpu_us": cpu_us,
            "p99_ms": _ms(re.search(r"99%\s+(\S+)", output).group(1)),  # type: ignore[union-attr]
            "non200": bad, "socket_errors": errors.group(1) if errors else ""}  # type: ignore[dict-item]


def _ms(text: str) -> float:
    """wrk's 950.00us, 12.34ms, 1.20s, 1.01m; NaN for anything else (no answers at all)."""
    found = re.fullmatch(r"([0-9.]+)(us|ms|s|m)?", text)
    if found is None:
        return float("nan")
    number, unit = found.groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000, None: 1}[unit]


def open_loop(url: str, rate: float, args: argparse.Namespace, *, headers: list[str],
              paths: Path | None) -> dict[str, object]:
    if args.open_loop_driver == "hey":
        return hey(url, rate, args, headers=headers, paths=paths)
    command = [*taskset(args.driver_cpus), sys.executable, "-P",
               str(ROOT / "bench" / "open_loop.py"), url, "--rate", f"{rate:.0f}",
               "--duration", str(args.open_loop_duration)]
    for header in headers:
        command += ["--header", header]
    if paths is not None:
        command += ["--paths", str(paths)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(output))


HEY_WORKERS = 32


def hey(url: str, rate: float, args: argparse.Namespace, *, headers: list[str],
        paths: Path | None) -> dict[str, object]:
    """The same load by ``hey`` (Go; Debian's package): ``-q`` caps each of its workers' rate, so
    ``HEY_WORKERS`` workers at ``rate / HEY_WORKERS`` each offer ``rate`` while the answers keep
    up (a worker waits for its answer before its next tick: near open-loop below the peak, where
    the answers take a fraction of the tick). One URL: the lookup asks for the first PIN of the
    list again and again."""
    if paths is not None:
        url = url.rstrip("/") + paths.read_text().split("\n", 1)[0]
    command = [*taskset(args.driver_cpus), "hey", "-z", f"{args.open_loop_duration:.0f}s",
               "-c", str(HEY_WORKERS), "-q", f"{rate / HEY_WORKERS:.1f}", "-disable-compression"]
    for header in headers:
        command += ["-H", header]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    answered = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    found = {int(p): round(float(s) * 1000, 2) for p, s in
             re.findall(r"\s(\d+)% in ([0-9.]+) secs", output)}
    statuses = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", output))
    return {"driver": "hey", "rate": round(rate), "reached": float(answered.group(1))
            if answered else float("nan"), "p50_ms": found.get(50), "p90_ms": found.get(90),
            "p99_ms": found.get(99), "non200": sum(int(n) for code, n in statuses.items()
                                                   if code != "200")}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--endpoints", default="healthz,lookup,verify")
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--driver-cpus", default="1")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--pins", type=int, default=10_000)
    parser.add_argument("--cards", type=int, default=1_000,
                        help="distinct cards' chip reads the verify endpoint cycles through")
    parser.add_argument("--open-loop-duration", type=float, default=10)
    parser.add_argument("--no-open-loop", action="store_true")
    parser.add_argument("--open-loop-driver", choices=("python", "hey"), default="python",
                        help="bench/open_loop.py (evenly paced, up to ~10,000 req/s from one core "
                             "of Python), or hey (apt-get install hey; its workers fire in bursts)")
    args = parser.parse_args()
    endpoints = args.endpoints.split(",")
    port, bare_port = free_port(), free_port()
    base, bare = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
    env = {"DANCU_DATABASE_URL": args.database_url, "DANCU_AUTO_SEED": "false",
           "DANCU_LOG_LEVEL": args.log_level, "DANCU_HOST": "127.0.0.1",
           "DANCU_PORT": str(port), "DANCU_ISSUER": base}
    lookup_secret = bench_client("bench", ["citizen.basic"], env)
    verify_secret = bench_client("bench-cards", ["card.read", "card.verify"], env) \
        if "verify" in endpoints else ""
    pins = random_pins(args.database_url, args.pins)
    bodies = chip_reads(args.database_url, args.cards) if "verify" in endpoints else []
    dancu_command = [*taskset(args.server_cpus), str(BIN / "dancu"), "serve"]
    bare_command = [*taskset(args.server_cpus), sys.executable, "-P",
                    str(ROOT / "bench" / "bare_app.py"), "--port", str(bare_port),
                    "--log-level", args.log_level]
    with (tempfile.TemporaryDirectory() as directory,
          server(dancu_command, env, f"{base}/readyz") as dancu_pid,
          server(bare_command, {}, f"{bare}/healthz") as bare_pid):
        work = Path(directory)
        lookup_token = token(base, "bench", lookup_secret, "citizen.basic")
        verify_token = token(base, "bench-cards", verify_secret, "card.read card.verify") \
            if "verify" in endpoints else ""
        if bodies:
            check_verify(base, verify_token, bodies[0])
        scripts = lua_scripts(work, pins, lookup_token, verify_token, bodies)
        targets = {"bare": (f"{bare}/healthz", scripts["status"]),
                   "healthz": (f"{base}/healthz", scripts["status"]),
                   "lookup": (base, scripts["lookup"])}
        if bodies:
            targets["verify"] = (base, scripts["verify"])
        measured = ["bare", *endpoints]
        for name in measured:  # warm-up: caches, pools, the first requests' imports
            wrk(*targets[name], args, duration=3)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in measured}
        for _ in range(args.rounds):
            for name in measured:
                runs[name].append(wrk(*targets[name], args, duration=args.duration,
                                      pid=bare_pid if name == "bare" else dancu_pid))
        summary = {name: {"rps": statistics.median(r["rps"] for r in rounds),
                          "p99_ms": statistics.median(r["p99_ms"] for r in rounds),
                          "cpu_us": statistics.median(r["cpu_us"] for r in rounds),
                          "rounds": [round(r["rps"]) for r in rounds],
                          "non200": sum(int(r["non200"]) for r in rounds),
                          "socket_errors": rounds[0]["socket_errors"]}
                   for name, rounds in runs.items()}
        for name in endpoints:
            summary[name]["ratio"] = summary[name]["rps"] / summary["bare"]["rps"]
            summary[name]["cpu_ratio"] = summary["bare"]["cpu_us"] / summary[name]["cpu_us"]
        if not args.no_open_loop:
            paths = work / "paths.txt"
            paths.write_text("".join(f"/v1/citizens/{pin}\n" for pin in pins))
            loads = {"bare": (f"{bare}/healthz", [], None),
                     "healthz": (f"{base}/healthz", [], None),
                     "lookup": (f"{base}/", [f"Authorization: Bearer {lookup_token}"], paths)}
            for name in [n for n in measured if n in loads]:
                url, headers, listed = loads[name]
                rate = summary[name]["rps"] / 2
                summary[name]["open_loop"] = open_loop(url, rate, args, headers=headers,
                                                       paths=listed)
    report(summary, args, endpoints)


def report(summary: dict[str, dict[str, object]], args: argparse.Namespace,
           endpoints: list[str]) -> None:
    print(json.dumps(summary, indent=2))
    load = os.getloadavg()[0]
    backend = args.database_url.split(":")[0].split("+")[0]
    bare = summary["bare"]
    for name in endpoints:
        row = summary[name]
        opened = row.get("open_loop") or {}
        bare_open = bare.get("open_loop") or {}
        print(f"| {time.strftime('%Y-%m-%d', time.gmtime())} | {backend} | {name} | "
              f"{args.rounds} x {args.duration:.0f} s, {args.connections} conn | "
              f"{bare['rps']:.0f} | {row['rps']:.0f} | {row['ratio']:.2f} | "
              f"{opened.get('p99_ms', '-')} ms at {opened.get('rate', '-')}/s "
              f"(bare {bare_open.get('p99_ms', '-')} ms at {bare_open.get('rate', '-')}/s) | "
              f"{row['non200']} | {load:.1f} | server CPU per request {row['cpu_us']:.0f} us "
              f"(bare {bare['cpu_us']:.0f} us): {row['cpu_ratio']:.2f} |")


if __name__ == "__main__":
    main()
