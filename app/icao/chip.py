"""The files of one simulated chip (LDS 1.7 as on the Vietnamese card: EF.COM, DG1, DG2, DG13, DG14,
DG15, SOD).

ICAO Doc 9303 Part 10 §3–4; chip-verification spec §1. ``issue_chip`` encodes the data groups, lists
them in EF.COM and signs their hashes into EF.SOD with a document signer. Chip keys are derived from
the seed and the card id (labels ``chip/<card id>/aa`` and ``chip/<card id>/ca``), so a card's chip
is reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from cryptography.hazmat.primitives.asymmetric import ec

from app.icao.algorithms import PrivateKey
from app.icao.dg2 import FacialImage, encode_dg2
from app.icao.dg13 import PersonalDetails, encode_dg13
from app.icao.dg14 import encode_dg14
from app.icao.keys import KeyedCertificate, derive_ec_private_key
from app.icao.lds import encode_com, encode_dg1, encode_dg15
from app.icao.mrz import Td1
from app.icao.sod import build_sod


@dataclass(frozen=True)
class ChipKeys:
    """The chip's private keys: active authentication (DG15) and chip authentication (DG14)."""

    active_authentication: PrivateKey
    chip_authentication: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class ChipFiles:
    """Encoded chip files; ``data_groups`` maps DG number to the whole file (read-only)."""

    com: bytes
    data_groups: Mapping[int, bytes]
    sod: bytes


def derive_active_authentication_key(seed: bytes, card_id: str) -> ec.EllipticCurvePrivateKey:
    """The active-authentication key of :func:`derive_chip_keys` alone (what a verifier compares
    DG15 with: half the derivation)."""
    return derive_ec_private_key(seed, f"chip/{card_id}/aa")


def derive_chip_keys(seed: bytes, card_id: str) -> ChipKeys:
    """EC P-256 chip keys for ``card_id``, derived from ``seed``."""
    return ChipKeys(
        active_authentication=derive_active_authentication_key(seed, card_id),
        chip_authentication=derive_ec_private_key(seed, f"chip/{card_id}/ca"),
    )


def encode_data_groups(
    *, td1: Td1, details: PersonalDetails, face: FacialImage, keys: ChipKeys
) -> dict[int, bytes]:
    """DG1, DG2, DG13, DG14 and DG15 of a card."""
    is_ec = isinstance(keys.active_authentication, ec.EllipticCurvePrivateKey)
    return {
        1: encode_dg1(td1),
        2: encode_dg2(face),
        13: encode_dg13(details),
        14: encode_dg14(
            chip_authentication_key=keys.chip_authentication.public_key(),
            active_authentication_hash="sha256" if is_ec else None,
        ),
        15: encode_dg15(keys.active_authentication.public_key()),
    }


def issue_chip(
    *,
    td1: Td1,
    details: PersonalDetails,
    face: FacialImage,
    keys: ChipKeys,
    signer: KeyedCertificate,
    signing_time: datetime | None,
    hash_name: str = "sha256",
) -> ChipFiles:
    """All files of a card's chip, the SOD signed by ``signer``."""
    data_groups = encode_data_groups(td1=td1, details=details, face=face, keys=keys)
    sod = build_sod(data_groups, signer=signer, hash_name=hash_name, signing_time=signing_time)
    return ChipFiles(
        com=encode_com(data_groups), data_groups=MappingProxyType(data_groups), sod=sod
    )
