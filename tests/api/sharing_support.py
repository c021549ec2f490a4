"""Fixtures and helpers for the data-sharing API tests (import with ``from ... import *``).

The tests add their own known citizens (a family of four plus a deceased, a missing and a
year-of-birth-only person) to the seeded database, so they can assert exact values whatever the
generator produced. Their PINs are valid, generated from a fixed RNG and checked to be unused.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app import pin as pin_rules
from app.db import Database
from app.models.population import (
    Citizen,
    CodeItem,
    Commune,
    FamilyRelation,
    Household,
    Residence,
)
from app.services.population import reference
from app.services.sharing.scopes import NON_ADMIN_SCOPES
from app.settings import Settings

__all__ = [
    "People",
    "admin_headers",
    "basic",
    "bearer",
    "clock_guard",
    "demo_token",
    "issue_token",
    "new_client",
    "people",
    "token_for_scopes",
]

TEST_PLACE = "079"
# Every test module imports these fixtures, and pytest makes one session fixture per importing
# module: the rows they create are memoised per database so they are created once.
_created: dict[tuple[str, str], Any] = {}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def admin_headers(settings: Settings) -> dict[str, str]:
    return bearer(settings.admin_token)


def issue_token(client: TestClient, client_id: str, secret: str, scope: str | None = None) -> str:
    form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
    response = client.post("/oauth2/token", data=form, headers=basic(client_id, secret))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def chip_headers(client: TestClient, key: str | None) -> dict[str, str]:
    """A chip read's headers: a fresh ``card.read`` token of the tests' card reader (a client of
    its own, so its failure counters and quota are nobody else's) and the access key."""
    app = client.app
    spot = (str(app.state.database.url), "chip-reader-tester")  # type: ignore[attr-defined]
    if spot not in _created:
        admin = bearer(app.state.settings.admin_token)  # type: ignore[attr-defined]
        _created[spot] = new_client(client, admin, client_id="chip-reader-tester",
                                    scopes=["card.read"], rate_limit=1_000_000)
    headers = bearer(issue_token(client, *_created[spot], "card.read"))
    return headers | ({} if key is None else {"X-Chip-Access-Key": key})


def new_client(client: TestClient, admin_headers: dict[str, str], **spec: Any) -> tuple[str, str]:
    """Register a client through the admin API; returns (client_id, secret)."""
    body = {"name": "test client", "scopes": list(NON_ADMIN_SCOPES), "purposes": ["testing"],
            "sandbox": True, "legal_basis": "test"} | spec
    response = client.post("/v1/admin/clients", json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    created = response.json()
    return created["client_id"], created["client_secret"]


@pytest.fixture
def demo_token(client: TestClient, settings: Settings) -> str:
    return issue_token(client, settings.demo_client_id, settings.demo_client_secret)


@pytest.fixture(scope="session")
def token_for_scopes(client: TestClient, admin_headers: dict[str, str]):  # type: ignore[no-untyped-def]
    """``token_for_scopes("citizen.basic")``: a fresh token of a dedicated sandbox client."""
    key = (str(client.app.state.database.url), "scoped-tester")
    if key not in _created:
        _created[key] = new_client(
            client, admin_headers, client_id="scoped-tester", rate_limit=100000
        )
    client_id, secret = _created[key]

    def token(*scopes: str) -> str:
        return issue_token(client, client_id, secret, " ".join(scopes))

    return token


@pytest.fixture
def clock_guard(app: FastAPI) -> Iterator[Any]:
    """The app's sandbox clock, reset after the test."""
    yield app.state.clock
    app.state.clock.reset()


@dataclass(frozen=True)
class People:
    """Known citizens added for the tests."""

    mother: str  # Nguyễn Thị Thuỷ, household head, married to father, two children
    father: str
    child: str
    baby: str
    deceased: str
    missing: str
    elderly: str  # birth year only
    cmnd: str  # the mother's old 9-digit CMND number
    phone: str  # the mother's phone
    commune_code: str
    province_code: str


def _unused_pin(session: Any, rng: random.Random, *, year: int, sex: str) -> str:
    while True:
        candidate = pin_rules.generate(place_code=TEST_PLACE, birth_year=year, sex=sex, rng=rng)
        if session.get(Citizen, candidate) is None:
            return candidate


def _commune(session: Any) -> tuple[str, str]:
    """A commune of the generated reference data, and its province."""
    found = session.execute(select(Commune.code, Commune.province_code).limit(1)).one()
    return found[0], found[1]


def _code_items(session: Any) -> None:
    for list_name, code, name, name_en in (
        ("relationship", 1, "Chủ hộ", "Head"),
        ("marital_status", 2, "Có vợ/chồng", "Married"),
        ("ethnicity", 1, "Kinh", "Kinh"),
        ("religion", 0, "Không", "None"),
    ):
        if session.get(CodeItem, (list_name, code)) is None:
            session.add(CodeItem(list_name=list_name, code=code, name=name, name_en=name_en))


def _citizen(
    pin: str, surname: str, middle: str, given: str, born: date, sex: str, **extra: Any
) -> Citizen:
    from app.matching import accent_fold

    values: dict[str, Any] = {
        "pin": pin,
        "surname": surname,
        "middle_name": middle,
        "given_name": given,
        "name_folded": accent_fold(" ".join(p for p in (surname, middle, given) if p)),
        "birth_date": born,
        "birth_date_precision": "day",
        "sex": sex,
        "birth_place_commune": None,
        "birth_registration_place": pin[:3],
        "origin_commune": None,
        "ethnicity_code": 1,
        "religion_code": 0,
        "nationality": "VN",
        "blood_group": None,
        "cmnd_number": None,
        "marital_status": 1,
        "phone": None,
        "email": None,
        "status": "alive",
        "status_date": None,
        "household_id": None,
        "relationship_to_head": None,
        "identifying_marks": None,
    }
    values.update(extra)
    return Citizen(**values)


def _family(session: Any, rng: random.Random, commune: str) -> dict[str, str]:
    pins = {
        "mother": _unused_pin(session, rng, year=1990, sex="F"),
        "father": _unused_pin(session, rng, year=1988, sex="M"),
        "child": _unused_pin(session, rng, year=2015, sex="M"),
        "baby": _unused_pin(session, rng, year=2021, sex="F"),
    }
    household_id = 9_000_000_000 + rng.randrange(10**8)
    session.add(
        Household(
            id=household_id,
            head_pin=pins["mother"],
            residence_file_number="RF-TEST-1",
            commune_code=commune,
            address_line="12 Lê Lợi",
        )
    )
    people = [
        _citizen(
            pins["mother"],
            "Nguyễn",
            "Thị",
            "Thuỷ",
            date(1990, 5, 17),
            "F",
            cmnd_number="079090123",
            phone="0912345678",
            email="thuy@example.vn",
            marital_status=2,
            blood_group="O+",
            household_id=household_id,
            relationship_to_head=1,
            other_names="Thuỷ Tiên",
            birth_place_commune=commune,
            origin_commune=commune,
            identifying_marks="Nốt ruồi",
        ),
        _citizen(
            pins["father"],
            "Trần",
            "Văn",
            "Hòa",
            date(1988, 2, 3),
            "M",
            marital_status=2,
            household_id=household_id,
            relationship_to_head=2,
        ),
        _citizen(
            pins["child"],
            "Trần",
            "Minh",
            "Khoa",
            date(2015, 9, 1),
            "M",
            household_id=household_id,
            relationship_to_head=3,
        ),
        _citizen(
            pins["baby"],
            "Trần",
            "",
            "An",
            date(2021, 1, 2),
            "F",
            household_id=household_id,
            relationship_to_head=3,
        ),
    ]
    session.add_all(people)
    relations = [
        (pins["mother"], "spouse", pins["father"]),
        (pins["father"], "spouse", pins["mother"]),
        (pins["child"], "father", pins["father"]),
        (pins["child"], "mother", pins["mother"]),
        (pins["baby"], "father", pins["father"]),
        (pins["baby"], "mother", pins["mother"]),
    ]
    # Explicit ids: independent of how the population migration declares the key.
    session.add_all(
        FamilyRelation(
            id=household_id + i, pin=p, kind=k, relative_pin=r, started_on=None, ended_on=None
        )
        for i, (p, k, r) in enumerate(relations)
    )
    for i, (kind, line) in enumerate(
        (("permanent", "12 Lê Lợi"), ("temporary", "5 Hai Bà Trưng"), ("current", "5 Hai Bà Trưng"))
    ):
        session.add(
            Residence(
                id=household_id + i,
                pin=pins["mother"],
                kind=kind,
                commune_code=commune,
                address_line=line,
                legacy_commune_code=None,
                registered_on=date(2020, 1, 1),
                valid_until=date(2027, 1, 1) if kind == "temporary" else None,
                deregistered_on=None,
            )
        )
    return pins


@pytest.fixture(scope="session")
def people(client: TestClient, database: Database) -> People:
    key = (database.url, "people")
    if key not in _created:
        _created[key] = _add_people(database)
    return _created[key]


def _add_people(database: Database) -> People:
    rng = random.Random("dancu-sharing-tests")
    with database.write() as session:
        commune, province = _commune(session)
        _code_items(session)
        pins = _family(session, rng, commune)
        extra = {
            "deceased": _unused_pin(session, rng, year=1950, sex="M"),
            "missing": _unused_pin(session, rng, year=1970, sex="F"),
            "elderly": _unused_pin(session, rng, year=1932, sex="F"),
        }
        session.add_all(
            [
                _citizen(
                    extra["deceased"],
                    "Lê",
                    "Văn",
                    "Tám",
                    date(1950, 3, 3),
                    "M",
                    status="deceased",
                    status_date=date(2024, 8, 1),
                ),
                _citizen(
                    extra["missing"],
                    "Phạm",
                    "Thị",
                    "Lan",
                    date(1970, 7, 7),
                    "F",
                    status="missing",
                    status_date=date(2023, 1, 1),
                ),
                _citizen(
                    extra["elderly"],
                    "Võ",
                    "Thị",
                    "Hoa",
                    date(1932, 1, 1),
                    "F",
                    birth_date_precision="year",
                ),
            ]
        )
    reference.forget()
    return People(
        **pins,
        **extra,
        cmnd="079090123",
        phone="0912345678",
        commune_code=commune,
        province_code=province,
    )
