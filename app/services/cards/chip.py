"""A card's virtual chip: its LDS files rebuilt on demand, BAC-style access, active authentication.

Nothing of a chip is stored. Its files are derived from the card row (document signer, signing
time, chip key reference, persona) and the card content (:mod:`.holder`), with the chip keys
derived from the seed and the chip key reference (``app.icao.chip.derive_chip_keys``); ECDSA
signing is deterministic, so the same card always gives the same bytes. Built chips are kept in a
small per-process LRU cache keyed by everything they depend on.

Files: EF.COM, EF.SOD, DG1, DG2 (absent for a holder under 6 at issue: no biometrics), DG13,
DG14, DG15. Access needs ``K_seed`` (ICAO 9303 BAC key seed of the printed MRZ) as hex, like an
NFC reader that has scanned the card; any card of the PIN whose MRZ gives that key opens.

Personas change the chip on purpose (``card.persona``): ``tampered-dg1`` (DG1 altered after
signing), ``forged-sod`` (signed with a forger's key, genuine DSC embedded), ``cloned-chip`` (active
authentication answers with another key); the foreign, expired and revoked document signers are
plain ``card.document_signer`` labels.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy.orm import Session

from app.errors import Unauthorized
from app.icao import bac
from app.icao.active_auth import sign_challenge
from app.icao.algorithms import PrivateKey
from app.icao.chip import derive_chip_keys, encode_data_groups
from app.icao.dg2 import FacialImage
from app.icao.dg13 import PersonalDetails
from app.icao.face import synthetic_face
from app.icao.keys import KeyedCertificate
from app.icao.lds import encode_com, encode_dg1
from app.icao.mrz import Td1, name_line, parse_td1
from app.icao.sod import build_sod
from app.models.card import Card
from app.services.cards.holder import CardContent, card_content
from app.services.cards.issuance import cards_of
from app.services.cards.pki import CardPki, pki_seed

FILE_ORDER = ("EF.COM", "EF.SOD", "DG1", "DG2", "DG13", "DG14", "DG15")
CLONE_SUFFIX = "/clone"  # the key a cloned chip answers with: not the one in DG15
_ZIP_TIME = (2021, 1, 1, 0, 0, 0)


class ChipAccessDenied(Unauthorized):
    code, title = "chip-access-denied", "The chip access key is missing or does not match"


@dataclass(frozen=True)
class ChipSpec:
    """Everything a chip's bytes depend on (hashable: the cache key)."""

    seed: int
    chip_key_ref: str
    signer_label: str
    signed_at: datetime
    persona: str | None
    td1: Td1
    details: PersonalDetails
    biometrics: bool


def spec_for(card: Card, content: CardContent, *, seed: int) -> ChipSpec:
    signed_at = card.signed_at  # SQLite gives it back naive (UTC)
    signed_at = signed_at if signed_at.tzinfo else signed_at.replace(tzinfo=UTC)
    return ChipSpec(seed=seed, chip_key_ref=card.chip_key_ref,
                    signer_label=card.document_signer, signed_at=signed_at.astimezone(UTC),
                    persona=card.persona, td1=content.td1, details=content.details,
                    biometrics=content.has_biometrics)


def _signer(spec: ChipSpec, pki: CardPki) -> KeyedCertificate:
    genuine = pki.signer(spec.signer_label)
    if spec.persona == "forged-sod":
        return KeyedCertificate(genuine.certificate, pki.forger_key)
    return genuine


def _tampered_dg1(td1: Td1) -> bytes:
    """DG1 whose name line says someone else (line 3 has no check digit, so it still parses)."""
    altered = name_line(surname="Giả", middle_name="Mạo", given_name="Danh")
    return encode_dg1(parse_td1((td1.lines[0], td1.lines[1], altered)))


@lru_cache(maxsize=512)
def face(seed: int, chip_key_ref: str, sex: str) -> FacialImage:
    """The synthetic portrait of the card (DG2 and the printed photo)."""
    return synthetic_face(f"{seed}/{chip_key_ref}".encode(),
                          gender="male" if sex == "M" else "female")


@lru_cache(maxsize=512)
def chip_files(spec: ChipSpec, pki: CardPki) -> dict[str, bytes]:
    """The chip's files by name (``EF.COM``, ``EF.SOD``, ``DG1`` ...), in :data:`FILE_ORDER`."""
    keys = derive_chip_keys(pki_seed(spec.seed), spec.chip_key_ref)
    portrait = face(spec.seed, spec.chip_key_ref, spec.details.sex)
    groups = encode_data_groups(td1=spec.td1, details=spec.details, face=portrait, keys=keys)
    if not spec.biometrics:
        del groups[2]
    signed_at = spec.signed_at
    sod = build_sod(groups, signer=_signer(spec, pki), signing_time=signed_at)
    if spec.persona == "tampered-dg1":
        groups[1] = _tampered_dg1(spec.td1)
    files = {"EF.COM": encode_com(groups), "EF.SOD": sod}
    files |= {f"DG{number}": data for number, data in sorted(groups.items())}
    return files


def zipped(files: dict[str, bytes]) -> bytes:
    """The files as a zip of raw files (fixed timestamps: the same chip gives the same zip)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), data)
    return buffer.getvalue()


def access_key(content: CardContent) -> str:
    """Hex ``K_seed`` of the card's printed MRZ: what a reader derives to open the chip."""
    return bac.key_seed(content.td1).hex()


@dataclass(frozen=True)
class OpenedChip:
    card: Card
    content: CardContent


def open_chip(session: Session, pin: str, presented: str | None) -> OpenedChip:
    """The card of ``pin`` whose MRZ gives the presented key; 401 otherwise (nothing disclosed)."""
    if not presented:
        raise ChipAccessDenied()
    for card in cards_of(session, pin):
        content = card_content(session, card)
        if bac.key_seed_matches(bac.key_seed(content.td1), presented):
            return OpenedChip(card, content)
    raise ChipAccessDenied()


def read_files(opened: OpenedChip, *, seed: int, pki: CardPki) -> dict[str, bytes]:
    return chip_files(spec_for(opened.card, opened.content, seed=seed), pki)


def active_authentication_key(card: Card, *, seed: int) -> PrivateKey:
    """The key the chip signs challenges with (not DG15's for the cloned-chip persona)."""
    ref = card.chip_key_ref
    if card.persona == "cloned-chip":
        ref += CLONE_SUFFIX
    return derive_chip_keys(pki_seed(seed), ref).active_authentication


def internal_authenticate(opened: OpenedChip, challenge: bytes, *, seed: int) -> bytes:
    """The chip's INTERNAL AUTHENTICATE response (plain ECDSA r‖s over the 8-byte challenge)."""
    return sign_challenge(active_authentication_key(opened.card, seed=seed), challenge)

