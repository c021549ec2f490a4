"""The lookup's latency at one fixed offered rate, two checkouts side by side: ``dancu serve`` of
each (its own venv), both on one database, measured alternately with Debian's ``hey`` (``-c 32
-q rate/32``, as ``bench/edge.py --open-loop-driver hey`` offers half the peak), so that a change's
effect on the p50/p90/p99 is seen under the same load and machine state. Also each server's CPU
per answered request over the round (``/proc/<pid>/stat``).

On a shared machine choose a rate the server reaches under the current load (below its peak: the
p99 is then the answers' own, not a queue); on a quiet one, half of ``bench/edge.py``'s peak.

    .venv/bin/python -P bench/open_loop_ab.py "sqlite:///$PWD/bench-1m.db" \\
        --checkout before=../other-checkout --checkout after=. --rate 2500 --rounds 3

Each checkout needs ``.venv/bin/dancu`` (``python3 -m venv .venv && .venv/bin/pip install -e .``).
The database as for ``bench/edge.py`` (migrated, populated; the ``bench`` client is made here); a
SQLite URL is best absolute.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
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
    args = parser.parse_args()
    checkouts = dict(item.split("=", 1) for item in args.checkout)
    env = {"DANCU_DATABASE_URL": args.database_url, "DANCU_AUTO_SEED": "false",
           "DANCU_LOG_LEVEL": "warning", "DANCU_HOST": "127.0.0.1"}
    secret = edge.bench_client("bench", ["citizen.basic"], env)
    path = f"/v1/citizens/{edge.random_pins(args.database_url, 1)[0]}"  # one URL, as hey does
    with ExitStack() as stack:
        servers: dict[str, tuple[str, int, str]] = {}
        for name, directory in checkouts.items():
            port = edge.free_port()
            base = f"http://127.0.0.1:{port}"
            command = [*edge.taskset(args.server_cpus),
                       str(Path(directory).resolve() / ".venv" / "bin" / "dancu"), "serve"]
            pid = stack.enter_context(edge.server(command, {
                **env, "DANCU_PORT": str(port), "DANCU_ISSUER": base}, f"{base}/readyz"))
            servers[name] = (base, pid, edge.token(base, "bench", secret, "citizen.basic"))
        for base, pid, bearer in servers.values():  # warm-up
            hey(base, path, bearer, args.rate, 3, args.driver_cpus, pid)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        for _ in range(args.rounds):
            for name, (base, pid, bearer) in servers.items():
                result = hey(base, path, bearer, args.rate, args.duration, args.driver_cpus, pid)
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
