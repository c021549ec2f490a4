"""What the user must do before a code can be issued: log in, consent, or nothing.

Sources: OIDC Core §3.1.2.1 (``prompt``, ``max_age``, ``acr_values``), §3.1.2.3 (re-authenticate
when ``max_age`` is exceeded), §3.1.2.6 (``login_required``, ``consent_required`` when
``prompt=none``), OpenID Connect Core Unmet Authentication
Requirements 1.0 (``unmet_authentication_requirements``).

Assurance levels: ``LoA1`` and ``LoA2`` are the VNeID account levels (identity-proofing level 1:
self-service with selfie; level 2: in-person biometric verification). ``acr_values`` lists
acceptable values in order of preference; an authentication at level *n* satisfies ``LoAk`` for
every *k* <= *n*. A level-1 account asked for LoA2 only gets ``unmet_authentication_requirements``,
never a silent LoA1 token.

``prompt=login``, ``max_age`` and ``prompt=consent`` are satisfied by a login or consent that came
after the request arrived (``AuthorizationRequest.received_at``), so the flow does not loop (with
``max_age=0`` or ``1`` a check a few seconds after the login would otherwise ask again). When a
login made for this request still falls short of ``acr_values``, the answer is
``unmet_authentication_requirements``. Sessions hold one account, so ``prompt=select_account`` is
satisfied the same way, by a fresh login.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from app.oidc.authorize import ACR_VALUES_SUPPORTED, AuthorizationRequest
from app.oidc.errors import ConsentRequired, LoginRequired, UnmetAuthenticationRequirements

ACR_LEVEL = {acr: level for level, acr in enumerate(ACR_VALUES_SUPPORTED, start=1)}


class Interaction(StrEnum):
    NONE = "none"
    LOGIN = "login"
    SELECT_ACCOUNT = "select_account"
    CONSENT = "consent"


@dataclass(frozen=True)
class SessionView:
    """The user's current session at the provider."""

    subject: str
    auth_time: datetime
    level: int


@dataclass(frozen=True)
class ConsentView:
    """The scopes the user has already granted this client, and when."""

    scopes: frozenset[str]
    granted_at: datetime


def acr_for_level(level: int) -> str:
    return f"LoA{level}"


def select_acr(requested: tuple[str, ...], *, level: int) -> str:
    """The ``acr`` to assert: the first requested value the level satisfies, or the level itself."""
    if not requested:
        return acr_for_level(level)
    for acr in requested:
        if ACR_LEVEL[acr] <= level:
            return acr
    raise UnmetAuthenticationRequirements()


def _meets_acr(request: AuthorizationRequest, session: SessionView) -> bool:
    wanted = [ACR_LEVEL[acr] for acr in request.acr_values]
    return not wanted or min(wanted) <= session.level


def _needs_login(request: AuthorizationRequest, session: SessionView, now: datetime) -> bool:
    if session.auth_time >= request.received_at:
        return False  # authenticated during this request: satisfies prompt=login and any max_age
    if "login" in request.prompt or not _meets_acr(request, session):
        return True
    return request.max_age is not None and now - session.auth_time > timedelta(
        seconds=request.max_age
    )


def _needs_consent(request: AuthorizationRequest, consent: ConsentView | None) -> bool:
    if consent is None or not set(request.consent_scopes) <= consent.scopes:
        return True
    return "consent" in request.prompt and consent.granted_at < request.received_at


def required_interaction(
    request: AuthorizationRequest,
    *,
    session: SessionView | None,
    consent: ConsentView | None,
    now: datetime,
) -> Interaction:
    """The next step for ``request``; with ``prompt=none`` a needed step is an error instead."""
    step = _next_step(request, session, consent, now)
    if "none" in request.prompt and step is not Interaction.NONE:
        # prompt=none stands alone (authorize.py), so select_account cannot be the step here.
        raise LoginRequired() if step is Interaction.LOGIN else ConsentRequired()
    return step


def _next_step(
    request: AuthorizationRequest,
    session: SessionView | None,
    consent: ConsentView | None,
    now: datetime,
) -> Interaction:
    if session is None or _needs_login(request, session, now):
        return Interaction.LOGIN
    if not _meets_acr(request, session):
        raise UnmetAuthenticationRequirements()  # a fresh login could not reach the level
    if "select_account" in request.prompt and session.auth_time < request.received_at:
        return Interaction.SELECT_ACCOUNT
    if _needs_consent(request, consent):
        return Interaction.CONSENT
    return Interaction.NONE
