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
from app.services.vneid import account_rules as rules
from app.services.vneid import accounts
from app.services.vneid.account_rules import _Person

BATCH = 50_000
ACCOUNT_COLUMNS = ("id", "pin", "state", "level", "lock_reasons", "locked_by", "locked_at",
                   "closed_reason", "closed_at", "phone", "email", "password_hash",
                   "passcode_hash", "failed_logins", "created_at", "updated_at")
EVENT_COLUMNS = ("account_id", "at", "kind", "reason", "actor", "state", "level")
KINDS = {accounts.CLOSED: "closed", accounts.LOCKED: "locked"}


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
    """:func:`account_rules.opening_day` with its knots worked out once for ``today``."""

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


def moment(value: datetime, *, sqlite: bool) -> object:
    """A timestamp as SQLAlchemy stores it (SQLite: naive UTC text with microseconds)."""
    if not sqlite:
        return value
    value = value.astimezone(UTC)
    return (f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:"
            f"{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}")


Guardian = tuple[int, str, str, "str | None", datetime]  # (kind rank, PIN, phone, e-mail, opened)
Child = tuple[_Person, str, "date | None"]  # (the child, the card's status, first issue date)


class Generator:
    """The account rows of people handed to it, in order, with ids from ``first_id``."""

    def __init__(self, *, sqlite: bool, seed: int, now: datetime, password_hash: str | None,
                 passcode_hash: str | None, first_id: int = 1, remember: bool = False) -> None:
        self.sqlite, self.seed, self.now = sqlite, seed, now
        self.remember = remember  # keep who may register a child: active level-2 accounts
        self.guardians: dict[str, tuple[str, str | None, datetime]] = {}
        self.today = now.date()
        self.card_day = local_date(now)
        self.opening = _Opening(self.today)
        self.secrets = (password_hash, passcode_hash)
        self.next_id = first_id
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
        at = moment(opened, sqlite=self.sqlite)
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
        if self.remember and kind == accounts.ACTIVE and state["level"] == 2:
            self.guardians[person.pin] = (phone, email, opened)

    def adults(self, people: list[_Person], cards: _Cards) -> list[Child]:
        """The accounts of everyone but living children; returns the children with a card
        (registered later, by a guardian: :meth:`children`)."""
        today, seed = self.today, self.seed
        children = []
        for person in people:
            card = cards.latest.get(person.pin)
            if person.status == "alive" and accounts.age_on(person.birth_date,
                                                            today) < rules.ADULT_AGE:
                if card is not None:
                    children.append((person, card, cards.first.get(person.pin)))
                continue
            state = rules._state(person, seed, card=card, today=today)  # type: ignore[arg-type]
            if state is not None:
                self.add(person, state, first_card=cards.first.get(person.pin))
        return children

    def children(self, children: list[Child],
                 guardians: dict[str, Guardian]) -> None:
        """Living children with a card, registered by their guardian (:func:`pick_guardian`)."""
        for person, card, first in children:
            guardian = guardians.get(person.pin)
            if guardian is None:
                continue
            state = rules._state(person, self.seed, card=card,  # type: ignore[arg-type]
                                 today=self.today)
            if state is None:
                continue
            _, pin, phone, email, created = guardian
            self.add(person, state, first_card=first, phone=phone, email=email,
                     not_before=created, reason=f"guardian {pin}")

    def take(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The rows made since the last call (accounts, events)."""
        made = self.accounts, self.events
        self.accounts, self.events = [], []
        return made


GUARDIAN_ORDER = {kind: i for i, kind in enumerate(rules.GUARDIAN_KINDS)}


def pick_guardian(found: dict[str, Guardian], child: str, kind: str, pin: str, phone: str,
                  email: str | None, created: datetime) -> None:
    """Keep the first of mother, father, legal representative (the lowest PIN among equals)."""
    rank = GUARDIAN_ORDER[kind]
    if child not in found or (rank, pin) < found[child][:2]:
        found[child] = (rank, pin, phone, email, created)


def generate(connection: Connection, *, seed: int, now: datetime, password_hash: str | None,
             passcode_hash: str | None) -> int:
    """Every generated account into the (empty) account tables; returns how many."""
    driver = _Driver(connection)
    gen = Generator(sqlite=driver.sqlite, seed=seed, now=now, password_hash=password_hash,
                    passcode_hash=passcode_hash)
    children: list[Child] = []
    for people in _people(driver):
        children += gen.adults(people, _cards(driver, people[0].pin, people[-1].pin,
                                              gen.card_day))
        _write(driver, gen)
    kinds = ", ".join(f"'{kind}'" for kind in rules.GUARDIAN_KINDS)
    for start in range(0, len(children), 900):
        chunk = children[start:start + 900]
        guardians: dict[str, Guardian] = {}
        for child, kind, pin, phone, email, created in driver.rows(
                "SELECT r.pin, r.kind, a.pin, a.phone, a.email, a.created_at "
                "FROM family_relation r JOIN vneid_account a ON a.pin = r.relative_pin "
                f"WHERE r.pin IN ({', '.join('?' * len(chunk))}) AND r.kind IN ({kinds}) "
                f"AND r.ended_on IS NULL AND a.state = '{accounts.ACTIVE}' AND a.level = 2",
                *(person.pin for person, _, _ in chunk)):
            if isinstance(created, str):
                created = datetime.fromisoformat(created)
            pick_guardian(guardians, child, kind, pin, phone, email,
                          created if created.tzinfo else created.replace(tzinfo=UTC))
        gen.children(chunk, guardians)
        _write(driver, gen)
    created = gen.next_id - 1
    if not driver.sqlite:
        connection.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('vneid_account', 'id'), "
            "COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM vneid_account")
    return created


def _write(driver: _Driver, gen: Generator) -> None:
    made, events = gen.take()
    driver.write("vneid_account", ACCOUNT_COLUMNS, made)
    driver.write("vneid_account_event", EVENT_COLUMNS, events)
