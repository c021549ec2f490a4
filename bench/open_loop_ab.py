"""The lookup's latency at one fixed offered rate, two checkouts side by side: ``dancu serve`` of
each (its own venv), both on one database, measured alternately with Debian's ``hey`` (``-c 32
-q rate/32``, as ``bench/edge.py --open-loop-driver hey`` offers half the peak), so that a change's
effect on the p50/p90/p99 is seen under the same load and machine state. Also each server's CPU
per answered request over the round (``/proc/<pid>/stat``).

On a shared machine choose a rate the server reaches under the current load (below its peak: the
p99 is then the answers' own, not a queue); on a quiet one, half of ``bench/edge.py``'s peak.

    .venv/bin/python -P bench/open_loop_ab.py "sqlite:///$PWD/bench-1m.db" \\
        --checkout before=../other-checkout --checkout after=. --rate 2500 --rounds 3

Each checkout needs ``.venv/bin/dancu`` (``python3 -m venv .venv && .venv/bin/pip install -e .``),
or is a directory holding only ``app/`` (``git archive main app | tar -x -C DIR``), served by this
venv with ``PYTHONPATH=DIR``. ``--driver python`` offers the load with ``bench/open_loop.py``
(evenly paced, cycling through ``--pins`` random PINs) instead of ``hey``; ``--probes DIR`` serves
through ``bench/lookup_stalls.py`` and leaves each checkout's events in ``DIR/<name>.txt``;
``--env name:KEY=VALUE`` sets a variable for one checkout's server only (the same checkout
twice under two names, one with ``DANCU_BENCH_AUDIT_SYNC_OFF=1``: what the audit record's
durability costs, see ``bench/lookup_stalls.py``).
The database as for ``bench/edge.py`` (migrated, populated; the ``bench`` client is made here); a
SQLite URL is best absolute.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import edge

HEY_WORKERS = edge.HEY_WORKERS


def hey(base: str, path: str, bearer: str, rate: float, seconds: int, cpus: str,
        pid: int) -> dict[str, float]:
    used = edge.cpu_seconds(pid)
    output = subprocess.run(
        [*edge.taskset(cpus), "hey", "-z", f"{seconds}s", "-c", str(HEY_WORKERS), "-q",
         f"{rate / HEY_WORKERS:.1f}", "-disable-compression", "-H",
         f"Authorization: Bearer {bearer}", base + path],
        capture_output=True, text=True, check=True).stdout
    found = {int(p): float(s) * 1000 for p, s in re.findall(r"\s(\d+)% in ([0-9.]+) secs", output)}
    statuses = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", output))
    answered = sum(int(n) for n in statuses.values())
    slowest = re.search(r"Slowest:\s+([0-9.]+)", output)
    return {"reached": float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1)),  # type: ignore[union-attr]
            "p50_ms": found.get(50, float("nan")), "p90_ms": found.get(90, float("nan")),
            "p99_ms": found.get(99, float("nan")),
            "max_ms": float(slowest.group(1)) * 1000 if slowest else float("nan"),
            "non200": sum(int(n) for code, n in statuses.items() if code != "200"),
            "cpu_us": (edge.cpu_seconds(pid) - used) / max(answered, 1) * 1e6}


def python_driver(base: str, paths: Path, bearer: str, rate: float, seconds: int, cpus: str,
                  pid: int) -> dict[str, float]:
    used = edge.cpu_seconds(pid)
    output = subprocess.run(
        [*edge.taskset(cpus), sys.executable, "-P", str(Path(__file__).parent / "open_loop.py"),
         base + "/", "--rate", f"{rate:.0f}", "--duration", str(seconds + 1), "--paths",
         str(paths), "--header", f"Authorization: Bearer {bearer}"],
        capture_output=True, text=True, check=True).stdout
    found = json.loads(output)
    return {"reached": found["reached"], "p50_ms": found["p50_ms"], "p90_ms": found["p90_ms"],
            "p99_ms": found["p99_ms"], "max_ms": found["max_ms"], "non200": found["errors"],
            "late_p99_ms": found["late_p99_ms"],
            "cpu_us": (edge.cpu_seconds(pid) - used) / max(found["answers"], 1) * 1e6}


def serve_command(directory: str, probes: str | None,
                  name: str) -> tuple[list[str], dict[str, str]]:
    """``dancu serve`` of a checkout (its venv), or of an ``app/`` tree on this venv."""
    root = Path(directory).resolve()
    own = root / ".venv" / "bin" / "dancu"
    env = {} if own.exists() else {"PYTHONPATH": str(root)}
    if probes is not None:
        python = own.parent / "python" if own.exists() else Path(sys.executable)
        return [str(python), str(Path(__file__).parent / "lookup_stalls.py"), "--events",
                str(Path(probes).resolve() / f"{name}.txt")], env
    return [str(own if own.exists() else Path(sys.executable).parent / "dancu"), "serve"], env


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--checkout", action="append", required=True,
                        help="name=directory, twice or more")
    parser.add_argument("--rate", type=float, default=2500, help="requests/s offered")
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--driver-cpus", default="1")
    parser.add_argument("--driver", choices=("hey", "python"), default="hey")
    parser.add_argument("--pins", type=int, default=10_000)
    parser.add_argument("--probes", default=None, help="a directory for lookup_stalls.py's events")
    parser.add_argument("--env", action="append", default=[],
                        help="name:KEY=VALUE, an environment variable for one checkout's server "
                             "(e.g. lookup_stalls.py's DANCU_BENCH_AUDIT_SYNC_OFF=1)")
    args = parser.parse_args()
    checkouts = dict(item.split("=", 1) for item in args.checkout)
    own_env: dict[str, dict[str, str]] = {name: {} for name in checkouts}
    for item in args.env:
        name, _, setting = item.partition(":")
        key, _, value = setting.partition("=")
        own_env[name][key] = value
    env = {"DANCU_DATABASE_URL": args.database_url, "DANCU_AUTO_SEED": "false",
           "DANCU_LOG_LEVEL": "warning", "DANCU_HOST": "127.0.0.1"}
    secret = edge.bench_client("bench", ["citizen.basic"], env)
    pins = edge.random_pins(args.database_url, args.pins)
    path = f"/v1/citizens/{pins[0]}"  # one URL, as hey does
    with ExitStack() as stack:
        listed = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "paths.txt"
        listed.write_text("".join(f"/v1/citizens/{pin}\n" for pin in pins))
        target = listed if args.driver == "python" else path
        drive = python_driver if args.driver == "python" else hey
        servers: dict[str, tuple[str, int, str]] = {}
        for name, directory in checkouts.items():
            port = edge.free_port()
            base = f"http://127.0.0.1:{port}"
            serve, extra = serve_command(directory, args.probes, name)
            pid = stack.enter_context(edge.server([*edge.taskset(args.server_cpus), *serve], {
                **env, **extra, **own_env[name], "DANCU_PORT": str(port), "DANCU_ISSUER": base},
                f"{base}/readyz"))
            servers[name] = (base, pid, edge.token(base, "bench", secret, "citizen.basic"))
        for base, pid, bearer in servers.values():  # warm-up
            drive(base, target, bearer, args.rate, 3, args.driver_cpus, pid)  # type: ignore[arg-type]
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        for number in range(args.rounds):  # the order turned every round (ABBA): no slot favoured
            order = list(servers.items())
            for name, (base, pid, bearer) in order[::-1] if number % 2 else order:
                result = drive(base, target, bearer, args.rate, args.duration,  # type: ignore[arg-type]
                               args.driver_cpus, pid)
                rounds[name].append(result)
                print(f"{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f} {name}: "
                      + ", ".join(f"{key} {value:.1f}" for key, value in result.items()),
                      flush=True)
    for name, results in rounds.items():
        print(f"{name} (medians of {len(results)} rounds at {args.rate:.0f}/s offered): "
              + ", ".join(f"{key} {statistics.median(r[key] for r in results):.1f}"
                          for key in results[0]))


if __name__ == "__main__":
    main()
