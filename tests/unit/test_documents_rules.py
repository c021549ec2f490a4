"""The integrated-document rules (app.documents, pure): one table per rule, then the generator's
determinism and its coherence with the person's facts (a death, the day, overrides)."""

from __future__ import annotations

import ast
import re
from datetime import date
from pathlib import Path

import pytest

from app import documents
from app.documents import codes, health, tax, transport
from app.documents.model import Override, Person, add_months, age_on

TODAY = date(2026, 12, 7)


def _person(**changes: object) -> Person:
    facts: dict[str, object] = {
        "pin": "079090012345", "birth_date": date(1990, 3, 4), "sex": "M",
        "province_code": "079", "province_name": "Thành phố Hồ Chí Minh",
        "commune_code": "26734", "commune_name": "Phường Sài Gòn", "commune_index": 3,
        "plate_codes": ("51", "59")}
    return Person(**(facts | changes))  # type: ignore[arg-type]


# --- health insurance ----------------------------------------------------------------------------


@pytest.mark.parametrize(("age", "sex", "draw", "child", "group"), [
    (3, "M", 0.99, True, "TE"),  # every child under 6 is insured by the state
    (10, "F", 0.10, False, "HS"),
    (19, "M", 0.10, False, "SV"),
    (19, "M", 0.80, False, "GD"),
    (30, "M", 0.10, False, "DN"),
    (30, "F", 0.45, False, "HC"),
    (30, "F", 0.56, False, "HN"),
    (30, "F", 0.80, False, "GD"),
    (30, "F", 0.95, False, None),  # uninsured: past the coverage share
    (61, "M", 0.10, False, "DN"),  # a man works to 62
    (61, "F", 0.10, False, "HT"),  # a woman's pension starts at 60
    (85, "F", 0.90, False, "BT"),  # 80 and over without a pension: social assistance
])
def test_participant_group_follows_age_sex_and_the_draw(age: int, sex: str, draw: float,
                                                        child: bool, group: str | None) -> None:
    assert health.participant_group(age=age, sex=sex, draw=draw, child=child) == group


@pytest.mark.parametrize(("group", "level", "rate"), [
    ("TE", 1, 100), ("CC", 1, 100), ("HN", 2, 100), ("BT", 2, 100), ("HT", 3, 95),
    ("CN", 3, 95), ("DN", 4, 80), ("GD", 4, 80), ("HS", 4, 80), ("QN", 5, 100)])
def test_benefit_level_follows_the_group(group: str, level: int, rate: int) -> None:
    assert (codes.benefit_level(group), codes.benefit_rate(level)) == (level, rate)


@pytest.mark.parametrize(("born", "end"), [
    (date(2020, 3, 10), date(2026, 9, 30)),  # sixth birthday before the school year: 30 Sept
    (date(2020, 9, 30), date(2026, 9, 30)),
    (date(2020, 11, 2), date(2026, 11, 2)),  # after it: until 72 months old
])
def test_a_childs_state_card_runs_to_72_months_or_30_september(born: date, end: date) -> None:
    assert health.child_card_end(born) == end


@pytest.mark.parametrize(("group", "month", "lapsed", "period"), [
    ("DN", 5, False, (date(2026, 1, 1), date(2026, 12, 31))),
    ("GD", 10, False, (date(2026, 10, 1), date(2027, 9, 30))),
    ("GD", 12, False, (date(2026, 12, 1), date(2027, 11, 30))),
    ("HS", 12, False, (date(2026, 12, 1), date(2027, 11, 30))),
    ("SV", 1, False, (date(2026, 1, 1), date(2026, 12, 31))),
    ("GD", 10, True, (date(2025, 10, 1), date(2026, 9, 30))),  # not renewed: expired
])
def test_card_period_by_group(group: str, month: int, lapsed: bool,
                              period: tuple[date, date]) -> None:
    assert health.card_period(group, birth_date=date(1990, 1, 1), on=TODAY,
                              renewal_month=month, lapsed=lapsed) == period


def test_the_card_code_is_group_level_province_and_the_ten_digit_number() -> None:
    card = health.health_insurance(_person(), seed=6, today=TODAY)
    assert card is not None
    assert re.fullmatch(r"[A-Z]{2}[1-5]79[0-9]{10}", card["card_code"])
    assert card["card_code"] == (
        f"{card['group']}{card['benefit_level']}79{card['legacy_number']}")
    assert card["legacy_number"].startswith("79")


