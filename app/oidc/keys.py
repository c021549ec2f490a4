"""Token-signing keys, their rotation and the published JWK Set.

* RFC 7517 (JWK) / RFC 7518 §3.3-3.4 (RS256, ES256). Every key is bound to exactly one ``alg`` and
  ``use: sig`` (RFC 8725 §3.1), so a verifier can never be talked into another algorithm.
* ``kid`` is the RFC 7638 JWK thumbprint (SHA-256): stable, never reused for a different key.
* EC P-256 keys are derived from secret key material the caller passes (the service passes
  material derived from its deployment secret, never the public seed): HKDF-SHA256
  (RFC 5869) over it with salt ``dancu-sandbox/oidc/signing-key`` and info
  ``<label>/<generation>`` gives 64 bytes; reduced modulo the group order they are the private
  scalar (joserfc ``ECKey.derive_key``, salt and info pinned here so the keys survive library
  upgrades). RSA 2048 keys (RS256, per-client opt-in) are generated; the caller persists them
  (PKCS#8 via :func:`private_pem`, or a private JWK via :func:`export_private_jwk`) and reloads them
  with :func:`signing_key_from_pem` / :func:`load_signing_key`, which rebuild ``alg`` and ``kid``.
* Rotation (OIDC Core §10.1.1, conformance ``oidcc-server-rotate-keys``): :meth:`KeyRing.rotate`
  makes the new key the signer for its ``alg`` and retires the previous one, which stays published
  (and accepted) for ``retire_after`` -- pass at least the longest lifetime of a JWT it signed.
  After that it disappears from the JWKS and from verification.

>>> from datetime import datetime, timezone
>>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
>>> ring = KeyRing((derive_ec_key(b"0" * 32, label="op", generation=1, active_from=t0),))
>>> sorted(ring.jwks(now=t0)["keys"][0])
['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, KeyParameters, KeySet, RSAKey

ES256 = "ES256"
RS256 = "RS256"
SIGNING_ALGORITHMS = (ES256, RS256)
MIN_SEED_BYTES = 32
MIN_RSA_BITS = 2048
_DERIVATION_SALT = b"dancu-sandbox/oidc/signing-key"

SigningJwk = ECKey | RSAKey


class NoSigningKey(LookupError):
    """The key ring has no active key for the requested algorithm."""


@dataclass(frozen=True)
class SigningKey:
    """A private signing key and its lifecycle.

    ``active_from``: signing may start (the key is published from creation, so relying parties can
    cache it before first use). ``retired_at``: it stopped signing. ``not_after``: it leaves
    the JWKS and is no longer accepted (the ``signing_key`` table uses the same names).
    """

    jwk: SigningJwk
    active_from: datetime
    retired_at: datetime | None = None
    not_after: datetime | None = None

    @property
    def kid(self) -> str:
        return str(self.jwk.kid)

    @property
    def alg(self) -> str:
        return str(self.jwk.alg)

    def can_sign(self, *, now: datetime) -> bool:
        return self.retired_at is None and self.active_from <= now and self.is_published(now=now)

    def is_published(self, *, now: datetime) -> bool:
        return self.not_after is None or now < self.not_after

    def public_jwk(self) -> dict[str, Any]:
        """The public members only (RFC 7517 §4, RFC 7518 §6): never ``d``, ``p``, ``q``..."""
        return dict(self.jwk.as_dict(private=False))


def _sig_params(alg: str) -> KeyParameters:
    return {"alg": alg, "use": "sig"}


def derive_ec_key(seed: bytes, *, label: str, generation: int, active_from: datetime) -> SigningKey:
    """Deterministic ES256 key for ``(seed, label, generation)``; see the module docstring."""
    if len(seed) < MIN_SEED_BYTES:
        raise ValueError(f"seed must be at least {MIN_SEED_BYTES} bytes")
    options = {
        "salt": _DERIVATION_SALT,
        "info": f"{label}/{generation}".encode(),
        "algorithm": hashes.SHA256(),
    }
    jwk = ECKey.derive_key(
        seed, "P-256", parameters=_sig_params(ES256), auto_kid=True, kdf_options=options
    )
    return SigningKey(jwk=jwk, active_from=active_from)


def generate_rsa_key(*, active_from: datetime, bits: int = MIN_RSA_BITS) -> SigningKey:
    """A fresh RS256 key (not reproducible: persist it with :func:`export_private_jwk`)."""
    if bits < MIN_RSA_BITS:
        raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
    jwk = RSAKey.generate_key(bits, parameters=_sig_params(RS256), auto_kid=True)
    return SigningKey(jwk=jwk, active_from=active_from)


def export_private_jwk(key: SigningKey) -> dict[str, Any]:
    """The private JWK, for the caller to store encrypted at rest."""
    return dict(key.jwk.as_dict(private=True))


def private_pem(key: SigningKey) -> str:
    """The private key as unencrypted PKCS#8 PEM for the caller to store (``alg`` stored apart)."""
    return key.jwk.as_pem(private=True).decode("ascii")


def _key_class(alg: object) -> type[ECKey] | type[RSAKey]:
    if alg == ES256:
        return ECKey
    if alg == RS256:
        return RSAKey
    raise ValueError("signing keys must carry alg ES256 or RS256")


