"""Chip cards for the generated population: realistic issue dates, renewals, losses and deaths.

``seed_cards(database, seed=, reference_date=)`` reads the citizens in PIN order, a batch at a time,
simulates each person's cards with numpy (no per-person Python loop) and bulk-loads them (SQLite:
``executemany``; PostgreSQL: ``COPY``). Every draw is a hash of (seed, PIN, purpose), so a person's
cards do not depend on the batching and the same population and seed always give the same cards.

The model (shares are the constants below; identity-rules reference §2):

* Adults in 2021 got their chip CCCD in the 2021-2023 campaign waves (most in the first half of
  2021), a few later; some of the very old never did (they keep a barcode CCCD: no chip card here).
* Younger people get their first card in the year after their 14th birthday; from 2024-07-01 a few
  children get one on request (an under-6 card has no photo and no biometrics).
* A card is renewed around its expiry (14/25/40/60th birthday rules of ``app.card_rules``), some
  late, some not yet (an expired card); some are lost and re-issued, some replaced early (data
  changed, the 2025 merger of administrative units). Cards issued from 2024-07-01 are thẻ căn cước.
* A deceased person's last card is revoked on the day of death; a very few living people's cards
  are held or revoked by an authority.

Each card gets an ``issued`` event and, unless still active, the event that ended it. The card's
document signer is the half-year DSC of its issue date (``app.services.cards.pki``), its SOD signing
time 09:00 in Vietnam on the issue day.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Table, func, select, text

from app.db import Database
from app.models.card import Card, CardEvent
from app.services.cards.pki import PERIOD_MONTHS
from seed.reference import reference_date_of

log = logging.getLogger("dancu.seed.cards")
BATCH = 50_000
MAX_CARDS = 5
NEVER = np.int64(10**7)  # a day number after any date of interest
EPOCH = date(1970, 1, 1)
RENEWAL_AGES = (14, 25, 40, 60)
GRACE_YEARS = 2
SIGNING_HOUR_UTC = 2  # 09:00 in Vietnam (UTC+7)

# First chip card of people aged 14+ on 2021-01-01: (window start, window end, share). Tuned to
# the national milestones scaled to the population (seed/timeline.py, docs/population.md): more
# than 67 M cards by 2022-07-31, more than 76 M by 2022-12-25, 86.3 M by 2024-07-11.
FIRST_WAVES: tuple[tuple[date, date, float], ...] = (
    (date(2021, 1, 1), date(2021, 7, 1), 0.55),
    (date(2021, 7, 1), date(2022, 1, 1), 0.28),
    (date(2022, 1, 1), date(2023, 1, 1), 0.135),
    (date(2023, 1, 1), date(2024, 1, 1), 0.02),
    (date(2024, 1, 1), date(2024, 7, 1), 0.01),
    (date(2024, 7, 1), date(2026, 12, 31), 0.005),
)
NEVER_IF_OLD = 0.05  # aged 75+ in 2021: still on a barcode CCCD
NEW_ADULT_LATE = 0.06  # turned 14 after 2021-01-01: not yet applied
UNDER_14_SHARE = (0.02, 0.07)  # children under 6 / aged 6-13 with a card on request
LOST_SHARE = 0.03  # of cards: reported lost during their life
REISSUE_AFTER_LOSS = 0.85
EARLY_REPLACE_SHARE = 0.02  # data changed, damaged, on request
MERGER_REISSUE_SHARE = 0.03  # cards issued before 2025-07-01 re-issued for the new unit names
RENEW_ON_TIME, RENEW_LATE = 0.82, 0.08  # else: not renewed yet (an expired card)
HELD_SHARE, AUTHORITY_REVOKED_SHARE = 0.0003, 0.0003

CHIP_START, NEW_GENERATION, MERGER = date(2021, 1, 1), date(2024, 7, 1), date(2025, 7, 1)


def day(value: date) -> np.int64:
    return np.int64((value - EPOCH).days)


# --- calendar on arrays ---------------------------------------------------------------------------


def _leap(year: np.ndarray) -> np.ndarray:
    return (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))


def days_from_civil(year: np.ndarray, month: np.ndarray, dom: np.ndarray) -> np.ndarray:
    """Day numbers (1970-01-01 = 0) of dates given as arrays (proleptic Gregorian)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + dom - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