@pytest.mark.parametrize(("today", "uses_pin"), [(date(2025, 7, 31), False),
                                                 (date(2025, 8, 1), True)])
def test_the_pin_is_the_health_insurance_number_since_2025_08_01(today: date,
                                                                 uses_pin: bool) -> None:
    card = health.health_insurance(_person(), seed=6, today=today)
    assert card is not None
    assert (card["number"] == "079090012345") is uses_pin
    assert (card["number"] == card["legacy_number"]) is not uses_pin


@pytest.mark.parametrize(("index", "draw", "code", "name"), [
    (3, 0.9, "79103", "Trạm Y tế Phường Sài Gòn"),
    (3, 0.1, "79001", "Bệnh viện Đa khoa Thành phố Hồ Chí Minh"),
])
def test_registered_facility(index: int, draw: float, code: str, name: str) -> None:
    assert health.facility(_person(commune_index=index), draw) == {"code": code, "name": name}


# --- driving licences ----------------------------------------------------------------------------


@pytest.mark.parametrize(("deductions", "today", "points"), [
    ([], date(2026, 1, 1), 12),
    ([(date(2025, 3, 1), 4)], date(2025, 6, 1), 8),
    ([(date(2025, 3, 1), 4)], date(2026, 3, 1), 12),  # 12 months without a deduction
    ([(date(2025, 3, 1), 4), (date(2025, 9, 1), 6)], date(2026, 3, 1), 2),
    ([(date(2025, 3, 1), 4), (date(2026, 4, 1), 6)], date(2026, 5, 1), 6),  # restored first
    ([(date(2025, 3, 1), 10), (date(2025, 4, 1), 4)], date(2026, 6, 1), 0),  # 0 stays 0
    ([(date(2027, 1, 1), 4)], date(2026, 6, 1), 12),  # a future deduction does not count
])
def test_points_follow_article_58(deductions: list[tuple[date, int]], today: date,
                                  points: int) -> None:
    assert transport.points_left(deductions, today)[0] == points


@pytest.mark.parametrize(("key", "issued", "expires"), [
    ("A1", date(2025, 2, 1), None), ("A", date(2025, 2, 1), None),
    ("B", date(2025, 2, 1), date(2035, 2, 1)), ("C", date(2025, 2, 1), date(2030, 2, 1)),
    ("B2-2008", date(2016, 2, 29), date(2026, 2, 28)), ("A1-2008", date(2000, 1, 1), None),
])
def test_licence_validity_by_class(key: str, issued: date, expires: date | None) -> None:
    assert transport.expiry(key, issued) == expires


@pytest.mark.parametrize(("issued", "key"), [
    (date(2024, 12, 31), "B2-2008"), (date(2025, 1, 1), "B")])
def test_the_class_system_changes_on_2025_01_01(issued: date, key: str) -> None:
    assert transport.class_on("B2-2008", "B", issued) == key


def test_a_renewal_after_2025_converts_an_old_class() -> None:
    renewed = [transport.renewals(seed=seed, pin="001090000001", category="car",
                                  class_key="B2-2008", issued=date(2015, 6, 1),
                                  until=date(2026, 1, 1)) for seed in range(30)]
    assert {r[0] for r in renewed if r[1] >= date(2025, 1, 1)} == {"B"}
    assert {r[0] for r in renewed if r[1] < date(2025, 1, 1)} <= {"B2-2008"}
    assert any(r[2] is not None and r[2] < date(2026, 1, 1) for r in renewed)  # some lapse


# --- tax, vehicles -------------------------------------------------------------------------------


@pytest.mark.parametrize(("first9", "check"), [
    ("010023348", "8"), ("010010910", "6"), ("030193312", None)])  # None: no digit fits
def test_tax_code_check_digit(first9: str, check: str | None) -> None:
    assert tax.mst_check_digit(first9) == check


@pytest.mark.parametrize(("today", "uses_pin"), [(date(2025, 6, 30), False),
                                                 (date(2025, 7, 1), True)])
