"""What the citizen's app (``/v1/me/sessions``, :mod:`app.routers.oauth`) and the admin API
(``/v1/admin/accounts/{pin}/sessions``, :mod:`app.routers.accounts_admin`) share to list and end
an account's VNeID login sessions (:mod:`app.services.vneid.session_control`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Request
from sqlalchemy.orm import Session

from app.schemas.accounts import LoginSessionList, LoginSessionOut, SessionsEnded
from app.security import key_store, send_logouts
from app.services.vneid import session_control
from app.settings import Settings

SidPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                              description="The session's `sid`, as the session list shows it.")]


def session_list(session: Session, account_id: int, now: datetime) -> LoginSessionList:
    return LoginSessionList(sessions=[
        LoginSessionOut.model_validate(row)
        for row in session_control.live_sessions(session, account_id, now=now)])


def sessions_ended(request: Request, session: Session, account_id: int, sid: str | None, *,
                   settings: Settings, now: datetime) -> SessionsEnded:
    """End one live session of the account (or every one) with its tokens; the relying parties
    registered for Back-Channel Logout are told once the answer has committed."""
    done = session_control.revoke(session, account_id, sid, keys=key_store(request),
                                  settings=settings, now=now)
    send_logouts(request, session, done.notices)
    return SessionsEnded(ended=done.sessions,
                         notified=sorted({notice.client_id for notice in done.notices}))
