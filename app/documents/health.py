"""Health insurance (BHYT), the social-insurance book (BHXH) and vaccination records.

Rules (docs/documents.md, "Health insurance"): the participant group follows age and a draw;
the benefit level follows the group (Decision 1351/QĐ-BHXH); a child under 6 is insured by the
state until 72 months old, or until 30 September of that year if that comes later; household,
pupil and student cards run 12 months from their renewal month and 10% lapse; the other groups
hold calendar-year cards; a death ends the card that day.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from app.documents import codes
from app.documents.model import Person, add_months, add_years, age_on, between, digits, rng

COVERAGE = 0.93  # share of the population insured (BHXH: 93.35 % at the end of 2023)
LAPSE = 0.10  # household, pupil and student cards not renewed
HOSPITAL_SHARE = 0.2  # registered at the provincial general hospital, else the commune station
# Vietnam Social Security, Official Letter 1804/BHXH-QLT: from 2025-08-01 the PIN replaces the
# 10-digit social-insurance code of social- and health-insurance participants.
PIN_FROM = date(2025, 8, 1)
WORKING_AGE_GROUPS = (("DN", 0.42), ("HC", 0.52), ("QN", 0.54), ("CC", 0.56), ("HN", 0.62),
                      ("CN", 0.66), ("GD", 1.0))  # cumulative shares among the insured
CALENDAR_YEAR_GROUPS = frozenset({"DN", "HC", "QN", "CC", "HN", "CN", "HT", "BT"})
EMPLOYED_GROUPS = frozenset({"DN", "HC", "QN"})


def pension_age(sex: str) -> int:
    return 62 if sex == "M" else 60


def child_card_end(birth_date: date) -> date:
    """A child's state-funded card: until 72 months old, or 30 September of that year when the
    sixth birthday comes before the school year (Law on Health Insurance Art. 16)."""
    sixth = add_years(birth_date, 6)
    return max(sixth, date(sixth.year, 9, 30))


def participant_group(*, age: int, sex: str, draw: float, child: bool) -> str | None:
    """The group code (``TE``, ``HS``, ``DN``, ...) or ``None`` for an uninsured person."""
    if child:
        return "TE"
    if draw >= COVERAGE:
        return None
    share = draw / COVERAGE
    if age < 18:
        return "HS"
    if age < 22:
        return "SV" if share < 0.5 else "GD"
    if age >= pension_age(sex):
        if age >= 80 and share >= 0.6:
            return "BT"
        return "HT" if share < 0.45 else "GD"
    return next(group for group, upto in WORKING_AGE_GROUPS if share < upto)


def card_period(group: str, *, birth_date: date, on: date, renewal_month: int,
                lapsed: bool) -> tuple[date, date]:
    """(valid_from, valid_to) of the card in force on ``on`` (or the last one, when lapsed)."""
    if group == "TE":
        return birth_date, child_card_end(birth_date)
    if group in CALENDAR_YEAR_GROUPS:
        return date(on.year, 1, 1), date(on.year, 12, 31)
    start = date(on.year, renewal_month, 1)
    if start > on:
        start = date(on.year - 1, renewal_month, 1)
    if lapsed:
        start = add_months(start, -12)
    return start, add_months(start, 12) - timedelta(days=1)


def social_insurance_code(seed: int, person: Person) -> str:
    """The 10-digit social-insurance code used before 2025-08-01 (province + 8)."""
    return person.province2 + digits(rng(seed, person.pin, "bhxh-code"), 8)


def facility(person: Person, draw: float) -> dict[str, Any]:
    """The registered primary-care facility: the commune health station of the permanent
    residence, or the provincial general hospital (code: province + 3 digits)."""
    if draw < HOSPITAL_SHARE or person.commune_name is None:
        return {"code": f"{person.province2}001",
                "name": f"Bệnh viện Đa khoa {person.province_name or 'tỉnh'}"}
    return {"code": f"{person.province2}{100 + person.commune_index:03d}",
            "name": f"Trạm Y tế {person.commune_name}"}


def _card_day(person: Person, today: date) -> date:
    died = person.died_on
    return min(today, died) if died else today


def _group(person: Person, on: date, draw: random.Random) -> str | None:
    return participant_group(age=age_on(person.birth_date, on), sex=person.sex,
                             draw=draw.random(), child=on <= child_card_end(person.birth_date))


def health_insurance(person: Person, *, seed: int, today: date) -> dict[str, Any] | None:
    """The BHYT card of ``person`` on ``today`` (the last one before a death), else ``None``."""
    on = _card_day(person, today)
    if on < person.birth_date:
        return None
    draw = rng(seed, person.pin, "bhyt")
    group = _group(person, on, draw)
    if group is None:
        return None
    lapsed = group not in CALENDAR_YEAR_GROUPS and group != "TE" and draw.random() < LAPSE
    valid_from, valid_to = card_period(group, birth_date=person.birth_date, on=on,
                                       renewal_month=draw.randint(1, 12), lapsed=lapsed)
    enrolled = max(person.birth_date, between(draw, add_years(person.birth_date, 6),
                                              add_years(person.birth_date, 26)))
    enrolled = person.birth_date if group == "TE" else min(enrolled, valid_from)
    level = codes.benefit_level(group)
    legacy = social_insurance_code(seed, person)
    card = {"kind": "health_insurance", "number": person.pin if today >= PIN_FROM else legacy,
            "legacy_number": legacy, "card_code": f"{group}{level}{person.province2}{legacy}",
            "pin": person.pin,
            "group": group, "benefit_level": level, "benefit_rate": codes.benefit_rate(level),
            "registered_facility": facility(person, draw.random()),
            "valid_from": valid_from, "valid_to": valid_to,
            "five_years_continuous_from": add_years(enrolled, 5)}
    return _with_status(card, person, today)


def _with_status(card: dict[str, Any], person: Person, today: date) -> dict[str, Any]:
    died = person.died_on
    if died is not None and died <= card["valid_to"]:
        card["valid_to"] = died
        return card | {"status": "ended", "status_reason": "holder_deceased"}
    return card | {"status": "valid" if card["valid_to"] >= today else "expired",
                   "status_reason": None if card["valid_to"] >= today else "not_renewed"}


def social_insurance(person: Person, *, seed: int, today: date,
                     group: str | None) -> dict[str, Any] | None:
    """The social-insurance book of an employee, a pensioner or a voluntary participant (5% of
    the household group); ``group`` is the health-insurance group."""
    draw = rng(seed, person.pin, "bhxh-book")
    voluntary = group == "GD" and draw.random() < 0.05
    if group not in EMPLOYED_GROUPS | {"HT"} and not voluntary:
        return None
    started = between(draw, add_years(person.birth_date, 18), add_years(person.birth_date, 28))
    retired = add_years(person.birth_date, pension_age(person.sex))
    stops = min(d for d in (today, person.died_on, retired) if d is not None)
    if started > stops:
        return None
    months = (stops.year - started.year) * 12 + stops.month - started.month
    legacy = social_insurance_code(seed, person)
    status = ("ended" if person.died_on and person.died_on <= today else
              "pension" if group == "HT" else "participating")
    return {"kind": "social_insurance", "number": person.pin if today >= PIN_FROM else legacy,
            "legacy_number": legacy, "scheme": "voluntary" if voluntary else "compulsory",
            "started_on": started, "contribution_months": int(months * 0.9),
            "status": status, "status_reason": "holder_deceased" if status == "ended" else None}


def vaccinations(person: Person, *, seed: int, today: date) -> list[dict[str, Any]]:
    """Childhood programme doses (born since the records begin) and COVID-19 doses, each given
    on or before ``today`` and before a death, at the registered facility's station."""
    stop = min(d for d in (today, person.died_on) if d is not None)
    place = facility(person, 1.0)  # vaccines are given at the commune station
    doses = [*_childhood(person, seed), *_covid(person, seed)]
    return [{"kind": "vaccination", "number": f"{person.pin}-{i:02d}", **dose, "place": place}
            for i, dose in enumerate(sorted(doses, key=lambda d: d["date"]), 1)
            if dose["date"] <= stop]


