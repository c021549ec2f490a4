"""JWT attack corpus (RFC 8725; reliability catalogue §4) against access-token verification.

Each case builds a token from the valid one (or from scratch, signed by hand) and names the rule
that must reject it. The first case is the control: an untouched token is accepted.
"""

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.oidc.jwt_policy import RejectReason, TokenRejected, verify_jwt
from app.oidc.keys import derive_ec_key
from app.oidc.tokens import (
    AccessTokenContent,
    IdTokenContent,
    issue_access_token,
    issue_id_token,
    verify_access_token,
    verify_id_token,
    verify_id_token_hint,
)

from .support import ISSUER, T0, TTL, USERINFO, b64, b64json, forge, forge_hs256, forge_with, split

R = RejectReason
IAT = int(T0.timestamp())
CLAIMS = {
    "iss": ISSUER,
    "sub": "pairwise-sub",
    "aud": USERINFO,
    "client_id": "rp-1",
    "scope": "openid",
    "jti": "jti-1",
    "iat": IAT,
    "exp": IAT + 300,
}
ATTACKER_KEY = ec.generate_private_key(ec.SECP256R1())


def _claims(**changes):
    merged = {**CLAIMS, **changes}
    return {name: value for name, value in merged.items() if value is not None}


def _public_pem(key):
    return key.jwk.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _public_der(key):
    return key.jwk.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _replace_header(token, header):
    _, payload, signature = split(token)
    return f"{b64json(header)}.{payload}.{signature}"


def _replace_payload(token, claims):
    header, _, signature = split(token)
    return f"{header}.{b64json(claims)}.{signature}"


def _attacker_jwk():
    numbers = ATTACKER_KEY.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64(numbers.x.to_bytes(32, "big")),
        "y": b64(numbers.y.to_bytes(32, "big")),
    }


def _header(key, **extra):
    return {"alg": key.alg, "kid": key.kid, "typ": "at+jwt", **extra}


