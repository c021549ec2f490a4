"""DPoP proofs (RFC 9449 §4.3)."""

from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from app.oidc.dpop import InvalidDpopProof, access_token_hash, verify_proof

from .support import T0

URL = "https://id.example/oauth2/token"
KEY = ECKey.generate_key("P-256")
RSA = RSAKey.generate_key(2048)
NOW = int(T0.timestamp())


def _proof(key=KEY, alg="ES256", header=None, **changes):
    claims = {"jti": "p-1", "htm": "POST", "htu": URL, "iat": NOW, **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    head = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False), **(header or {})}
    head = {k: v for k, v in head.items() if v is not None}
    return jwt.encode(head, claims, key, algorithms=[alg])


@pytest.mark.parametrize(("build", "kwargs"), [
    (lambda: _proof(), {}),
    (lambda: _proof(htu=URL + "?x=1#f"), {}),  # compared without query and fragment
    (lambda: _proof(htu="HTTPS://ID.EXAMPLE/oauth2/token"), {}),
    (lambda: _proof(key=RSA, alg="RS256"), {}),
    (lambda: _proof(key=RSA, alg="PS256"), {}),
    (lambda: _proof(iat=NOW - 59), {}),
    (lambda: _proof(ath=access_token_hash("tok")), {"access_token": "tok"}),
])
def test_a_proof_for_this_request_gives_its_keys_thumbprint(build, kwargs):
    found = verify_proof(build(), method="POST", url=URL, now=T0, **kwargs)
    assert found.jkt in (KEY.thumbprint(), RSA.thumbprint())


@pytest.mark.parametrize(("build", "kwargs"), [
    (lambda: _proof(header={"typ": "JWT"}), {}),
    (lambda: _proof(header={"typ": None}), {}),
    (lambda: _proof(header={"jwk": None}), {}),
    (lambda: _proof(header={"jwk": KEY.as_dict(private=True)}), {}),
    (lambda: _proof(header={"jwk": ECKey.generate_key("P-256").as_dict(private=False)}), {}),
    (lambda: _proof(key=RSA, alg="RS256", header={"jwk": KEY.as_dict(private=False)}), {}),
    (lambda: _proof(htm="GET"), {}),
    (lambda: _proof(htu="https://id.example/oauth2/userinfo"), {}),
    (lambda: _proof(iat=NOW - 61), {}),
    (lambda: _proof(iat=NOW + 61), {}),
    (lambda: _proof(iat=None), {}),
    (lambda: _proof(jti=None), {}),
    (lambda: _proof(), {"access_token": "tok"}),
    (lambda: _proof(ath=access_token_hash("other")), {"access_token": "tok"}),
    (lambda: "not.a.jwt", {}),
])
def test_a_proof_that_does_not_fit_is_invalid_dpop_proof(build, kwargs):
    with pytest.raises(InvalidDpopProof):
        verify_proof(build(), method="POST", url=URL, now=T0, **kwargs)


def test_the_window_is_a_minute_either_way():
    proof = _proof()
    verify_proof(proof, method="POST", url=URL, now=T0 + timedelta(seconds=60))
    with pytest.raises(InvalidDpopProof):
        verify_proof(proof, method="POST", url=URL, now=T0 + timedelta(seconds=61))
