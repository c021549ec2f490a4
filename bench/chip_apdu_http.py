"""Whole chip reads over HTTP APDUs (``POST /v1/cards/{pin}/chip/apdu``, one APDU per request, as
a mobile test harness that replaces the NFC transport sends them) against a running server.

Run: ``.venv/bin/python -P bench/chip_apdu_http.py BASE_URL [seconds]`` with ``dancu serve``
running at BASE_URL (its demo client: ``DANCU_DEMO_SECRET`` or the sandbox default). A read is the
one of ``bench/chip_apdu.py`` (SELECT, BAC or PACE, SELECT + READ BINARY of EF.COM, EF.SOD, DG1,
DG2, DG13, DG14, DG15 under secure messaging), over one kept-alive HTTP connection, a new chip
session per read, the cards of the persona catalogue in turn. Prints reads/s and APDUs/s for BAC
and PACE. No assertions: a figure for bench/RESULTS.md.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.icao.reader import Reader

FIDS = (0x011E, 0x011D, 0x0101, 0x0102, 0x010D, 0x010E, 0x010F)
# Personas with a plain genuine card (no fault, no chip persona, both BAC and PACE).
PLAIN_CARDS = ("valid-adult-level2", "level1-only", "minor-under-14", "elderly-card-for-life",
               "account-locked", "no-account", "born-abroad", "rare-diacritics-two-middle-names",
               "ethnic-minority-name")
SECRET = os.environ.get("DANCU_DEMO_SECRET", "demo-secret-for-the-sandbox-only")


def _token(http: httpx.Client) -> str:
    answer = http.post("/oauth2/token", auth=("demo", SECRET),
                       data={"grant_type": "client_credentials", "scope": "card.read"})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def _cards(http: httpx.Client, token: str) -> list[tuple[str, bytes]]:
    """(PIN, SHA-1 of the MRZ information) of the personas with a plain valid card."""
    headers = {"Authorization": f"Bearer {token}"}
    personas = http.get("/v1/sandbox/personas", headers=headers).json()["personas"]
    found = []
    for persona in personas:
        card = persona.get("card") or {}
        if card.get("status") != "active" or persona["key"] not in PLAIN_CARDS:
            continue
        mrz = http.get(f"/v1/cards/{persona['pin']}", headers=headers).json()["mrz"]
        information = mrz[0][5:15] + mrz[1][0:7] + mrz[1][8:15]
        found.append((persona["pin"], hashlib.sha1(information.encode("ascii")).digest()))
    return found


class HttpCard:
    def __init__(self, http: httpx.Client, token: str, pin: str) -> None:
        self.http, self.pin, self.headers = http, pin, {"Authorization": f"Bearer {token}"}
        opened = http.post(f"/v1/cards/{pin}/chip/sessions", headers=self.headers)
        opened.raise_for_status()
        self.session_id, self.apdus = opened.json()["session_id"], 0

    def transmit(self, command: bytes) -> bytes:
        answer = self.http.post(f"/v1/cards/{self.pin}/chip/apdu", headers=self.headers,
                                json={"session_id": self.session_id, "apdus": [command.hex()]})
        answer.raise_for_status()
        self.apdus += 1
        return bytes.fromhex(answer.json()["responses"][0])


def _read(http: httpx.Client, token: str, pin: str, mrz_hash: bytes, *, pace: bool) -> int:
    card = HttpCard(http, token, pin)
    reader = Reader(card.transmit)
    if pace:
        reader.pace(mrz_hash, reader.read_file(0x011C))
        reader.select_application()
    else:
        reader.select_application()
        reader.bac(mrz_hash[:16])
    for fid in FIDS:
        reader.read_file(fid)
    return card.apdus


def main() -> None:
    base, seconds = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    with httpx.Client(base_url=base, timeout=30) as http:
        token = _token(http)
        cards = _cards(http, token)
        for name, pace in (("BAC, 3DES secure messaging", False),
                           ("PACE-GM brainpoolP256r1, AES secure messaging", True)):
            reads = apdus = 0
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                pin, mrz_hash = cards[reads % len(cards)]
                apdus += _read(http, token, pin, mrz_hash, pace=pace)
                reads += 1
            took = time.perf_counter() - started
            print(f"{name}: {reads / took:.1f} reads/s, {apdus / took:.0f} APDUs/s over HTTP "
                  f"({apdus // reads} APDUs per read, {len(cards)} cards)")


if __name__ == "__main__":
    main()