# (case id, builder(ec_key, rsa_key, valid) -> token, expected reason or None for "accepted")
CASES = [
    ("valid", lambda ec_, rsa, ok: ok, None),
    ("valid_rs256", lambda ec_, rsa, ok: forge_with(rsa, {}, CLAIMS), None),
    (
        "alg_none_unsigned",
        lambda ec_, rsa, ok: forge({"alg": "none", "typ": "at+jwt"}, CLAIMS),
        R.ALG_NOT_ALLOWED,
    ),
    (
        "alg_None_capitalised",
        lambda ec_, rsa, ok: forge({"alg": "None", "kid": ec_.kid, "typ": "at+jwt"}, CLAIMS),
        R.ALG_NOT_ALLOWED,
    ),
    (
        "alg_none_keeping_signature",
        lambda ec_, rsa, ok: _replace_header(ok, {"alg": "none", "kid": ec_.kid, "typ": "at+jwt"}),
        R.ALG_NOT_ALLOWED,
    ),
    (
        "alg_missing",
        lambda ec_, rsa, ok: _replace_header(ok, {"kid": ec_.kid, "typ": "at+jwt"}),
        R.MALFORMED,
    ),
    (
        "hs256_with_ec_public_pem",
        lambda ec_, rsa, ok: forge_hs256(_header(ec_, alg="HS256"), CLAIMS, _public_pem(ec_)),
        R.ALG_NOT_ALLOWED,
    ),
    (
        "hs256_with_rsa_public_pem",
        lambda ec_, rsa, ok: forge_hs256(_header(rsa, alg="HS256"), CLAIMS, _public_pem(rsa)),
        R.ALG_NOT_ALLOWED,
    ),
    (
        "hs256_with_rsa_public_der",
        lambda ec_, rsa, ok: forge_hs256(_header(rsa, alg="HS256"), CLAIMS, _public_der(rsa)),
        R.ALG_NOT_ALLOWED,
    ),
    (
        "hs256_with_public_jwk_json",
        lambda ec_, rsa, ok: forge_hs256(
            _header(ec_, alg="HS256"), CLAIMS, json.dumps(ec_.public_jwk()).encode()
        ),
        R.ALG_NOT_ALLOWED,
    ),
    (
        "es256_header_swapped_to_rs256",
        lambda ec_, rsa, ok: _replace_header(ok, _header(ec_, alg="RS256")),
        R.KEY_ALG_MISMATCH,
    ),
    (
        "rs256_key_claimed_as_es256",
        lambda ec_, rsa, ok: _replace_header(
            forge_with(rsa, {}, CLAIMS), _header(rsa, alg="ES256")
        ),
        R.KEY_ALG_MISMATCH,
    ),
    (
        "alg_outside_allow_list_ps256",
        lambda ec_, rsa, ok: _replace_header(ok, _header(ec_, alg="PS256")),
        R.ALG_NOT_ALLOWED,
    ),
    (
        "kid_missing",
        lambda ec_, rsa, ok: forge(
            {"alg": "ES256", "typ": "at+jwt"}, CLAIMS, private_key=ec_.jwk.private_key
        ),
        R.MISSING_KID,
    ),
    ("kid_empty", lambda ec_, rsa, ok: forge_with(ec_, {"kid": ""}, CLAIMS), R.MISSING_KID),
    ("kid_not_a_string", lambda ec_, rsa, ok: forge_with(ec_, {"kid": 7}, CLAIMS), R.MISSING_KID),
    (
        "kid_unknown",
        lambda ec_, rsa, ok: forge_with(ec_, {"kid": "no-such-key"}, CLAIMS),
        R.UNKNOWN_KID,
    ),
    (
        "kid_path_traversal",
        lambda ec_, rsa, ok: forge_with(ec_, {"kid": "../../../../dev/null"}, CLAIMS),
        R.UNKNOWN_KID,
    ),
    (
        "kid_sql_injection",
        lambda ec_, rsa, ok: forge_with(ec_, {"kid": "x' OR '1'='1"}, CLAIMS),
        R.UNKNOWN_KID,
    ),
    (
        "kid_200kB",
        lambda ec_, rsa, ok: forge_with(ec_, {"kid": "k" * 200_000}, CLAIMS),
        R.TOO_LARGE,
    ),
    (
        "attacker_key_with_our_kid",
        lambda ec_, rsa, ok: forge(_header(ec_), CLAIMS, private_key=ATTACKER_KEY),
        R.BAD_SIGNATURE,
    ),
    (
        "embedded_jwk_self_signed",
        lambda ec_, rsa, ok: forge(
            _header(ec_, jwk=_attacker_jwk()), CLAIMS, private_key=ATTACKER_KEY
        ),
        R.UNTRUSTED_KEY_HEADER,
    ),
    (
        "embedded_jwk_without_kid",
        lambda ec_, rsa, ok: forge(
            {"alg": "ES256", "typ": "at+jwt", "jwk": _attacker_jwk()},
            CLAIMS,
            private_key=ATTACKER_KEY,
        ),
        R.UNTRUSTED_KEY_HEADER,
    ),
    (
        "jku_header",
        lambda ec_, rsa, ok: forge_with(ec_, {"jku": "https://evil.example/jwks"}, CLAIMS),
        R.UNTRUSTED_KEY_HEADER,
    ),
    (
        "x5u_header",
        lambda ec_, rsa, ok: forge_with(ec_, {"x5u": "https://evil.example/cert.pem"}, CLAIMS),
        R.UNTRUSTED_KEY_HEADER,
    ),
    (
        "x5c_header",
        lambda ec_, rsa, ok: forge_with(ec_, {"x5c": ["MIIB"]}, CLAIMS),
        R.UNTRUSTED_KEY_HEADER,
    ),
    (
        "crit_unknown_extension",
        lambda ec_, rsa, ok: forge_with(ec_, {"crit": ["exp"], "exp": 1}, CLAIMS),
        R.CRITICAL_HEADER,
    ),
    (
        "b64_false_with_crit",
        lambda ec_, rsa, ok: forge_with(ec_, {"b64": False, "crit": ["b64"]}, CLAIMS),
        R.CRITICAL_HEADER,
    ),
    (
        "b64_false_without_crit",
        lambda ec_, rsa, ok: forge_with(ec_, {"b64": False}, CLAIMS),
        R.MALFORMED,
    ),
    (
        "typ_jwt_id_token_style",
        lambda ec_, rsa, ok: forge_with(ec_, {"typ": "JWT"}, CLAIMS),
        R.WRONG_TYP,
    ),
    (
        "typ_missing",
        lambda ec_, rsa, ok: forge(
            {"alg": "ES256", "kid": ec_.kid}, CLAIMS, private_key=ec_.jwk.private_key
        ),
        R.WRONG_TYP,
    ),
    (
        "typ_logout",
        lambda ec_, rsa, ok: forge_with(ec_, {"typ": "logout+jwt"}, CLAIMS),
        R.WRONG_TYP,
    ),
    (
        "typ_not_a_string",
        lambda ec_, rsa, ok: forge_with(ec_, {"typ": ["at+jwt"]}, CLAIMS),
        R.WRONG_TYP,
    ),
    (
        "typ_media_type_form_accepted",
        lambda ec_, rsa, ok: forge_with(ec_, {"typ": "application/AT+JWT"}, CLAIMS),
        None,
    ),
    (
        "tampered_payload_original_signature",
        lambda ec_, rsa, ok: _replace_payload(ok, _claims(sub="someone-else")),
        R.BAD_SIGNATURE,
    ),
    (
        "tampered_scope_original_signature",
        lambda ec_, rsa, ok: _replace_payload(ok, _claims(scope="openid vneid.identity")),
        R.BAD_SIGNATURE,
    ),
    ("signature_stripped", lambda ec_, rsa, ok: ok.rpartition(".")[0] + ".", R.BAD_SIGNATURE),
    (
        "signature_from_another_token",
        lambda ec_, rsa, ok: (
            ok.rpartition(".")[0] + "." + split(forge_with(ec_, {}, _claims(jti="other")))[2]
        ),
        R.BAD_SIGNATURE,
    ),
    ("signature_with_padding", lambda ec_, rsa, ok: ok + "==", R.BAD_SIGNATURE),
    (
        "psychic_signature_r_s_zero",
        lambda ec_, rsa, ok: ok.rpartition(".")[0] + "." + b64(bytes(64)),
        R.BAD_SIGNATURE,
    ),
    ("truncated_mid_signature", lambda ec_, rsa, ok: ok[:-10], R.BAD_SIGNATURE),
    ("truncated_to_two_segments", lambda ec_, rsa, ok: ok.rpartition(".")[0], R.MALFORMED),
    ("too_many_segments", lambda ec_, rsa, ok: ok + ".AAAA", R.MALFORMED),
    (
        "jwe_shaped_five_segments",
        lambda ec_, rsa, ok: "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d",
        R.MALFORMED,
    ),
    (
        "non_json_header",
        lambda ec_, rsa, ok: f"{b64(b'not json')}.{split(ok)[1]}.{split(ok)[2]}",
        R.MALFORMED,
    ),
    (
        "header_json_array",
        lambda ec_, rsa, ok: f"{b64json(['alg'])}.{split(ok)[1]}.{split(ok)[2]}",
        R.MALFORMED,
    ),
    (
        "header_json_string_containing_alg",
        lambda ec_, rsa, ok: f"{b64json('alg')}.{split(ok)[1]}.{split(ok)[2]}",
        R.MALFORMED,
    ),
    ("header_not_base64url", lambda ec_, rsa, ok: "***." + ok.partition(".")[2], R.MALFORMED),
    ("leading_whitespace", lambda ec_, rsa, ok: " " + ok, R.MALFORMED),
    ("non_ascii", lambda ec_, rsa, ok: ok + "é", R.MALFORMED),
    (
        "huge_token",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(pad="x" * 10_000)),
        R.TOO_LARGE,
    ),
    (
        "payload_json_array_validly_signed",
        lambda ec_, rsa, ok: forge_with(ec_, {}, b"[1,2]"),
        R.MALFORMED,
    ),
    (
        "payload_duplicate_sub_validly_signed",
        lambda ec_, rsa, ok: forge_with(
            ec_, {}, json.dumps(CLAIMS)[:-1].encode() + b',"sub":"admin"}'
        ),
        R.MALFORMED,
    ),
    (
        "payload_nan_exp_validly_signed",
        lambda ec_, rsa, ok: forge_with(
            ec_, {}, json.dumps(CLAIMS).replace(str(IAT + 300), "NaN").encode()
        ),
        R.MALFORMED,
    ),
    (
        "exp_infinite_validly_signed",
        lambda ec_, rsa, ok: forge_with(
            ec_, {}, json.dumps(CLAIMS).replace(str(IAT + 300), "1e400").encode()
        ),
        R.INVALID_CLAIM,
    ),
    ("expired", lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(exp=IAT - 120)), R.EXPIRED),
    (
        "expired_within_leeway",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(exp=IAT - 10)),
        None,
    ),
    ("expired_61s_ago", lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(exp=IAT - 61)), R.EXPIRED),
    ("exp_missing", lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(exp=None)), R.MISSING_CLAIM),
    (
        "exp_as_string",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(exp=str(IAT + 300))),
        R.INVALID_CLAIM,
    ),
    ("exp_as_bool", lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(exp=True)), R.INVALID_CLAIM),
    (
        "nbf_one_hour_ahead",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(nbf=IAT + 3600)),
        R.NOT_YET_VALID,
    ),
    ("nbf_8s_ahead_accepted", lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(nbf=IAT + 8)), None),
    (
        "nbf_61s_ahead",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(nbf=IAT + 61)),
        R.NOT_YET_VALID,
    ),
    (
        "iat_one_hour_ahead",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(iat=IAT + 3600, exp=IAT + 7200)),
        R.ISSUED_IN_FUTURE,
    ),
    ("iat_missing", lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(iat=None)), R.MISSING_CLAIM),
    (
        "iat_as_string",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(iat="now")),
        R.INVALID_CLAIM,
    ),
    (
        "aud_other_resource",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(aud="https://api.other")),
        R.WRONG_AUDIENCE,
    ),
    (
        "aud_array_without_us",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(aud=["https://a", "https://b"])),
        R.WRONG_AUDIENCE,
    ),
    (
        "aud_array_with_us_accepted",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(aud=["https://a", USERINFO])),
        None,
    ),
    (
        "aud_prefix_of_ours",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(aud=USERINFO[:-1])),
        R.WRONG_AUDIENCE,
    ),
    ("aud_number", lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(aud=1)), R.WRONG_AUDIENCE),
    ("aud_missing", lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(aud=None)), R.MISSING_CLAIM),
    (
        "iss_suffix",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(iss=ISSUER + ".evil")),
        R.WRONG_ISSUER,
    ),
    (
        "iss_prefix",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(iss=ISSUER[:-1])),
        R.WRONG_ISSUER,
    ),
    (
        "iss_trailing_slash",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(iss=ISSUER + "/")),
        R.WRONG_ISSUER,
    ),
    ("iss_missing", lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(iss=None)), R.MISSING_CLAIM),
    (
        "client_id_missing",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(client_id=None)),
        R.MISSING_CLAIM,
    ),
    ("jti_missing", lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(jti=None)), R.MISSING_CLAIM),
    ("sub_missing", lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(sub=None)), R.MISSING_CLAIM),
    (
        "sub_not_a_string",
        lambda ec_, rsa, ok: forge_with(ec_, {}, _claims(sub=12)),
        R.INVALID_CLAIM,
    ),
]


