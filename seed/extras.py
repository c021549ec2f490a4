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

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from app.services.vneid import account_bulk
from app.services.vneid.account_rules import (
    ADULT_AGE,
    AGE_BANDS,
    CARD_GROUNDS,
    FIRST_ACCOUNT_DAY,
    GUARDIAN_KINDS,
    PENDING_SHARE,
    SELF_LOCKED_SHARE,
    _Person,
)
from app.services.vneid.accounts import derived_phone
from seed import cards
from seed.columns import Rows

CARD_TABLES = ("card", "card_event")
ACCOUNT_TABLES = ("vneid_account", "vneid_account_event")
TABLES = (*CARD_TABLES, *ACCOUNT_TABLES)
Plain = tuple[tuple[str, ...], list[tuple[Any, ...]]]  # (columns, row tuples)
EPOCH = date(1970, 1, 1)

# The account rules of account_rules._state as arrays: states, lock or close reasons.
NONE, PENDING, ACTIVE, LOCKED, CLOSED = range(5)
STATE_NAMES = np.array(["", "pending", "active", "locked", "closed"], dtype=object)
EVENT_KIND = {"pending": "created", "active": "created", "locked": "locked", "closed": "closed"}
REASON_NAMES = np.array(["", "death", "authority", "card_expired", "card_revoked", "card_held",
                         "self_request"], dtype=object)
R_NONE, R_DEATH, R_AUTHORITY, R_SELF = 0, 1, 2, 6
LOCK_JSON = np.array(["[]", "[]", *(json.dumps([r]) for r in REASON_NAMES[2:])], dtype=object)
# latest card (STATUS_NAMES index, 5: expired) -> its lock reason (0: none)
GROUND_OF = np.array([0, *(
    int(np.flatnonzero(REASON_NAMES == CARD_GROUNDS[name])[0]) if name in CARD_GROUNDS else 0
    for name in [*cards.STATUS_NAMES.tolist()[1:], "expired"])])