def _childhood(person: Person, seed: int) -> list[dict[str, Any]]:
    table = codes.table("vaccines")
    if person.birth_date < codes.day(table["records_from"]):
        return []
    draw = rng(seed, person.pin, "epi")
    doses = []
    for planned in table["childhood"]:
        given = person.birth_date + timedelta(days=planned["age_days"] + draw.randint(0, 20))
        if draw.random() < 0.95:
            doses.append({"antigen": planned["antigen"], "vaccine": planned["vaccine"],
                          "dose": planned["dose"], "date": given})
    return doses


def _covid(person: Person, seed: int) -> list[dict[str, Any]]:
    plan = codes.table("vaccines")["covid19"]
    draw = rng(seed, person.pin, "covid19")
    adult_from, teen_from = codes.day(plan["adult_from"]), codes.day(plan["teen_from"])
    if age_on(person.birth_date, adult_from) >= plan["adult_min_age"]:
        first = between(draw, adult_from, adult_from + timedelta(days=120))
    elif age_on(person.birth_date, teen_from) >= plan["teen_min_age"]:
        first = between(draw, teen_from, teen_from + timedelta(days=60))
    else:
        return []
    if draw.random() >= 0.9:
        return []
    vaccine = draw.choice(plan["vaccines"])
    second = first + timedelta(days=plan["second_dose_after_days"] + draw.randint(0, 30))
    doses = [(1, first, vaccine), (2, second, vaccine)]
    booster = max(codes.day(plan["booster_from"]), second + timedelta(days=90))
    if draw.random() < 0.65:
        doses.append((3, booster + timedelta(days=draw.randint(0, 90)),
                      draw.choice(plan["vaccines"])))
    return [{"antigen": "COVID-19", "vaccine": name, "dose": n, "date": on}
            for n, on, name in doses]
