"""A hundred cards of the generated population in a row through the virtual PC/SC reader: each
card's chip (as ``dancu chip serve`` builds it) is put in the reader and powered up afresh, a PC/SC
client (libpcsclite, as reading apps use it) opens it with BAC, or with PACE for every tenth card,
reads every file under secure messaging and gets the very bytes of the JSON chip read."""

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
from app.services.cards.pki import card_pki
from app.services.sandbox.clock import stored_now
from app.settings import Settings
from tests.api.cards_support import card_token, raw, read_chip  # noqa: F401 (a fixture)
from tests.api.sharing_support import admin_headers, token_for_scopes  # noqa: F401 (fixtures)
from tests.e2e.pcsc_client import PcscClient, PcscError
from tests.e2e.pcsc_support import pcscd_with
from tests.reliability.support import record
from tests.unit.icao.reader import Reader

CARDS = 100
PACE_EVERY = 10
FIDS = {"EF.COM": 0x011E, "EF.SOD": 0x011D, "DG1": 0x0101, "DG2": 0x0102, "DG13": 0x010D,
        "DG14": 0x010E, "DG15": 0x010F}


@pytest.fixture(scope="module")
def cards(database: Database, settings: Settings) -> list[tuple[str, CardProfile]]:
    """The chips of the first hundred active cards (no persona), by PIN."""
    pki = card_pki(database, seed=settings.seed, key_type=settings.pki_key_type,
                   now=stored_now(database))
    with database.write() as session:
        found = session.scalars(select(Card).where(Card.persona.is_(None), Card.status == "active")
                                .order_by(Card.pin).limit(CARDS)).all()
        chips = [(card.pin, profile_of(session, card, seed=settings.seed, pki=pki))
                 for card in found]
    assert len(chips) == CARDS
    return chips


def _connected(deadline: float) -> PcscClient:
    """A client connected to the card: pcscd shows it a moment after it asked the ATR."""
    while True:
        try:
            client = PcscClient()
            client.connect()
            return client
        except (PcscError, IndexError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def reader_client(cards: list[tuple[str, CardProfile]], tmp_path: Path) -> Iterator[Any]:
    card = vpcd.VirtualCard(cards[0][1], ATR)
    with pcscd_with(card, tmp_path):
        client = _connected(time.monotonic() + 30)
        try:
            yield card, client
        finally:
            client.close()


def _read(client: PcscClient, profile: CardProfile, *, pace: bool) -> dict[str, bytes]:
    reader = Reader(client.transmit)
    if pace:
        reader.pace(profile.mrz_hash, reader.read_file(0x011C))
        reader.select_application()
    else:
        reader.select_application()
        reader.bac(profile.mrz_hash[:16])
    return {name: reader.read_file(fid) for name, fid in FIDS.items()}


def test_a_hundred_cards_in_a_row_read_through_the_virtual_reader_equal_their_json_reads(
        reader_client: Any, cards: list[tuple[str, CardProfile]], client: TestClient) -> None:
    card, pcsc = reader_client
    started, differing = time.monotonic(), []
    for number, (pin, profile) in enumerate(cards):
        card.profile = profile  # the next card in the reader, powered up afresh
        pcsc.power_cycle()
        files = _read(pcsc, profile, pace=number % PACE_EVERY == PACE_EVERY - 1)
        expected = raw(read_chip(client, pin, profile.mrz_hash[:16].hex()))
        if files != {name: expected[name] for name in FIDS}:
            differing.append(pin)
    seconds = time.monotonic() - started
    assert differing == []
    record("chip over PC/SC", f"{CARDS} cards read in a row, cards/s (BAC, every tenth PACE)",
           round(CARDS / seconds, 1))
