"""What a card shows is what was in force on its issue date: the residence then registered, the
place names of the units then in force (63 provinces before 2025-07-01, 34 since), and a birth
date known only by its year or month printed, encoded and held on the chip as such."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.card_rules import parse_qr_payload
from app.db import Database
from app.icao.dg13 import parse_dg13
from app.icao.lds import parse_dg1
from app.icao.mrz import transliterate
from app.models.card import Card
from app.models.population import (
    Citizen,
    LegacyCommune,
    LegacyCommuneSuccessor,
    Province,
    Residence,
)
from app.services.cards.holder import in_force
from app.services.population.citizens import address
from app.services.population.reference import reference
from tests.api.cards_support import *  # noqa: F403
from tests.api.cards_support import (
    CHALLENGE,
    access_key,
    admin,
    answer,
    bearer,
    new_citizen,
    printed,
    raw,
    read_chip,
    verify,
)
from tests.api.events_support import admin as admin_of
from tests.api.events_support import record

MERGER = date(2025, 7, 1)


def _field(view: dict[str, Any], name: str) -> str:
    return next(f["value"] for f in view["front"] + view["back"] if f["field"] == name)


def _card(database: Database, *conditions: Any) -> tuple[Card, Citizen]:
    with database.read() as session:
        row = session.execute(select(Card, Citizen).join(Citizen, Citizen.pin == Card.pin)
                              .where(Card.persona.is_(None), Card.status == "active",
                                     Citizen.status == "alive", *conditions)
                              .order_by(Card.pin).limit(1)).first()
    assert row is not None, "no generated card fits"
    return row[0], row[1]


def _legacy_names(database: Database, commune_code: str) -> set[str]:
    """``ward, district, province`` (names until 2025-06-30) of every ward that went into it."""
    with database.read() as session:
        rows = session.execute(
            select(LegacyCommune.name, LegacyCommune.district_name, Province.legacy_name)
            .join(LegacyCommuneSuccessor, LegacyCommuneSuccessor.legacy_code == LegacyCommune.code)
            .join(Province, Province.code == LegacyCommune.province_code)
            .where(LegacyCommuneSuccessor.commune_code == commune_code)).all()
    return {", ".join(row) for row in rows}


def _current_name(database: Database, commune_code: str, line: str | None = None) -> str:
    with database.read() as session:
        return str(address(reference(session), commune_code=commune_code, line=line)["text"])


# --- residence in force on the issue date ------------------------------------------------------


def test_every_generated_card_finds_a_residence_registered_by_its_issue_date(
        client: TestClient, database: Database) -> None:
    """The old generator kept only the latest residence: 17 % of cards printed one registered
    after they were issued."""
    with database.read() as session:
        cards = session.execute(select(Card.pin, Card.issue_date)
                                .join(Citizen, Citizen.pin == Card.pin)
                                .where(Card.persona.is_(None),
                                       Citizen.status != "replaced")).all()  # records moved
        rows: dict[str, list[Residence]] = {}
        for row in session.scalars(select(Residence).order_by(Residence.registered_on.desc())):
            rows.setdefault(row.pin, []).append(row)
    assert cards
    late = []
    for pin, issued in cards:
        found = in_force(rows.get(pin, []), issued)
        if found is None or found.registered_on > issued:
            late.append(pin)
    assert late == []


def test_a_move_after_issue_leaves_the_card_with_the_residence_it_printed(
        client: TestClient, database: Database, settings: Any, card_token: str,
        admin_headers: dict[str, str]) -> None:
    pin = new_citizen(database, born=date(1990, 5, 17))
    assert admin(client, admin_headers, pin, "issue").status_code == 200
    with database.write() as session:  # issued a month ago, so the move comes after it
        card = session.scalars(select(Card).where(Card.pin == pin)).one()
        card.issue_date -= timedelta(days=30)
        elsewhere = session.scalar(select(Residence.commune_code)
                                   .where(Residence.pin != pin).limit(1))
    before = _field(printed(client, card_token, pin), "place_of_residence")
    assert before.startswith("Số 5 Đường Thử, ")
    moved = record(client, admin_of(settings), "residence-changes", {
        "pin": pin, "kind": "permanent", "household": "new", "commune_code": elsewhere,
        "address_line": "Số 77 Đường Dời Nhà"})
    assert moved.status_code == 201, moved.text
    view = printed(client, card_token, pin)
    assert _field(view, "place_of_residence") == before
    assert parse_qr_payload(view["qr_payload"]).address == before
    with database.read() as session:
        history = session.scalars(select(Residence).where(Residence.pin == pin)
                                  .order_by(Residence.registered_on)).all()
    assert [r.address_line for r in history] == ["Số 5 Đường Thử", "Số 77 Đường Dời Nhà"]
    assert history[0].deregistered_on == history[1].registered_on


# --- place names in force on the issue date ------------------------------------------------------


def test_a_card_issued_before_the_merger_prints_the_pre_merger_names(
        client: TestClient, database: Database, card_token: str) -> None:
    card, citizen = _card(database, Card.issue_date < date(2024, 7, 1),
                          Citizen.origin_commune.is_not(None))
    view = printed(client, card_token, card.pin)
    assert _field(view, "place_of_origin") in _legacy_names(database, citizen.origin_commune)
    with database.read() as session:
        rows = session.scalars(select(Residence).where(Residence.pin == card.pin)
                               .order_by(Residence.registered_on.desc())).all()
    residence = in_force(rows, card.issue_date)
    assert residence is not None
    assert residence.legacy_commune_code
    legacy = {name.split(", ", 1)[0]: name for name in
              _legacy_names(database, residence.commune_code)}
    printed_residence = _field(view, "place_of_residence")
    assert printed_residence.startswith(residence.address_line + ", ")
    assert printed_residence.removeprefix(residence.address_line + ", ") in legacy.values()


def test_a_2024_card_issued_before_the_merger_prints_the_pre_merger_birth_registration(
        client: TestClient, database: Database, card_token: str) -> None:
    card, citizen = _card(database, Card.issue_date >= date(2024, 7, 1),
                          Card.issue_date < MERGER, Citizen.birth_place_commune.is_not(None))
    view = printed(client, card_token, card.pin)
    assert _field(view, "place_of_birth_registration") in _legacy_names(
        database, citizen.birth_place_commune)


def test_a_card_issued_since_the_merger_prints_the_new_names(
        client: TestClient, database: Database, card_token: str) -> None:
    card, citizen = _card(database, Card.issue_date >= MERGER,
                          Citizen.birth_place_commune.is_not(None))
    view = printed(client, card_token, card.pin)
    assert _field(view, "place_of_birth_registration") == _current_name(
        database, citizen.birth_place_commune)


# --- partial birth dates -------------------------------------------------------------------------


@pytest.mark.parametrize(("precision", "printed_form", "mrz_tail"), [
    ("year", "{y:04d}", "<<<<"), ("month", "{m:02d}/{y:04d}", "{m:02d}<<")])
def test_a_partial_birth_date_is_printed_encoded_and_held_as_known(
        client: TestClient, database: Database, card_token: str, precision: str,
        printed_form: str, mrz_tail: str) -> None:
    card, citizen = _card(database, Citizen.birth_date_precision == precision)
    born = citizen.birth_date
    view = printed(client, card_token, card.pin)
    assert _field(view, "date_of_birth") == printed_form.format(y=born.year, m=born.month)
    assert view["mrz"][1][0:6] == f"{born.year % 100:02d}" + mrz_tail.format(m=born.month)
    qr = parse_qr_payload(view["qr_payload"])
    assert (qr.date_of_birth, qr.birth_precision) == (born, precision)
    key = access_key(view["mrz"])
    files = read_chip(client, card.pin, key)
    chip = raw(files)
    assert parse_dg1(chip["DG1"]).lines == tuple(view["mrz"])
    details = parse_dg13(chip["DG13"])
    assert (details.date_of_birth, details.birth_precision) == (born, precision)
    exchange = {"challenge": CHALLENGE, "response": answer(client, card.pin, key)}
    report = verify(client, card_token, files, exchange).json()
    assert (report["verdict"], report["reasons"]) == ("pass", []), report


def test_card_lookup_needs_its_token(client: TestClient, database: Database) -> None:
    card, _ = _card(database)
    assert client.get(f"/v1/cards/{card.pin}", headers=bearer("not-a-token")).status_code == 401


# --- clan-last names -----------------------------------------------------------------------------


def test_an_ede_card_prints_the_name_as_written_and_verifies(
        client: TestClient, database: Database, card_token: str) -> None:
    card, citizen = _card(database, Citizen.ethnicity_code == 12)
    written = f"{citizen.given_name} {citizen.surname}"
    view = printed(client, card_token, card.pin)
    assert _field(view, "full_name") == written.upper()
    assert parse_qr_payload(view["qr_payload"]).full_name == written
    assert view["mrz"][2].startswith(transliterate(citizen.surname) + "<<")  # the clan: primary
    key = access_key(view["mrz"])
    files = read_chip(client, card.pin, key)
    assert parse_dg13(raw(files)["DG13"]).full_name == written
    report = verify(client, card_token, files).json()
    assert (report["verdict"], report["reasons"]) == ("pass", []), report


def test_dancu_stats_counts_the_as_of_rules(client: TestClient, database: Database) -> None:
    from seed.stats import collect

    with database.engine.connect() as connection:
        figures = collect(connection).as_of
    assert figures["cards"] > 0
    assert figures["cards_without_residence_in_force_broken"] == 0
    # (registrations_before_merger_without_ward: generated rows, test_generator_fidelity.py;
    # the tests' own citizens here are registered without a ward)
    assert figures["permanent_residences_ended_by_a_move"] > 0
    assert figures["birth_date_year_only"] + figures["birth_date_month_year"] > 0
    assert figures["names_written_clan_last"] > 0


@pytest.mark.parametrize(("day", "with_ward"), [("2024-01-10", True), ("2025-07-01", False)])
def test_a_residence_change_dated_before_the_merger_names_the_ward_it_was_made_in(
        client: TestClient, database: Database, settings: Any, day: str,
        with_ward: bool) -> None:
    pin = new_citizen(database, born=date(1990, 5, 17))
    with database.read() as session:
        commune = session.scalar(select(LegacyCommune.current_commune_code)
                                 .where(LegacyCommune.current_commune_code.is_not(None))
                                 .order_by(LegacyCommune.code.desc()).limit(1))
    moved = record(client, admin_of(settings), "residence-changes", {
        "pin": pin, "kind": "permanent", "commune_code": commune,
        "address_line": "Số 3 Ngõ Cũ", "registered_on": day})
    assert moved.status_code == 201, moved.text
    with database.read() as session:
        row = session.scalars(select(Residence).where(Residence.pin == pin,
                                                      Residence.deregistered_on.is_(None))).one()
        ward = session.get(LegacyCommune, row.legacy_commune_code) if row.legacy_commune_code \
            else None
    assert (ward is not None) == with_ward
    if ward is not None:
        assert ward.current_commune_code == commune
