"""Bulk loading through the raw DB-API, inside ONE transaction the caller commits or rolls back.

SQLite: ``executemany`` with the secondary indexes dropped for the load and rebuilt at the end (DDL
is transactional, so a failure restores them). PostgreSQL: ``COPY ... FROM STDIN`` (psycopg 3), same
rule; the id sequences are moved past the loaded ids. Reference tables are small and go through
SQLAlchemy Core.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    ForeignKeyConstraint,
    Table,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.schema import AddConstraint, DropConstraint

from app.models import Base
from seed.columns import Packed
from seed.reference import admin_units, code_lists

POPULATION_TABLES = ("household", "citizen", "residence", "family_relation")
REFERENCE_TABLES = ("province", "commune", "legacy_commune", "legacy_commune_successor",
                    "code_item")
RUN_TABLE = "population_run"
SEQUENCED = ("residence", "family_relation")
# Made with the people when ``dancu seed`` asks for them (seed/extras.py): rows as tuples.
EXTRA_TABLES = ("card", "card_event", "vneid_account", "vneid_account_event")
NULL_AT_LOAD = frozenset({"ix_card_persona", "ix_vneid_account_persona",
                          "ix_vneid_account_device_token_hash"})


def table(name: str) -> Table:
    return Base.metadata.tables[name]


def owned_tables() -> list[Table]:
    """Our tables plus every table that (transitively) references them, children first.

    Replacing the population must also clear rows that point at it (cards, accounts, ...);
    tables that do not depend on the population (clients, signing keys) are left alone.
    """
    owned = {table(n) for n in (*POPULATION_TABLES, *REFERENCE_TABLES, RUN_TABLE, "pin_history")}
    grew = True
    while grew:
        dependants = {t for t in Base.metadata.sorted_tables
                      if any(fk.column.table in owned for fk in t.foreign_keys)}
        grew = not dependants <= owned
        owned |= dependants
    return [t for t in reversed(Base.metadata.sorted_tables) if t in owned]


class Writer(ABC):
    """Writes one population into an open transaction on ``connection`` (each engine's subclass
    says how rows go in: :class:`SqliteWriter`, :class:`PostgresWriter`)."""

    def __init__(self, connection: Connection, *, extras: bool = False) -> None:
        self.connection = connection
        self.dbapi = connection.connection.driver_connection
        self.extras = EXTRA_TABLES if extras else ()
        self.indexed = (*POPULATION_TABLES, *self.extras)  # indexes rebuilt after the load

    def clear(self) -> None:
        for t in owned_tables():
            self.connection.execute(delete(t))

    def _rebuilt(self) -> list[Any]:
        """The indexes dropped for the load and built again after it: not those on columns the
        generator leaves NULL (personas, device tokens), which the load only appends to, while
        building one again reads the whole table (~0.3 s each at 1 M people)."""
        return [index for name in self.indexed for index in table(name).indexes
                if index.name not in NULL_AT_LOAD]

    def drop_indexes(self) -> None:
        for index in self._rebuilt():
            index.drop(self.connection, checkfirst=True)

    def create_indexes(self) -> None:
        for index in self._rebuilt():
            index.create(self.connection)

    def reference(self) -> None:
        for name, rows in reference_rows().items():
            self.connection.execute(insert(table(name)), rows)

    def run(self, **values: Any) -> None:
        self.connection.execute(insert(table(RUN_TABLE)), [{"id": 1, **values}])

    def finish(self) -> None:
        """After the rows: rebuild indexes and whatever the database needs."""
        self.create_indexes()

    @abstractmethod
    def write(self, name: str, payload: Any) -> None:
        """Load one packed batch of table ``name``."""

    @abstractmethod
    def write_tuples(self, name: str, columns: tuple[str, ...], values: list[tuple]) -> None:
        """Load rows of table ``name`` given as tuples in the order of ``columns``."""


@contextmanager
def bulk_journal(connection: Connection) -> Iterator[None]:
    """On SQLite, load through a rollback journal instead of the WAL: the WAL would receive every
    new page and then copy it into the database at the checkpoint (each page written twice);
    a rollback journal saves only the few pages the load overwrites. A crash still leaves
    nothing (the hot journal is rolled back at the next open). The switch needs the only
    connection to the file; when another is open (a server on the same file), the load simply
    stays in WAL mode. WAL mode is restored afterwards."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    switched = _journal_mode(driver, "truncate") == "truncate"
    try:
        yield
    finally:
        if switched:
            _journal_mode(driver, "wal")


def _journal_mode(driver: Any, mode: str) -> str:
    try:
        return str(driver.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0]).lower()
    except Exception:  # busy: another connection holds the file
        return ""


class SqliteWriter(Writer):
    def prepare(self) -> None:
        # a bigger page cache (KiB) keeps the PIN primary key's hot pages in memory while loading
        self.connection.exec_driver_sql("PRAGMA cache_size = -98304")
        # the index builds at the end sort with helper threads (the generator is done by then)
        self.connection.exec_driver_sql(f"PRAGMA threads = {os.cpu_count() or 1}")

    def finish(self) -> None:
        super().finish()
        self.connection.exec_driver_sql("PRAGMA cache_size = -2000")  # the default again

    def write(self, name: str, payload: Packed) -> None:
        marks = ", ".join(payload.placeholders)
        sql = f"INSERT INTO {name} ({', '.join(payload.columns)}) VALUES ({marks})"
        cursor = self.dbapi.cursor()
        cursor.executemany(sql, payload.tuples())
        cursor.close()

    def reference(self) -> None:
        """The same rows as :meth:`Writer.reference`, through the driver (SQLAlchemy's parameter
        processing of the ~25,000 rows was a tenth of a second of the first start)."""
        cursor = self.dbapi.cursor()
        try:
            for name, rows in reference_rows().items():
                if not rows:
                    continue
                columns = tuple(rows[0])
                cursor.executemany(
                    f"INSERT INTO {name} ({', '.join(columns)}) VALUES "
                    f"({', '.join('?' * len(columns))})",
                    [tuple(row[c] for c in columns) for row in rows])
        finally:
            cursor.close()

    def write_tuples(self, name: str, columns: tuple[str, ...], values: list[tuple]) -> None:
        """Rows made valid by the generator: their CHECK constraints (``IN`` lists, which
        SQLite evaluates through a temporary table per row: half the card insert's time) are
        not evaluated again."""
        sql = f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        cursor = self.dbapi.cursor()
        cursor.execute("PRAGMA ignore_check_constraints = ON")
        try:
            cursor.executemany(sql, values)
        finally:
            cursor.execute("PRAGMA ignore_check_constraints = OFF")
            cursor.close()


