"""Annotated dependency aliases, named for what they give a route."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from app.clock import SandboxClock
from app.db import Database
from app.services.vneid.lock_reasons import UNUSABLE_KEY
from app.settings import Settings


def get_database(request: Request) -> Database:
    return request.app.state.database


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_clock(request: Request) -> SandboxClock:
    return request.app.state.clock


def get_write_session(request: Request) -> Iterator[Session]:
    """A writing transaction for the route; what the route left for after the commit
    (:func:`after_commit`) runs once it has committed. When the route made an account unusable
    (locked, closed: :mod:`app.services.vneid.accounts`), its login sessions end in the same
    transaction and the relying parties are told after the commit (Back-Channel Logout)."""
    with get_database(request).write() as session:
        yield session
        if session.info.get(UNUSABLE_KEY):  # app.security.end_unusable_accounts
            request.app.state.end_unusable_accounts(request, session)
        owed = session.info.pop(AFTER_COMMIT, None)
    for work in owed or ():
        work()


AFTER_COMMIT = "dancu.after_commit"


def after_commit(session: Session, work: Callable[[], None]) -> None:
    """Run ``work`` once the route's write session (:data:`SessionDep`) has committed; never if it
    rolls back."""
    session.info.setdefault(AFTER_COMMIT, []).append(work)


def get_read_session(request: Request) -> Iterator[Session]:
    with get_database(request).read() as session:
        yield session


def get_now(request: Request) -> datetime:
    return get_clock(request).now()


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ClockDep = Annotated[SandboxClock, Depends(get_clock)]
NowDep = Annotated[datetime, Depends(get_now)]
# scope="function": the transaction commits before the response is sent, so a failed commit
# can never follow a 2xx already on the wire.
SessionDep = Annotated[Session, Depends(get_write_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
# A numeric row id in a path: a 64-bit key, so a larger number is a 422, not PostgreSQL's error.
RowIdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]
