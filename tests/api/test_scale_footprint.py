"""The national-scale footprint changes (migration 0007, docs/scale.md) keep what the records say:
the pre-2025 address is rendered from the legacy ward's code as it was stored as text before, an
existing database's text becomes that code when it is migrated (and text again on a downgrade),
and the partial CMND index still finds people by CMND number."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import Connection, MetaData, Table, insert, select, text

from app import migrations
from app.db import Database
from app.models.population import Residence
from app.services.cards.holder import residence_text
from app.services.population.reference import reference
from seed.loader import reference_rows
from seed.reference import render_address, render_legacy_address
from tests.api.population_support import fresh_database

__all__ = ["fresh_database"]

BEFORE_MERGER, AFTER_MERGER = date(2024, 5, 1), date(2025, 9, 1)


def _legacy_residence(database: Database) -> Residence:
    with database.read() as session:
        row = session.scalars(select(Residence).where(Residence.legacy_commune_code.is_not(None))
                              .order_by(Residence.id).limit(1)).one()
        reference(session)
        return row


def test_a_card_issued_before_the_merger_prints_the_address_as_written_then(
        database: Database) -> None:
    row = _legacy_residence(database)
    with database.read() as session:
        printed = residence_text(reference(session), row, on=BEFORE_MERGER)
    assert printed == render_legacy_address(line=row.address_line,
                                            legacy_ward_code=row.legacy_commune_code)
    assert printed.count(", ") == 3  # line, ward, district, province


def test_a_card_issued_after_the_merger_prints_the_two_level_address(database: Database) -> None:
    row = _legacy_residence(database)
    with database.read() as session:
        printed = residence_text(reference(session), row, on=AFTER_MERGER)
    assert printed == render_address(line=row.address_line, commune_code=row.commune_code)


def _table(connection: Connection, name: str) -> Table:
    return Table(name, MetaData(), autoload_with=connection)


def _at_0006_with_a_legacy_address(database: Database) -> tuple[str, str]:
    """Reference data and one residence stored the 0006 way; returns (text, ward code)."""
    migrations.upgrade(database.engine, "0006")
    ward = "00001"
    written = render_legacy_address(line="Số 5 Hàng Bông", legacy_ward_code=ward)
    with database.engine.begin() as connection:
        for name, rows in reference_rows().items():
            connection.execute(insert(_table(connection, name)), rows)
        connection.execute(insert(_table(connection, "residence")), [
            {"id": 1, "pin": "001090000001", "kind": "permanent", "commune_code": "00004",
             "address_line": "Số 5 Hàng Bông", "legacy_address": written,
             "registered_on": date(2019, 3, 1)},
            {"id": 2, "pin": "001090000002", "kind": "permanent", "commune_code": "00004",
             "address_line": "Số 7", "legacy_address": None, "registered_on": date(2026, 3, 1)}])
    return written, ward


def _column(database: Database, name: str) -> list[object]:
    with database.engine.connect() as connection:
        return list(connection.execute(text(f"SELECT {name} FROM residence ORDER BY id")).scalars())


def test_migrating_turns_stored_legacy_text_into_the_ward_code_and_back(
        fresh_database: Callable[..., Database]) -> None:
    database = fresh_database(migrate=False)
    written, ward = _at_0006_with_a_legacy_address(database)
    migrations.upgrade(database.engine)
    assert _column(database, "legacy_commune_code") == [ward, None]
    from alembic import command

    config = migrations.alembic_config(database.engine.url.render_as_string(hide_password=False))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    assert _column(database, "legacy_address") == [written, None]


def _plan(database: Database, sql: str) -> str:
    with database.engine.connect() as connection:
        if database.is_sqlite:
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
            return " ".join(str(row[-1]) for row in rows)
        connection.exec_driver_sql("SET enable_seqscan = off")  # a small test table
        return " ".join(str(row[0]) for row in connection.exec_driver_sql(f"EXPLAIN {sql}"))


def test_the_partial_cmnd_index_serves_the_lookup_by_cmnd_number(database: Database) -> None:
    """``resolve_cmnd`` asks ``cmnd_number = :x``: both databases must see that it implies the
    partial index's ``cmnd_number IS NOT NULL``."""
    plan = _plan(database, "SELECT pin, status FROM citizen WHERE cmnd_number = '123456789'")
    assert "ix_citizen_cmnd_number" in plan
