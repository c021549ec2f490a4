"""PACE by a library the project did not write: OpenPACE (Debian's ``libeac3``, the PACE library
of OpenSC's ``npa-tool``) opens the first hundred active cards of the generated population, one
after another, in the virtual PC/SC reader (pcscd with vsmartcard's vpcd driver, libpcsclite as the
client) with the generic mapping on the MRZ password and reads every file under its secure
messaging; each must be the very bytes of the card's JSON chip read. OpenPACE derives the password
from the whole printed MRZ itself, does the mapping, key agreement, key derivation, both
authentication tokens and the secure messaging's counter, padding, encryption and MACs (response
MACs checked); the tests' module ``openpace_reader.py`` only frames the APDUs. A wrong MRZ must be
turned away."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import Database
from app.icao import vpcd
from app.icao.emulator import CardProfile
from app.models.card import Card
from app.services.cards.chip_apdu import ATR, profile_of
from app.services.cards.holder import card_content
from app.services.cards.pki import card_pki
from app.services.sandbox.clock import stored_now
from app.settings import Settings
from tests.api.cards_support import card_token, raw, read_chip  # noqa: F401 (a fixture)
from tests.api.sharing_support import admin_headers, token_for_scopes  # noqa: F401 (fixtures)
from tests.e2e.openpace_reader import OpenPaceError, OpenPaceReader
from tests.e2e.pcsc_client import PcscClient, PcscError
from tests.e2e.pcsc_support import pcscd_with
from tests.system_tools import require_tool

CARDS = 100
FIDS = {"EF.COM": 0x011E, "EF.SOD": 0x011D, "DG1": 0x0101, "DG2": 0x0102, "DG13": 0x010D,
        "DG14": 0x010E, "DG15": 0x010F}


@pytest.fixture(scope="module")
def cards(database: Database, settings: Settings) -> list[tuple[str, str, CardProfile]]:
    """PIN, printed MRZ (lines joined) and chip of the first hundred active cards (no persona)."""
    require_tool("cvc-create", debian="openpace")  # the package that brings libeac3
    pki = card_pki(database, seed=settings.seed, key_type=settings.pki_key_type,
                   now=stored_now(database))
    with database.write() as session:
        found = session.scalars(select(Card).where(Card.persona.is_(None), Card.status == "active")
                                .order_by(Card.pin).limit(CARDS)).all()
        chips = [(card.pin, "".join(card_content(session, card).td1.lines),
                  profile_of(session, card, seed=settings.seed, pki=pki)) for card in found]
    assert len(chips) == CARDS
    return chips


@pytest.fixture
def reader(cards: list[tuple[str, str, CardProfile]], tmp_path: Path) -> Iterator[Any]:
    card = vpcd.VirtualCard(cards[0][2], ATR)
    with pcscd_with(card, tmp_path):
        deadline = time.monotonic() + 30
        while True:  # pcscd shows the card a moment after it asked the ATR
            try:
                client = PcscClient()
                client.connect()
                break
            except (PcscError, IndexError):
                assert time.monotonic() < deadline, "pcscd never showed the card"
                time.sleep(0.2)
        try:
            yield card, client
        finally:
            client.close()


def test_openpace_opens_cards_with_pace_and_reads_files_equal_to_the_json_chip_read(
        reader: Any, cards: list[tuple[str, str, CardProfile]], client: TestClient) -> None:
    card, pcsc = reader
    for pin, mrz, profile in cards:
        card.profile = profile  # the next card in the reader, powered up afresh
        pcsc.power_cycle()
        openpace = OpenPaceReader(pcsc.transmit)
        try:
            openpace.pace(mrz, openpace.read_card_access())
            openpace.select_application()
            files = {name: openpace.read_file(fid) for name, fid in FIDS.items()}
        finally:
            openpace.close()
        expected = raw(read_chip(client, pin, profile.mrz_hash[:16].hex()))
        assert files == {name: expected[name] for name in FIDS}
        assert files["DG1"][5:].decode() == mrz  # the printed MRZ, as DG1 holds it


def test_openpace_with_a_wrong_mrz_is_turned_away(
        reader: Any, cards: list[tuple[str, str, CardProfile]]) -> None:
    _, pcsc = reader
    mrz = cards[0][1]
    wrong = mrz[:5] + ("1" if mrz[5] != "1" else "2") + mrz[6:]  # another document number
    openpace = OpenPaceReader(pcsc.transmit)
    try:
        with pytest.raises(OpenPaceError):
            openpace.pace(wrong, openpace.read_card_access())
    finally:
        openpace.close()
