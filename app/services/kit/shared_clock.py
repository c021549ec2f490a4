"""The sandbox clock shared through the database: one ``sandbox_clock`` row (``id = 1``).

Each process keeps its own :class:`~app.clock.SandboxClock` (fast, no query per ``now()``). What
moves the clock for everyone (``dancu simulate``, ``POST /v1/admin/simulate``) saves the new state
here with a higher ``version``; the server restores it at start and its background worker polls
the version every few seconds, so another process's change reaches it within that delay. A clock
changed only in-process (tests freezing it) is left alone until the stored version changes.
A row per tenant can be added later (the key is an id, not a singleton).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import SandboxClock, system_now
from app.db import Database
from app.models.events import SandboxClockState
from app.services.kit.keys import aware

DEPLOYMENT_CLOCK = 1


def load(session: Session, clock_id: int = DEPLOYMENT_CLOCK) -> SandboxClockState | None:
    return session.scalar(select(SandboxClockState).where(SandboxClockState.id == clock_id))


def apply(clock: SandboxClock, state: SandboxClockState) -> None:
    clock.restore(offset=timedelta(microseconds=state.offset_us),
                  frozen_at=aware(state.frozen_at))


def save(session: Session, clock: SandboxClock, *, clock_id: int = DEPLOYMENT_CLOCK) -> int:
    """Store ``clock``'s state; the new version."""
    offset, frozen_at = clock.state()
    offset_us = offset // timedelta(microseconds=1)
    state = load(session, clock_id)
    now = system_now()  # bookkeeping only: when the row changed, in real time
    if state is None:
        state = SandboxClockState(id=clock_id, offset_us=offset_us, frozen_at=frozen_at,
                                  version=1, updated_at=now)
        session.add(state)
    else:
        state.offset_us, state.frozen_at = offset_us, frozen_at
        state.version, state.updated_at = state.version + 1, now
    session.flush()
    return state.version


@dataclass
class ClockSync:
    """Applies the stored clock to a process's clock whenever the stored version changes."""

    clock: SandboxClock
    seen: int = 0

    def poll(self, database: Database) -> bool:
        """Apply the stored state if it changed since the last poll; whether it did."""
        with database.read() as session:
            state = load(session)
            if state is None or state.version == self.seen:
                return False
            apply(self.clock, state)
            self.seen = state.version
        return True

    def saved(self, version: int) -> None:
        """This process stored ``version`` itself (its clock already has that state)."""
        self.seen = version
