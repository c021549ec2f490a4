"""Signing keys in the database: created on first start, rotated on demand, cached per process.

Every server process reads the same ``signing_key`` rows, so tokens signed by one process verify in
any other. ES256 keys are derived from the deployment secret (``app.services.kit.secret``; HKDF with
``app.oidc.keys.derive_ec_key``, one generation per rotation), never from the public seed: a fresh
database with the same ``DANCU_SECRET_KEY`` publishes the same ES256 keys, and nobody without it
can rebuild them. RS256 keys (per-client opt-in) are random. A retired key stays published until
``not_after``. Earlier versions derived the ES256 key from the seed alone; :func:`ensure_keys`
withdraws such a key at once (anyone could sign with it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc.jwk import KeySet
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import Database
from app.models.signing_key import SigningKey as StoredKey
from app.oidc import keys as oidc_keys
from app.oidc.jwt_policy import header_of
from app.oidc.keys import ES256, RS256, KeyRing, SigningKey
from app.services.kit import secret
from app.settings import Settings

KEY_LABEL = "dancu-op"
# A retired key stays published this long: longer than any token it signed can live
# (access tokens 10 min, ID tokens at most 1 h).
RETIRE_AFTER = timedelta(hours=1)
CACHE_SECONDS = 5.0
KID_MAX_LENGTH = 64  # signing_key.kid


def aware(moment: datetime | None) -> datetime | None:
    """SQLite gives naive UTC datetimes back; PostgreSQL aware ones."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def seed_material(seed: int) -> bytes:
    """The key material of earlier versions: the public seed alone (kept to recognise and
    withdraw the keys made from it, see :func:`withdraw_seed_derived`)."""
    return hashlib.sha256(f"dancu-sandbox/signing-keys/{seed}".encode()).digest()


def key_material(settings: Settings) -> bytes:
    return secret.derive(settings, "oidc/signing-keys")


def _new_key(alg: str, *, settings: Settings, generation: int, now: datetime) -> SigningKey:
    if alg == ES256:
        return oidc_keys.derive_ec_key(key_material(settings), label=KEY_LABEL,
                                       generation=generation, active_from=now)
    return oidc_keys.generate_rsa_key(active_from=now)


def _stored(key: SigningKey, *, now: datetime) -> StoredKey:
    return StoredKey(kid=key.kid, alg=key.alg, created_at=now,
                     private_pem=oidc_keys.private_pem(key))


def _loaded(row: StoredKey) -> SigningKey:
    return oidc_keys.signing_key_from_pem(
        row.private_pem, alg=row.alg, active_from=aware(row.created_at),
        retired_at=aware(row.retired_at), not_after=aware(row.not_after))


def _active_rows(session: Session, alg: str) -> list[StoredKey]:
    query = select(StoredKey).where(StoredKey.alg == alg, StoredKey.retired_at.is_(None))
    return list(session.scalars(query))


def _generation(session: Session, alg: str) -> int:
    return int(session.scalar(select(func.count()).where(StoredKey.alg == alg)) or 0) + 1


def _add(session: Session, alg: str, *, settings: Settings, now: datetime) -> StoredKey:
    key = _new_key(alg, settings=settings, generation=_generation(session, alg), now=now)
    row = _stored(key, now=now)
    session.add(row)
    session.flush()
    return row