@pytest.fixture
def valid_token(ec_key):
    return forge_with(ec_key, {}, CLAIMS)


@pytest.mark.parametrize(
    ("builder", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_access_token_verification_rejects_attack(
    builder, expected, ec_key, rsa_key, ring, valid_token
):
    token = builder(ec_key, rsa_key, valid_token)
    verify = lambda: verify_access_token(token, keys=ring, issuer=ISSUER, audience=USERINFO, now=T0)  # noqa: E731
    if expected is None:
        assert verify().content.subject == "pairwise-sub"
        return
    with pytest.raises(TokenRejected) as caught:
        verify()
    assert caught.value.reason is expected


def test_es256_only_allow_list_rejects_a_valid_rs256_token(rsa_key, ring):
    token = forge_with(rsa_key, {}, CLAIMS)
    with pytest.raises(TokenRejected) as caught:
        verify_access_token(
            token, keys=ring, issuer=ISSUER, audience=USERINFO, now=T0, algorithms=("ES256",)
        )
    assert caught.value.reason is R.ALG_NOT_ALLOWED


@pytest.mark.parametrize("algorithms", [(), ("none",), ("HS256",), ("ES256", "HS256"), ("RS1",)])
def test_allow_list_with_none_or_symmetric_algorithms_is_a_programming_error(
    algorithms, ring, valid_token
):
    with pytest.raises(ValueError, match="allow-list"):
        verify_jwt(
            valid_token,
            keys=ring.verification_keys(now=T0),
            algorithms=algorithms,
            typ=("at+jwt",),
            issuer=ISSUER,
            audience=USERINFO,
            required=(),
            now=T0,
        )


def test_id_token_is_refused_as_access_token(ec_key, ring):
    content = IdTokenContent(subject="pairwise-sub", client_id=USERINFO, auth_time=T0, acr="LoA1")
    id_token = issue_id_token(content, key=ec_key, issuer=ISSUER, now=T0, ttl=TTL)
    with pytest.raises(TokenRejected) as caught:
        verify_access_token(id_token, keys=ring, issuer=ISSUER, audience=USERINFO, now=T0)
    assert caught.value.reason is R.WRONG_TYP


def test_access_token_is_refused_as_id_token(ec_key, ring):
    content = AccessTokenContent(
        "pairwise-sub", "rp-1", ("rp-1",), ("openid",), auth_time=T0, acr="LoA1"
    )
    access_token = issue_access_token(content, key=ec_key, issuer=ISSUER, now=T0, ttl=TTL).value
    for verify in (
        lambda: verify_id_token(access_token, keys=ring, issuer=ISSUER, client_id="rp-1", now=T0),
        lambda: verify_id_token_hint(access_token, keys=ring, issuer=ISSUER, now=T0),
    ):
        with pytest.raises(TokenRejected) as caught:
            verify()
        assert caught.value.reason is R.WRONG_TYP


def test_token_signed_by_a_key_outside_the_ring_is_refused_even_with_correct_claims(ring):
    stranger = derive_ec_key(b"s" * 32, label="stranger", generation=1, active_from=T0)
    issued = issue_access_token(
        AccessTokenContent("s", "rp-1", (USERINFO,), ("openid",)),
        key=stranger,
        issuer=ISSUER,
        now=T0,
        ttl=TTL,
    )
    with pytest.raises(TokenRejected) as caught:
        verify_access_token(issued.value, keys=ring, issuer=ISSUER, audience=USERINFO, now=T0)
    assert caught.value.reason is R.UNKNOWN_KID


def test_default_leeway_is_30_seconds_and_can_be_tightened(valid_token, ring):
    late = T0 + timedelta(seconds=300 + 29)
    verify_access_token(valid_token, keys=ring, issuer=ISSUER, audience=USERINFO, now=late)
    with pytest.raises(TokenRejected):
        verify_access_token(
            valid_token, keys=ring, issuer=ISSUER, audience=USERINFO, now=late, leeway=timedelta(0)
        )
