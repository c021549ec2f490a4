"""RFC 7662 introspection responses: inactive for anything invalid, no leak of why."""

from dataclasses import replace
from datetime import timedelta

import pytest

from app.oidc.codes import RefreshTokenRecord
from app.oidc.introspection import (
    access_token_introspection,
    parse_token_type_hint,
    refresh_token_introspection,
)
from app.oidc.jwt_policy import TokenRejected
from app.oidc.tokens import AccessTokenContent, inspect_access_token, issue_access_token

from .support import ISSUER, T0, TTL, USERINFO

CONTENT = AccessTokenContent(
    "pairwise-sub", "rp-1", (USERINFO,), ("openid", "profile"), auth_time=T0, acr="LoA2"
)
RECORD = RefreshTokenRecord(
    token_hash="h",
    family_id="f",
    client_id="rp-1",
    subject="079203005440",
    scope=("openid", "offline_access"),
    auth_time=T0,
    acr="LoA2",
    issued_at=T0,
    expires_at=T0 + timedelta(hours=1),
    family_expires_at=T0 + timedelta(days=1),
)


def _inspect(token, ring, now=T0):
    try:
        return inspect_access_token(token, keys=ring, issuer=ISSUER, now=now)
    except TokenRejected:
        return None


@pytest.fixture
def access_token(ec_key):
    return issue_access_token(
        CONTENT, key=ec_key, issuer=ISSUER, now=T0, ttl=TTL, jti="jti-1"
    ).value


@pytest.mark.parametrize("requester", ["rp-1", USERINFO])
def test_active_token_is_described_to_its_client_or_audience(access_token, ring, requester):
    response = access_token_introspection(
        _inspect(access_token, ring), revoked=False, requester=requester, issuer=ISSUER
    )
    assert response == {
        "active": True,
        "scope": "openid profile",
        "client_id": "rp-1",
        "token_type": "Bearer",
        "exp": int((T0 + TTL).timestamp()),
        "iat": int(T0.timestamp()),
        "sub": "pairwise-sub",
        "aud": USERINFO,
        "iss": ISSUER,
        "jti": "jti-1",
        "acr": "LoA2",
        "auth_time": int(T0.timestamp()),
    }


@pytest.mark.parametrize(
    ("token_change", "revoked", "requester", "now"),
    [
        (lambda t: t, True, "rp-1", T0),
        (lambda t: t, False, "rp-2", T0),
        (lambda t: t, False, "rp-1", T0 + TTL + timedelta(minutes=5)),
        (lambda t: t[:-4] + "AAAA", False, "rp-1", T0),
        (lambda t: "garbage", False, "rp-1", T0),
        (lambda t: "", False, "rp-1", T0),
    ],
    ids=["revoked", "other_client", "expired", "bad_signature", "garbage", "empty"],
)
def test_anything_invalid_is_just_inactive(
    access_token, ring, token_change, revoked, requester, now
):
    claims = _inspect(token_change(access_token), ring, now)
    assert access_token_introspection(
        claims, revoked=revoked, requester=requester, issuer=ISSUER
    ) == {"active": False}


def test_refresh_token_is_described_only_to_its_client_without_the_account_id():
    response = refresh_token_introspection(RECORD, requester="rp-1", issuer=ISSUER, now=T0)
    assert response["active"] is True
    assert response["scope"] == "openid offline_access"
    assert "sub" not in response
    assert "079203005440" not in str(response)


@pytest.mark.parametrize(
    ("record", "requester", "now"),
    [
        (None, "rp-1", T0),
        (replace(RECORD, revoked_at=T0), "rp-1", T0),
        (replace(RECORD, rotated_at=T0), "rp-1", T0),
        (RECORD, "rp-1", T0 + timedelta(hours=1)),
        (RECORD, "rp-2", T0),
    ],
    ids=["unknown", "revoked", "rotated", "expired", "other_client"],
)
def test_unusable_refresh_token_is_inactive(record, requester, now):
    assert refresh_token_introspection(record, requester=requester, issuer=ISSUER, now=now) == {
        "active": False
    }


@pytest.mark.parametrize(
    ("hint", "parsed"),
    [
        ("access_token", "access_token"),
        ("refresh_token", "refresh_token"),
        ("id_token", None),
        (None, None),
    ],
)
def test_token_type_hint(hint, parsed):
    assert parse_token_type_hint(hint) == parsed
