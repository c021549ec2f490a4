#!/usr/bin/env python3
"""``dancu seed`` of two checkouts, alternating, on SQLite: wall time, user and system CPU, max RSS.

    DANCU_SECRET_KEY=bench-secret-key-for-dancu-1m .venv/bin/python bench/seed_ab.py \
        --checkout before=../seed-before --checkout after=. --size 1000000 --rounds 3

Each run is ``/usr/bin/time -v dancu seed --size N --seed S --database-url sqlite:///FILE`` into
a fresh file in the working directory (deleted afterwards), with this venv's ``dancu`` and
``PYTHONPATH`` set to the checkout, so both run with the same interpreter and packages. Runs
alternate so that both see the same load on a shared machine; the load average is printed with
each. The CPU time (user + system, the CLI and its generator worker) moves less with the load
than the wall time.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

DANCU = Path(sys.executable).with_name("dancu")
FIELDS = {"wall": r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)",
          "user": r"User time \(seconds\): (\S+)", "sys": r"System time \(seconds\): (\S+)",
          "rss": r"Maximum resident set size \(kbytes\): (\d+)"}


def seconds(clock: str) -> float:
    total = 0.0
    for part in clock.split(":"):
        total = total * 60 + float(part)
    return total


def run(name: str, checkout: Path, *, size: int, seed: int) -> dict[str, float]:
    database = Path(f"seed-ab-{name}.db").resolve()
    database.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(checkout.resolve())}
    command = ["/usr/bin/time", "-v", str(DANCU), "seed", "--size", str(size), "--seed",
               str(seed), "--database-url", f"sqlite:///{database}"]
    load = os.getloadavg()[0]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    database.unlink(missing_ok=True)
    found = {key: re.search(pattern, done.stderr) for key, pattern in FIELDS.items()}
    values = {key: match.group(1) for key, match in found.items() if match}
    return {"wall": seconds(values["wall"]), "user": float(values["user"]),
            "sys": float(values["sys"]), "rss_mib": int(values["rss"]) / 1024, "load": load}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkout", action="append", required=True, help="NAME=DIR")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    checkouts = [(name, Path(path)) for name, _, path in
                 (item.partition("=") for item in args.checkout)]
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in checkouts}
    for round_ in range(args.rounds):
        for name, checkout in checkouts if round_ % 2 == 0 else reversed(checkouts):
            figures = run(name, checkout, size=args.size, seed=args.seed)
            results[name].append(figures)
            print(f"{name:8} wall {figures['wall']:6.1f} s  user {figures['user']:6.1f} s  "
                  f"sys {figures['sys']:5.1f} s  CPU {figures['user'] + figures['sys']:6.1f} s  "
                  f"max RSS {figures['rss_mib']:5.0f} MiB  load {figures['load']:.1f}",
                  flush=True)
    for name, runs in results.items():
        walls = sorted(r["wall"] for r in runs)
        cpus = sorted(r["user"] + r["sys"] for r in runs)
        print(f"{name:8} median wall {walls[len(walls) // 2]:.1f} s, "
              f"median CPU {cpus[len(cpus) // 2]:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
