"""Fill a database with the synthetic population: all or nothing, in one transaction.

``populate(database, size=, seed=)`` is what ``dancu seed`` and the service's first start call.
The whole load - reference data, people, households, residences, relations and the
``population_run`` row - commits at the end or not at all: a crash, a kill or an error leaves the
database as it was (with ``replace=True``, the old population survives a failed replacement).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect
from sqlalchemy.exc import SQLAlchemyError

from app.clock import SandboxClock
from app.db import Database
from seed import loader, pipeline
from seed.reference import read_json

if TYPE_CHECKING:
    from seed.extras import Spec as ExtrasSpec

GENERATOR_VERSION = "2026.11-1"
Progress = Callable[[int, int], None]


class PopulationExists(RuntimeError):
    """The database already holds a population and ``replace`` was not asked for."""

    def __init__(self, people: int) -> None:
        super().__init__(f"the database already holds a population ({people:,} people); "
                         "use --replace to regenerate it")
        self.people = people


@dataclass
class Summary:
    people: int = 0
    seconds: float = 0.0
    finish_seconds: float = 0.0  # of ``seconds``: indexes, keys and statistics after the rows
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.people / self.seconds if self.seconds else 0.0


def reference_date() -> date:
    """The fixed 'today' of the generated data (ages, validity), not the wall clock."""
    return date.fromisoformat(read_json("demography.json")["reference_date"])


def is_populated(database: Database) -> bool:
    try:
        if not inspect(database.engine).has_table("citizen"):
            return False
        with database.engine.connect() as connection:
            return loader.count_people(connection) > 0
    except SQLAlchemyError:
        return False


def populate(database: Database, *, size: int, seed: int, replace: bool = False,
             progress: Progress | None = None, now: datetime | None = None,
             then: Callable[[Connection], None] | None = None,
             extras: Extras | None = None) -> Summary:
    """Generate ``size`` people from ``seed`` into ``database``; see the module docstring.
    With ``extras``, the generator also makes their chip cards and VNeID accounts, written with
    them (``dancu seed``; any accounts of an earlier population are deleted first).
    ``then(connection)`` runs in the same transaction once the people are in: a failure there
    leaves nothing either."""
    started = time.perf_counter()
    clock_now = now or SandboxClock().now()
    spec = None if extras is None else extras.spec(seed=seed, now=clock_now)
    tables = (*loader.POPULATION_TABLES, *(loader.EXTRA_TABLES if spec else ()))
    summary = Summary(people=size, rows=dict.fromkeys(tables, 0))
    # the generator starts first: it makes the first batch while the database is prepared
    batches = pipeline.batches(seed=seed, size=size, reference_date=reference_date(),
                               dialect=database.engine.dialect.name, extras=spec)
    with closing(batches), database.engine.connect() as connection, \
            loader.bulk_journal(connection), connection.begin():
        existing = loader.count_people(connection)
        if existing and not replace:
            raise PopulationExists(existing)
        writer = loader.writer_for(connection, extras=spec is not None)
        writer.prepare()
        if spec is not None:
            _forget_accounts(connection)
        writer.clear()
        writer.drop_indexes()
        writer.reference()
        _load_batches(writer, summary, batches, size=size, progress=progress)
        writer.run(seed=seed, size=size, generator_version=GENERATOR_VERSION,
                   reference_date=reference_date(), created_at=clock_now)
        rows_done = time.perf_counter()
        writer.finish()
        summary.finish_seconds = time.perf_counter() - rows_done
        if then is not None:
            then(connection)
    summary.seconds = time.perf_counter() - started
    return summary


@dataclass(frozen=True)
class Extras:
    """Ask :func:`populate` for the people's chip cards and VNeID accounts too (``sandbox``:
    with the documented password and passcode; see ``account_generation``)."""

    sandbox: bool = True

    def spec(self, *, seed: int, now: datetime) -> ExtrasSpec:
        from app.services.vneid.account_generation import sandbox_hashes
        from seed.extras import Spec

        password, passcode = sandbox_hashes() if self.sandbox else (None, None)
        return Spec(seed=seed, reference_date=reference_date(), now=now, password_hash=password,
                    passcode_hash=passcode)


def _forget_accounts(connection: Connection) -> None:
    """The accounts of an earlier population, and the provider state that refers to them."""
    from sqlalchemy.orm import Session

    from app.services.vneid.account_generation import forget_accounts

    with Session(bind=connection) as session:
        forget_accounts(session)
        session.flush()


def _load_batches(writer: loader.Writer, summary: Summary, batches: Iterable[pipeline.Encoded], *,
                  size: int, progress: Progress | None) -> None:
    done = 0
    for batch in batches:
        for name, payload in batch.tables.items():
            if name not in writer.extras:
                writer.write(name, payload)
            elif payload[1]:  # (columns, row tuples)
                writer.write_tuples(name, *payload)
            summary.rows[name] += batch.rows[name]
        done += batch.people
        if progress and batch.people:
            progress(done, size)
