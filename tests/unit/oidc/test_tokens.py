"""ID tokens (OIDC Core §2), RFC 9068 access tokens, logout tokens: issuing and verifying."""

import base64
import hashlib
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from app.oidc.jwt_policy import RejectReason, TokenRejected
from app.oidc.keys import KeyRing, derive_ec_key
from app.oidc.tokens import (
    AccessTokenContent,
    IdTokenContent,
    client_credentials_content,
    inspect_access_token,
    issue_access_token,
    issue_id_token,
    issue_logout_token,
    token_hash,
    verify_access_token,
    verify_id_token,
    verify_id_token_hint,
    verify_logout_token,
)

from .support import ISSUER, SEED, T0, TTL, USERINFO, decode_segment

ID_CONTENT = IdTokenContent(
    subject="pairwise-sub",
    client_id="rp-1",
    auth_time=T0 - timedelta(minutes=1),
    acr="LoA2",
    amr=("pwd", "otp"),
    nonce="n-0S6_WzA2Mj",
    session_id="sid-1",
)
AT_CONTENT = AccessTokenContent(
    subject="pairwise-sub",
    client_id="rp-1",
    audience=(USERINFO,),
    scope=("openid", "profile"),
    auth_time=T0 - timedelta(minutes=1),
    acr="LoA2",
)


def _id_token(key, **kw):
    return issue_id_token(ID_CONTENT, key=key, issuer=ISSUER, now=T0, ttl=TTL, **kw)


def _parts(token):
    header, payload, signature = token.split(".")
    return decode_segment(header), decode_segment(payload), signature


def test_id_token_carries_the_oidc_core_section_2_claims(ec_key):
    header, claims, _ = _parts(_id_token(ec_key))
    assert header == {"typ": "JWT", "alg": "ES256", "kid": ec_key.kid}
    assert claims == {
        "iss": ISSUER,
        "sub": "pairwise-sub",
        "aud": "rp-1",
        "azp": "rp-1",
        "exp": int((T0 + TTL).timestamp()),
        "iat": int(T0.timestamp()),
        "auth_time": int((T0 - timedelta(minutes=1)).timestamp()),
        "nonce": "n-0S6_WzA2Mj",
        "acr": "LoA2",
        "amr": ["pwd", "otp"],
        "sid": "sid-1",
    }


def test_id_token_without_nonce_has_no_nonce_claim(ec_key):
    content = IdTokenContent(subject="s", client_id="rp-1", auth_time=T0, acr="LoA1")
    _, claims, _ = _parts(issue_id_token(content, key=ec_key, issuer=ISSUER, now=T0, ttl=TTL))
    assert "nonce" not in claims
    assert "amr" not in claims
    assert "sid" not in claims


def test_at_hash_is_left_half_of_sha256_of_the_access_token(ec_key):
    access_token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
    _, claims, _ = _parts(_id_token(ec_key, access_token=access_token))
    expected = base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()[:16]).rstrip(
        b"="
    )
    assert claims["at_hash"] == expected.decode() == token_hash(access_token, alg="ES256")


def test_es256_id_token_verifies_with_cryptography_directly(ec_key):
    token = _id_token(ec_key)
    signing_input, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    ec_key.jwk.public_key.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))