@dataclass(frozen=True)
class Births:
    year: np.ndarray
    month: np.ndarray
    dom: np.ndarray
    day: np.ndarray

    @classmethod
    def of(cls, dates: list[date]) -> Births:
        d = np.array(dates, dtype="datetime64[D]")
        months = d.astype("datetime64[M]")
        index = months.astype(np.int64)
        return cls(year=index // 12 + 1970, month=index % 12 + 1,
                   dom=(d - months).astype(np.int64) + 1, day=d.astype(np.int64))

    def _clamped(self, year: np.ndarray, dom: np.ndarray) -> np.ndarray:
        return np.where((self.month == 2) & (dom == 29) & ~_leap(year), 28, dom)

    def birthday(self, age: int) -> np.ndarray:
        """The day of the ``age``-th birthday (29 February → 28 February in common years)."""
        year = self.year + age
        return days_from_civil(year, self.month, self._clamped(year, self.dom))

    def renewal_threshold(self, age: int) -> np.ndarray:
        """``app.card_rules``: the milestone moved back GRACE_YEARS (clamped twice, like it)."""
        at_milestone = self._clamped(self.year + age, self.dom)
        year = self.year + age - GRACE_YEARS
        return days_from_civil(year, self.month, self._clamped(year, at_milestone))


def expiry_of(births: Births, issued: np.ndarray) -> np.ndarray:
    """Vectorised ``app.card_rules.card_expiry``: NEVER for "no expiry"."""
    expiry = np.full(len(issued), NEVER)
    for age in reversed(RENEWAL_AGES):
        expiry = np.where(issued < births.renewal_threshold(age), births.birthday(age), expiry)
    return expiry


# --- deterministic draws --------------------------------------------------------------------------


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@dataclass(frozen=True)
class Draws:
    """Uniform numbers in [0, 1) per person, fixed by (seed, PIN, purpose)."""

    seed: int
    pins: np.ndarray  # uint64

    def __call__(self, purpose: str) -> np.ndarray:
        salt = hashlib.sha256(f"dancu-sandbox/cards/{self.seed}/{purpose}".encode()).digest()
        mixed = _mix(self.pins ^ np.uint64(int.from_bytes(salt[:8], "big")))
        return (mixed >> np.uint64(11)).astype(np.float64) * 2.0**-53


# --- the simulation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class People:
    pins: list[str]
    births: Births
    death: np.ndarray  # day of death, NEVER when alive (or when the day is not recorded)
    alive: np.ndarray
    deceased: np.ndarray


@dataclass
class Simulated:
    """Cards of a batch as flat arrays (one entry per card)."""

    person: list[np.ndarray]
    sequence: list[np.ndarray]
    issued: list[np.ndarray]
    expiry: list[np.ndarray]
    status: list[np.ndarray]  # index into STATUS_NAMES
    ended: list[np.ndarray]  # day of the status change (the issue day when still active)
    issue_reason: list[np.ndarray]  # index into ISSUE_REASONS
    end_reason: list[np.ndarray]  # index into END_REASONS


# Object arrays: a row's value is then the one str of its name, not a copy per row (see _shared).
STATUS_NAMES = np.array(["active", "lost", "revoked", "replaced", "held"], dtype=object)
END_ACTIONS = np.array(["issued", "reported_lost", "revoked", "replaced", "held"], dtype=object)
ISSUE_REASONS = np.array(["first_issue", "under_14_on_request", "reissue_after_loss",
                          "renewal_age", "data_changed", "admin_unit_change"], dtype=object)
END_REASONS = np.array(["", "lost", "death", "renewal_age", "authority", "data_changed",
                        "admin_unit_change"], dtype=object)
