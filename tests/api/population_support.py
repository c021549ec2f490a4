"""Fresh databases and table digests for the population tests (SQLite file or PostgreSQL)."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app import migrations
from app.db import Database
from app.models import Base
from seed.loader import POPULATION_TABLES, REFERENCE_TABLES

DIGESTED = (*REFERENCE_TABLES, *POPULATION_TABLES, "population_run")


def postgres_server() -> str | None:
    server = os.environ.get("DANCU_TEST_DATABASE_URL", "")
    return server if server.startswith("postgresql") else None


class FreshDatabases:
    """Creates empty, migrated databases on the session's backend and drops them afterwards."""

    def __init__(self, directory: Path, server: str | None) -> None:
        self.directory, self.server = directory, server
        self.created: list[tuple[str, Database]] = []

    def url(self, *, backend: str | None = None) -> str:
        if (backend or ("postgresql" if self.server else "sqlite")) == "sqlite":
            return f"sqlite:///{self.directory / f'fresh-{secrets.token_hex(4)}.db'}"
        import psycopg

        assert self.server is not None
        url = make_url(self.server)
        name = f"dancu_fresh_{secrets.token_hex(4)}"
        with psycopg.connect(self._admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return url.set(database=name).render_as_string(hide_password=False)

    def __call__(self, *, backend: str | None = None, migrate: bool = True) -> Database:
        url = self.url(backend=backend)
        database = Database.connect(url)
        if migrate:
            migrations.upgrade(database.engine)
        self.created.append((url, database))
        return database

    def _admin_dsn(self) -> str:
        assert self.server is not None
        return make_url(self.server).set(drivername="postgresql").render_as_string(
            hide_password=False)

    def drop_all(self) -> None:
        for url, database in self.created:
            database.dispose()
            if url.startswith("postgresql"):
                import psycopg

                name = make_url(url).database
                with psycopg.connect(self._admin_dsn(), autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def fresh_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Database]]:
    factory = FreshDatabases(tmp_path_factory.mktemp("population"), postgres_server())
    yield factory
    factory.drop_all()


def digest(database: Database) -> str:
    """SHA-256 over every generated table, ordered by primary key (the run's timestamp aside)."""
    h = hashlib.sha256()
    with database.engine.connect() as connection:
        for name in DIGESTED:
            table = Base.metadata.tables[name]
            columns = [c for c in table.columns if c.name != "created_at"]
            rows = connection.execute(select(*columns).order_by(*table.primary_key.columns))
            h.update(name.encode())
            for row in rows:
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()
