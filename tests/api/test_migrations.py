"""The migrations produce exactly the schema the ORM models describe, and go down cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from app import migrations
from app.db import Database
from app.models import Base


def test_migrated_schema_matches_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_database_is_at_the_head_revision(database: Database) -> None:
    assert migrations.current_revision(database.engine) == migrations.head_revision()
