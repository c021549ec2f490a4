"""The deployment secret, and every secret derived from it.

The seed is public (the docs print it and anyone can rebuild the population), so nothing that
guards access may be derived from it alone. Two classes of key material:

* **Public test data, from the seed** (reproducible, CONTRIBUTING): the population, cards, the
  chip-card test PKI (CSCA, document signers, master-list signer: their certificates are
  published), the chips' Active and Chip Authentication keys (a test chip's keys are part of the
  test data, like its MRZ) and the choices of which citizens hold accounts.
* **Secrets of the deployment, from this module**: the token-signing keys (ES256; RS256 keys are
  random anyway), the HMAC key of pairwise subjects, the persona device tokens and each tenant's
  own secret (from which the tenant derives all of the above).

The deployment secret is ``DANCU_SECRET_KEY`` when set (pin it for reproducible demos and tests),
otherwise 32 random bytes made on first start and kept in the ``deployment_secret`` table, so a
restart keeps its keys. Each secret is HKDF-SHA256 (RFC 5869) of the deployment secret with its
own label as ``info``.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.db import Database
from app.models.signing_key import DeploymentSecret
from app.settings import Settings

_SALT = b"dancu-sandbox/deployment-secret"
_ADVISORY_LOCK_ID = 0x64616E6373  # "dancs": two first starts make one secret


class SecretUnresolved(RuntimeError):
    """The settings carry no deployment secret: :func:`resolved` was not called."""


def stored(session: Session, *, now: datetime) -> str:
    """The stored random secret (hex), made now if the database has none."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
    row = session.get(DeploymentSecret, 1)
    if row is None:
        row = DeploymentSecret(id=1, secret=secrets.token_bytes(32).hex(), created_at=now)
        session.add(row)
        session.flush()
    return row.secret


def with_secret(session: Session, settings: Settings, *, now: datetime) -> Settings:
    """``settings`` carrying the deployment secret (``DANCU_SECRET_KEY``, else the stored one)."""
    if settings.secret_key is not None:
        return settings
    return settings.model_copy(update={"secret_key": SecretStr(stored(session, now=now))})


def resolved(database: Database, settings: Settings, *, now: datetime) -> Settings:
    """:func:`with_secret` in a transaction of its own (start-up, command line)."""
    if settings.secret_key is not None:
        return settings
    with database.write() as session:
        return with_secret(session, settings, now=now)


def derive(settings: Settings, label: str, *, length: int = 32) -> bytes:
    """The secret for ``label`` (its purpose) of this deployment."""
    if settings.secret_key is None:
        raise SecretUnresolved("the deployment secret has not been resolved")
    return _hkdf(settings.secret_key.get_secret_value(), label, length)


@lru_cache(maxsize=256)  # the pairwise key is asked for at every login
def _hkdf(master: str, label: str, length: int) -> bytes:
    kdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=label.encode())
    return kdf.derive(master.encode())


def token(settings: Settings, label: str) -> str:
    """A URL-safe token (43 characters) derived for ``label``."""
    return base64.urlsafe_b64encode(derive(settings, label)).rstrip(b"=").decode("ascii")
