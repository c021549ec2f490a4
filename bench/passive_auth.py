"""Micro-benchmark: passive + active authentication of one chip read, one worker.

Run: ``.venv/bin/python bench/passive_auth.py [seconds]``. Prints verifications per second for a
genuine chip (SOD signature, chain, CRL, DG hashes, card expiry, active authentication) and for a
chip whose SOD fails to parse. Target: at least 1,000 verifications/s per worker. No assertions: a
figure to record in bench/RESULTS.md, not a test.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from app.icao.active_auth import sign_challenge
from app.icao.chip import derive_chip_keys, issue_chip
from app.icao.dg13 import PersonalDetails
from app.icao.face import synthetic_face
from app.icao.mrz import MrzHolder, build_td1
from app.icao.passive_auth import VerificationReport, verify
from app.icao.pki import build_sandbox_pki

SEED = b"dancu-sandbox benchmark"
NOW = datetime(2026, 11, 25, tzinfo=UTC)
ISSUED = datetime(2021, 4, 1, tzinfo=UTC)
CHALLENGE = bytes(range(8))


def _chip_and_context() -> tuple[Callable[[bytes], VerificationReport], bytes]:
    pki = build_sandbox_pki(SEED, start=datetime(2021, 1, 1, tzinfo=UTC))
    holder = MrzHolder("001093047064", "Ứng", "Hoàng", "Hiệp", date(1993, 1, 5), "M", None)
    details = PersonalDetails(
        holder.pin,
        "Ứng Hoàng Hiệp",
        holder.date_of_birth,
        "M",
        "Việt Nam",
        "Kinh",
        "Không",
        "Hà Nội",
        "Hà Nội",
        "",
        ISSUED.date(),
        None,
    )
    keys = derive_chip_keys(SEED, "bench")
    chip = issue_chip(
        td1=build_td1(holder),
        details=details,
        face=synthetic_face(b"bench"),
        keys=keys,
        signer=pki.signer_at(ISSUED),
        signing_time=ISSUED,
    )
    crl = pki.crl(this_update=NOW - timedelta(days=1), next_update=NOW + timedelta(days=29))
    anchors = [pki.csca.certificate]
    response = sign_challenge(keys.active_authentication, CHALLENGE)
    data_groups = dict(chip.data_groups)

    def run(sod: bytes) -> VerificationReport:
        return verify(
            sod,
            data_groups,
            trust_anchors=anchors,
            crl=crl,
            now=NOW,
            aa_challenge=CHALLENGE,
            aa_response=response,
        )

    return run, chip.sod


def _rate(run: Callable[[bytes], VerificationReport], sod: bytes, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run(sod)
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    run, sod = _chip_and_context()
    assert run(sod).verdict == "pass", "the benchmark chip must verify"
    genuine, broken = _rate(run, sod, seconds), _rate(run, sod[:-7], seconds)
    print(f"genuine chip, passive + active authentication: {genuine:,.0f} verifications/s")
    print(f"unparsable SOD (fails at sod.parse):            {broken:,.0f} verifications/s")


if __name__ == "__main__":
    main()
