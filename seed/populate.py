"""Fill a database with the synthetic population: all or nothing, in one transaction.

``populate(database, size=, seed=)`` is what ``dancu seed`` and the service's first start call.
The whole load - reference data, people, households, residences, relations and the
``population_run`` row - commits at the end or not at all: a crash, a kill or an error leaves the
database as it was (with ``replace=True``, the old population survives a failed replacement).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Connection, inspect
from sqlalchemy.exc import SQLAlchemyError

from app.clock import SandboxClock
from app.db import Database
from seed import loader, pipeline
from seed.reference import read_json

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
             then: Callable[[Connection], None] | None = None) -> Summary:
    """Generate ``size`` people from ``seed`` into ``database``; see the module docstring.
    ``then(connection)`` runs in the same transaction once the people are in (``dancu seed``
    generates their cards and accounts there): a failure there leaves nothing either."""
    started = time.perf_counter()
    summary = Summary(people=size, rows=dict.fromkeys(loader.POPULATION_TABLES, 0))
    with database.engine.connect() as connection, loader.bulk_journal(connection), \
            connection.begin():
        existing = loader.count_people(connection)
        if existing and not replace:
            raise PopulationExists(existing)
        writer = loader.writer_for(connection)
        writer.prepare()
        writer.clear()
        writer.drop_indexes()
        writer.reference()
        _load_batches(writer, summary, seed=seed, size=size, progress=progress)
        writer.run(seed=seed, size=size, generator_version=GENERATOR_VERSION,
                   reference_date=reference_date(), created_at=now or SandboxClock().now())
        rows_done = time.perf_counter()
        writer.finish()
        summary.finish_seconds = time.perf_counter() - rows_done
        if then is not None:
            then(connection)
    summary.seconds = time.perf_counter() - started
    return summary


def _load_batches(writer: loader.Writer, summary: Summary, *, seed: int, size: int,
                  progress: Progress | None) -> None:
    done = 0
    dialect = writer.connection.dialect.name
    for batch in pipeline.batches(seed=seed, size=size, reference_date=reference_date(),
                                  dialect=dialect):
        for name in loader.POPULATION_TABLES:
            writer.write(name, batch.tables[name])
            summary.rows[name] += batch.rows[name]
        done += batch.people
        if progress:
            progress(done, size)
