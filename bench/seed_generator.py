#!/usr/bin/env python3
"""CPU time of generating and encoding the population (no database), this code against another
revision, alternating runs in the same session.

    .venv/bin/python bench/seed_generator.py --size 1000000 --against 0d7b205 --rounds 3
    .venv/bin/python bench/seed_generator.py --size 1000000 --cards-accounts --rounds 3

The other revision is exported with ``git archive`` into a temporary directory and imported from
there (``PYTHONPATH``); each run is a fresh process that generates every batch and encodes it for
SQLite, exactly what the ``dancu seed`` worker does before the pipe. The figure is the process's
user + system CPU time, which a busy machine moves less than the wall time; runs alternate so
both versions see the same load. Prints one line per run and the ratio of the medians.

With ``--cards-accounts`` the two variants are this code's worker without and with the chip cards
and VNeID accounts it makes with each batch for ``dancu seed`` (``seed/extras.py``), pickled for
the pipe as the worker does: what they add to the worker's CPU.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = """
import sys
from datetime import date
from seed.pipeline import encoded_batches
for _ in encoded_batches(seed=int(sys.argv[1]), size=int(sys.argv[2]),
                         reference_date=date(2026, 7, 1), dialect="sqlite"):
    pass
"""
RUN_EXTRAS = """
import pickle, sys
from datetime import UTC, date, datetime
from seed.extras import Spec
from seed.pipeline import encoded_batches
extras = None if sys.argv[3] == "0" else Spec(
    seed=int(sys.argv[1]), reference_date=date(2026, 7, 1), now=datetime(2026, 12, 7, tzinfo=UTC),
    password_hash="$argon2id$" + "x" * 87, passcode_hash="$argon2id$" + "y" * 87)
for batch in encoded_batches(seed=int(sys.argv[1]), size=int(sys.argv[2]),
                             reference_date=date(2026, 7, 1), dialect="sqlite", extras=extras):
    pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
"""


def export(revision: str, target: Path) -> Path:
    archive = subprocess.run(["git", "archive", "--format=tar", revision], cwd=ROOT, check=True,
                             capture_output=True).stdout
    tar_path = target / "code.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(target / "code", filter="data")
    return target / "code"


def cpu_seconds(code: Path, *, seed: int, size: int, extras: str | None = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": str(code)}
    command = [sys.executable, "-c", RUN, str(seed), str(size)] if extras is None else [
        sys.executable, "-c", RUN_EXTRAS, str(seed), str(size), extras]
    subprocess.run(command, cwd=code, env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--against", help="git revision to compare with")
    parser.add_argument("--cards-accounts", action="store_true",
                        help="this code's worker without and with the cards and accounts")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.cards_accounts:
        return _cards_accounts(args)
    if not args.against:
        parser.error("--against or --cards-accounts is required")
    with tempfile.TemporaryDirectory(prefix="dancu-gen-bench-") as work:
        other = export(args.against, Path(work))
        figures: dict[str, list[float]] = {"this": [], args.against: []}
        for round_ in range(1, args.rounds + 1):
            for label, code in ((args.against, other), ("this", ROOT)):
                seconds = cpu_seconds(code, seed=args.seed, size=args.size)
                figures[label].append(seconds)
                print(f"round {round_} {label}: {seconds:.1f} s CPU "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
    this, before = (statistics.median(figures[k]) for k in ("this", args.against))
    print(f"median: {args.against} {before:.1f} s, this {this:.1f} s, ratio {this / before:.3f}")
    return 0


def _cards_accounts(args: argparse.Namespace) -> int:
    figures: dict[str, list[float]] = {"people": [], "with cards and accounts": []}
    for round_ in range(1, args.rounds + 1):
        for label, extras in (("people", "0"), ("with cards and accounts", "1")):
            seconds = cpu_seconds(ROOT, seed=args.seed, size=args.size, extras=extras)
            figures[label].append(seconds)
            print(f"round {round_} {label}: {seconds:.1f} s CPU "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    people, both = (statistics.median(v) for v in figures.values())
    print(f"median: people {people:.1f} s, with cards and accounts {both:.1f} s, "
          f"ratio {both / people:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
