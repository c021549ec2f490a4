"""Helpers for the life-event, webhook and consent tests.

Each test makes its own people (fresh PINs in a bucket of a test province, checked unused), so it
can assert exact values and never disturbs the generated population other modules rely on.
Life events go through the HTTP API with the admin token unless a test says otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import pin as pin_rules
from app.db import Database
from app.matching import accent_fold
from app.models.events import LifeEvent
from app.models.population import Citizen, Commune, FamilyRelation, Household, Residence
from app.services.cards.issuance import local_date

PROVINCE = "001"  # Hà Nội: a current code, so births registered there keep it
_rng = random.Random("dancu-life-event-tests")


@pytest.fixture(name="today")
def frozen_today(app: FastAPI) -> Iterator[date]:
    """The sandbox clock frozen at the current instant; its day in Vietnam (reset after)."""
    yield local_date(app.state.clock.freeze())
    app.state.clock.reset()


def admin(settings: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_token}"}


def commune_of(session: Session, province: str = PROVINCE) -> str:
    return str(session.scalar(select(Commune.code).where(Commune.province_code == province)
                              .order_by(Commune.code).limit(1)))


def other_commune(session: Session, not_code: str) -> str:
    return str(session.scalar(select(Commune.code).where(Commune.code != not_code)
                              .order_by(Commune.code.desc()).limit(1)))


def fresh_pin(session: Session, *, born: date, sex: str, place: str = PROVINCE) -> str:
    while True:
        candidate = pin_rules.generate(place_code=place, birth_year=born.year, sex=sex, rng=_rng)
        if session.get(Citizen, candidate) is None:
            return candidate


def person(session: Session, *, sex: str, born: date, surname: str = "Lê",
           given: str = "Hà", status: str = "alive", marital: int = 1,
           household: Household | None = None, relationship: int | None = None,
           died: date | None = None) -> Citizen:
    """A citizen with a permanent residence at the household's address (when given)."""
    pin = fresh_pin(session, born=born, sex=sex)
    citizen = Citizen(
        pin=pin, surname=surname, middle_name="Thị" if sex == "F" else "Văn", given_name=given,
        name_folded=accent_fold(f"{surname} {given}"), other_names=None, birth_date=born,
        birth_date_precision="day", sex=sex, birth_place_commune=None,
        birth_registration_place=PROVINCE, origin_commune=None, ethnicity_code=1,
        religion_code=0, nationality="VN", blood_group=None, cmnd_number=None,
        marital_status=marital, phone=None, email=None, status=status, status_date=died,
        household_id=household.id if household else None, relationship_to_head=relationship,
        identifying_marks=None)
    session.add(citizen)
    if household is not None:
        session.add(Residence(pin=pin, kind="permanent", commune_code=household.commune_code,
                              address_line=household.address_line, legacy_commune_code=None,
                              registered_on=date(2020, 1, 1), valid_until=None,
                              deregistered_on=None))
    session.flush()
    return citizen


def household(session: Session, *, head_pin: str = "", commune: str | None = None) -> Household:
    number = (session.scalar(select(func.max(Household.id))) or 0) + 1
    code = commune or commune_of(session)
    row = Household(id=number, head_pin=head_pin, residence_file_number=f"T-{number}",
                    commune_code=code, address_line="7 Phố Huế", legacy_commune_code=None,
                    registered_on=date(2020, 1, 1))
    session.add(row)
    session.flush()
    return row


@dataclass
class Family:
    husband: str
    wife: str
    household_id: int
    commune: str


def married_couple(database: Database, *, husband_born: date = date(1990, 3, 1),
                   wife_born: date = date(1992, 6, 1)) -> Family:
    """A married couple heading a household together (wife is the head)."""
    with database.write() as session:
        home = household(session)
        wife = person(session, sex="F", born=wife_born, given="Mai", marital=2, household=home,
                      relationship=1)
        husband = person(session, sex="M", born=husband_born, surname="Trần", given="Nam",
                         marital=2, household=home, relationship=3)
        home.head_pin = wife.pin
        for a, b in ((wife.pin, husband.pin), (husband.pin, wife.pin)):
            session.add(FamilyRelation(pin=a, kind="spouse", relative_pin=b,
                                       started_on=date(2018, 5, 1), ended_on=None))
        return Family(husband.pin, wife.pin, home.id, home.commune_code)


def single(database: Database, *, sex: str, born: date, with_household: bool = True,
           **extra: Any) -> str:
    with database.write() as session:
        home = household(session) if with_household else None
        citizen = person(session, sex=sex, born=born, household=home,
                         relationship=1 if home else None, **extra)
        if home is not None:
            home.head_pin = citizen.pin
        return citizen.pin


def record(client: TestClient, headers: dict[str, str], kind: str, body: dict[str, Any],
           **extra_headers: str) -> Any:
    return client.post(f"/v1/life-events/{kind}", json=body, headers=headers | extra_headers)


def fingerprint(database: Database) -> dict[str, Any]:
    """Row counts and a digest of every row a life event may touch: equal before and after a
    refused event means it changed nothing."""
    tables = ("citizen", "residence", "family_relation", "household", "life_event",
              "idempotency_record", "event_delivery", "card", "card_event", "vneid_account",
              "vneid_account_event", "pin_history", "consent")
    with database.engine.connect() as connection:
        digest = {}
        for table in tables:
            rows = connection.exec_driver_sql(f"SELECT * FROM {table}").all()
            text = "\n".join(sorted(repr(tuple(r)) for r in rows))
            digest[table] = (len(rows), hashlib.sha256(text.encode()).hexdigest())
        return digest


def event_count(database: Database) -> int:
    with database.read() as session:
        return int(session.scalar(select(func.count()).select_from(LifeEvent)) or 0)


# --- a real webhook receiver ---------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A subscriber's HTTP endpoint on a free local port, verifying signatures itself."""

    secret: str = ""
    status: int = 204
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://127.0.0.1:{port}/hooks"

    def verified(self) -> list[Any]:
        """Bodies whose signature checks out with the subscriber's secret (the documented
        recipe, written here independently of the service's code)."""
        return [r.json() for r in self.received if verify_signature(r, self.secret)]


def verify_signature(message: Received, secret: str, *, tolerance: int = 300,
                     now: float | None = None) -> bool:
    header = message.headers.get("X-Dancu-Signature", "")
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
        return False
    signed = parts["t"].encode() + b"." + message.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs((now or datetime.now(UTC).timestamp()) - int(parts["t"])) <= tolerance
    return fresh and hmac.compare_digest(expected, parts["v1"])


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            receiver.received.append(Received(dict(self.headers.items()), body))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            receiver.arrived.set()

        def log_message(self, *args: Any) -> None:
            return

    return Handler


def running_receiver(receiver: Receiver, port: int = 0) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(receiver))
    receiver.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
