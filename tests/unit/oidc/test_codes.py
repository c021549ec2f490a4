"""Authorization codes (RFC 6749 §4.1.3, RFC 7636 §4.6), refresh-token rotation (RFC 9700 §4.14)."""

import base64
import hashlib
from dataclasses import replace
from datetime import timedelta

import pytest

from app.oidc.authorize import AuthorizationRequest
from app.oidc.codes import (
    CODE_TTL,
    AuthorizationCodeReused,
    CodeVerifierFailed,
    RefreshTokenReused,
    issue_authorization_code,
    issue_refresh_token,
    new_opaque_value,
    opaque_hash,
    redeem_authorization_code,
    rotate_refresh_token,
)
from app.oidc.errors import InvalidGrant, InvalidScope

from .support import T0

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
REDIRECT = "https://rp.example/cb"
REQUEST = AuthorizationRequest(
    client_id="rp-1",
    redirect_uri=REDIRECT,
    scope=("openid", "profile", "offline_access"),
    code_challenge=CHALLENGE,
    received_at=T0,
    nonce="n-1",
)


def _issue():
    return issue_authorization_code(
        REQUEST,
        subject="acct-1",
        auth_time=T0,
        acr="LoA2",
        amr=("pwd", "otp"),
        session_id="sid-1",
        now=T0,
    )


def _redeem(grant, **changes):
    args = {
        "client_id": "rp-1",
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
        "now": T0 + timedelta(seconds=5),
    }
    return redeem_authorization_code(grant, **{**args, **changes})


def test_opaque_values_carry_256_random_bits_and_never_repeat():
    values = {new_opaque_value() for _ in range(200)}
    assert len(values) == 200
    assert all(len(base64.urlsafe_b64decode(v + "=")) == 32 for v in values)


def test_stored_hash_is_base64url_sha256_of_the_value():
    expected = base64.urlsafe_b64encode(hashlib.sha256(b"abc").digest()).rstrip(b"=").decode()
    assert opaque_hash("abc") == expected


def test_code_grant_binds_client_redirect_pkce_nonce_and_expires_in_60_seconds():
    code, grant = _issue()
    assert grant.code_hash == opaque_hash(code)
    assert code not in repr(grant)
    assert (grant.client_id, grant.redirect_uri, grant.code_challenge, grant.nonce) == (
        "rp-1",
        REDIRECT,
        CHALLENGE,
        "n-1",
    )
    assert (grant.issued_at, grant.expires_at, CODE_TTL) == (
        T0,
        T0 + timedelta(seconds=60),
        timedelta(seconds=60),
    )
    assert (grant.subject, grant.acr, grant.amr, grant.session_id) == (
        "acct-1",
        "LoA2",
        ("pwd", "otp"),
        "sid-1",
    )


def test_valid_redemption_returns_the_grant_marked_consumed():
    _, grant = _issue()
    consumed = _redeem(grant)
    assert consumed.consumed_at == T0 + timedelta(seconds=5)
    assert replace(consumed, consumed_at=None) == grant


def test_oidcc_codereuse_second_redemption_is_invalid_grant_naming_the_grant_to_revoke():
    _, grant = _issue()
    consumed = _redeem(grant)
    with pytest.raises(AuthorizationCodeReused) as caught:
        _redeem(consumed, now=T0 + timedelta(seconds=30))
    assert isinstance(caught.value, InvalidGrant)
    assert caught.value.error == "invalid_grant"
    assert caught.value.grant.code_hash == grant.code_hash


@pytest.mark.parametrize(
    ("changes", "message", "spends_code"),
    [
        ({"client_id": "rp-2"}, "another client", False),
        ({"now": T0 + CODE_TTL}, "expired", False),
        ({"redirect_uri": "https://rp.example/cb/"}, "redirect_uri", False),
        ({"redirect_uri": None}, "redirect_uri", False),
        ({"code_verifier": None}, "code_verifier is required", True),
        ({"code_verifier": "a" * 43}, "PKCE verification failed", True),
        ({"code_verifier": "short"}, "malformed", True),
    ],
)
def test_redemption_is_refused_and_a_pkce_failure_spends_the_code(changes, message, spends_code):
    _, grant = _issue()
    with pytest.raises(InvalidGrant, match=message) as refused:
        _redeem(grant, **changes)
    assert isinstance(refused.value, CodeVerifierFailed) is spends_code


