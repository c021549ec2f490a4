"""Print the reliability figures the tests wrote (``DANCU_FIGURES`` JSON lines) and the test
counts of each backend (JUnit XML) as one table: family | figure | SQLite | PostgreSQL."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

BACKENDS = ("sqlite", "postgresql")


def figures(path: Path) -> dict[tuple[str, str], dict[str, object]]:
    table: dict[tuple[str, str], dict[str, object]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            table.setdefault((row["family"], row["figure"]), {})[row["backend"]] = row["value"]
    return table


def test_counts(out: Path, backend: str) -> dict[str, int]:
    path = out / f"junit-{backend}.xml"
    if not path.exists():
        return {}
    suite = ElementTree.parse(path).getroot()
    suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
    assert suite is not None
    total = int(suite.get("tests", 0))
    failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    return {"passed": total - failed - skipped, "failed": failed, "skipped": skipped}


def main(out: Path) -> None:
    table = figures(out / "figures.jsonl")
    for backend in BACKENDS:
        for name, value in test_counts(out, backend).items():
            table.setdefault(("tests", name), {})[backend] = value
    width = max((len(f"{family}: {figure}") for family, figure in table), default=20)
    print(f"{'figure':<{width}}  {'SQLite':>14}  {'PostgreSQL':>14}")
    for (family, figure), values in table.items():
        cells = [str(values.get(backend, "-")) for backend in BACKENDS]
        print(f"{family + ': ' + figure:<{width}}  {cells[0]:>14}  {cells[1]:>14}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ".ci/out"))
