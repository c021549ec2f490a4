"""Loading the population: deterministic, all or nothing, coherent in the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import pytest
from sqlalchemy import func, inspect, select, text

from app.db import Database
from app.models import Base
from app.models.population import (
    Citizen,
    Commune,
    FamilyRelation,
    Household,
    PopulationRun,
    Residence,
)
from seed import pipeline
from seed import populate as populate_module
from seed.loader import POPULATION_TABLES
from seed.populate import PopulationExists, is_populated, populate
from tests.api.population_support import digest, fresh_database, postgres_server
from tests.conftest import TEST_POPULATION, TEST_SEED

__all__ = ["fresh_database"]

SIZE = 2500


@pytest.fixture(scope="module")
def loaded(fresh_database: Callable[..., Database]) -> Database:
    database = fresh_database()
    populate(database, size=SIZE, seed=9)
    return database


def test_the_session_database_is_populated(database: Database) -> None:
    assert is_populated(database)
    with database.engine.connect() as connection:
        run = connection.execute(select(PopulationRun.seed, PopulationRun.size)).one()
    assert tuple(run) == (TEST_SEED, TEST_POPULATION)


def test_the_summary_times_the_index_builds_apart(
        fresh_database: Callable[..., Database]) -> None:
    summary = populate(fresh_database(), size=500, seed=9)
    assert 0 < summary.finish_seconds < summary.seconds


def test_an_empty_database_is_not_populated(fresh_database: Callable[..., Database]) -> None:
    assert not is_populated(fresh_database())
    assert not is_populated(fresh_database(migrate=False))


def test_same_seed_and_size_load_byte_identical_tables(
        loaded: Database, fresh_database: Callable[..., Database]) -> None:
    again = fresh_database()
    populate(again, size=SIZE, seed=9)
    assert digest(again) == digest(loaded)


def test_another_seed_loads_other_people(loaded: Database,
                                         fresh_database: Callable[..., Database]) -> None:
    other = fresh_database()
    populate(other, size=SIZE, seed=10)
    assert digest(other) != digest(loaded)


@pytest.mark.skipif(postgres_server() is None, reason="needs DANCU_TEST_DATABASE_URL (PostgreSQL)")
def test_sqlite_and_postgresql_hold_the_same_rows(
        loaded: Database, fresh_database: Callable[..., Database]) -> None:
    on_sqlite = fresh_database(backend="sqlite")
    populate(on_sqlite, size=SIZE, seed=9)
    assert digest(on_sqlite) == digest(loaded)


def test_seeding_a_populated_database_is_refused_and_changes_nothing(loaded: Database) -> None:
    before = digest(loaded)
    with pytest.raises(PopulationExists):
        populate(loaded, size=100, seed=1)
    assert digest(loaded) == before


def test_replace_gives_the_same_rows_as_a_fresh_load(
        fresh_database: Callable[..., Database]) -> None:
    replaced, fresh = fresh_database(), fresh_database()
    populate(replaced, size=800, seed=3)
    populate(replaced, size=SIZE, seed=9, replace=True)
    populate(fresh, size=SIZE, seed=9)
    assert digest(replaced) == digest(fresh)


def _failing_after_one_batch(*args: object, **kwargs: object) -> Iterator[pipeline.Encoded]:
    batches = pipeline.encoded_batches(*args, **kwargs, batch_size=500)  # type: ignore[arg-type]
    yield next(batches)
    raise RuntimeError("the generator broke down")


def test_a_failed_replacement_keeps_the_old_population(
        loaded: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    before = digest(loaded)
    monkeypatch.setattr(populate_module.pipeline, "batches", _failing_after_one_batch)
    with pytest.raises(RuntimeError, match="broke down"):
        populate(loaded, size=5000, seed=2, replace=True)
    assert digest(loaded) == before


def test_a_failed_first_load_leaves_the_database_empty(
        fresh_database: Callable[..., Database], monkeypatch: pytest.MonkeyPatch) -> None:
    database = fresh_database()
    monkeypatch.setattr(populate_module.pipeline, "batches", _failing_after_one_batch)
    with pytest.raises(RuntimeError):
        populate(database, size=5000, seed=2)
    assert not is_populated(database)
    with database.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Commune)).scalar_one() == 0


def test_a_writer_failing_mid_load_stops_the_generator_worker_and_keeps_nothing(
        fresh_database: Callable[..., Database], monkeypatch: pytest.MonkeyPatch) -> None:
    """The path of a large seed (the worker process and its receiving thread), the writer failing
    after the first message: the error reaches the caller (no hang), the worker process and the
    thread are stopped, and nothing of the load is left."""
    database = fresh_database()
    monkeypatch.setattr(pipeline, "IN_PROCESS_UP_TO", 0)
    sources: list[pipeline.Source] = []
    batches = pipeline.batches

    def recorded(**kwargs: object) -> pipeline.Source:
        sources.append(batches(**kwargs))  # type: ignore[arg-type]
        return sources[-1]

    def failing_writer(writer: object, summary: object, batches: Iterator[pipeline.Encoded],
                       **kwargs: object) -> None:
        next(iter(batches))  # the first message (the people of the first batch) arrived
        raise OSError("the disk is full")

    monkeypatch.setattr(populate_module.pipeline, "batches", recorded)
    monkeypatch.setattr(populate_module, "_load_batches", failing_writer)
    with pytest.raises(OSError, match="disk is full"):
        populate(database, size=SIZE, seed=2, extras=populate_module.Extras())
    (source,) = sources
    assert isinstance(source, pipeline._Worker)
    assert source._process.exitcode is not None  # stopped (or ended) and joined
    assert not source._receiver.is_alive()
    assert not is_populated(database)


def test_the_secondary_indexes_are_back_after_the_load(loaded: Database) -> None:
    inspector = inspect(loaded.engine)
    for name in POPULATION_TABLES:
        expected = {index.name for index in Base.metadata.tables[name].indexes}
        assert {index["name"] for index in inspector.get_indexes(name)} >= expected


def test_new_rows_get_ids_after_the_loaded_ones(loaded: Database) -> None:
    with loaded.write() as session:
        highest = session.scalar(select(func.max(Residence.id)))
        row = Residence(pin="001090000001", kind="current", commune_code="00004",
                        address_line="Số 1", registered_on=date(2026, 7, 1))
        session.add(row)
        session.flush()
        assert row.id > highest
        session.rollback()


def _count(database: Database, query: str) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(text(query)).scalar_one())


@pytest.mark.parametrize(("rule", "query"), [
    ("household heads exist and live there",
     "SELECT count(*) FROM household h LEFT JOIN citizen c ON c.pin = h.head_pin "
     "AND c.household_id = h.id AND c.relationship_to_head = 1 WHERE c.pin IS NULL"),
    ("household members point at a household",
     "SELECT count(*) FROM citizen c LEFT JOIN household h ON h.id = c.household_id "
     "WHERE c.household_id IS NOT NULL AND h.id IS NULL"),
    ("residences are in existing communes",
     "SELECT count(*) FROM residence r LEFT JOIN commune m ON m.code = r.commune_code "
     "WHERE m.code IS NULL"),
    ("residences belong to citizens",
     "SELECT count(*) FROM residence r LEFT JOIN citizen c ON c.pin = r.pin WHERE c.pin IS NULL"),
    ("relations link citizens",
     "SELECT count(*) FROM family_relation f LEFT JOIN citizen a ON a.pin = f.pin "
     "LEFT JOIN citizen b ON b.pin = f.relative_pin WHERE a.pin IS NULL OR b.pin IS NULL"),
    ("birth places are existing communes",
     "SELECT count(*) FROM citizen c LEFT JOIN commune m ON m.code = c.birth_place_commune "
     "WHERE c.birth_place_commune IS NOT NULL AND m.code IS NULL"),
    ("codes are in the code lists",
     "SELECT count(*) FROM citizen c LEFT JOIN code_item e ON e.list_name = 'ethnicity' "
     "AND e.code = c.ethnicity_code LEFT JOIN code_item r ON r.list_name = 'religion' "
     "AND r.code = c.religion_code WHERE e.code IS NULL OR r.code IS NULL"),
    ("the dead died after they were born",
     "SELECT count(*) FROM citizen WHERE status = 'deceased' "
     "AND (status_date IS NULL OR status_date <= birth_date)"),
    ("the pin starts with the birth registration place",
     "SELECT count(*) FROM citizen WHERE substr(pin, 1, 3) <> birth_registration_place"),
])
def test_loaded_rows_are_coherent(loaded: Database, rule: str, query: str) -> None:
    assert _count(loaded, query) == 0, rule


def test_every_table_got_rows(loaded: Database) -> None:
    with loaded.engine.connect() as connection:
        for model in (Citizen, Household, Residence, FamilyRelation):
            assert connection.execute(select(func.count()).select_from(model)).scalar_one() > 0
