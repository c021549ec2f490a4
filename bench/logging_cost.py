"""What the JSON access line costs a request, in process: one ``dancu.access`` line per call of
``logging_json.access`` (the fields of a real request), written to a file, four ways:

* ``queued``: as ``dancu serve`` configures it (``logging_json.config``): the caller puts the
  record on a queue, a listener thread formats and writes it;
* ``direct``: the same JSON formatter on a plain ``StreamHandler`` (before: the event loop wrote);
* ``plain``: a plain-text logger (``logging.Formatter`` with time, level and message, a
  ``StreamHandler``), what uvicorn's own access line costs;
* ``off``: the level above info (the line is not built).

For each: CPU microseconds per line on the caller's thread (what the event loop pays) and of
the whole process (the writer thread included, the queue drained): CPU, not wall time, so the
figures hold on a busy machine. Alternating rounds,
medians.

    .venv/bin/python -P bench/logging_cost.py [lines] [rounds]
"""

from __future__ import annotations

import logging
import logging.config
import statistics
import sys
import tempfile
import time
from pathlib import Path

from app.services.kit import logging_json

FIELDS = {"request_id": "5df8ced08f6346a2938b208539c62c7c", "method": "GET",
          "path": "/v1/citizens/{pin}", "status": 200, "duration_ms": 1.73,
          "client_id": "bench", "tenant": None, "fault": None}


def configure(kind: str, path: Path) -> logging.Handler | None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    access = logging.getLogger(logging_json.ACCESS_LOGGER)
    access.setLevel(logging.NOTSET)
    stream = path.open("a")
    if kind == "queued":
        handler: logging.Handler = logging_json.queued(stream)
    else:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging_json.JsonFormatter() if kind == "direct" else
                             logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING if kind == "off" else logging.INFO)
    return handler


def drained(handler: logging.Handler) -> None:
    """Wait until the listener thread has written every queued line."""
    records = getattr(handler, "queue", None)
    while records is not None and not records.empty():
        time.sleep(0.001)
    time.sleep(0.01)


def measure(kind: str, lines: int, path: Path) -> tuple[float, float]:
    handler = configure(kind, path)
    cpu, own = time.process_time(), time.thread_time()
    for _ in range(lines):
        logging_json.access(**FIELDS)
    caller = (time.thread_time() - own) / lines * 1e6
    if handler is not None:
        drained(handler)
    total = (time.process_time() - cpu) / lines * 1e6
    return caller, total


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    kinds = ("queued", "direct", "plain", "off")
    seen: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "access.log"
        for _ in range(rounds):
            for kind in kinds:
                seen[kind].append(measure(kind, lines, path))
    print(f"{lines} lines x {rounds} rounds, medians (CPU µs per line)")
    print("| logger | caller's thread | process (writer included) |")
    print("|---|---|---|")
    for kind in kinds:
        caller = statistics.median(c for c, _ in seen[kind])
        total = statistics.median(t for _, t in seen[kind])
        print(f"| {kind} | {caller:.1f} | {total:.1f} |")


if __name__ == "__main__":
    main()
