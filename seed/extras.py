"""Chip cards and VNeID accounts made by the generator worker with each batch of people, for the
population's writer (``dancu seed``; issue 19: 1 M people with cards and accounts at the population
generator's rate).

The decisions are those of the first ``dancu serve`` (``seed.cards.simulate`` and its draws,
``app.services.vneid.account_bulk.Generator`` and the account rules it applies), taken from the
batch's own citizen and family-relation rows instead of reading them back from the database:
every card and account a person gets is the same either way. Only the ids differ: here they
run batch after batch (a batch's cards, then its accounts with its children's after its adults),
while the start-up path numbers them in PIN order over the whole population. A child's guardian
is always in the child's batch (family relations are made within a batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from app.services.vneid import account_bulk
from app.services.vneid.account_generation import GUARDIAN_KINDS, _Person
from seed import cards
from seed.columns import Rows

CARD_TABLES = ("card", "card_event")
ACCOUNT_TABLES = ("vneid_account", "vneid_account_event")
TABLES = (*CARD_TABLES, *ACCOUNT_TABLES)
Plain = tuple[tuple[str, ...], list[tuple[Any, ...]]]  # (columns, row tuples)


@dataclass(frozen=True)
class Spec:
    """What the worker needs to make them (pickled to it)."""

    seed: int
    reference_date: date  # the population's fixed 'today' (the cards' history ends there)
    now: datetime  # the sandbox clock at the seed (the accounts' states and opening days)
    password_hash: str | None  # the sandbox's shared secrets, hashed once (None outside one)
    passcode_hash: str | None


class Maker:
    """Cards and accounts batch after batch, ids running on from one batch to the next."""

    def __init__(self, spec: Spec, *, dialect: str) -> None:
        self.spec, self.dialect = spec, dialect
        self.next_card = 1
        self.accounts = account_bulk.Generator(
            sqlite=dialect == "sqlite", seed=spec.seed, now=spec.now,
            password_hash=spec.password_hash, passcode_hash=spec.passcode_hash, remember=True)

    def rows(self, citizens: Rows, relations: Rows) -> dict[str, Plain]:
        columns = citizens.columns
        pins = columns["pin"].strings().tolist()
        births = _dates(columns["birth_date"].python())
        status = columns["status"].python()
        status_dates = _dates(columns["status_date"].python())
        people = cards.People(
            pins=pins, births=cards.Births.of(births),
            death=np.array([cards.day(d) if s == "deceased" and d is not None else cards.NEVER
                            for s, d in zip(status, status_dates, strict=True)], dtype=np.int64),
            alive=np.array([s == "alive" for s in status]),
            deceased=np.array([s == "deceased" for s in status]))
        draws = cards.Draws(self.spec.seed, np.array([int(p) for p in pins], dtype=np.uint64))
        simulated = cards.simulate(people, draws, cards.day(self.spec.reference_date))
        made = cards.rows(people, simulated, first_id=self.next_card, dialect=self.dialect)
        self.next_card += len(made.cards[1])
        persons = [_Person(*values) for values in zip(
            pins, births, status, status_dates, columns["phone"].python(),
            columns["email"].python(), strict=True)]
        children = self.accounts.adults(persons, self._summary(pins, simulated))
        self.accounts.children(children, self._guardians(relations, children))
        self.accounts.guardians.clear()
        accounts, events = self.accounts.take()
        return {"card": made.cards, "card_event": made.events,
                "vneid_account": (account_bulk.ACCOUNT_COLUMNS, accounts),
                "vneid_account_event": (account_bulk.EVENT_COLUMNS, events)}

    def _summary(self, pins: list[str], simulated: cards.Simulated) -> account_bulk._Cards:
        """Each person's latest card (its status on the clock's day) and first issue date, as
        the start-up path reads them from the card table."""
        today = cards.day(self.accounts.card_day)
        latest: dict[str, str] = {}
        first: dict[str, date] = {}
        for person, status, expiry, issued in zip(simulated.person, simulated.status,
                                                  simulated.expiry, simulated.issued,
                                                  strict=True):  # card 1, then 2, ...
            names = cards.STATUS_NAMES[status]
            names = np.where((status == 0) & (expiry < today), "expired", names).tolist()
            issued_on = cards._iso(issued)
            for p, name, on in zip(person.tolist(), names, issued_on, strict=True):
                pin = pins[p]
                latest[pin] = name
                if pin not in first:
                    first[pin] = date.fromisoformat(on)
        return account_bulk._Cards(latest, first)

    def _guardians(self, relations: Rows,
                   children: list[account_bulk.Child]) -> dict[str, account_bulk.Guardian]:
        found: dict[str, account_bulk.Guardian] = {}
        if not children:
            return found
        wanted = {person.pin for person, _, _ in children}
        accounts = self.accounts.guardians
        columns = relations.columns
        for child, kind, relative, ended in zip(
                columns["pin"].strings().tolist(), columns["kind"].python(),
                columns["relative_pin"].strings().tolist(), columns["ended_on"].python(),
                strict=True):
            if child in wanted and ended is None and kind in GUARDIAN_KINDS \
                    and relative in accounts:
                phone, email, opened = accounts[relative]
                account_bulk.pick_guardian(found, child, kind, relative, phone, email, opened)
        return found


def _dates(values: list[str | None]) -> list[date | None]:
    cache: dict[str | None, date | None] = {None: None}
    out = []
    for value in values:
        if value not in cache:
            cache[value] = date.fromisoformat(value)  # type: ignore[arg-type]
        out.append(cache[value])
    return out
