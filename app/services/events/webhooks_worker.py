"""The server's background worker: a daemon thread that runs a webhook delivery pass every second
and, every few seconds, applies the clock another process stored (``dancu simulate``).

It owns no request and shares nothing with them but the database and the clock, so a slow or
unreachable subscriber only ever delays this thread. Errors are logged (without payloads) and the
loop goes on.
"""

from __future__ import annotations

import logging
import threading
import time

from app.clock import SandboxClock
from app.db import Database
from app.services.events import webhooks
from app.services.kit.shared_clock import ClockSync

log = logging.getLogger("dancu.worker")
DELIVERY_INTERVAL = 1.0
CLOCK_INTERVAL = 5.0


class BackgroundWorker:
    def __init__(self, database: Database, clock: SandboxClock, sync: ClockSync, *,
                 sender: webhooks.Sender, interval: float = DELIVERY_INTERVAL) -> None:
        self.database, self.clock, self.sync, self.interval = database, clock, sync, interval
        self.sender = sender
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clock_checked = 0.0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="dancu-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def tick(self) -> None:
        """One round: the clock (when due), then one delivery pass."""
        try:
            if time.monotonic() - self._clock_checked >= CLOCK_INTERVAL:
                self._clock_checked = time.monotonic()
                self.sync.poll(self.database)
            webhooks.run_pass(self.database, now=self.clock.now(), send=self.sender)
        except Exception as error:  # a background loop must survive anything
            log.warning("background worker round failed: %s", type(error).__name__)



def start(*, database: Database, clock: SandboxClock, sender: webhooks.Sender,
          enabled: bool) -> tuple[ClockSync, BackgroundWorker | None]:
    """At server start: restore the stored sandbox clock, then start the worker (``enabled``:
    ``DANCU_DELIVERY_WORKER``). The clock's sync object goes with it (the simulation route uses
    it)."""
    sync = ClockSync(clock)
    try:
        sync.poll(database)
    except Exception as error:  # the database may be down or not migrated yet
        log.warning("stored sandbox clock not read: %s", type(error).__name__)
    if not enabled:
        return sync, None
    worker = BackgroundWorker(database, clock, sync, sender=sender)
    worker.start()
    return sync, worker
