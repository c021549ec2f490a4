"""What every OpenID-provider service shares: relying parties as the protocol rules see them, the
pairwise subject, token lifetimes, the userinfo audience and the authentication methods (``amr``).

A login client is a registered, active client with ``authorization_code`` among its grant types.
Its post-logout redirect URIs are its registered redirect URIs (Keycloak's "+" convention): an RP
can land the user back on any URI it registered, matched exactly.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.models.client import Client
from app.oidc.claims import pairwise_subject
from app.oidc.clients import ClientView
from app.services.kit import secret
from app.services.sharing.client_auth import active_client, client_view
from app.services.sharing.scopes import LOGIN_SCOPES
from app.settings import Settings

ACCESS_TOKEN_TTL = timedelta(minutes=10)
ID_TOKEN_TTL = timedelta(minutes=15)
SESSION_TTL = timedelta(hours=8)
INTERACTION_TTL = timedelta(minutes=15)
USERINFO_PATH = "/oauth2/userinfo"
LOGIN_PURPOSE = "login"  # consent purpose of OpenID Connect sign-in
AMR_PASSWORD_OTP = ("pwd", "sms", "mfa")  # RFC 8176: password + SMS code
AMR_APP = ("swk", "pin", "mfa")  # RFC 8176: key in the bound app + its passcode


def ensure_demo_login_scopes(session: Session, *, settings: Settings) -> None:
    """Start-up step: a demo client registered before sign-in existed gets the login scopes."""
    client = session.get(Client, settings.demo_client_id)
    if client is None or not settings.sandbox:
        return
    missing = [scope for scope in LOGIN_SCOPES if scope not in client.scopes]
    if missing:
        client.scopes = [*client.scopes, *missing]
        session.flush()


def login_client(
    session: Session, client_id: str, *, now: datetime
) -> tuple[Any, ClientView] | None:
    """The active client (a row with the ``client`` columns) and its protocol view, or ``None``
    when unknown, disabled or an expired open registration. Read with Core: every authorization
    request does it."""
    client = active_client(session, client_id, now=now)
    return None if client is None else (client, view_of(client))


def view_of(client: Any) -> ClientView:
    """The protocol view of a login client (post-logout URIs: those registered, else -- a client
    registered without any -- its redirect URIs)."""
    post_logout = client.post_logout_redirect_uris or client.redirect_uris
    return client_view(client, post_logout_redirect_uris=tuple(post_logout))


def userinfo_audience(settings: Settings) -> str:
    """``aud`` of the access tokens issued to relying parties (RFC 9068 §3)."""
    return settings.issuer_url + USERINFO_PATH


def pairwise_secret(settings: Settings) -> bytes:
    """The HMAC key of pairwise subjects: derived from the deployment secret (never the public
    seed, which would make every ``sub`` reversible to its PIN by trying the population); the
    same ``DANCU_SECRET_KEY`` gives every relying party the same ``sub`` values again."""
    return secret.derive(settings, "oidc/pairwise-subject")


def subject(pin: str, view: ClientView, settings: Settings) -> str:
    """The citizen's ``sub`` at this client (OIDC Core §8.1); never the PIN."""
    return pairwise_subject(pin, sector_identifier=view.sector, secret=pairwise_secret(settings))
