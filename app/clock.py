"""The sandbox clock: the only source of "now" in the service.

Integrators freeze and advance it to test expiries (tokens, one-time codes, cards) without sleeping.
Pure modules never read it; they receive ``now`` as an argument.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


def system_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SandboxClock:
    """Real time shifted by an offset, or frozen at an instant. Thread-safe."""

    offset: timedelta = timedelta(0)
    frozen_at: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now(self) -> datetime:
        with self._lock:
            if self.frozen_at is not None:
                return self.frozen_at
            return system_now() + self.offset

    def freeze(self, at: datetime | None = None) -> datetime:
        instant = (at or self.now()).astimezone(UTC)
        with self._lock:
            self.frozen_at = instant
        return instant

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            if self.frozen_at is not None:
                self.frozen_at += delta
            else:
                self.offset += delta
        return self.now()

    def unfreeze(self) -> None:
        with self._lock:
            if self.frozen_at is not None:
                self.offset = self.frozen_at - system_now()
                self.frozen_at = None

    def reset(self) -> None:
        with self._lock:
            self.offset = timedelta(0)
            self.frozen_at = None

    def state(self) -> tuple[timedelta, datetime | None]:
        """(offset, frozen instant): what :meth:`restore` takes back, e.g. from the database."""
        with self._lock:
            return self.offset, self.frozen_at

    def restore(self, *, offset: timedelta, frozen_at: datetime | None) -> None:
        with self._lock:
            self.offset, self.frozen_at = offset, frozen_at