def test_the_pin_is_the_tax_id_since_2025_07_01(today: date, uses_pin: bool) -> None:
    people = [_person(pin=f"0790900{i:05d}") for i in range(40)]
    found = [t for p in people if (t := tax.tax_registration(p, seed=6, today=today))]
    assert found
    for record, person in ((t, next(p for p in people if t["tax_id"] in (p.pin, t[
            "legacy_tax_code"]))) for t in found):
        assert (record["tax_id"] == person.pin) is uses_pin
        if record["legacy_tax_code"]:
            code = record["legacy_tax_code"]
            assert tax.mst_check_digit(code[:9]) == code[9]


@pytest.mark.parametrize(("provinces", "plates"), [
    (["024", "027"], ("98", "99")), (["079"], ("41", "50", "51", "52", "53", "54", "55", "56",
                                               "57", "58", "59")), (["999"], ())])
def test_plate_codes_of_a_province_and_what_it_merged(provinces: list[str],
                                                      plates: tuple[str, ...]) -> None:
    assert codes.plate_codes(provinces) == plates


def test_plates_are_written_as_the_real_ones() -> None:
    plates = [v for i in range(200) for v in transport.vehicles(
        _person(pin=f"0790900{i:05d}"), seed=6, today=TODAY)]
    assert {v["vehicle_kind"] for v in plates} == {"motorcycle", "car"}
    for vehicle in plates:
        pattern = (r"(51|59)-[A-Z][0-9] [0-9]{3}\.[0-9]{2}" if vehicle["vehicle_kind"] ==
                   "motorcycle" else r"(51|59)[A-Z]-[0-9]{3}\.[0-9]{2}")
        assert re.fullmatch(pattern, vehicle["plate"]), vehicle["plate"]


# --- vaccinations --------------------------------------------------------------------------------


@pytest.mark.parametrize(("born", "childhood", "covid"), [
    (date(2019, 5, 1), True, False),  # records begin with those born since 2017
    (date(2008, 5, 1), False, True),  # 13 in November 2021
    (date(1980, 5, 1), False, True),
])
def test_vaccination_records_follow_the_programme(born: date, childhood: bool,
                                                  covid: bool) -> None:
    antigens = {d["antigen"] for i in range(10) for d in health.vaccinations(
        _person(pin=f"0790900{i:05d}", birth_date=born), seed=6, today=TODAY)}
    assert ("BCG" in antigens) is childhood
    assert ("COVID-19" in antigens) is covid


# --- the whole generator -------------------------------------------------------------------------


def test_documents_are_deterministic_in_the_seed() -> None:
    person = _person()
    first = documents.documents_of(person, seed=6, today=TODAY)
    assert first == documents.documents_of(person, seed=6, today=TODAY)
    others = [documents.documents_of(person, seed=s, today=TODAY) for s in range(7, 12)]
    assert any(other != first for other in others)


def test_a_death_ends_the_documents_that_day() -> None:
    died = date(2026, 6, 1)
    for i in range(30):
        person = _person(pin=f"0790900{i:05d}", status="deceased", status_date=died)
        found = documents.documents_of(person, seed=6, today=TODAY)
        assert all((c["status"], c["valid_to"]) == ("ended", died) or  # or lapsed before
                   (c["status"] == "expired" and c["valid_to"] < died)
                   for c in found["health_insurance"])
        assert all(d["status"] == "void" for d in found["driving_licence"])
        assert all(d["status"] == "closed" for d in found["tax_registration"])
        assert all(d["status"] == "ended" for d in found["social_insurance"])
        assert all(d["date"] <= died for d in found["vaccination"])
        assert all(d["status"] == "owner_deceased" for d in found["vehicle_registration"])


def _first_with(kind: str, **where: object) -> tuple[Person, dict[str, object]]:
    for i in range(200):
        person = _person(pin=f"0790900{i:05d}")
        for doc in documents.documents_of(person, seed=6, today=TODAY)[kind]:
            if all(doc.get(k) == v for k, v in where.items()):
                return person, doc
    raise AssertionError(kind)


