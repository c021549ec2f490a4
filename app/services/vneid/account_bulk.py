"""The generated VNeID accounts written straight through the database driver (issue 19: 1 M people
with cards and accounts at the population generator's rate).

The same decisions as :mod:`app.services.vneid.account_generation` (its :func:`_state` and the
opening day of :func:`opening_day`, the same ``(seed, PIN)`` draws), so the accounts are the ones
the ORM path made, byte for byte, but without its costs: the citizens and their cards are read
with one ranged query each per batch (no ``IN`` lists, no ORM rows), the accounts get their ids
here (the table is empty: 1, 2, ... in PIN order, children after everyone else, as before) so their
events need no read-back, and the rows go in with ``executemany`` of tuples (SQLite) or ``COPY``
(PostgreSQL).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from app.services.cards.statuses import local_date
from app.services.vneid import accounts
from app.services.vneid import account_generation as rules

BATCH = 50_000
ACCOUNT_COLUMNS = ("id", "pin", "state", "level", "lock_reasons", "locked_by", "locked_at",
                   "closed_reason", "closed_at", "phone", "email", "password_hash",
                   "passcode_hash", "failed_logins", "created_at", "updated_at")
EVENT_COLUMNS = ("account_id", "at", "kind", "reason", "actor", "state", "level")
KINDS = {accounts.CLOSED: "closed", accounts.LOCKED: "locked"}


@dataclass(frozen=True)
class _Person:
    pin: str
    birth_date: date
    status: str
    status_date: date | None
    phone: str | None
    email: str | None


class _Driver:
    """Raw reads and bulk writes on the connection's DB-API driver, for either database."""

    def __init__(self, connection: Connection) -> None:
        self.sqlite = connection.dialect.name == "sqlite"
        self.raw: Any = connection.connection.driver_connection
        self.mark = "?" if self.sqlite else "%s"

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        cursor = self.raw.cursor()
        try:
            cursor.execute(sql.replace("?", self.mark), params)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def day(self, value: Any) -> date | None:
        if value is None or isinstance(value, date):
            return value
        return date.fromisoformat(value)

    def moment(self, value: datetime) -> object:
        """A timestamp as SQLAlchemy stores it (SQLite: naive UTC text with microseconds)."""
        if not self.sqlite:
            return value
        value = value.astimezone(UTC)
        return (f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:"
                f"{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}")

    def write(self, table: str, columns: Sequence[str], values: list[tuple[Any, ...]]) -> None:
        if not values:
            return
        names = ", ".join(columns)
        if self.sqlite:
            cursor = self.raw.cursor()
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES "
                               f"({', '.join('?' * len(columns))})", values)
            cursor.close()
            return
        with self.raw.cursor() as cursor, cursor.copy(
                f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)


def _people(driver: _Driver) -> Iterator[list[_Person]]:
    """Citizens in PIN order, a batch at a time (keyset pagination)."""
    last = ""
    while True:
        found = driver.rows("SELECT pin, birth_date, status, status_date, phone, email FROM citizen"
                            f" WHERE pin > ? ORDER BY pin LIMIT {BATCH}", last)
        if not found:
            return
        day = driver.day
        yield [_Person(pin, day(born), status, day(on), phone, email)  # type: ignore[arg-type]
               for pin, born, status, on, phone, email in found]
        last = found[-1][0]


@dataclass(frozen=True)
class _Cards:
    latest: dict[str, str]  # effective status of the latest card at the clock's day
    first: dict[str, date]  # issue date of the first card


def _cards(driver: _Driver, first_pin: str, last_pin: str, today: date) -> _Cards:
    latest: dict[str, str] = {}
    first: dict[str, date] = {}
    found = driver.rows("SELECT pin, status, expiry_date, issue_date FROM card WHERE pin >= ? "
                        "AND pin <= ? ORDER BY pin, sequence", first_pin, last_pin)
    day = driver.day
    for pin, status, expiry, issued in found:
        if status == "active" and expiry is not None and day(expiry) < today:  # type: ignore
            status = "expired"
        latest[pin] = status
        issued = day(issued)
        if pin not in first or issued < first[pin]:  # type: ignore[operator]
            first[pin] = issued  # type: ignore[assignment]
    return _Cards(latest, first)


class _Opening:
    """:func:`account_generation.opening_day` with its knots worked out once for ``today``."""

    def __init__(self, today: date) -> None:
        self.today = today
        knots = [*((d, share) for d, share in rules.OPENED_BY if d < today), (today, 1.0)]
        self.knots: list[tuple[date, float, date, float]] = []
        previous_day, previous_share = rules.FIRST_ACCOUNT_DAY, 0.0
        for day, share in knots:
            self.knots.append((previous_day, previous_share, day, share))
            previous_day, previous_share = day, share

    def __call__(self, u: float) -> date:
        today = self.today
        for previous_day, previous_share, day, share in self.knots:
            if u < share or day == today:
                span = share - previous_share
                part = (u - previous_share) / span if span > 0 else 0.0
                moved = previous_day + timedelta(days=int(part * (day - previous_day).days))
                return min(max(moved, previous_day), today)
        return today


