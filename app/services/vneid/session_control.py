"""Ending login sessions on demand: the citizen (in the VNeID app, ``/v1/me/sessions``) or an
administrator (``/v1/admin/accounts/{pin}/sessions``) lists the account's live login sessions with
the relying parties that received tokens in each, and ends one or all of them.

Ending a session (:func:`revoke`): the session ends (its cookie no longer signs anyone in, a
``prompt=none`` request finds no login), every refresh token issued in it is revoked -- also those
with ``offline_access``, which outlive a logout but not a revocation the citizen asked for -- and so
is every access token issued in it (userinfo and introspection refuse them at once); each relying
party registered for Back-Channel Logout gets a logout token (:mod:`.backchannel`, after the
commit).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.models.client import Client
from app.models.oidc import BrowserSession, IssuedAccessToken
from app.services.kit.keys import KeyStore, aware
from app.services.vneid import backchannel, revocation
from app.settings import Settings


class SessionNotFound(NotFound):
    code, title = "session-not-found", "The account has no live login session with this id"


@dataclass(frozen=True)
class SignedIn:
    """A relying party that received tokens in a session."""

    client_id: str
    name: str


@dataclass(frozen=True)
class LiveSession:
    sid: str
    started_at: datetime
    auth_time: datetime
    expires_at: datetime
    level: int
    amr: list[str]
    relying_parties: list[SignedIn]


def live_sessions(session: Session, account_id: int, *, now: datetime) -> list[LiveSession]:
    """The account's live login sessions, newest first, each with its relying parties."""
    rows = list(session.scalars(select(BrowserSession).where(
        BrowserSession.account_id == account_id, BrowserSession.ended_at.is_(None),
        BrowserSession.expires_at > now).order_by(BrowserSession.created_at.desc(),
                                                  BrowserSession.id)))
    parties: dict[str, list[SignedIn]] = defaultdict(list)
    if rows:
        pairs = session.execute(
            select(IssuedAccessToken.session_id, Client.client_id, Client.name).distinct()
            .join(Client, Client.client_id == IssuedAccessToken.client_id)
            .where(IssuedAccessToken.account_id == account_id,
                   IssuedAccessToken.session_id.in_([row.id for row in rows]))
            .order_by(Client.client_id))
        for sid, client_id, name in pairs:
            parties[sid].append(SignedIn(client_id, name))
    return [LiveSession(sid=row.id, started_at=aware(row.created_at) or row.created_at,
                        auth_time=aware(row.auth_time) or row.auth_time,
                        expires_at=aware(row.expires_at) or row.expires_at, level=row.level,
                        amr=list(row.amr or []), relying_parties=parties[row.id])
            for row in rows]


@dataclass(frozen=True)
class Revoked:
    """What a revocation ended, and the logout tokens owed (sent after the commit)."""

    sessions: list[str]
    notices: list[backchannel.Notice]


def revoke(session: Session, account_id: int, sid: str | None = None, *, keys: KeyStore,
           settings: Settings, now: datetime) -> Revoked:
    """End the account's live session ``sid`` (``None``: every live one) with its tokens. An
    unknown ``sid``, another account's, or one that has ended or expired: 404
    ``session-not-found``."""
    ended = backchannel.live_session_ids(session, account_id,
                                         None if sid is None else [sid[:64]], now=now)
    if sid is not None and not ended:
        raise SessionNotFound()
    if not ended:
        return Revoked([], [])
    revocation.revoke_session_grants(session, account_id=account_id, session_ids=ended, now=now)
    notices = backchannel.end_sessions(session, account_id, ended, keys=keys, settings=settings,
                                       now=now)
    return Revoked(ended, notices)
