"""The chip cards' test PKI, as the service holds it: one per process, rebuilt identically by every
process from the seed (``app.icao.pki.build_sandbox_pki``).

* CSCA from 2021-01-01 (the first chip CCCD), valid 15 years; one document signer per half year
  (:data:`PERIODS` of them, up to the CSCA's end), each signing the cards issued in its half year.
* The CRL of the day: thisUpdate = 00:00 UTC of the sandbox clock's day, nextUpdate 30 days later,
  CRL number = days since the PKI start + 1. It lists the revoked persona signer.
* The master list: the CSCA certificate, signed by the master-list signer a day after its
  certificate's notBefore (strict verifiers want the signing time strictly inside the validity).
* Keys: EC P-256 derived from the seed (default), or RSA 2048 with ``DANCU_PKI_KEY_TYPE=rsa``. RSA
  keys cannot be derived from a seed, so the first process generates them and stores them in the
  ``pki_key`` table (PKCS#8 PEM); every process loads them from there, so all of them build the
  same certificates. Chip (active-authentication) keys stay EC: the library does not implement
  ISO/IEC 9796-2 RSA active authentication.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.db import Database
from app.icao import keys as icao_keys
from app.icao.algorithms import PrivateKey
from app.icao.errors import IcaoError
from app.icao.keys import KeyedCertificate
from app.icao.pki import SandboxPki, build_sandbox_pki, certificate_der, certificate_pem
from app.models.card import PkiKey

PKI_START = datetime(2021, 1, 1, tzinfo=UTC)
PERIOD_MONTHS = 6
PERIODS = 30  # 15 years: document signers never outlive the CSCA's signing life
CRL_VALIDITY = timedelta(days=30)
MASTER_LIST_SIGNED_AFTER = timedelta(days=1, hours=9)  # after the signer's notBefore
FORGER_LABEL = "persona/forger"  # the key a forger signs a SOD with (keeps the genuine DSC)
PERSONA_SIGNERS = ("persona/foreign-dsc", "persona/expired-dsc", "persona/revoked-dsc")
_ADVISORY_LOCK_ID = 0x646E6370  # "dncp": one process generates the RSA keys
_lock = threading.Lock()
_cache: dict[tuple[int, str, str], CardPki] = {}


class NoDocumentSigner(IcaoError):
    """No document signer covers the moment (before 2021 or after the CSCA's signing life)."""


def pki_seed(seed: int) -> bytes:
    """Key material of the chip PKI and the chips, from the sandbox seed."""
    return hashlib.sha256(f"dancu-sandbox/chip-pki/{seed}".encode()).digest()


def all_labels() -> tuple[str, ...]:
    """Every key label the PKI uses (``app.icao.pki`` labels plus the forger's)."""
    signers = tuple(f"dsc/{index}" for index in range(PERIODS))
    personas = ("persona/foreign-csca", *PERSONA_SIGNERS, FORGER_LABEL)
    return ("csca", *signers, "mls", *personas)


def pem(der: bytes, label: str) -> bytes:
    """RFC 7468 PEM of ``der`` (64-character lines)."""
    body = base64.b64encode(der).decode("ascii")
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n".encode("ascii")


@dataclass(eq=False)  # hashed by identity: chip caches key on it
class CardPki:
    """The built PKI with the lookups the card services need; CRLs are cached per day."""

    pki: SandboxPki
    forger_key: PrivateKey
    key_type: str
    seed: int  # the sandbox seed it was built from (chip keys derive from it too)
    _crls: dict[date, bytes] = field(default_factory=dict)

    def signer(self, label: str) -> KeyedCertificate:
        """The document signer named by ``label`` (``dsc/<i>`` or a persona label)."""
        personas = self.pki.personas
        named = {
            "persona/foreign-dsc": personas.foreign_signer,
            "persona/expired-dsc": personas.expired_signer,
            "persona/revoked-dsc": personas.revoked_signer,
        }
        if label in named:
            return named[label]
        index = int(label.removeprefix("dsc/"))
        return self.pki.document_signers[index]

    def signer_label_at(self, moment: datetime) -> str:
        """``dsc/<i>`` of the half year holding ``moment``; NoDocumentSigner outside them."""
        try:
            signer = self.pki.signer_at(moment)
        except IcaoError:
            raise NoDocumentSigner("pki.no_signer", "no document signer covers this date") from None
        return f"dsc/{self.pki.document_signers.index(signer)}"

    @property
    def trust_anchors(self) -> list[bytes]:
        return [self.csca_der]

    @cached_property
    def csca_der(self) -> bytes:
        return certificate_der(self.pki.csca.certificate)

    @cached_property
    def csca_pem(self) -> bytes:
        return certificate_pem(self.pki.csca.certificate)

    @cached_property
    def master_list_der(self) -> bytes:
        signer = self.pki.master_list_signer.certificate
        return self.pki.master_list(
            signing_time=signer.not_valid_before_utc + MASTER_LIST_SIGNED_AFTER)

    def crl_der(self, now: datetime) -> bytes:
        """The CRL current at ``now`` (one per UTC day, byte-identical in every process)."""
        day = now.astimezone(UTC).date()
        cached = self._crls.get(day)
        if cached is None:
            this_update = datetime.combine(day, time(), tzinfo=UTC)
            number = (day - PKI_START.date()).days + 1
            cached = self.pki.crl(this_update=this_update, next_update=this_update + CRL_VALIDITY,
                                  crl_number=max(number, 1))
            self._crls = {day: cached}
        return cached

    def document_signers_pem(self) -> list[bytes]:
        return [s.certificate.public_bytes(Encoding.PEM) for s in self.pki.document_signers]


def _build(seed: int, key_for: Callable[[str], PrivateKey] | None, key_type: str) -> CardPki:
    material = pki_seed(seed)
    built = build_sandbox_pki(material, start=PKI_START, periods=PERIODS,
                              period_months=PERIOD_MONTHS, key_for=key_for)
    forger = (key_for or (lambda label: icao_keys.derive_ec_private_key(material, label)))(
        FORGER_LABEL)
    return CardPki(pki=built, forger_key=forger, key_type=key_type, seed=seed)


def _serialise(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})


def ensure_rsa_keys(session: Session, *, now: datetime) -> dict[str, PrivateKey]:
    """The stored RSA keys, generating (and storing) the missing ones first."""
    _serialise(session)
    stored = {row.label: row.private_pem for row in session.scalars(select(PkiKey))}
    for label in all_labels():
        if label not in stored:
            pem_text = icao_keys.private_key_to_pem(icao_keys.generate_rsa_private_key()).decode()
            session.add(PkiKey(label=label, key_type="rsa", private_pem=pem_text, created_at=now))
            stored[label] = pem_text
    session.flush()
    return {label: icao_keys.load_private_key_pem(p.encode()) for label, p in stored.items()}


def _rsa_key_source(database: Database, now: datetime) -> Callable[[str], PrivateKey]:
    with database.write() as session:
        loaded = ensure_rsa_keys(session, now=now)
    return loaded.__getitem__


def card_pki(database: Database, *, seed: int, key_type: str, now: datetime) -> CardPki:
    """The process's PKI for this seed and key type (built on first use)."""
    key = (seed, key_type, database.url if key_type == "rsa" else "")
    cached = _cache.get(key)
    if cached is not None:
        return cached
    with _lock:
        cached = _cache.get(key)
        if cached is None:
            source = _rsa_key_source(database, now) if key_type == "rsa" else None
            cached = _cache[key] = _build(seed, source, key_type)
    return cached

