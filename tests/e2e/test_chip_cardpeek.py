"""A reader the project did not write: cardpeek (Debian's ``cardpeek``, an ISO 7816 card reading
tool) reads cards of the generated population through pcscd and vsmartcard's vpcd driver with its
own e-passport script: its BAC key derivation, mutual authentication, 3DES secure messaging and
send-sequence counter, none of them the project's code. What it reads must be the very bytes of
the card's JSON chip read, and a chip that only speaks PACE must turn its BAC away.

cardpeek runs in console mode (``-c``) on the reader ``pcsc://Virtual PCD 00 00``; the Lua driver
``cardpeek_bac.lua`` loads the unchanged functions of cardpeek's ``e-passport.lua`` and skips only
its interactive part (an MRZ dialog), so the test can hand it the printed MRZ and collect the
files. cardpeek's script speaks BAC only (no PACE), so PACE through an independent reader stays
uncovered (docs/cards.md "A virtual PC/SC reader")."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import Database
from app.icao import vpcd
from app.icao.emulator import CardProfile
from app.models.card import Card
from app.services.cards.chip_apdu import ATR, PACE_ONLY, profile_of
from app.services.cards.holder import card_content
from app.services.cards.pki import card_pki
from app.services.sandbox.clock import stored_now
from app.settings import Settings
from tests.api.cards_support import card_token, raw, read_chip  # noqa: F401 (a fixture)
from tests.api.sharing_support import admin_headers, token_for_scopes  # noqa: F401 (fixtures)
from tests.e2e.pcsc_support import pcscd_with
from tests.system_tools import require_tool

E_PASSPORT = Path("/usr/share/cardpeek/e-passport.lua")  # where Debian's cardpeek-data puts it
DRIVER = Path(__file__).with_name("cardpeek_bac.lua")
READER = "pcsc://Virtual PCD 00 00"
CARDS = 3
# cardpeek's names of the files it reads, and the JSON chip read's names of them
NAMES = {"EF.COM": "EF.COM", "EF.SOD": "EF.SOD"} | {f"EF.DG{n}": f"DG{n}" for n in range(1, 17)}


def _cardpeek_mrz(lines: tuple[str, ...]) -> str:
    """The card's printed (TD1) MRZ as cardpeek asks for it: the start of a passport's (TD3)
    second line, where it takes the document number (1-10), birth date (14-20) and expiry (22-28),
    each with its check digit."""
    line1, line2 = lines[0], lines[1]
    information = line1[5:15] + line2[0:7] + line2[8:15]
    return f"{information[:10]}VNM{information[10:17]}<{information[17:24]}"


def _cards(database: Database, settings: Settings, *, persona: str | None,
           count: int) -> list[tuple[str, tuple[str, ...], CardProfile]]:
    """PIN, printed MRZ lines and chip of the first ``count`` active cards of ``persona``."""
    pki = card_pki(database, seed=settings.seed, key_type=settings.pki_key_type,
                   now=stored_now(database))
    wanted = Card.persona.is_(None) if persona is None else Card.persona == persona
    with database.write() as session:
        found = session.scalars(select(Card).where(wanted, Card.status == "active")
                                .order_by(Card.pin).limit(count)).all()
        chips = [(card.pin, card_content(session, card).td1.lines,
                  profile_of(session, card, seed=settings.seed, pki=pki)) for card in found]
    assert len(chips) == count
    return chips


@pytest.fixture(scope="module")
def cardpeek() -> str:
    path = require_tool("cardpeek", debian="cardpeek")
    if not E_PASSPORT.exists():
        pytest.fail(f"cardpeek is installed without {E_PASSPORT} (apt-get install cardpeek-data)")
    return path


def _read_with_cardpeek(cardpeek: str, profile: CardProfile, mrz: tuple[str, ...],
                        folder: Path) -> dict[str, str]:
    """What cardpeek reads from the chip in the virtual reader: file name to hex, or a status."""
    home, output = folder / "home", folder / "read.txt"
    home.mkdir(parents=True)
    with pcscd_with(vpcd.VirtualCard(profile, ATR), folder) as env:
        env = env | {"HOME": str(home)}
        # its first run asks whether to create ~/.cardpeek, then to restart: yes, ok
        subprocess.run([cardpeek, "-c", "-r", READER, "-e", "os.exit(0)"], env=env,
                       input="1\n1\n", text=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60, check=False)
        # os.exit whatever happens: left in its console, cardpeek prompts on and on at end of input
        command = (f'SCRIPT="{E_PASSPORT}" MRZ="{_cardpeek_mrz(mrz)}" OUTPUT="{output}" '
                   f'local ok, error = pcall(dofile, "{DRIVER}") if not ok then print(error) end '
                   f'os.exit(0)')
        with (folder / "cardpeek.log").open("w") as log:
            subprocess.run([cardpeek, "-c", "-r", READER, "-e", command], env=env, input="",
                           text=True, stdout=log, stderr=subprocess.STDOUT, timeout=120,
                           check=False)
    said = (folder / "cardpeek.log").read_text(errors="replace")[-2000:]
    assert output.exists(), f"cardpeek wrote nothing: {said}"
    lines = (line.partition(" ") for line in output.read_text().splitlines())
    return {name: rest for name, _, rest in lines}


def test_cardpeek_reads_every_file_through_bac_equal_to_the_json_chip_read(
        cardpeek: str, database: Database, settings: Settings, client: TestClient,
        tmp_path: Path) -> None:
    for number, (pin, mrz, profile) in enumerate(
            _cards(database, settings, persona=None, count=CARDS)):
        read = _read_with_cardpeek(cardpeek, profile, mrz, tmp_path / str(number))
        assert read.pop("BAC", None) == "ok", read  # cardpeek opened the chip with BAC
        files = {NAMES[name]: bytes.fromhex(text) for name, text in read.items()
                 if not text.startswith("SW ")}
        absent = {NAMES[name] for name, text in read.items() if text == "SW 6A82"}
        expected = raw(read_chip(client, pin, profile.mrz_hash[:16].hex()))
        expected.pop("EF.CardAccess", None)  # outside the application: cardpeek does not read it
        assert files == expected
        assert absent == set(NAMES.values()) - set(expected)  # file not found, as a chip says
        assert files["DG1"][5:].decode() == "".join(mrz)  # the printed MRZ, as DG1 holds it


def test_a_pace_only_chip_turns_cardpeeks_bac_away(
        cardpeek: str, database: Database, settings: Settings, tmp_path: Path) -> None:
    [(_, mrz, profile)] = _cards(database, settings, persona=PACE_ONLY, count=1)
    read = _read_with_cardpeek(cardpeek, profile, mrz, tmp_path)
    assert read == {"ERROR": "BAC refused"}