BAND_LOWS = np.array([b.low for b in AGE_BANDS])
BAND_SHARES = np.array([b.with_account for b in AGE_BANDS])
BAND_LEVEL2 = np.array([b.level2 for b in AGE_BANDS])


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
        born = _days(columns["birth_date"])
        status = columns["status"].strings()
        on = _days(columns["status_date"])
        deceased, alive = status == "deceased", status == "alive"
        people = cards.People(
            pins=pins, births=cards.Births.of(born.astype("datetime64[D]")),
            death=np.where(deceased & (on >= 0), on, cards.NEVER), alive=alive,
            deceased=deceased)
        draws = cards.Draws(self.spec.seed, np.array([int(p) for p in pins], dtype=np.uint64))
        simulated = cards.simulate(people, draws, cards.day(self.spec.reference_date))
        made = cards.rows(people, simulated, first_id=self.next_card, dialect=self.dialect)
        self.next_card += len(made.cards[1])
        latest, first = _latest_cards(len(pins), simulated, cards.day(self.accounts.card_day))
        phones, emails = columns["phone"].python(), columns["email"].python()
        child = alive & (_age(born, np.full(len(pins), cards.day(self.accounts.today))) <
                         ADULT_AGE)
        self._adults(np.flatnonzero(~child), pins, born, status, on, latest, first, phones,
                     emails)
        kids = np.flatnonzero(child & (latest >= 0))
        names = np.array([*cards.STATUS_NAMES.tolist(), "expired"])
        children = [(_Person(pins[i], _date(born[i]), "alive", _date(on[i]) if on[i] >= 0
                             else None, phones[i], emails[i]),
                     str(names[latest[i]]), _date(first[i])) for i in kids.tolist()]
        self.accounts.children(children, self._guardians(relations, children))
        self.accounts.guardians.clear()
        accounts, events = self.accounts.take()
        return {"card": made.cards, "card_event": made.events,
                "vneid_account": (account_bulk.ACCOUNT_COLUMNS, accounts),
                "vneid_account_event": (account_bulk.EVENT_COLUMNS, events)}

    def _adults(self, who: np.ndarray, pins: list[str], born: np.ndarray, status: np.ndarray,
                on: np.ndarray, latest: np.ndarray, first: np.ndarray, phones: list,
                emails: list) -> None:
        """``account_rules._state`` and ``account_bulk.Generator.add`` on arrays, for
        everyone but living children (in PIN order: the ids run in it)."""
        gen, seed = self.accounts, self.spec.seed
        today = cards.day(gen.today)
        pin = [pins[i] for i in who.tolist()]
        born, status, on, latest, first = born[who], status[who], on[who], latest[who], first[who]
        alive, deceased, missing = status == "alive", status == "deceased", status == "missing"
        age = _age(born, np.where(~alive & (on >= 0), on, today))
        band = np.searchsorted(BAND_LOWS, np.maximum(age, 0), side="right") - 1
        holds = _draws(seed, "account", pin) < BAND_SHARES[band]
        keep = np.flatnonzero(holds)
        pin = [pin[i] for i in keep.tolist()]
        who, age, band = who[keep], age[keep], band[keep]
        alive, deceased, missing = alive[keep], deceased[keep], missing[keep]
        on, latest, first = on[keep], latest[keep], first[keep]
        level = np.where((age >= 6) & (_draws(seed, "level", pin) < BAND_LEVEL2[band]), 2, 1)
        u = _draws(seed, "state", pin)
        card = latest >= 0
        ground = np.where(card, GROUND_OF[np.maximum(latest, 0)], 0)
        state = np.select(
            [deceased, ~card, missing, ground > 0, (level == 2) & (age < 6),
             u < PENDING_SHARE, u < PENDING_SHARE + SELF_LOCKED_SHARE],
            [np.where((on < 0) | (on >= cards.day(FIRST_ACCOUNT_DAY)), CLOSED, NONE), NONE,
             LOCKED, LOCKED, NONE, PENDING, LOCKED], ACTIVE)
        state = np.where(deceased & ~card, NONE, state)
        reason = np.select([deceased, missing, ground > 0], [R_DEATH, R_AUTHORITY, ground],
                           R_SELF)
        reason = np.where((state == LOCKED) | (state == CLOSED), reason, R_NONE)
        level = np.where(state == PENDING, 1, level)
        keep = np.flatnonzero(state != NONE)
        pin = [pin[i] for i in keep.tolist()]
        who, state, level, reason = who[keep], state[keep], level[keep], reason[keep]
        deceased, on, first = deceased[keep], on[keep], first[keep]
        day = _opening(gen.opening, _draws(seed, "opened", pin))
        day = np.where(first < cards.NEVER, np.maximum(day, first), day)
        day = np.where(deceased & (on >= 0), np.minimum(day, on), day)
        at = self._moments(day)
        n = len(pin)
        first_id = gen.next_id
        gen.next_id += n
        states = STATE_NAMES[state].tolist()
        levels = level.tolist()
        locks = LOCK_JSON[reason].tolist()
        reasons = REASON_NAMES[reason].tolist()
        closed = [r if s == "closed" else None for s, r in zip(states, reasons, strict=True)]
        people = who.tolist()
        phone = [phones[i] or derived_phone(p) for i, p in zip(people, pin, strict=True)]
        email = [emails[i] for i in people]
        ids = range(first_id, first_id + n)
        secrets = gen.secrets
        gen.accounts += [
            (i, p, s, lv, lk, "generator" if s == "locked" else None,
             a if s == "locked" else None, c, a if s == "closed" else None, ph, em, *secrets, 0,
             a, a)
            for i, p, s, lv, lk, c, a, ph, em in zip(ids, pin, states, levels, locks, closed, at,
                                                    phone, email, strict=True)]
        gen.events += [(i, a, EVENT_KIND[s], r or None, "generator", s, lv)
                       for i, a, s, r, lv in zip(ids, at, states, reasons, levels, strict=True)]
        for i in np.flatnonzero((state == ACTIVE) & (level == 2)).tolist():
            gen.guardians[pin[i]] = (phone[i], email[i], at[i])

    def _moments(self, days: np.ndarray) -> list[Any]:
        """09:00 (the clock's zone) of each day, or the clock's time when that is earlier."""
        now = self.spec.now
        nine = [datetime(d.year, d.month, d.day, 9, tzinfo=now.tzinfo)
                for d in (_date(x) for x in np.unique(days).tolist())]
        moments = {day: account_bulk.moment(min(at, now), sqlite=self.dialect == "sqlite")
                   for day, at in zip(np.unique(days).tolist(), nine, strict=True)}
        return [moments[d] for d in days.tolist()]

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
                account_bulk.pick_guardian(found, child, kind, relative, phone, email,
                                           _aware(opened))
        return found


