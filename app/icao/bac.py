"""Basic Access Control key seed (ICAO Doc 9303 Part 11 §4.3 and §9.7.1, chip-verification spec §7).

``K_seed`` = the first 16 bytes of SHA-1 over the "MRZ information": document number + check digit,
date of birth + check digit, date of expiry + check digit (TD1: line 1 [5:15], line 2 [0:7] and
[8:15]). A real reader derives 3DES keys from it and runs a challenge-response; over HTTP the
sandbox only asks the caller to prove knowledge of the printed MRZ by presenting ``K_seed`` in hex,
compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac

from app.icao.mrz import Td1

KEY_SEED_LENGTH = 16


def mrz_information(td1: Td1) -> str:
    """Document number, birth date and expiry, each followed by its check digit."""
    line1, line2, _ = td1.lines
    return line1[5:15] + line2[0:7] + line2[8:15]


def key_seed_for(information: str) -> bytes:
    """``K_seed`` of an MRZ information string (any document type)."""
    return hashlib.sha1(information.encode("ascii")).digest()[:KEY_SEED_LENGTH]


def key_seed(td1: Td1) -> bytes:
    """``K_seed`` of the card whose MRZ is ``td1``."""
    return key_seed_for(mrz_information(td1))


def key_seed_matches(expected: bytes, presented_hex: str) -> bool:
    """Whether ``presented_hex`` is the hex of ``expected`` (constant time at the right length)."""
    if not isinstance(presented_hex, str) or len(presented_hex) != 2 * len(expected):
        return False
    try:
        presented = bytes.fromhex(presented_hex)
    except ValueError:
        return False
    return hmac.compare_digest(expected, presented)