def test_rs256_id_token_verifies_with_cryptography_directly(rsa_key):
    token = _id_token(rsa_key)
    signing_input, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    rsa_key.jwk.public_key.verify(raw, signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    assert _parts(token)[0]["alg"] == "RS256"


@pytest.mark.parametrize("key_name", ["ec_key", "rsa_key"])
def test_issued_id_token_round_trips_through_verification(key_name, request, ring):
    key = request.getfixturevalue(key_name)
    verified = verify_id_token(
        _id_token(key), keys=ring, issuer=ISSUER, client_id="rp-1", now=T0, nonce=ID_CONTENT.nonce
    )
    assert verified.content == ID_CONTENT
    assert verified.expires_at == T0 + TTL


def test_id_token_with_other_nonce_is_rejected(ec_key, ring):
    with pytest.raises(TokenRejected) as caught:
        verify_id_token(
            _id_token(ec_key), keys=ring, issuer=ISSUER, client_id="rp-1", now=T0, nonce="x"
        )
    assert caught.value.reason is RejectReason.INVALID_CLAIM


def test_id_token_for_another_client_is_rejected(ec_key, ring):
    with pytest.raises(TokenRejected) as caught:
        verify_id_token(_id_token(ec_key), keys=ring, issuer=ISSUER, client_id="rp-2", now=T0)
    assert caught.value.reason is RejectReason.WRONG_AUDIENCE


def test_id_token_hint_is_accepted_after_expiry(ec_key, ring):
    hint = verify_id_token_hint(
        _id_token(ec_key), keys=ring, issuer=ISSUER, now=T0 + timedelta(days=2)
    )
    assert hint.content.subject == "pairwise-sub"


def test_id_token_hint_still_needs_our_issuer(ec_key, ring):
    with pytest.raises(TokenRejected) as caught:
        verify_id_token_hint(_id_token(ec_key), keys=ring, issuer="https://other", now=T0)
    assert caught.value.reason is RejectReason.WRONG_ISSUER


def test_access_token_carries_the_rfc9068_claims(ec_key):
    issued = issue_access_token(AT_CONTENT, key=ec_key, issuer=ISSUER, now=T0, ttl=TTL, jti="jti-1")
    header, claims, _ = _parts(issued.value)
    assert header == {"typ": "at+jwt", "alg": "ES256", "kid": ec_key.kid}
    assert claims == {
        "iss": ISSUER,
        "sub": "pairwise-sub",
        "aud": USERINFO,
        "client_id": "rp-1",
        "scope": "openid profile",
        "jti": "jti-1",
        "exp": int((T0 + TTL).timestamp()),
        "iat": int(T0.timestamp()),
        "auth_time": int((T0 - timedelta(minutes=1)).timestamp()),
        "acr": "LoA2",
    }
    assert (issued.jti, issued.expires_at) == ("jti-1", T0 + TTL)


def test_access_token_jti_is_fresh_and_high_entropy(ec_key):
    jtis = {
        issue_access_token(AT_CONTENT, key=ec_key, issuer=ISSUER, now=T0, ttl=TTL).jti
        for _ in range(50)
    }
    assert len(jtis) == 50
    assert all(len(base64.urlsafe_b64decode(j + "==")) >= 16 for j in jtis)


def test_client_credentials_token_has_the_client_as_subject(ec_key, ring):
    content = client_credentials_content(
        "agency-7", audience=("https://api.dancu.sandbox",), scope=("lookup",)
    )
    issued = issue_access_token(content, key=ec_key, issuer=ISSUER, now=T0, ttl=TTL)
    verified = verify_access_token(
        issued.value, keys=ring, issuer=ISSUER, audience="https://api.dancu.sandbox", now=T0
    )
    assert verified.content.subject == verified.content.client_id == "agency-7"
    assert verified.content.is_client_credentials
    assert "auth_time" not in _parts(issued.value)[1]


def test_access_token_round_trips_with_several_audiences(ec_key, ring):
    content = AccessTokenContent("s", "rp-1", (USERINFO, "https://api.dancu.sandbox"), ("openid",))
    issued = issue_access_token(content, key=ec_key, issuer=ISSUER, now=T0, ttl=TTL)
    verified = verify_access_token(
        issued.value, keys=ring, issuer=ISSUER, audience=USERINFO, now=T0
    )
    assert verified.content == content
    assert verified.jti == issued.jti


def test_access_token_without_audience_cannot_be_issued(ec_key):
    with pytest.raises(ValueError, match="audience"):
        issue_access_token(
            AccessTokenContent("s", "rp-1", (), ("openid",)),
            key=ec_key,
            issuer=ISSUER,
            now=T0,
            ttl=TTL,
        )


def test_introspection_view_skips_only_the_audience_check(ec_key, ring):
    issued = issue_access_token(AT_CONTENT, key=ec_key, issuer=ISSUER, now=T0, ttl=TTL)
    assert inspect_access_token(issued.value, keys=ring, issuer=ISSUER, now=T0).jti == issued.jti
    with pytest.raises(TokenRejected) as caught:
        inspect_access_token(
            issued.value, keys=ring, issuer=ISSUER, now=T0 + TTL + timedelta(minutes=1)
        )
    assert caught.value.reason is RejectReason.EXPIRED


def test_logout_token_follows_back_channel_logout_section_2_4(ec_key, ring):
    token = issue_logout_token(
        client_id="rp-1", subject="s", session_id="sid-1", key=ec_key, issuer=ISSUER, now=T0
    )
    header, claims, _ = _parts(token)
    assert header["typ"] == "logout+jwt"
    assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in claims
    assert (
        verify_logout_token(token, keys=ring, issuer=ISSUER, client_id="rp-1", now=T0).claims["sid"]
        == "sid-1"
    )


def test_logout_token_needs_sub_or_sid(ec_key):
    with pytest.raises(ValueError, match="sub or sid"):
        issue_logout_token(
            client_id="rp-1", subject=None, session_id=None, key=ec_key, issuer=ISSUER, now=T0
        )


def test_retired_key_cannot_sign(ec_key):
    ring = KeyRing((ec_key,)).rotate(
        derive_ec_key(SEED, label="oidc", generation=2, active_from=T0), now=T0, retire_after=TTL
    )
    retired = next(k for k in ring.keys if k.kid == ec_key.kid)
    with pytest.raises(ValueError, match="retired"):
        issue_access_token(AT_CONTENT, key=retired, issuer=ISSUER, now=T0, ttl=TTL)


def test_token_signed_before_rotation_verifies_until_retire_after(ec_key):
    issued = issue_access_token(AT_CONTENT, key=ec_key, issuer=ISSUER, now=T0, ttl=TTL)
    new = derive_ec_key(SEED, label="oidc", generation=2, active_from=T0)
    ring = KeyRing((ec_key,)).rotate(new, now=T0, retire_after=TTL)
    verify_access_token(issued.value, keys=ring, issuer=ISSUER, audience=USERINFO, now=T0 + TTL / 2)
    with pytest.raises(TokenRejected) as caught:
        verify_access_token(
            issued.value,
            keys=ring,
            issuer=ISSUER,
            audience=USERINFO,
            now=T0 + TTL,
            leeway=timedelta(hours=1),
        )
    assert caught.value.reason is RejectReason.UNKNOWN_KID