@pytest.mark.parametrize(("kind", "override", "status", "reason"), [
    ("health_insurance", Override("health_insurance", date(2026, 11, 1), status="suspended",
                                  reason="contribution_arrears"), "suspended",
     "contribution_arrears"),
    ("driving_licence", Override("driving_licence", date(2026, 11, 1), points_deducted=12),
     "suspended", "no_points_left"),
    ("driving_licence", Override("driving_licence", date(2026, 11, 1), status="revoked",
                                 reason="court_order"), "revoked", "court_order"),
])
def test_a_stored_override_changes_the_generated_document(kind: str, override: Override,
                                                          status: str, reason: str) -> None:
    person, _ = _first_with(kind, status="valid")
    found = documents.documents_of(person, seed=6, today=TODAY, overrides=[override])[kind]
    assert {(d["status"], d["status_reason"]) for d in found} == {(status, reason)}


def test_an_override_in_the_future_changes_nothing_yet() -> None:
    person, doc = _first_with("health_insurance", status="valid")
    later = Override("health_insurance", add_months(TODAY, 1), status="suspended")
    found = documents.documents_of(person, seed=6, today=TODAY, overrides=[later])
    assert found["health_insurance"][0]["status"] == "valid"


def test_no_points_left_opens_the_knowledge_test_six_months_later() -> None:
    person, doc = _first_with("driving_licence", status="valid")
    override = Override("driving_licence", date(2026, 2, 1), number=str(doc["number"]),
                        points_deducted=12)
    [licence] = [d for d in documents.documents_of(person, seed=6, today=TODAY,
                                                    overrides=[override])["driving_licence"]
                 if d["number"] == doc["number"]]
    assert (licence["points"], licence["knowledge_test_from"]) == (0, date(2026, 8, 1))


def test_nobody_drives_before_the_minimum_age() -> None:
    for i in range(100):
        person = _person(pin=f"0790900{i:05d}", birth_date=date(2000, 1, 1))
        for licence in transport.driving_licences(person, seed=6, today=TODAY):
            assert age_on(person.birth_date, licence["first_issued_on"]) >= 18


def test_the_rules_module_is_pure() -> None:
    allowed = {"__future__", "collections", "dataclasses", "datetime", "functools", "json",
               "pathlib", "random", "typing", "app"}
    for path in Path(documents.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] in allowed, (path.name, name)
                if name.startswith("app"):
                    assert name.startswith("app.documents"), (path.name, name)


# --- social insurance ----------------------------------------------------------------------------


@pytest.mark.parametrize(("group", "scheme", "status"), [
    ("DN", "compulsory", "participating"), ("HC", "compulsory", "participating"),
    ("QN", "compulsory", "participating"), ("HT", "compulsory", "pension"),
    ("TE", None, None), ("HS", None, None), ("HN", None, None)])
def test_who_holds_a_social_insurance_book(group: str, scheme: str | None,
                                           status: str | None) -> None:
    book = health.social_insurance(_person(birth_date=date(1960, 1, 1)), seed=6, today=TODAY,
                                   group=group)
    assert (book and book["scheme"], book and book["status"]) == (scheme, status)


@pytest.mark.parametrize(("today", "uses_pin"), [(date(2025, 7, 31), False),
                                                 (date(2025, 8, 1), True)])
def test_the_pin_is_the_social_insurance_number_since_2025_08_01(today: date,
                                                                 uses_pin: bool) -> None:
    book = health.social_insurance(_person(), seed=6, today=today, group="DN")
    assert book is not None
    assert (book["number"] == book["legacy_number"]) is not uses_pin
    assert (book["number"] == "079090012345") is uses_pin
    assert book["legacy_number"] == health.social_insurance_code(6, _person())


def test_contributions_stop_at_the_pension_age() -> None:
    person = _person(birth_date=date(1950, 1, 1), sex="F")
    book = health.social_insurance(person, seed=6, today=TODAY, group="HT")
    assert book is not None
    span = (2010 - book["started_on"].year) * 12 - book["started_on"].month + 1  # 60 in 2010
    assert book["contribution_months"] == int(span * 0.9)


def test_a_voluntary_book_is_a_few_household_participants() -> None:
    books = [health.social_insurance(_person(pin=f"0790900{i:05d}"), seed=6, today=TODAY,
                                     group="GD") for i in range(400)]
    voluntary = [b for b in books if b]
    assert 0 < len(voluntary) < 50
    assert {b["scheme"] for b in voluntary} == {"voluntary"}