GENERATIONS = np.array(["cccd_2021", "can_cuoc_2024"], dtype=object)


Days = np.ndarray | np.int64


def _window(draw: np.ndarray, start: Days, end: Days) -> np.ndarray:
    return start + (draw * np.maximum(end - start, 0)).astype(np.int64)


def first_issue(people: People, draws: Draws, ref: np.int64) -> tuple[np.ndarray, np.ndarray]:
    """(day of the first card or NEVER, issue reason index) per person."""
    b = people.births
    age14, u, v = b.birthday(14), draws("first-wave"), draws("first-day")
    cum = np.cumsum([share for _, _, share in FIRST_WAVES])
    wave = np.searchsorted(cum, u, side="right")
    starts = np.array([day(s) for s, _, _ in FIRST_WAVES] + [NEVER])
    ends = np.array([day(e) for _, e, _ in FIRST_WAVES] + [NEVER])
    adult = _window(v, starts[wave], ends[wave])
    too_old = (b.birthday(75) <= day(CHIP_START)) & (draws("never-old") < NEVER_IF_OLD)
    adult = np.where(too_old | (wave >= len(FIRST_WAVES)), NEVER, adult)
    late = draws("new-adult-late") < NEW_ADULT_LATE
    young = np.where(late, NEVER, age14 + (v**2 * 365).astype(np.int64))
    issued = np.where(age14 <= day(CHIP_START), adult, young)
    child_issue, is_child = _on_request(people, draws, ref)
    issued = np.where(is_child, np.minimum(child_issue, issued), issued)
    return issued, np.where(is_child & (child_issue <= issued), 1, 0)


def _on_request(people: People, draws: Draws, ref: np.int64) -> tuple[np.ndarray, np.ndarray]:
    b = people.births
    from_day = np.maximum(day(NEW_GENERATION), b.day + 30)
    under_6 = b.birthday(6) > ref
    share = np.where(under_6, UNDER_14_SHARE[0], UNDER_14_SHARE[1])
    wanted = (b.birthday(14) > day(NEW_GENERATION)) & (draws("on-request") < share)
    return _window(draws("on-request-day"), from_day, np.maximum(from_day, ref)), wanted


@dataclass
class Ends:
    day: np.ndarray
    status: np.ndarray
    reason: np.ndarray
    next_issue: np.ndarray
    next_reason: np.ndarray


def _card_end(issued: np.ndarray, expiry: np.ndarray, last_day: np.ndarray, draws: Draws,
              k: int) -> Ends:
    """How the k-th card ends before ``last_day`` (if it does) and when the next one comes."""
    lost_u, early_u, merge_u, renew_u = (draws(f"{p}/{k}") for p in ("lost", "early", "merge",
                                                                       "renew"))
    span_end = np.minimum(expiry, last_day)
    lost = np.where(lost_u < LOST_SHARE, _window(draws(f"lost-day/{k}"), issued, span_end), NEVER)
    early = np.where(early_u < EARLY_REPLACE_SHARE,
                     _window(draws(f"early-day/{k}"), issued, span_end), NEVER)
    merger = np.where((issued < day(MERGER)) & (merge_u < MERGER_REISSUE_SHARE),
                      _window(draws(f"merge-day/{k}"), day(MERGER), day(MERGER) + 365), NEVER)
    on_time = expiry - (draws(f"renew-day/{k}") * 60).astype(np.int64)
    late = expiry + (draws(f"renew-day/{k}") * 365).astype(np.int64)
    renew = np.where(renew_u < RENEW_ON_TIME, np.maximum(on_time, issued + 1),
                     np.where(renew_u < RENEW_ON_TIME + RENEW_LATE, late, NEVER))
    renew = np.where(expiry >= NEVER, NEVER, renew)
    events = np.stack([lost, early, merger, renew])
    kind = events.argmin(axis=0)
    when = events.min(axis=0)
    happens = when <= last_day
    reissue = when + 1 + (draws(f"reissue-day/{k}") * 60).astype(np.int64)
    reissue = np.where(draws(f"reissue/{k}") < REISSUE_AFTER_LOSS, reissue, NEVER)
    next_issue = np.where(kind == 0, reissue, when)
    return Ends(
        day=np.where(happens, when, issued),
        status=np.where(happens, np.where(kind == 0, 1, 3), 0),
        reason=np.where(happens, np.array([1, 5, 6, 3])[kind], 0),
        next_issue=np.where(happens & (next_issue <= last_day), next_issue, NEVER),
        next_reason=np.array([2, 4, 5, 3])[kind],
    )


