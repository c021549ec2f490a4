"""The generator worker's receiving thread (seed/pipeline.py): whatever stops it, the writer is
told, never left waiting."""

from __future__ import annotations

import threading
from datetime import date
from multiprocessing.connection import Connection
from typing import Any

import pytest

from seed import pipeline


# the receiving thread's own error is reported by the threading module, as any thread's
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_an_unexpected_error_in_the_receiving_thread_fails_the_load_instead_of_hanging(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: Connection, *args: Any) -> bytes:
        raise MemoryError  # say a batch too large to hold

    # this process's end of the pipe only: the worker is a fresh (spawned) interpreter
    monkeypatch.setattr(Connection, "recv_bytes", broken)
    monkeypatch.setattr(pipeline, "IN_PROCESS_UP_TO", 0)
    source = pipeline.batches(seed=1, size=10, reference_date=date(2026, 1, 1), dialect="sqlite")
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            list(source)
        except BaseException as error:  # what the writer would see
            outcome.append(error)

    writer = threading.Thread(target=load, daemon=True)
    try:
        writer.start()
        writer.join(60)
        assert not writer.is_alive(), "the writer waits for a message that never comes"
    finally:
        source.close()
    assert [type(error) for error in outcome] == [pipeline.GeneratorFailed]
