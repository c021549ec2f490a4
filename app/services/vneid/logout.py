"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at ``/oauth2/logout``.

* ``id_token_hint``: an ID token we issued (expired ones are accepted: the hint names a past
  login); ``client_id``, when also sent, must be its audience.
* ``post_logout_redirect_uri``: only with a known client (from the hint or ``client_id``) and only
  if it equals one of the client's registered redirect URIs, byte for byte; ``state`` is passed
  back to it. Anything else is an error page, never a redirect (no open redirector).
* With a valid hint the session named by its ``sid`` ends at once; without one the citizen is asked
  to confirm (a form with a token derived from their session cookie), so another site cannot log
  them out.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy.orm import Session

from app.oidc.jwt_policy import TokenRejected
from app.oidc.tokens import IdTokenClaims, verify_id_token_hint
from app.services.kit.keys import KeyStore
from app.services.vneid import sessions as oidc_sessions
from app.services.vneid.provider import login_client
from app.settings import Settings


class LogoutRejected(Exception):
    """The logout request cannot be honoured as sent: show ``message`` (fixed text)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class LogoutRequest:
    hint: IdTokenClaims | None
    redirect_uri: str | None
    state: str | None


def _hint(params: Mapping[str, str], keys: KeyStore, settings: Settings,
          now: datetime) -> IdTokenClaims | None:
    token = params.get("id_token_hint")
    if not token:
        return None
    try:
        return verify_id_token_hint(token, keys=keys.ring_for(token), issuer=settings.issuer_url,
                                    now=now)
    except TokenRejected:
        raise LogoutRejected(
            "The id_token_hint is not a valid ID token of this provider.") from None


def validate(session: Session, params: Mapping[str, str], *, keys: KeyStore, settings: Settings,
             now: datetime) -> LogoutRequest:
    hint = _hint(params, keys, settings, now)
    client_id = params.get("client_id") or (hint.content.client_id if hint else None)
    if hint is not None and client_id != hint.content.client_id:
        raise LogoutRejected("The client_id does not match the id_token_hint.")
    redirect_uri = params.get("post_logout_redirect_uri")
    if redirect_uri is not None:
        found = login_client(session, client_id, now=now) if client_id else None
        if found is None or redirect_uri not in found[1].post_logout_redirect_uris:
            raise LogoutRejected("The post_logout_redirect_uri is not registered for the client.")
    return LogoutRequest(hint=hint, redirect_uri=redirect_uri, state=params.get("state"))


def confirmation_token(session_cookie: str) -> str:
    return hashlib.sha256(f"dancu-logout/{session_cookie}".encode()).hexdigest()


def confirmed(session_cookie: str | None, token: str | None) -> bool:
    return bool(session_cookie and token) and hmac.compare_digest(
        confirmation_token(session_cookie or ""), token or "")


@dataclass(frozen=True)
class LogoutDone:
    """Where to send the browser (``None``: show the logged-out page) and the sessions ended
    (whose relying parties are owed back-channel logout tokens)."""

    target: str | None
    ended: tuple[str, ...]


def perform(session: Session, request: LogoutRequest, *, session_cookie: str | None,
            now: datetime) -> LogoutDone:
    """End the sessions (the browser's, and the one the hint names)."""
    ended: list[str] = []
    row = oidc_sessions.current(session, session_cookie, now=now)
    if row is not None:
        oidc_sessions.end(session, row, now=now)
        ended.append(row.id)
    if request.hint is not None and request.hint.content.session_id:
        if oidc_sessions.end_by_id(session, request.hint.content.session_id, now=now):
            ended.append(request.hint.content.session_id)
    return LogoutDone(_target(request), tuple(ended))


def _target(request: LogoutRequest) -> str | None:
    if request.redirect_uri is None:
        return None
    parts = urlsplit(request.redirect_uri)
    extra = urlencode({"state": request.state}) if request.state else ""
    query = "&".join(part for part in (parts.query, extra) if part)
    return urlunsplit(parts._replace(query=query))