def simulate(people: People, draws: Draws, ref: np.int64) -> Simulated:
    """Every card of every person in the batch."""
    out = Simulated([], [], [], [], [], [], [], [])
    last_day = np.minimum(ref, people.death - 1)
    death_day = np.where(people.deceased, np.minimum(people.death, ref), NEVER)
    issued, reason = first_issue(people, draws, ref)
    issued = np.where(issued <= last_day, issued, NEVER)
    index = np.arange(len(people.pins))
    for k in range(MAX_CARDS):
        has = issued < NEVER
        if not has.any():
            break
        expiry = expiry_of(people.births, issued)
        ends = _card_end(issued, expiry, last_day, draws, k)
        if k == MAX_CARDS - 1:
            ends.next_issue[:] = NEVER
        final = has & (ends.next_issue >= NEVER)
        status, when, why = _final_status(people, draws, ends, final & has)
        status, when, why = _revoked_at_death(people, status, when, why, death_day)
        for target, values in zip(
                (out.person, out.sequence, out.issued, out.expiry, out.status, out.ended,
                 out.issue_reason, out.end_reason),
                (index, np.full(len(index), k + 1), issued, expiry, status, when, reason, why),
                strict=True):
            target.append(values[has])
        issued, reason = ends.next_issue, ends.next_reason
    return out


