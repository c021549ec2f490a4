"""Per-client request quotas: a fixed window counted in the database, so every server process
(and every worker) shares one count.

One atomic ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` per request (SQLite >= 3.35 and
PostgreSQL), in its own short transaction so the counter row is not locked for the whole request.
A refused request is not counted. Windows follow the sandbox clock, so tests advance time instead
of sleeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.models.client import RateWindow

WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    used: int
    retry_after: int  # seconds until the window resets (0 when allowed)


def _upsert(session: Session, *, client_id: str, window_start: int, cost: int) -> int:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(RateWindow).values(
        client_id=client_id, window_start=window_start, count=cost)
    statement = statement.on_conflict_do_update(
        index_elements=[RateWindow.client_id, RateWindow.window_start],
        set_={"count": RateWindow.count + cost},
    ).returning(RateWindow.count)
    return int(session.execute(statement).scalar_one())


def _forget_old_windows(session: Session, *, client_id: str, window_start: int) -> None:
    session.execute(delete(RateWindow).where(RateWindow.client_id == client_id,
                                             RateWindow.window_start < window_start))


def _relax_durability(session: Session) -> None:
    # A counter lost in a crash costs nothing; not waiting for the WAL flush keeps the quota check
    # off the request's critical path on PostgreSQL (SQLite in WAL mode with synchronous=NORMAL
    # already commits without fsync).
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def charge(session: Session, *, client_id: str, limit: int, now: datetime,
           cost: int = 1) -> RateDecision:
    """Count ``cost`` requests for the client in the current window; refuse when over ``limit``."""
    _relax_durability(session)
    epoch = now.timestamp()
    window_start = int(epoch // WINDOW_SECONDS) * WINDOW_SECONDS
    used = _upsert(session, client_id=client_id, window_start=window_start, cost=cost)
    if used == cost:  # first request of a new window: drop the client's stale windows
        _forget_old_windows(session, client_id=client_id, window_start=window_start)
    if used <= limit:
        return RateDecision(True, limit, used, 0)
    retry_after = max(1, math.ceil(window_start + WINDOW_SECONDS - epoch))
    return RateDecision(False, limit, used, retry_after)
