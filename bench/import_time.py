#!/usr/bin/env python3
"""In-process import time of the server's app, beside its libraries' floor, in the same run.

    .venv/bin/python bench/import_time.py [--rounds 8] [--before DIR]

Each round is a new process that imports the libraries the app is built on (FastAPI,
SQLAlchemy's ORM, pydantic, uvicorn, Starlette's static files), then ``app.asgi`` (what
``dancu serve`` imports), and reports the wall and the CPU time (``time.process_time``, which
other processes' load inflates less than wall time) of each part. ``--before DIR`` runs the same
from another source tree (``git archive <commit> app seed alembic | tar -x -C DIR``), alternating
with this one. Both trees are byte-compiled first, as an installed package is. Prints a markdown
table of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, time
w0, c0 = time.perf_counter(), time.process_time()
import fastapi, sqlalchemy.orm, pydantic, uvicorn, starlette.staticfiles
w1, c1 = time.perf_counter(), time.process_time()
import app.asgi
w2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"libraries": [w1 - w0, c1 - c0], "app": [w2 - w1, c2 - c1]}))
"""


def probe(tree: Path) -> dict[str, list[float]]:
    env = {**os.environ, "DANCU_DATABASE_URL": "sqlite://", "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          check=True, cwd=tree, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--before", help="another source tree, run alternating with this one")
    args = parser.parse_args()
    trees = {"now": ROOT}
    if args.before:
        trees["before"] = Path(args.before).resolve()
    for tree in trees.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", "app", "seed"], cwd=tree,
                       check=True, stdout=subprocess.DEVNULL)
    runs: dict[str, list[dict[str, list[float]]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            runs[name].append(probe(tree))
    print("| tree | part | wall median | wall min | CPU median | CPU min | n |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, results in runs.items():
        for part in ("libraries", "app"):
            wall = [r[part][0] * 1000 for r in results]
            cpu = [r[part][1] * 1000 for r in results]
            print(f"| {name} | {part} | {statistics.median(wall):,.0f} ms | {min(wall):,.0f} ms"
                  f" | {statistics.median(cpu):,.0f} ms | {min(cpu):,.0f} ms | {len(results)} |")


if __name__ == "__main__":
    main()
