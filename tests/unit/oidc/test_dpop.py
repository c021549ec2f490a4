"""DPoP proofs (RFC 9449 §4.3)."""

from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from app.oidc.dpop import (
    NONCE_WINDOW,
    PROOF_WINDOW,
    InvalidDpopProof,
    UseDpopNonce,
    access_token_hash,
    algorithms_for,
    check_binding,
    check_pushed_binding,
    issue_nonce,
    nonce_is_valid,
    request_header,
    resource_error_response,
    verify_proof,
)

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


NONCE_KEY = b"k" * 32


def test_a_proof_is_recorded_under_its_key_and_a_hash_of_its_jti_until_its_window_ends():
    found = verify_proof(_proof(jti="x" * 500), method="POST", url=URL, now=T0)
    key, jti = found.replay_key
    assert key == "dpop:" + KEY.thumbprint()
    assert len(key) <= 64
    assert len(jti) == 43  # fixed length whatever the client's jti
    assert found.accepted_until == T0 + PROOF_WINDOW
    assert verify_proof(_proof(jti="y"), method="POST", url=URL, now=T0).replay_key != \
        found.replay_key


@pytest.mark.parametrize(("issued_at", "checked_at", "valid"), [
    (T0, T0, True),
    (T0, T0 + NONCE_WINDOW, True),  # the previous window's nonce still counts
    (T0, T0 + 2 * NONCE_WINDOW, False),
    (T0 + NONCE_WINDOW, T0, False),  # a future window's nonce is not one we gave
])
def test_a_server_nonce_is_good_for_its_window_and_the_next(issued_at, checked_at, valid):
    assert nonce_is_valid(issue_nonce(NONCE_KEY, now=issued_at), NONCE_KEY,
                          now=checked_at) is valid


@pytest.mark.parametrize("nonce", [None, 1, "", "made-up", "deadbeef"])
def test_a_nonce_we_did_not_give_is_refused(nonce):
    assert not nonce_is_valid(nonce, NONCE_KEY, now=T0)


def test_a_nonce_under_another_key_is_refused():
    assert not nonce_is_valid(issue_nonce(b"o" * 32, now=T0), NONCE_KEY, now=T0)


@pytest.mark.parametrize(("nonce", "refused"), [
    (None, UseDpopNonce),
    ("wrong", UseDpopNonce),
    (issue_nonce(NONCE_KEY, now=T0), None),
])
def test_with_nonces_required_a_proof_needs_the_current_one(nonce, refused):
    proof = _proof(nonce=nonce)
    if refused is None:
        verify_proof(proof, method="POST", url=URL, now=T0, nonce_key=NONCE_KEY)
        return
    with pytest.raises(refused) as raised:
        verify_proof(proof, method="POST", url=URL, now=T0, nonce_key=NONCE_KEY)
    assert raised.value.nonce == issue_nonce(NONCE_KEY, now=T0)


def test_a_bad_proof_is_refused_before_its_nonce_is_asked_for():
    with pytest.raises(InvalidDpopProof):
        verify_proof(_proof(htm="GET"), method="POST", url=URL, now=T0, nonce_key=NONCE_KEY)


@pytest.mark.parametrize(("bound", "proof_key", "ok"), [
    (None, None, True),
    (None, KEY, True),
    (KEY.thumbprint(), KEY, True),
    (KEY.thumbprint(), None, False),
    (KEY.thumbprint(), RSA, False),
])
def test_a_bound_refresh_token_needs_a_proof_by_its_key(bound, proof_key, ok):
    proof = None if proof_key is None else verify_proof(
        _proof(key=proof_key, alg="ES256" if proof_key is KEY else "RS256"),
        method="POST", url=URL, now=T0)
    if ok:
        check_binding(bound, proof, "refresh token")
        return
    with pytest.raises(InvalidDpopProof):
        check_binding(bound, proof, "refresh token")


def test_a_resource_refusal_is_a_dpop_challenge_with_the_nonce_to_use():
    rendered = resource_error_response(UseDpopNonce("n-1"), realm="dancu")
    assert rendered.status == 401
    assert rendered.headers["DPoP-Nonce"] == "n-1"
    assert rendered.headers["WWW-Authenticate"].startswith('DPoP realm="dancu", '
                                                           'error="use_dpop_nonce"')
    assert 'algs="ES256 RS256 PS256"' in rendered.headers["WWW-Authenticate"]
    assert resource_error_response(InvalidDpopProof(), realm="dancu").status == 401


@pytest.mark.parametrize(("htu", "ok"), [
    ("https://id.example:443/oauth2/token", True),  # the scheme's default port
    ("HTTPS://ID.EXAMPLE:443/oauth2/token", True),
    ("https://id.example:8443/oauth2/token", False),
    ("http://id.example/oauth2/token", False),
    ("https://id.example:x/oauth2/token", False),
    ("https://id.example/OAUTH2/token", False),  # the path is compared as it is
])
def test_htu_is_compared_after_scheme_based_normalisation(htu, ok):
    if ok:
        verify_proof(_proof(htu=htu), method="POST", url=URL, now=T0)
        return
    with pytest.raises(InvalidDpopProof):
        verify_proof(_proof(htu=htu), method="POST", url=URL, now=T0)


def test_two_dpop_headers_are_refused():
    assert request_header([]) is None
    joined = request_header([_proof(), _proof(jti="p-2")])
    with pytest.raises(InvalidDpopProof):
        verify_proof(joined, method="POST", url=URL, now=T0)


@pytest.mark.parametrize(("dpop_jkt", "with_proof", "bound"), [
    (None, False, None),
    ("asked-key", False, "asked-key"),  # dpop_jkt alone binds the code (§10)
    (None, True, KEY.thumbprint()),  # a proof at PAR binds it to the proof's key (§10.1)
    (KEY.thumbprint(), True, KEY.thumbprint()),
    ("another-key", True, InvalidDpopProof),
])
def test_a_pushed_request_binds_its_code_to_the_proofs_key(dpop_jkt, with_proof, bound):
    proof = verify_proof(_proof(), method="POST", url=URL, now=T0) if with_proof else None
    if bound is InvalidDpopProof:
        with pytest.raises(InvalidDpopProof):
            check_pushed_binding(dpop_jkt, proof)
        return
    assert check_pushed_binding(dpop_jkt, proof) == bound


@pytest.mark.parametrize(("profile", "alg", "ok"), [
    (None, "RS256", True), (None, "PS256", True), ("fapi2", "PS256", True),
    ("fapi2", "RS256", False),  # FAPI 2.0 Security Profile §5.4
])
def test_a_fapi2_clients_proofs_are_ps256_or_es256(profile, alg, ok):
    proof = _proof(key=RSA, alg=alg)
    if ok:
        verify_proof(proof, method="POST", url=URL, now=T0, algorithms=algorithms_for(profile))
        return
    with pytest.raises(InvalidDpopProof):
        verify_proof(proof, method="POST", url=URL, now=T0, algorithms=algorithms_for(profile))