def load_signing_key(
    private_jwk: Mapping[str, Any],
    *,
    active_from: datetime,
    retired_at: datetime | None = None,
    not_after: datetime | None = None,
) -> SigningKey:
    """Rebuild a key stored as a private JWK; checks alg, strength and ``kid`` = thumbprint."""
    jwk = _key_class(private_jwk.get("alg")).import_key(dict(private_jwk))
    _check_signing_jwk(jwk)
    return SigningKey(jwk, active_from, retired_at, not_after)


def signing_key_from_pem(
    pem: str | bytes,
    *,
    alg: str,
    active_from: datetime,
    retired_at: datetime | None = None,
    not_after: datetime | None = None,
) -> SigningKey:
    """Rebuild a key stored as PKCS#8 PEM; ``alg`` and ``kid`` (the thumbprint) are set here."""
    try:
        jwk = _key_class(alg).import_key(pem, parameters=_sig_params(alg))
    except JoseError as error:
        raise ValueError(f"not a private {alg} key") from error
    jwk.ensure_kid()
    _check_signing_jwk(jwk)
    return SigningKey(jwk, active_from, retired_at, not_after)


def _check_signing_jwk(jwk: SigningJwk) -> None:
    if not jwk.is_private:
        raise ValueError("a signing key must be private")
    if jwk.kid != jwk.thumbprint():
        raise ValueError("kid must be the RFC 7638 thumbprint")
    if isinstance(jwk, RSAKey) and jwk.public_key.key_size < MIN_RSA_BITS:
        raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
    if isinstance(jwk, ECKey) and jwk.curve_name != "P-256":
        raise ValueError("ES256 keys must be on P-256")


_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def _check_public_member_set(data: Mapping[str, Any]) -> None:
    if data.get("kty") not in ("EC", "RSA"):
        raise ValueError("only EC and RSA keys are accepted")
    if _PRIVATE_MEMBERS & data.keys():
        raise ValueError("a registered JWK must not contain private members")
    if data.get("use") not in (None, "sig"):
        raise ValueError("a registered JWK must be for signatures")


def import_public_jwks(data: Mapping[str, Any]) -> KeySet:
    """A client's registered JWK Set (RFC 7517 §5): public EC P-256 or RSA >= 2048 keys only."""
    members = data.get("keys")
    if (
        not isinstance(members, list)
        or not members
        or not all(isinstance(m, dict) for m in members)
    ):
        raise ValueError("a JWK Set needs a non-empty keys array")
    for member in members:
        _check_public_member_set(member)
    try:
        key_set = KeySet.import_key_set({"keys": [dict(m) for m in members]})
    except (JoseError, ValueError, TypeError) as error:
        raise ValueError("invalid JWK") from error
    for key in key_set:
        _check_public_strength(key)
    return key_set


def _check_public_strength(key: Key) -> None:
    if isinstance(key, RSAKey) and key.public_key.key_size < MIN_RSA_BITS:
        raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
    if isinstance(key, ECKey) and key.curve_name != "P-256":
        raise ValueError("EC keys must be on P-256")


@dataclass(frozen=True)
class KeyRing:
    """All signing keys of the provider; immutable, every change returns a new ring."""

    keys: tuple[SigningKey, ...]

    def __post_init__(self) -> None:
        kids = [key.kid for key in self.keys]
        if len(kids) != len(set(kids)):
            raise ValueError("duplicate kid in key ring")

    def signing_key(self, alg: str = ES256, *, now: datetime) -> SigningKey:
        """The newest active key for ``alg``."""
        usable = [k for k in self.keys if k.alg == alg and k.can_sign(now=now)]
        if not usable:
            raise NoSigningKey(alg)
        return max(usable, key=lambda k: k.active_from)

    def published(self, *, now: datetime) -> tuple[SigningKey, ...]:
        return tuple(key for key in self.keys if key.is_published(now=now))

    def jwks(self, *, now: datetime) -> dict[str, list[dict[str, Any]]]:
        """The public JWK Set served at ``jwks_uri`` (RFC 7517 §5)."""
        return {"keys": [key.public_jwk() for key in self.published(now=now)]}

    def verification_keys(self, *, now: datetime) -> KeySet:
        """Public keys still accepted for verification, as a joserfc ``KeySet``."""
        public: list[Key] = [_public(key.jwk) for key in self.published(now=now)]
        return KeySet(public)

    def rotate(self, new_key: SigningKey, *, now: datetime, retire_after: timedelta) -> KeyRing:
        """Add ``new_key``; retire the current signers of its ``alg``.

        Retired keys stay published until ``now + retire_after``.
        """
        retired = tuple(_retire(k, new_key.alg, now, retire_after) for k in self.keys)
        return KeyRing((*retired, new_key))

    def prune(self, *, now: datetime) -> KeyRing:
        """Drop keys that are no longer published (the caller may then delete them)."""
        return KeyRing(self.published(now=now))


def _retire(key: SigningKey, alg: str, now: datetime, retire_after: timedelta) -> SigningKey:
    if key.alg != alg or key.retired_at is not None:
        return key
    return dataclasses.replace(key, retired_at=now, not_after=now + retire_after)


def _public(jwk: SigningJwk) -> Key:
    return type(jwk).import_key(jwk.as_dict(private=False))