class _Generator:
    def __init__(self, driver: _Driver, *, seed: int, now: datetime, password_hash: str | None,
                 passcode_hash: str | None) -> None:
        self.driver, self.seed, self.now = driver, seed, now
        self.today = now.date()
        self.card_day = local_date(now)
        self.opening = _Opening(self.today)
        self.secrets = (password_hash, passcode_hash)
        self.next_id = 1
        self.accounts: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []

    def draw(self, label: str, pin: str) -> float:
        digest = hashlib.sha256(f"dancu-sandbox/{self.seed}/{label}/{pin}".encode()).digest()
        return int.from_bytes(digest[:8]) / 2**64

    def opened(self, pin: str, *, not_before: date | None, not_after: date | None) -> datetime:
        day = self.opening(self.draw("opened", pin))
        day = max(day, not_before) if not_before else day
        day = min(day, not_after) if not_after else day
        return min(datetime(day.year, day.month, day.day, 9, tzinfo=self.now.tzinfo), self.now)

    def add(self, person: _Person, state: dict[str, Any], *, first_card: date | None,
            phone: str | None = None, email: str | None = None, not_before: datetime | None = None,
            reason: str | None = None) -> None:
        died = person.status_date if person.status == "deceased" else None
        opened = self.opened(person.pin, not_before=first_card, not_after=died)
        if not_before is not None:
            opened = max(opened, not_before)
        at = self.driver.moment(opened)
        locks = state.get("lock_reasons", [])
        kind = state["state"]
        locked = kind == accounts.LOCKED
        closed_reason = state.get("closed_reason")
        if phone is None:
            phone, email = person.phone or accounts.derived_phone(person.pin), person.email
        identifier = self.next_id
        self.next_id += 1
        self.accounts.append((
            identifier, person.pin, kind, state["level"], json.dumps(locks),
            "generator" if locked else None, at if locked else None, closed_reason,
            at if kind == accounts.CLOSED else None, phone, email, *self.secrets, 0, at, at))
        self.events.append((identifier, at, KINDS.get(kind, "created"),
                            closed_reason or ",".join(locks) or reason, "generator", kind,
                            state["level"]))

    def flush(self) -> None:
        self.driver.write("vneid_account", ACCOUNT_COLUMNS, self.accounts)
        self.driver.write("vneid_account_event", EVENT_COLUMNS, self.events)
        self.accounts, self.events = [], []


def generate(connection: Connection, *, seed: int, now: datetime, password_hash: str | None,
             passcode_hash: str | None) -> int:
    """Every generated account into the (empty) account tables; returns how many."""
    driver = _Driver(connection)
    gen = _Generator(driver, seed=seed, now=now, password_hash=password_hash,
                     passcode_hash=passcode_hash)
    today = gen.today
    children: list[tuple[_Person, str, date | None]] = []
    for people in _people(driver):
        cards = _cards(driver, people[0].pin, people[-1].pin, gen.card_day)
        for person in people:
            card = cards.latest.get(person.pin)
            if person.status == "alive" and accounts.age_on(person.birth_date,
                                                            today) < rules.ADULT_AGE:
                if card is not None:
                    children.append((person, card, cards.first.get(person.pin)))
                continue
            state = rules._state(person, seed, card=card, today=today)  # type: ignore[arg-type]
            if state is not None:
                gen.add(person, state, first_card=cards.first.get(person.pin))
        gen.flush()
    _children(driver, gen, children)
    created = gen.next_id - 1
    if not driver.sqlite:
        connection.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('vneid_account', 'id'), "
            "COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM vneid_account")
    return created


def _children(driver: _Driver, gen: _Generator,
              children: list[tuple[_Person, str, date | None]]) -> None:
    """Living children with a card, registered by a guardian's active level-2 account (the first
    of mother, father, legal representative; the lowest PIN among equals)."""
    order = {kind: i for i, kind in enumerate(rules.GUARDIAN_KINDS)}
    kinds = ", ".join(f"'{kind}'" for kind in rules.GUARDIAN_KINDS)
    for start in range(0, len(children), 900):
        chunk = children[start:start + 900]
        marks = ", ".join("?" * len(chunk))
        found = driver.rows(
            "SELECT r.pin, r.kind, a.pin, a.phone, a.email, a.created_at FROM family_relation r "
            "JOIN vneid_account a ON a.pin = r.relative_pin "
            f"WHERE r.pin IN ({marks}) AND r.kind IN ({kinds}) AND r.ended_on IS NULL "
            f"AND a.state = '{accounts.ACTIVE}' AND a.level = 2",
            *(person.pin for person, _, _ in chunk))
        guardians: dict[str, tuple[int, str, str, str | None, Any]] = {}
        for child, kind, pin, phone, email, created in found:
            rank = (order[kind], pin)
            if child not in guardians or rank < guardians[child][:2]:
                guardians[child] = (*rank, phone, email, created)
        for person, card, first in chunk:
            guardian = guardians.get(person.pin)
            if guardian is None:
                continue
            state = rules._state(person, gen.seed, card=card,  # type: ignore[arg-type]
                                 today=gen.today)
            if state is None:
                continue
            _, pin, phone, email, created = guardian
            if isinstance(created, str):
                created = datetime.fromisoformat(created)
            gen.add(person, state, first_card=first, phone=phone, email=email,
                    not_before=created.replace(tzinfo=UTC) if created.tzinfo is None else created,
                    reason=f"guardian {pin}")
        gen.flush()
