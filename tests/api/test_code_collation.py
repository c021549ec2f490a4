"""PINs, CMND numbers and folded names are compared byte by byte on PostgreSQL (COLLATE "C"), in
every table, so their indexes build fast and joins between PIN columns keep using them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from app import migrations
from app.db import Database
from app.models import Base
from tests.api.population_support import fresh_database

__all__ = ["fresh_database"]  # a fixture

def _code_columns() -> set[tuple[str, str]]:
    return {(table.name, column.name) for table in Base.metadata.sorted_tables
            for column in table.columns
            if column.name.endswith("pin") or column.name in ("cmnd_number", "name_folded")}


def test_every_pin_column_of_the_models_is_a_code_string() -> None:
    def postgresql_collation(table: str, column: str) -> str | None:
        variant = Base.metadata.tables[table].c[column].type._variant_mapping.get("postgresql")
        return getattr(variant, "collation", None)

    plain = [(t, c) for t, c in _code_columns() if postgresql_collation(t, c) != "C"]
    assert plain == []


def _collations(database: Database) -> dict[tuple[str, str], str | None]:
    with database.engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() "
            "AND (column_name LIKE '%pin' OR column_name IN ('cmnd_number', 'name_folded'))"))
        return {(table, column): collation for table, column, collation in rows}


def test_every_pin_column_of_the_database_collates_as_c(database: Database) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite compares text byte by byte already (BINARY)")
    collations = _collations(database)
    assert set(collations) == _code_columns()
    assert set(collations.values()) == {"C"}


def test_the_collation_migration_goes_down_to_the_default_and_up_again(
        fresh_database: Callable[..., Database]) -> None:
    database = fresh_database()
    if database.engine.dialect.name != "postgresql":
        pytest.skip("the collation only changes on PostgreSQL")
    from alembic import command

    config = migrations.alembic_config(database.engine.url.render_as_string(hide_password=False))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")
    assert set(_collations(database).values()) == {None}  # the database's default
    migrations.upgrade(database.engine)
    assert set(_collations(database).values()) == {"C"}


def test_a_join_between_pin_columns_uses_the_index(database: Database) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("the collation only changes on PostgreSQL")
    with database.engine.connect() as connection:
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(connection.execute(text(
            "EXPLAIN SELECT c.given_name FROM family_relation f "
            "JOIN citizen c ON c.pin = f.relative_pin WHERE f.pin = '001234567890'")).scalars())
    assert "ix_family_relation_pin" in plan
    assert "pk_citizen" in plan
