"""Signing keys: seed derivation, RFC 7638 kid, public JWKS, rotation (OIDC Core §10.1.1)."""

import hashlib
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.errors import SecurityWarning

from app.oidc.keys import (
    KeyRing,
    NoSigningKey,
    derive_ec_key,
    export_private_jwk,
    generate_rsa_key,
    load_signing_key,
    private_pem,
    signing_key_from_pem,
)

from .support import SEED, T0, b64

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def _derive(label="oidc", generation=1, seed=SEED):
    return derive_ec_key(seed, label=label, generation=generation, active_from=T0)


def test_ec_key_is_reproducible_from_seed_label_and_generation():
    assert _derive().kid == _derive().kid


@pytest.mark.parametrize(
    "other",
    [{"generation": 2}, {"label": "other"}, {"seed": bytes(range(1, 33))}],
)
def test_any_derivation_input_change_gives_a_different_key(other):
    assert _derive(**other).kid != _derive().kid


def test_ec_derivation_matches_an_independent_hkdf_sha256():
    okm = HKDF(hashes.SHA256(), 64, salt=b"dancu-sandbox/oidc/signing-key", info=b"oidc/1").derive(
        SEED
    )
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    expected = ec.derive_private_key(int.from_bytes(okm, "big") % order, ec.SECP256R1())
    assert _derive().jwk.private_key.private_numbers() == expected.private_numbers()


@pytest.mark.parametrize("key_name", ["ec_key", "rsa_key"])
def test_kid_is_the_rfc7638_thumbprint(key_name, request):
    key = request.getfixturevalue(key_name)
    public = key.public_jwk()
    required = ("crv", "kty", "x", "y") if public["kty"] == "EC" else ("e", "kty", "n")
    canonical = json.dumps({name: public[name] for name in required}, separators=(",", ":"))
    assert key.kid == b64(hashlib.sha256(canonical.encode()).digest())


def test_keys_are_bound_to_one_alg_and_signature_use(ec_key, rsa_key):
    assert (ec_key.public_jwk()["alg"], ec_key.public_jwk()["use"]) == ("ES256", "sig")
    assert (rsa_key.public_jwk()["alg"], rsa_key.public_jwk()["use"]) == ("RS256", "sig")


def test_published_jwks_has_no_private_members(ring):
    keys = ring.jwks(now=T0)["keys"]
    assert len(keys) == 2
    for jwk in keys:
        assert not PRIVATE_MEMBERS & jwk.keys(), jwk.keys()


def test_verification_key_set_holds_only_public_keys(ring):
    assert all(not key.is_private for key in ring.verification_keys(now=T0))


def test_jwks_kids_are_distinct(ring):
    kids = [jwk["kid"] for jwk in ring.jwks(now=T0)["keys"]]
    assert len(set(kids)) == len(kids)


def test_duplicate_kid_in_a_ring_is_refused(ec_key):
    with pytest.raises(ValueError, match="duplicate kid"):
        KeyRing((ec_key, ec_key))


def test_short_seed_is_refused():
    with pytest.raises(ValueError, match="seed"):
        derive_ec_key(b"short", label="oidc", generation=1, active_from=T0)


def test_rsa_keys_below_2048_bits_are_refused():
    with pytest.raises(ValueError, match="2048"):
        generate_rsa_key(active_from=T0, bits=1024)


def test_rsa_key_survives_export_and_reload(rsa_key):
    reloaded = load_signing_key(export_private_jwk(rsa_key), active_from=T0)
    assert reloaded.kid == rsa_key.kid
    assert reloaded.jwk.is_private


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kid": "chosen-by-attacker"}, "thumbprint"),
        ({"alg": "HS256"}, "alg"),
        ({"alg": None}, "alg"),
    ],
)
def test_loading_a_key_checks_alg_and_kid(rsa_key, change, message):
    data = {**export_private_jwk(rsa_key), **change}
    data = {name: value for name, value in data.items() if value is not None}
    with pytest.raises(ValueError, match=message):
        load_signing_key(data, active_from=T0)


def test_loading_a_public_key_as_signing_key_is_refused(rsa_key):
    with pytest.raises(ValueError, match="private"):
        load_signing_key(rsa_key.public_jwk(), active_from=T0)


def test_signing_key_is_chosen_per_algorithm(ring, ec_key, rsa_key):
    assert ring.signing_key(now=T0) == ec_key
    assert ring.signing_key("RS256", now=T0) == rsa_key


def test_no_key_for_an_algorithm_raises_no_signing_key(ec_key):
    with pytest.raises(NoSigningKey):
        KeyRing((ec_key,)).signing_key("RS256", now=T0)


def test_key_not_yet_active_is_published_but_does_not_sign(ec_key):
    future = _derive(generation=9)
    future = type(future)(future.jwk, active_from=T0 + timedelta(hours=1))
    ring = KeyRing((ec_key, future))
    assert ring.signing_key(now=T0) == ec_key
    assert future.kid in {jwk["kid"] for jwk in ring.jwks(now=T0)["keys"]}


def test_rotation_signs_with_new_key_and_keeps_old_key_not_after_retire_after(ec_key):
    new = _derive(generation=2)
    rotated = KeyRing((ec_key,)).rotate(new, now=T0, retire_after=timedelta(minutes=10))
    assert rotated.signing_key(now=T0) == new
    kids_during = {jwk["kid"] for jwk in rotated.jwks(now=T0 + timedelta(minutes=9))["keys"]}
    kids_after = {jwk["kid"] for jwk in rotated.jwks(now=T0 + timedelta(minutes=10))["keys"]}
    assert kids_during == {ec_key.kid, new.kid}
    assert kids_after == {new.kid}


def test_rotation_of_one_algorithm_leaves_the_other_signer_alone(ring, rsa_key):
    rotated = ring.rotate(_derive(generation=3), now=T0, retire_after=timedelta(minutes=10))
    assert rotated.signing_key("RS256", now=T0) == rsa_key


def test_prune_drops_keys_past_their_publication(ec_key):
    rotated = KeyRing((ec_key,)).rotate(
        _derive(generation=2), now=T0, retire_after=timedelta(minutes=1)
    )
    assert [k.kid for k in rotated.prune(now=T0 + timedelta(minutes=2)).keys] == [
        _derive(generation=2).kid
    ]


@pytest.mark.parametrize("key_name", ["ec_key", "rsa_key"])
def test_key_stored_as_pkcs8_pem_reloads_with_same_kid_and_alg(key_name, request):
    key = request.getfixturevalue(key_name)
    pem = private_pem(key)
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    reloaded = signing_key_from_pem(
        pem, alg=key.alg, active_from=T0, not_after=T0 + timedelta(days=1)
    )
    assert (reloaded.kid, reloaded.alg, reloaded.not_after) == (
        key.kid,
        key.alg,
        T0 + timedelta(days=1),
    )


def test_pem_of_the_wrong_key_type_for_alg_is_refused(ec_key):
    with pytest.raises(ValueError, match="not a private RS256 key"):
        signing_key_from_pem(private_pem(ec_key), alg="RS256", active_from=T0)


def test_pem_on_another_curve_is_refused_for_es256():
    pem = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="P-256"):
        signing_key_from_pem(pem, alg="ES256", active_from=T0)


def test_weak_rsa_pem_is_refused():
    pem = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.warns(SecurityWarning), pytest.raises(ValueError, match="2048"):
        signing_key_from_pem(pem, alg="RS256", active_from=T0)
