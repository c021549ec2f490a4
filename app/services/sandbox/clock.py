"""The sandbox clock as the API moves it: freeze, advance, unfreeze, reset, stored for every
process (:mod:`app.services.kit.shared_clock`). A tenant's clock is the ``sandbox_clock`` row of
its own database, so tenants never move each other's time.

Each change applies to this process's clock at once and is saved with a higher ``version``: the
deployment's other processes apply it at their next poll (every 5 s, the background worker), a
tenant's at their next request (the tenant dispatcher polls before each one).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.clock import SandboxClock
from app.db import Database
from app.errors import ValidationFailed
from app.models.signing_key import SigningKey
from app.services.kit import shared_clock
from app.services.kit.keys import aware

LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class ClockOutOfRange(ValidationFailed):
    code, title = ("clock-out-of-range",
                   "The sandbox clock cannot go before the provider's first signing key or "
                   "past 2100")


def bounds(database: Database) -> tuple[datetime, datetime]:
    """Where the clock may go: tokens cannot be signed before the first signing key existed."""
    with database.read() as session:
        first = aware(session.scalar(select(func.min(SigningKey.created_at))))
    return first or datetime(2021, 1, 1, tzinfo=UTC), LATEST


def _check(database: Database, instant: datetime) -> None:
    earliest, latest = bounds(database)
    if not earliest <= instant < latest:
        raise ClockOutOfRange(earliest=earliest.isoformat(), latest=latest.isoformat())


def view(clock: SandboxClock, *, version: int, tenant: str | None) -> dict[str, Any]:
    offset, frozen_at = clock.state()
    return {"now": clock.now(), "frozen": frozen_at is not None,
            "offset_seconds": offset.total_seconds(), "version": version, "tenant": tenant}


def stored_version(database: Database) -> int:
    with database.read() as session:
        state = shared_clock.load(session)
        return state.version if state is not None else 0


def _save(database: Database, clock: SandboxClock) -> int:
    with database.write() as session:
        return shared_clock.save(session, clock)


def freeze(database: Database, clock: SandboxClock, at: datetime | None) -> int:
    _check(database, at or clock.now())
    clock.freeze(at)
    return _save(database, clock)


def advance(database: Database, clock: SandboxClock, delta: timedelta) -> int:
    _check(database, clock.now() + delta)
    clock.advance(delta)
    return _save(database, clock)


def unfreeze(database: Database, clock: SandboxClock) -> int:
    clock.unfreeze()
    return _save(database, clock)


def reset(database: Database, clock: SandboxClock) -> int:
    clock.reset()
    return _save(database, clock)


def stored_now(database: Database) -> datetime:
    """The stored clock's now, for the command line (real time when nothing was stored)."""
    clock = SandboxClock()
    with database.read() as session:
        state = shared_clock.load(session)
        if state is not None:
            shared_clock.apply(clock, state)
    return clock.now()


def session_now(session: Session) -> datetime:
    """The stored clock's now read in ``session`` (the command line's "now")."""
    clock = SandboxClock()
    state = shared_clock.load(session)
    if state is not None:
        shared_clock.apply(clock, state)
    return clock.now()
