"""The recoverable copy of a ``client_secret_jwt`` client's secret.

``client_secret_jwt`` (OIDC Core §9, RFC 7523) MACs the client assertion with the secret itself, so
the provider needs the secret, not only its hash. For those clients alone the secret is also kept
encrypted: AES-256-GCM under a key derived from the deployment secret (``app.services.kit.secret``,
label ``oidc/client-secret-encryption``; never from the public seed), the ``client_id`` as
associated data (a copy moved to another client's row does not decrypt), a random 96-bit nonce.
The hash stays the proof for every other use; other clients keep only the hash.

Stored as ``aesgcm1$`` + base64url(nonce || ciphertext || tag).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.services.kit import secret as deployment
from app.settings import Settings

LABEL = "oidc/client-secret-encryption"
PREFIX = "aesgcm1$"
_NONCE_BYTES = 12

Sealer = Callable[[str, str], str]


def _cipher(settings: Settings) -> AESGCM:
    return AESGCM(deployment.derive(settings, LABEL))


def seal(settings: Settings, *, client_id: str, secret: str) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _cipher(settings).encrypt(nonce, secret.encode("utf-8"), client_id.encode("utf-8"))
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")


def unseal(settings: Settings, *, client_id: str, sealed: str | None) -> str | None:
    """The secret, or ``None`` when there is none or it does not decrypt (another deployment
    secret, another client's row)."""
    if not sealed or not sealed.startswith(PREFIX):
        return None
    raw = sealed[len(PREFIX):]
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        plain = _cipher(settings).decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:],
                                          client_id.encode("utf-8"))
    except (InvalidTag, ValueError):
        return None
    return plain.decode("utf-8")


def sealer(settings: Settings) -> Sealer:
    """``seal`` for these settings, as the client registry takes it: ``(client_id, secret)``."""
    return lambda client_id, secret: seal(settings, client_id=client_id, secret=secret)
