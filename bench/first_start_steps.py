#!/usr/bin/env python3
"""CPU and wall time of each step of the first ``dancu serve`` on an empty SQLite file, in process:
the migrations, then every start-up step of ``app.bootstrap`` (population of the default size,
chip cards, signing keys and demo client, VNeID accounts, personas), this code against another
source tree, alternating fresh processes.

    .venv/bin/python -P bench/first_start_steps.py --rounds 5 --before DIR

(``-P``: bench/seed.py must not shadow the ``seed`` package.) ``DIR`` is another revision's
``app seed alembic alembic.ini`` (``git archive REV app seed alembic alembic.ini | tar -x -C DIR``),
imported through ``PYTHONPATH``. CPU time is the process's own (``time.process_time``), which a busy
machine moves less than the wall time; the imports before the first step are reported apart.
Prints a markdown table of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("_ensure_population", "_ensure_cards", "_ensure_sharing", "_ensure_accounts",
         "_ensure_personas")
RUN = """
import json, sys, time
started, cpu = time.perf_counter(), time.process_time()
from app import bootstrap as b, migrations
from app.clock import SandboxClock
from app.db import Database
from app.settings import Settings
out = {"imports": (time.perf_counter() - started, time.process_time() - cpu)}
settings = Settings(database_url="sqlite:///" + sys.argv[1])
database = Database.connect(settings.database_url)
def timed(name, step):
    def run(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = step(*args, **kwargs)
        out[name] = (time.perf_counter() - wall, time.process_time() - cpu)
        return result
    return run
wall, cpu = time.perf_counter(), time.process_time()
migrations.upgrade_unless_current(database.engine)
out["migrations"] = (time.perf_counter() - wall, time.process_time() - cpu)
for name in STEPS:
    setattr(b, name, timed(name, getattr(b, name)))
b.bootstrap(database=database, settings=settings, clock=SandboxClock())
out["total"] = (time.perf_counter() - started, time.process_time())
print(json.dumps(out))
"""


def one_run(code: Path) -> dict[str, tuple[float, float]]:
    with tempfile.TemporaryDirectory(prefix="dancu-first-start-") as work:
        env = {**os.environ, "PYTHONPATH": str(code)}
        env.pop("DANCU_DATABASE_URL", None)
        script = f"STEPS = {STEPS!r}\n" + RUN
        done = subprocess.run([sys.executable, "-P", "-c", script, str(Path(work) / "db.sqlite")],
                              cwd=code, env=env, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", help="another source tree (app, seed, alembic)")
    args = parser.parse_args()
    trees = {"this": ROOT, **({"before": Path(args.before)} if args.before else {})}
    runs: dict[str, list[dict[str, tuple[float, float]]]] = {label: [] for label in trees}
    for round_ in range(1, args.rounds + 1):
        for label, code in trees.items():
            runs[label].append(one_run(code))
            total = runs[label][-1]["total"]
            print(f"round {round_} {label}: {total[0]:.2f} s wall, {total[1]:.2f} s CPU "
                  f"(load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    names = ("imports", "migrations", *STEPS, "total")
    print("| step | " + " | ".join(f"{label} CPU | {label} wall" for label in trees) + " |")
    print("|---|" + "---:|---:|" * len(trees))
    for name in names:
        cells = []
        for label in trees:
            wall = statistics.median(run[name][0] for run in runs[label])
            cpu = statistics.median(run[name][1] for run in runs[label])
            cells += [f"{cpu:.2f} s", f"{wall:.2f} s"]
        print(f"| {name.lstrip('_')} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
