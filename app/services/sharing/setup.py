"""Start-up step of the data-sharing API: signing keys and the demo client exist (idempotent).

Several server processes may start at once against one database: the step holds a transaction-level
advisory lock on PostgreSQL (SQLite's ``BEGIN IMMEDIATE`` already serialises writers), so exactly
one of them creates the keys and the demo client and the others find them.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.services.kit import keys
from app.services.sharing import clients
from app.settings import Settings

log = logging.getLogger("dancu.setup")
_ADVISORY_LOCK_ID = 0x64616E6375  # "dancu"


def _serialise(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})


def ensure_sharing(session: Session, *, settings: Settings, now: datetime) -> None:
    _serialise(session)
    created = keys.ensure_keys(session, settings=settings, now=now)
    if created:
        log.info("created %d signing key(s)", len(created))
    outcome = clients.ensure_demo_client(session, settings=settings, now=now)
    if outcome in ("created", "disabled", "updated"):
        log.info("demo client %s", outcome)
