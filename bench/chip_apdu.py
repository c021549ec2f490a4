"""Micro-benchmark: whole chip reads over APDUs against the card emulator, one worker.

Run: ``.venv/bin/python bench/chip_apdu.py [seconds]``. A read is what an NFC reading app does:
SELECT the application, BAC (or PACE on brainpoolP256r1), then SELECT and READ BINARY (chunks of
223 bytes under secure messaging) of EF.COM, EF.SOD, DG1, DG2, DG13, DG14 and DG15, with
active authentication. Reader and chip run in the same process (the reader is the tests' reader,
``tests/unit/icao/reader.py``), so each figure counts both sides' cryptography. Prints reads per
second and APDUs per second. No assertions: a figure for bench/RESULTS.md, not a test.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.icao import bac, pace
from app.icao.chip import derive_chip_keys
from app.icao.emulator import CardProfile, CardState, files_by_id, process
from app.icao.mrz import build_td1
from tests.unit.icao.reader import Reader
from tests.unit.icao.support import HOLDER, SEED, genuine_chip

FIDS = (0x011E, 0x011D, 0x0101, 0x0102, 0x010D, 0x010E, 0x010F)


def _profile() -> CardProfile:
    chip = genuine_chip()
    files = {"EF.COM": chip.com, "EF.SOD": chip.sod, "EF.CardAccess": pace.encode_card_access(13)}
    files |= {f"DG{number}": data for number, data in chip.data_groups.items()}
    return CardProfile(files=files_by_id(files), mrz_hash=bac.mrz_hash(build_td1(HOLDER)),
                       aa_key=derive_chip_keys(SEED, "card-1").active_authentication)


def _read(profile: CardProfile, *, use_pace: bool, counter: list[int]) -> int:
    state = CardState()

    def transmit(raw: bytes) -> bytes:
        counter[0] += 1
        return process(profile, state, raw)

    reader = Reader(transmit)
    key = bac.key_seed(build_td1(HOLDER))
    if use_pace:
        reader.pace(bac.mrz_hash(build_td1(HOLDER)), reader.read_file(0x011C))
        reader.select_application()
    else:
        reader.select_application()
        reader.bac(key)
    size = sum(len(reader.read_file(fid)) for fid in FIDS)
    reader.internal_authenticate(bytes(range(8)))
    return size


def _measure(label: str, seconds: float, *, use_pace: bool) -> None:
    profile, counter, reads, started = _profile(), [0], 0, time.perf_counter()
    size = 0
    while time.perf_counter() - started < seconds:
        size = _read(profile, use_pace=use_pace, counter=counter)
        reads += 1
    elapsed = time.perf_counter() - started
    print(f"{label}: {reads / elapsed:.1f} reads/s, {counter[0] / elapsed:.0f} APDUs/s "
          f"({counter[0] // reads} APDUs and {size} bytes per read)")


if __name__ == "__main__":
    duration = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    _measure("BAC, 3DES secure messaging", duration, use_pace=False)
    _measure("PACE-GM brainpoolP256r1, AES secure messaging", duration, use_pace=True)
