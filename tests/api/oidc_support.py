"""Fixtures and helpers for the VNeID account and OpenID provider tests.

Personas come from the running service (``GET /v1/admin/accounts/personas``); other citizens are
picked from the seeded population by age and status, among those without an account, so each test
can open accounts of its own.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import SandboxClock
from app.db import Database
from app.models.account import Account
from app.models.population import Citizen
from app.settings import Settings

__all__ = ["admin", "clock", "personas"]  # fixtures, for `import *`

DEMO_REDIRECT = "http://127.0.0.1:8765/callback"
_taken: set[str] = set()


@pytest.fixture(scope="session")
def admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_token}"}


@pytest.fixture
def clock(app: FastAPI) -> Iterator[SandboxClock]:
    """The app's sandbox clock, reset after the test."""
    yield app.state.clock
    app.state.clock.reset()


@pytest.fixture(scope="session")
def personas(client: TestClient, admin: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get("/v1/admin/accounts/personas", headers=admin)
    assert response.status_code == 200, response.text
    return {p["key"]: p for p in response.json()["personas"]}


def citizen_without_account(database: Database, *, min_age: int, max_age: int,
                            status: str = "alive") -> str:
    """A citizen of that age and status with no account, not handed out before in this run."""
    today = date.today()
    youngest = today - timedelta(days=365 * min_age + 30)
    oldest = today - timedelta(days=365 * (max_age + 1) - 30)
    with database.read() as session:
        query = (select(Citizen.pin)
                 .where(Citizen.status == status, Citizen.birth_date <= youngest,
                        Citizen.birth_date > oldest, Citizen.pin.not_in(select(Account.pin)))
                 .order_by(Citizen.pin))
        for pin in session.scalars(query):
            if pin not in _taken:
                _taken.add(pin)
                return pin
    pytest.fail(f"no {status} citizen aged {min_age}-{max_age} without an account")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
