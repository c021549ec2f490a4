"""What a tenant-per-test suite waits for: the example e-service suite's wall time
(examples/bank_onboarding, with the pytest plugin) and, on a server of its own, the cost of one
test's tenant (create, first answer in it, delete), each beside the yardstick
``python -c "import typer"`` measured in the same run (the machine is shared: compare ratios).

    .venv/bin/python -P bench/example_suite.py [--rounds 5] [--size 2000] [--no-suite]

Prints one table row (markdown) for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dancu_testing import kit, server  # noqa: E402


def yardstick(rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import typer"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def tenant_costs(rounds: int, size: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as folder:
        local = server.start(Path(folder), population=100, ready_timeout=300)
        sandbox = kit.Sandbox(base_url=local.base_url, admin_token=local.admin_token,
                              demo=kit.Credentials("demo", "demo-secret-for-the-sandbox-only"),
                              tenant_size=size)
        try:
            sandbox.ensure_owner()
            created, first, deleted = [], [], []
            for _ in range(rounds):
                started = time.perf_counter()
                tenant = sandbox.create_tenant()
                created.append(time.perf_counter() - started)
                started = time.perf_counter()
                tenant.personas()
                first.append(time.perf_counter() - started)
                started = time.perf_counter()
                sandbox.delete_tenant(tenant.id)
                deleted.append(time.perf_counter() - started)
        finally:
            sandbox.close()
            local.stop()
    return statistics.median(created), statistics.median(first), statistics.median(deleted)


def suite_seconds() -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANCU_TEST_")}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "dancu"],
                          cwd=ROOT / "examples" / "bank_onboarding", env=env,
                          capture_output=True, text=True)
    summary = (done.stdout.strip().splitlines() or ["?"])[-1]
    return time.perf_counter() - started, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--no-suite", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    typer_s = yardstick(args.rounds)
    created, first, deleted = tenant_costs(args.rounds, args.size)
    suite, summary = (0.0, "not run") if args.no_suite else suite_seconds()
    typer_after = yardstick(args.rounds)
    print("| date (UTC) | load | `import typer` s | tenant create s (× typer) | first answer in "
          "it s | delete s | example suite s (× typer) | suite result |")
    print("|---|---|---|---|---|---|---|---|")
    mean_typer = (typer_s + typer_after) / 2
    ratio = created / mean_typer
    print(f"| {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} | {load_before:.1f}–"
          f"{os.getloadavg()[0]:.1f} | {mean_typer:.2f} | {created:.2f} ({ratio:.1f}×)"
          f" | {first:.2f} | {deleted:.2f} | {suite:.1f} ({suite / mean_typer:.0f}×) | {summary} |")


if __name__ == "__main__":
    main()
