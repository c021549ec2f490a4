"""prompt / max_age / acr_values decisions (OIDC Core §3.1.2.1, §3.1.2.3, §3.1.2.6)."""

from dataclasses import replace
from datetime import timedelta

import pytest

from app.oidc.authorize import AuthorizationRequest
from app.oidc.errors import ConsentRequired, LoginRequired, UnmetAuthenticationRequirements
from app.oidc.interaction import (
    ConsentView,
    Interaction,
    SessionView,
    required_interaction,
    select_acr,
)

from .support import T0

REQUEST = AuthorizationRequest(
    client_id="rp-1",
    redirect_uri="https://rp.example/cb",
    scope=("openid", "profile"),
    code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    received_at=T0,
)
SESSION = SessionView(subject="acct-1", auth_time=T0 - timedelta(minutes=10), level=2)
CONSENT = ConsentView(scopes=frozenset({"openid", "profile"}), granted_at=T0 - timedelta(days=3))


def _step(request=REQUEST, session=SESSION, consent=CONSENT, now=T0):
    return required_interaction(request, session=session, consent=consent, now=now)


@pytest.mark.parametrize(
    ("changes", "session", "consent", "expected"),
    [
        ({}, SESSION, CONSENT, Interaction.NONE),
        ({}, None, CONSENT, Interaction.LOGIN),
        ({"prompt": frozenset({"login"})}, SESSION, CONSENT, Interaction.LOGIN),
        (
            {"prompt": frozenset({"login"})},
            replace(SESSION, auth_time=T0 + timedelta(seconds=5)),
            CONSENT,
            Interaction.NONE,
        ),
        ({"max_age": 1}, SESSION, CONSENT, Interaction.LOGIN),
        (
            {"max_age": 0},
            replace(SESSION, auth_time=T0 - timedelta(seconds=1)),
            CONSENT,
            Interaction.LOGIN,
        ),
        (
            {"max_age": 0},
            replace(SESSION, auth_time=T0 + timedelta(seconds=5)),
            CONSENT,
            Interaction.NONE,
        ),
        ({"max_age": 15000}, SESSION, CONSENT, Interaction.NONE),
        ({"acr_values": ("LoA2",)}, replace(SESSION, level=1), CONSENT, Interaction.LOGIN),
        ({"acr_values": ("LoA2", "LoA1")}, replace(SESSION, level=1), CONSENT, Interaction.NONE),
        ({"prompt": frozenset({"select_account"})}, SESSION, CONSENT, Interaction.SELECT_ACCOUNT),
        (
            {"prompt": frozenset({"select_account"})},
            replace(SESSION, auth_time=T0),
            CONSENT,
            Interaction.NONE,
        ),
        ({}, SESSION, None, Interaction.CONSENT),
        ({"scope": ("openid", "profile", "vneid.identity")}, SESSION, CONSENT, Interaction.CONSENT),
        ({"prompt": frozenset({"consent"})}, SESSION, CONSENT, Interaction.CONSENT),
        (
            {"prompt": frozenset({"consent"})},
            SESSION,
            replace(CONSENT, granted_at=T0),
            Interaction.NONE,
        ),
    ],
)
def test_next_interaction(changes, session, consent, expected):
    assert _step(replace(REQUEST, **changes), session, consent) is expected


def test_oidcc_max_age_1_login_during_the_request_is_not_asked_again_later():
    fresh = replace(SESSION, auth_time=T0 + timedelta(seconds=3))
    step = _step(replace(REQUEST, max_age=1), session=fresh, now=T0 + timedelta(seconds=20))
    assert step is Interaction.NONE


def test_fresh_login_still_below_requested_level_is_unmet_authentication_requirements():
    fresh_level_1 = SessionView(subject="acct-1", auth_time=T0 + timedelta(seconds=3), level=1)
    with pytest.raises(UnmetAuthenticationRequirements):
        _step(replace(REQUEST, acr_values=("LoA2",)), session=fresh_level_1)


def test_oidcc_prompt_none_not_logged_in_is_login_required():
    with pytest.raises(LoginRequired):
        _step(replace(REQUEST, prompt=frozenset({"none"})), session=None)


def test_oidcc_prompt_none_logged_in_is_silent():
    assert _step(replace(REQUEST, prompt=frozenset({"none"}))) is Interaction.NONE


@pytest.mark.parametrize(
    ("changes", "consent", "error"),
    [
        ({"max_age": 1}, CONSENT, LoginRequired),
        ({}, None, ConsentRequired),
    ],
)
def test_prompt_none_turns_needed_interaction_into_an_error(changes, consent, error):
    with pytest.raises(error):
        _step(replace(REQUEST, prompt=frozenset({"none"}), **changes), consent=consent)


@pytest.mark.parametrize(
    ("requested", "level", "acr"),
    [
        ((), 1, "LoA1"),
        ((), 2, "LoA2"),
        (("LoA1",), 2, "LoA1"),
        (("LoA2", "LoA1"), 2, "LoA2"),
        (("LoA2", "LoA1"), 1, "LoA1"),
    ],
)
def test_acr_is_the_first_requested_level_the_account_meets(requested, level, acr):
    assert select_acr(requested, level=level) == acr


def test_level_1_account_asked_for_loa2_only_is_unmet_not_downgraded():
    with pytest.raises(UnmetAuthenticationRequirements):
        select_acr(("LoA2",), level=1)
