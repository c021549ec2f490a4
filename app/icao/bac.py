"""Basic Access Control key seed (ICAO Doc 9303 Part 11 §4.3 and §9.7.1, chip-verification spec §7).

``K_seed`` = the first 16 bytes of SHA-1 over the "MRZ information": document number + check digit,
date of birth + check digit, date of expiry + check digit (TD1: line 1 [5:15], line 2 [0:7] and
[8:15]). A real reader derives 3DES keys from it and runs a challenge-response; over HTTP the
JSON chip read only asks the caller to prove knowledge of the printed MRZ by presenting ``K_seed``
in hex, compared in constant time. The APDU-level chip (``emulator``) runs the real protocol:
``document_keys``, ``chip_authenticate`` (MUTUAL AUTHENTICATE) and ``session_channel``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from app.icao import sm
from app.icao.mrz import Td1

KEY_SEED_LENGTH = 16


def mrz_information(td1: Td1) -> str:
    """Document number, birth date and expiry, each followed by its check digit."""
    line1, line2, _ = td1.lines
    return line1[5:15] + line2[0:7] + line2[8:15]


def mrz_hash_for(information: str) -> bytes:
    """SHA-1 of an MRZ information string: PACE's MRZ password π (Part 11 §9.7.3), whole."""
    return hashlib.sha1(information.encode("ascii")).digest()


def key_seed_for(information: str) -> bytes:
    """``K_seed`` of an MRZ information string (any document type)."""
    return mrz_hash_for(information)[:KEY_SEED_LENGTH]


def mrz_hash(td1: Td1) -> bytes:
    """PACE's MRZ password π of the card whose MRZ is ``td1``."""
    return mrz_hash_for(mrz_information(td1))


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


# --- the protocol (§4.3.3 and §9.7.2): what the chip answers to MUTUAL AUTHENTICATE ---------------

RANDOM_LENGTH = 8
KEY_MATERIAL_LENGTH = 16
CRYPTOGRAM_LENGTH = 40  # E.IFD (32 bytes) ‖ M.IFD (8 bytes)


@dataclass(frozen=True)
class BacKeys:
    """``K_enc`` and ``K_mac`` derived from ``K_seed`` (counters 1 and 2, parity adjusted)."""

    k_enc: bytes
    k_mac: bytes


def document_keys(seed: bytes) -> BacKeys:
    return BacKeys(k_enc=sm.derive_key(seed, sm.ENC), k_mac=sm.derive_key(seed, sm.MAC))


def session_channel(*, k_ifd: bytes, k_icc: bytes, rnd_icc: bytes,
                    rnd_ifd: bytes) -> sm.SecureChannel:
    """3DES secure messaging keyed by ``K_IFD ⊕ K_ICC``; SSC = RND.ICC[4:8] ‖ RND.IFD[4:8]."""
    seed = bytes(a ^ b for a, b in zip(k_ifd, k_icc, strict=True))
    return sm.SecureChannel(suite=sm.DES3, k_enc=sm.derive_key(seed, sm.ENC),
                            k_mac=sm.derive_key(seed, sm.MAC),
                            ssc=int.from_bytes(rnd_icc[4:] + rnd_ifd[4:], "big"))


def cryptogram(keys: BacKeys, plain: bytes) -> bytes:
    """``E = 3DES(K_enc, S)`` followed by ``M = MAC(K_mac, E)``."""
    encrypted = sm.des3_encrypt(keys.k_enc, plain)
    return encrypted + sm.retail_mac(keys.k_mac, encrypted)


def open_cryptogram(keys: BacKeys, data: bytes) -> bytes | None:
    """The plaintext of a cryptogram whose MAC checks, else ``None``."""
    if len(data) != CRYPTOGRAM_LENGTH:
        return None
    encrypted, mac = data[:32], data[32:]
    if not hmac.compare_digest(sm.retail_mac(keys.k_mac, encrypted), mac):
        return None
    return sm.des3_decrypt(keys.k_enc, encrypted)


def chip_authenticate(keys: BacKeys, data: bytes, *, rnd_icc: bytes,
                      k_icc: bytes) -> tuple[bytes, sm.SecureChannel] | None:
    """The chip's answer ``E.ICC ‖ M.ICC`` and the session, or ``None`` when the reader's
    cryptogram does not check (wrong MAC, or not the chip's challenge)."""
    plain = open_cryptogram(keys, data)
    if plain is None or not hmac.compare_digest(plain[8:16], rnd_icc):
        return None
    rnd_ifd, k_ifd = plain[:8], plain[16:32]
    answer = cryptogram(keys, rnd_icc + rnd_ifd + k_icc)
    return answer, session_channel(k_ifd=k_ifd, k_icc=k_icc, rnd_icc=rnd_icc, rnd_ifd=rnd_ifd)