def test_unknown_code_is_invalid_grant():
    with pytest.raises(InvalidGrant):
        _redeem(None)


def test_code_is_still_valid_one_second_before_expiry():
    _, grant = _issue()
    assert _redeem(grant, now=T0 + CODE_TTL - timedelta(seconds=1)).consumed_at is not None


# --- refresh tokens ------------------------------------------------------------------------------


def _refresh(**kw):
    _, grant = _issue()
    return issue_refresh_token(_redeem(grant), now=T0, **kw)


def test_refresh_token_starts_a_family_bound_to_the_client_and_grant():
    token, record = _refresh()
    assert record.token_hash == opaque_hash(token)
    assert (record.client_id, record.subject, record.scope) == ("rp-1", "acct-1", REQUEST.scope)
    assert record.expires_at == T0 + timedelta(hours=12)
    assert record.family_expires_at == T0 + timedelta(days=30)


def test_rotation_issues_a_new_token_in_the_same_family_and_marks_the_old_one():
    token, record = _refresh()
    later = T0 + timedelta(hours=1)
    rotation = rotate_refresh_token(record, client_id="rp-1", requested_scope=None, now=later)
    assert rotation.token != token
    assert rotation.new_record.token_hash == opaque_hash(rotation.token)
    assert rotation.new_record.family_id == record.family_id
    assert rotation.new_record.scope == rotation.scope == REQUEST.scope
    assert rotation.rotated_record.rotated_at == later


def test_refresh_may_narrow_the_access_token_scope_but_keeps_the_grant_scope():
    _, record = _refresh()
    rotation = rotate_refresh_token(record, client_id="rp-1", requested_scope=("openid",), now=T0)
    assert rotation.scope == ("openid",)
    assert rotation.new_record.scope == REQUEST.scope


def test_refresh_asking_for_more_scope_is_invalid_scope():
    _, record = _refresh()
    with pytest.raises(InvalidScope):
        rotate_refresh_token(
            record, client_id="rp-1", requested_scope=("openid", "vneid.identity"), now=T0
        )


def test_reusing_a_rotated_refresh_token_names_the_family_to_revoke():
    _, record = _refresh()
    rotation = rotate_refresh_token(record, client_id="rp-1", requested_scope=None, now=T0)
    with pytest.raises(RefreshTokenReused) as caught:
        rotate_refresh_token(
            rotation.rotated_record, client_id="rp-1", requested_scope=None, now=T0
        )
    assert caught.value.family_id == record.family_id
    assert caught.value.error == "invalid_grant"


@pytest.mark.parametrize(
    ("changes", "kwargs"),
    [
        ({"revoked_at": T0}, {}),
        ({}, {"client_id": "rp-2"}),
        ({}, {"now": T0 + timedelta(hours=12)}),
        ({"expires_at": T0 + timedelta(days=40)}, {"now": T0 + timedelta(days=30)}),
    ],
    ids=["revoked", "other_client", "idle_expired", "family_expired"],
)
def test_refresh_is_refused(changes, kwargs):
    _, record = _refresh()
    args = {"client_id": "rp-1", "requested_scope": None, "now": T0, **kwargs}
    with pytest.raises(InvalidGrant):
        rotate_refresh_token(replace(record, **changes), **args)


def test_unknown_refresh_token_is_invalid_grant():
    with pytest.raises(InvalidGrant):
        rotate_refresh_token(None, client_id="rp-1", requested_scope=None, now=T0)


def test_rotated_token_never_outlives_its_family():
    _, record = _refresh(family_lifetime=timedelta(hours=13))
    rotation = rotate_refresh_token(
        record, client_id="rp-1", requested_scope=None, now=T0 + timedelta(hours=6)
    )
    assert rotation.new_record.expires_at == T0 + timedelta(hours=13)