def _days(column: Any) -> np.ndarray:
    """A coded date column as day numbers (-1 for NULL)."""
    days = column.vocab.astype("datetime64[D]").astype(np.int64)[column.values]
    return days if column.null is None else np.where(column.null, -1, days)


def _date(days: int) -> date:
    return EPOCH + timedelta(days=int(days))


def _age(born: np.ndarray, on: np.ndarray) -> np.ndarray:
    """``accounts.age_on`` on day numbers: completed years."""
    b, d = cards.Births.of(born.astype("datetime64[D]")), cards.Births.of(
        on.astype("datetime64[D]"))
    return d.year - b.year - ((d.month < b.month) | ((d.month == b.month) & (d.dom < b.dom)))


def _draws(seed: int, label: str, pins: list[str]) -> np.ndarray:
    """``account_rules.draw`` for each PIN: each digest's first 8 bytes, read as big-endian
    integers by numpy over all the digests at once (half the time of one ``int.from_bytes`` and
    division per PIN; a correctly rounded uint64 -> float64 conversion and an exact division by
    2**64 give the same floats)."""
    sha = hashlib.sha256
    prefix = f"dancu-sandbox/{seed}/{label}/".encode()
    digests = b"".join([sha(prefix + pin.encode()).digest() for pin in pins])
    return np.frombuffer(digests, dtype=">u8")[::4].astype(np.float64) / 2**64


def _opening(opening: account_bulk._Opening, u: np.ndarray) -> np.ndarray:
    """``account_rules.opening_day`` on arrays (day numbers)."""
    out = np.full(len(u), -1, dtype=np.int64)
    today = cards.day(opening.today)
    for previous_day, previous_share, day, share in opening.knots:
        here = (out < 0) & ((u < share) | (day == opening.today))
        span = share - previous_share
        part = (u[here] - previous_share) / span if span > 0 else np.zeros(int(here.sum()))
        start = cards.day(previous_day)
        moved = start + (part * (day - previous_day).days).astype(np.int64)
        out[here] = np.minimum(np.maximum(moved, start), today)
    return np.where(out < 0, today, out)


def _latest_cards(people: int, simulated: cards.Simulated,
                  today: np.int64) -> tuple[np.ndarray, np.ndarray]:
    """Per person: the latest card's status on the clock's day (index into STATUS_NAMES, 5 for
    expired, -1 without a card) and the first card's issue day (NEVER without one)."""
    latest = np.full(people, -1, dtype=np.int64)
    first = np.full(people, cards.NEVER, dtype=np.int64)
    for person, status, expiry, issued in zip(simulated.person, simulated.status,
                                              simulated.expiry, simulated.issued,
                                              strict=True):  # card 1, then 2, ...
        latest[person] = np.where((status == 0) & (expiry < today), 5, status)
        first[person] = np.minimum(first[person], issued)
    return latest, first


def _aware(moment: Any) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
