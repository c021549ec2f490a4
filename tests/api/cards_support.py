"""Fixtures and helpers for the chip-card tests (import with ``from ... import *``).

Lifecycle tests change cards, so they work on citizens of their own (:func:`new_citizen`), never on
the generated population or the personas other tests read.
"""

from __future__ import annotations

import base64
import hashlib
import random
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import Database
from app.models.card import Card
from app.models.population import Commune, Residence
from tests.api.sharing_support import (
    _citizen,
    _unused_pin,
    admin_headers,
    bearer,
    chip_headers,
    clock_guard,
    token_for_scopes,
)

__all__ = [
    "admin_headers",
    "card_token",
    "clock_guard",
    "personas",
    "token_for_scopes",
]

CHALLENGE = "0011223344556677"
_rng = random.Random(20261125)


@pytest.fixture(scope="module")  # tokens live 10 minutes: one per module
def card_token(token_for_scopes: Any) -> str:
    return str(token_for_scopes("card.read", "card.verify"))


@pytest.fixture(scope="module")
def personas(client: TestClient, card_token: str) -> dict[str, dict[str, Any]]:
    response = client.get("/v1/sandbox/personas/cards", headers=bearer(card_token))
    assert response.status_code == 200, response.text
    return {p["key"]: p for p in response.json()["personas"]}


def new_citizen(database: Database, *, born: date, sex: str = "F", **extra: Any) -> str:
    """A living citizen of the tests' own, with a permanent residence; returns the PIN."""
    with database.write() as session:
        pin = _unused_pin(session, _rng, year=born.year, sex=sex)
        commune = session.scalar(select(Commune.code).order_by(Commune.code).limit(1))
        session.add(_citizen(pin, "Lê", "Thị" if sex == "F" else "Văn", "Hoa", born, sex,
                             origin_commune=commune, **extra))
        session.flush()
        session.add(Residence(pin=pin, kind="permanent", commune_code=commune,
                              address_line="Số 5 Đường Thử", registered_on=born))
    return pin


def admin(client: TestClient, headers: dict[str, str], pin: str, action: str,
          reason: str | None = None) -> Any:
    body = {"reason": reason} if reason else None
    return client.post(f"/v1/admin/cards/{pin}/{action}", json=body, headers=headers)


def access_key(mrz: list[str]) -> str:
    """K_seed from the printed MRZ, computed here from the ICAO formula (not the library)."""
    information = mrz[0][5:15] + mrz[1][0:7] + mrz[1][8:15]
    return hashlib.sha1(information.encode("ascii")).digest()[:16].hex()


def printed(client: TestClient, token: str, pin: str) -> dict[str, Any]:
    response = client.get(f"/v1/cards/{pin}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return dict(response.json())


def read_chip(client: TestClient, pin: str, key: str) -> dict[str, str]:
    response = client.get(f"/v1/cards/{pin}/chip", headers=chip_headers(client, key))
    assert response.status_code == 200, response.text
    return dict(response.json()["files"])


def raw(files: dict[str, str]) -> dict[str, bytes]:
    return {name: base64.b64decode(text) for name, text in files.items()}


def answer(client: TestClient, pin: str, key: str, challenge: str = CHALLENGE) -> str:
    response = client.post(f"/v1/cards/{pin}/chip/internal-authenticate",
                           json={"challenge": challenge}, headers=chip_headers(client, key))
    assert response.status_code == 200, response.text
    return str(response.json()["response"])


def verify(client: TestClient, token: str, files: dict[str, str],
           exchange: dict[str, str] | None = None) -> Any:
    body: dict[str, Any] = {"files": files}
    if exchange is not None:
        body["active_authentication"] = exchange
    return client.post("/v1/cards/verify", json=body, headers=bearer(token))


def failing(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(s["code"], s["reason"]) for s in report["steps"] if s["status"] == "fail"}


def card_of(database: Database, **where: Any) -> Card:
    """A generated card matching ``where`` (column=value), the lowest PIN first."""
    with database.read() as session:
        query = select(Card).where(Card.persona.is_(None))
        for column, value in where.items():
            query = query.where(getattr(Card, column) == value)
        card = session.scalars(query.order_by(Card.pin).limit(1)).first()
    assert card is not None
    return card