def seed_derived_kids(seed: int, generations: int) -> set[str]:
    """The kids an earlier version derived from ``seed`` alone, generations 1..``generations``."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    return {oidc_keys.derive_ec_key(seed_material(seed), label=KEY_LABEL, generation=generation,
                                    active_from=epoch).kid
            for generation in range(1, generations + 1)}


def withdraw_seed_derived(session: Session, *, seed: int, now: datetime) -> list[str]:
    """Unpublish at once every key still published that the public seed alone gives."""
    published = [row for row in session.scalars(select(StoredKey).where(StoredKey.alg == ES256))
                 if (until := aware(row.not_after)) is None or until > now]
    derivable = seed_derived_kids(seed, _generation(session, ES256) - 1) if published else set()
    withdrawn = [row for row in published if row.kid in derivable]
    for row in withdrawn:
        row.retired_at, row.not_after = row.retired_at or now, now
    session.flush()
    return [row.kid for row in withdrawn]


def ensure_keys(session: Session, *, settings: Settings, now: datetime) -> list[str]:
    """Make sure each algorithm has an active key, none made from the seed alone; returns the
    kids created."""
    withdraw_seed_derived(session, seed=settings.seed, now=now)
    return [_add(session, alg, settings=settings, now=now).kid
            for alg in (ES256, RS256) if not _active_rows(session, alg)]


def rotate(session: Session, alg: str, *, settings: Settings, now: datetime) -> str:
    """A new signer for ``alg``; the previous one stays published for :data:`RETIRE_AFTER`."""
    if alg not in (ES256, RS256):
        raise ValueError("alg must be ES256 or RS256")
    for row in _active_rows(session, alg):
        row.retired_at, row.not_after = now, now + RETIRE_AFTER
    # Rows are kept after not_after (unpublished, a few hundred bytes each): the generation number
    # of the next derived key is the row count, so deleting rows would derive a used key again.
    return _add(session, alg, settings=settings, now=now).kid


class CachingKeyRing(KeyRing):
    """A key ring that builds the public ``KeySet`` for verification once per set of published
    keys (importing each public JWK again on every verification is a visible cost per request)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "_public_sets", {})

    def verification_keys(self, *, now: datetime) -> KeySet:
        kids = tuple(key.kid for key in self.published(now=now))
        sets: dict[tuple[str, ...], KeySet] = self._public_sets  # type: ignore[attr-defined]
        found = sets.get(kids)
        if found is None:
            found = sets[kids] = super().verification_keys(now=now)
        return found


def load_ring(session: Session, *, parsed: dict[str, SigningKey] | None = None) -> KeyRing:
    """All stored keys; ``parsed`` (kid -> key) spares re-parsing PEMs already loaded (an RSA key
    takes tens of milliseconds), only their lifecycle dates are taken from the row again."""
    known = parsed if parsed is not None else {}
    return CachingKeyRing(tuple(_reused(known[row.kid], row) if row.kid in known else
                                _loaded(row) for row in session.scalars(select(StoredKey))))


def _reused(key: SigningKey, row: StoredKey) -> SigningKey:
    return dataclasses.replace(key, retired_at=aware(row.retired_at),
                               not_after=aware(row.not_after))


class KeyStore:
    """The key ring of one process: reloaded every few seconds, and at once for an unknown kid."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def ring(self, *, kid: str | None = None) -> KeyRing:
        """The cached ring, reloaded when stale, or when ``kid`` is unknown here but stored (a key
        another process has just made). Checking the one ``kid`` by its primary key first keeps
        tokens with made-up ``kid`` values from reloading the ring, without a window in which a
        genuine new key is refused."""
        age = time.monotonic() - self._loaded_at
        ring = self._ring
        if (
            ring is None
            or age > CACHE_SECONDS
            or (kid is not None and not _has(ring, kid) and self._stored(kid))
        ):
            ring = self._reload()
        return ring

    def ring_for(self, token: str) -> KeyRing:
        """The ring to verify ``token`` with: reloaded first when the token names a ``kid`` this
        process does not know yet (another process has just rotated the keys)."""
        return self.ring_for_header(header_of(token))

    def ring_for_header(self, header: Mapping[str, Any] | None) -> KeyRing:
        """:meth:`ring_for` a token whose header is read already (``None``: not a JWS)."""
        kid = None if header is None else header.get("kid")
        return self.ring(kid=kid if isinstance(kid, str) else None)

    def invalidate(self) -> None:
        with self._lock:
            self._ring = None

    def _stored(self, kid: str) -> bool:
        if len(kid) > KID_MAX_LENGTH:  # cannot be one of ours: no query for it
            return False
        with self._database.read() as session:
            return session.get(StoredKey, kid) is not None

    def _reload(self) -> KeyRing:
        parsed = {key.kid: key for key in self._ring.keys} if self._ring is not None else {}
        with self._database.read() as session:
            ring = load_ring(session, parsed=parsed)
        with self._lock:
            self._ring, self._loaded_at = ring, time.monotonic()
        return ring


def _has(ring: KeyRing, kid: str) -> bool:
    return any(key.kid == kid for key in ring.keys)