def _revoked_at_death(people: People, status: np.ndarray, when: np.ndarray, why: np.ndarray,
                     death_day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A death revokes every card of the deceased not already revoked or replaced -- active,
    lost or held, as ``app.services.cards.issuance.revoke_cards_for_death`` does (at the reference
    day when the day of death is not recorded)."""
    dead = people.deceased & np.isin(status, (0, 1, 4))
    return (np.where(dead, 2, status), np.where(dead, death_day, when), np.where(dead, 2, why))


def _final_status(people: People, draws: Draws, ends: Ends,
                  final: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A few living people's last cards are held or revoked by an authority (a deceased person's
    cards are revoked at death: :func:`_revoked_at_death`)."""
    status, when, why = ends.status.copy(), ends.day.copy(), ends.reason.copy()
    open_card = final & (status == 0)
    u = draws("authority")
    held = open_card & people.alive & (u < HELD_SHARE)
    revoked = open_card & people.alive & (u >= HELD_SHARE) & (u < HELD_SHARE +
                                                                AUTHORITY_REVOKED_SHARE)
    status[held], why[held] = 4, 4
    status[revoked], why[revoked] = 2, 4
    return status, when, why


# --- rows -----------------------------------------------------------------------------------------


def _shared(keys: np.ndarray, render: Callable[[np.ndarray], list[Any]]) -> list[Any]:
    """``render`` of each distinct key once, every row holding the same object for the same key:
    fewer strings to build, and pickle sends an object it has already sent as a reference, so
    the generator worker's batches cross the pipe smaller and unpickle faster (issue 19)."""
    unique, inverse = np.unique(keys, return_inverse=True)
    return np.array(render(unique), dtype=object)[inverse.reshape(-1)].tolist()


def _iso_text(days: np.ndarray) -> list[str]:
    return days.astype("datetime64[D]").astype(str).tolist()


def _iso(days: np.ndarray) -> list[str]:
    return _shared(days, _iso_text)


def _expiry_text(days: np.ndarray) -> list[str | None]:
    """ISO dates, None for "no expiry" (NEVER)."""
    last = day(date(9999, 1, 1))
    return [None if e >= NEVER else text for e, text in
            zip(days.tolist(), _iso_text(np.minimum(days, last)), strict=True)]


def _moments(days: np.ndarray, dialect: str) -> list[str]:
    suffix = f" {SIGNING_HOUR_UTC:02d}:00:00" + (".000000" if dialect == "sqlite" else "+00")
    return _shared(days, lambda unique: [value + suffix for value in _iso_text(unique)])


def _signer_labels(days: np.ndarray) -> list[str]:
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    period = (months - (2021 - 1970) * 12) // PERIOD_MONTHS
    return _shared(period, lambda unique: [f"dsc/{p}" for p in unique.tolist()])


@dataclass(frozen=True)
class Batch:
    cards: tuple[tuple[str, ...], list[tuple[object, ...]]]
    events: tuple[tuple[str, ...], list[tuple[object, ...]]]


CARD_COLUMNS = ("id", "pin", "sequence", "generation", "issue_date", "expiry_date", "status",
                "status_reason", "status_changed_at", "signed_at", "document_signer",
                "chip_key_ref", "persona")
EVENT_COLUMNS = ("card_id", "at", "action", "status", "reason", "actor")


def rows(people: People, cards: Simulated, *, first_id: int, dialect: str) -> Batch:
    """Card and event rows for the database (dates as text, NULL as None)."""
    flat = {name: np.concatenate(getattr(cards, name)) if getattr(cards, name)
            else np.zeros(0, np.int64) for name in Simulated.__dataclass_fields__}
    n = len(flat["person"])
    ids = list(range(first_id, first_id + n))
    pins = [people.pins[i] for i in flat["person"].tolist()]
    sequences = flat["sequence"].tolist()
    expiry_text = _shared(flat["expiry"], _expiry_text)
    generation = GENERATIONS[(flat["issued"] >= day(NEW_GENERATION)).astype(np.int64)]
    status = STATUS_NAMES[flat["status"]].tolist()
    issued_at, ended_at = _moments(flat["issued"], dialect), _moments(flat["ended"], dialect)
    end_reason = END_REASONS[flat["end_reason"]].tolist()
    card_rows = list(zip(
        ids, pins, sequences, generation.tolist(), _iso(flat["issued"]), expiry_text, status,
        [r or None for r in end_reason], ended_at, issued_at, _signer_labels(flat["issued"]),
        [f"{p}-{s}" for p, s in zip(pins, sequences, strict=True)], [None] * n, strict=True))
    return Batch((CARD_COLUMNS, card_rows), (EVENT_COLUMNS, _events(
        ids, issued_at, ended_at, status, ISSUE_REASONS[flat["issue_reason"]].tolist(),
        end_reason, END_ACTIONS[flat["status"]].tolist())))


def _events(ids: list[int], issued_at: list[str], ended_at: list[str], status: list[str],
            issue_reason: list[str], end_reason: list[str],
            action: list[str]) -> list[tuple[object, ...]]:
    issued: list[tuple[object, ...]] = [
        (i, at, "issued", "active", r, "generator")
        for i, at, r in zip(ids, issued_at, issue_reason, strict=True)]
    ended: list[tuple[object, ...]] = [
        (i, at, a, s, r or None, "generator")
        for i, at, a, s, r in zip(ids, ended_at, action, status, end_reason, strict=True)
        if s != "active"]
    return issued + ended


# --- loading --------------------------------------------------------------------------------------


def people_batches(connection: Connection) -> Iterator[People]:
    """Citizens in PIN order, a batch at a time (keyset pagination), read through the driver:
    SQLAlchemy's result rows cost more than the whole simulation."""
    last = ""
    raw: Any = connection.connection.driver_connection
    sqlite = connection.dialect.name == "sqlite"
    sql = ("SELECT pin, birth_date, status, status_date FROM citizen WHERE pin > "
           f"{'?' if sqlite else '%s'} ORDER BY pin LIMIT {BATCH}")
    while True:
        cursor = raw.cursor()
        try:
            cursor.execute(sql, (last,))
            found = cursor.fetchall()
        finally:
            cursor.close()
        if not found:
            return
        last = found[-1][0]
        pins, births, statuses, on = zip(*found, strict=True)
        status = np.array(statuses)
        deceased, alive = status == "deceased", status == "alive"
        recorded = np.array([d is not None for d in on])
        death_days = _days([d if d is not None else EPOCH for d in on]).astype(np.int64)
        death = np.where(deceased & recorded, death_days, NEVER)
        yield People(pins=list(pins), births=Births.of(_days(births)), death=death,
                     alive=alive, deceased=deceased)


def _days(values: Sequence[str | date]) -> np.ndarray:
    """Dates as the driver gives them (SQLite: ISO text, PostgreSQL: date objects) as datetime64:
    numpy parses text ten times faster than it converts date objects."""
    return np.array([v if isinstance(v, str) else v.isoformat() for v in values],
                    dtype="datetime64[D]")


def _write(connection: Connection, table: str, payload: tuple[tuple[str, ...], list]) -> None:
    columns, values = payload
    if not values:
        return
    names = ", ".join(columns)
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        marks = ", ".join("?" * len(columns))
        cursor = raw.cursor()
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", values)
        cursor.close()
        return
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in values:
            copy.write_row(row)


def has_cards(connection: Connection) -> bool:
    return connection.execute(select(Card.id).limit(1)).first() is not None


def seed_cards(database: Database, *, seed: int, reference_date: date) -> int:
    """Generate the population's cards (once: nothing happens when any card exists)."""
    with database.engine.begin() as connection:
        return seed_cards_on(connection, seed=seed, reference_date=reference_date)


def seed_cards_on(connection: Connection, *, seed: int, reference_date: date) -> int:
    """:func:`seed_cards` in the caller's transaction (``dancu seed`` and the first start of an
    empty database make the cards with the people instead: ``seed/extras.py``)."""
    if has_cards(connection):
        return 0
    created = 0
    next_id = int(connection.execute(select(func.coalesce(func.max(Card.id), 0))).scalar_one())
    _drop_indexes(connection)
    for people in people_batches(connection):
        draws = Draws(seed, np.array([int(p) for p in people.pins], dtype=np.uint64))
        batch = rows(people, simulate(people, draws, day(reference_date)),
                     first_id=next_id + 1, dialect=connection.dialect.name)
        _write(connection, "card", batch.cards)
        _write(connection, "card_event", batch.events)
        next_id += len(batch.cards[1])
        created += len(batch.cards[1])
    _after_load(connection)
    log.info("generated %d chip cards", created)
    return created


LOADED_TABLES: tuple[Table, ...] = (Card.__table__, CardEvent.__table__)  # type: ignore[assignment]


def _drop_indexes(connection: Connection) -> None:
    """Secondary indexes are rebuilt once at the end (faster than updating them row by row; DDL
    is transactional, so a failed load restores them)."""
    for table in LOADED_TABLES:
        for index in table.indexes:
            index.drop(connection, checkfirst=True)


def _after_load(connection: Connection) -> None:
    for table in LOADED_TABLES:
        for index in table.indexes:
            index.create(connection)
    if connection.dialect.name == "postgresql":
        for name in ("card", "card_event"):
            connection.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {name}"))


def ensure_cards(database: Database, *, seed: int, now: datetime) -> None:
    """Start-up step after the population: generated cards once, then the persona cards."""
    from app.services.cards.failure_cards import ensure_personas
    from app.services.cards.issuance import local_date

    seed_cards(database, seed=seed, reference_date=reference_date_of(database, local_date(now)))
    with database.write() as session:
        made = ensure_personas(session, seed=seed, now=now)
    if made:
        log.info("marked test cards: %s", ", ".join(made))