class PostgresWriter(Writer):
    def prepare(self) -> None:
        self.connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
        # The sorts of the index builds (the citizen key at 105M people is ~3 GB): at least 1 GB,
        # more if the server is configured with more for a bulk load (docs/scale.md).
        self.connection.exec_driver_sql(
            "SELECT set_config('maintenance_work_mem', '1GB', true) "
            "WHERE pg_size_bytes(current_setting('maintenance_work_mem')) < 1024 * 1024 * 1024")

    def drop_indexes(self) -> None:
        """Also the foreign keys: COPY checks them row by row through triggers, while adding a
        constraint back checks all rows in one join. And the primary keys: a key maintained
        while rows arrive in random PIN order splits pages all over the index (38 MiB per
        million people for the citizen key, 27 MiB when built by one sort after the load)."""
        super().drop_indexes()
        for constraint in self._foreign_keys():
            self.connection.execute(DropConstraint(constraint))
        for name in POPULATION_TABLES:
            self.connection.exec_driver_sql(f"ALTER TABLE {name} DROP CONSTRAINT pk_{name}")

    def create_indexes(self) -> None:
        for name in POPULATION_TABLES:
            columns = ", ".join(c.name for c in table(name).primary_key.columns)
            self.connection.exec_driver_sql(
                f"ALTER TABLE {name} ADD CONSTRAINT pk_{name} PRIMARY KEY ({columns}) "
                "WITH (fillfactor = 100)")
        super().create_indexes()
        for constraint in self._foreign_keys():
            self.connection.execute(AddConstraint(constraint))

    def _foreign_keys(self) -> list[ForeignKeyConstraint]:
        """The population tables' own foreign keys and those of tables referring to them (the
        card's holder): the latter depend on the primary keys dropped for the load."""
        population = {table(name) for name in self.indexed}
        return [c for t in Base.metadata.sorted_tables for c in t.constraints
                if isinstance(c, ForeignKeyConstraint)
                and (t in population or c.referred_table in population)]

    def clear(self) -> None:
        names = ", ".join(t.name for t in owned_tables())
        self.connection.exec_driver_sql(f"TRUNCATE {names}")

    def write(self, name: str, payload: Packed) -> None:
        # FREEZE: the tables were truncated in this transaction, so the rows can be written
        # frozen and all-visible: no vacuum of the whole population after the load, and no page
        # rewritten later just to set hint bits when a lookup first reads it.
        sql = f"COPY {name} ({', '.join(payload.columns)}) FROM STDIN WITH (FREEZE)"
        with self.dbapi.cursor() as cursor:
            with cursor.copy(sql) as copy:
                for text in payload.copy_chunks():
                    copy.write(text)

    def write_tuples(self, name: str, columns: tuple[str, ...], values: list[tuple]) -> None:
        # no FREEZE: the account tables are emptied by DELETE (they do not refer to the people)
        with self.dbapi.cursor() as cursor, cursor.copy(
                f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)

    def finish(self) -> None:
        super().finish()
        for name in (*SEQUENCED, *self.extras):
            self.connection.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {name}"))
        for name in (*POPULATION_TABLES, *REFERENCE_TABLES, *self.extras):
            self.connection.exec_driver_sql(f"ANALYZE {name}")


def writer_for(connection: Connection, *, extras: bool = False) -> Writer:
    if connection.dialect.name == "sqlite":
        return SqliteWriter(connection, extras=extras)
    return PostgresWriter(connection, extras=extras)


def reference_rows() -> dict[str, list[dict[str, Any]]]:
    units = admin_units()
    return {
        "province": [
            {"code": p.code, "name": p.name, "division_type": p.division_type,
             "phone_code": p.phone_code, "is_current": p.is_current, "legacy_name": p.legacy_name,
             "legacy_division_type": p.legacy_division_type, "current_code": p.current_code,
             "region": p.region}
            for p in units.provinces.values()],
        "commune": [{"code": c.code, "name": c.name, "division_type": c.division_type,
                     "province_code": c.province_code} for c in units.communes.values()],
        "legacy_commune": [
            {"code": w.code, "name": w.name, "division_type": w.division_type,
             "district_code": w.district_code, "district_name": w.district_name,
             "province_code": w.province_code,
             "current_commune_code": w.current_codes[0] if w.current_codes else None,
             "is_partly_merged": w.is_partly_merged}
            for w in units.legacy_wards.values()],
        "legacy_commune_successor": [{"legacy_code": w.code, "commune_code": c}
                                     for w in units.legacy_wards.values() for c in w.current_codes],
        "code_item": [{"list_name": name, "code": code, "name": label, "name_en": label_en}
                      for name, items in code_lists().items() for code, label, label_en in items],
    }


def count_people(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(table("citizen"))).scalar_one())
