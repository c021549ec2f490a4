"""Reads for the data-sharing API: one citizen row by PIN on a fast path, anything else in a read
transaction opened only if a request needs it.

A lookup by PIN is one statement on the primary key, so it is consistent on its own and needs no
transaction. The fast path skips what a session costs per request (checkout, ``BEGIN``,
``ROLLBACK``; three round trips on PostgreSQL): on PostgreSQL an autocommit connection (one round
trip); on SQLite a connection of its own used from the event-loop thread only (SQLite work runs
inline there, see :meth:`app.services.runtime.Runtime.run_blocking`), reading the row with the
driver directly. Scopes that need more rows (residence, family, reference names on first use) open
an ordinary read session.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.db import Database
from app.models.population import Citizen

CITIZEN_COLUMNS = tuple(column.name for column in Citizen.__table__.columns)
_DATE_COLUMNS = tuple(c.name for c in Citizen.__table__.columns if c.type.python_type is date)
CitizenRow = namedtuple("CitizenRow", CITIZEN_COLUMNS)  # type: ignore[misc]
_BY_PIN = select(Citizen.__table__).where(Citizen.__table__.c.pin == bindparam("pin"))
_SQLITE_BY_PIN = f"SELECT {', '.join(CITIZEN_COLUMNS)} FROM citizen WHERE pin = ?"


class SqliteCitizens:
    """Citizen rows through one dedicated driver connection (event-loop thread only)."""

    def __init__(self, database: Database) -> None:
        self._engine = database.reader.kw["bind"]
        self._connection: Any = None
        self._owner: int | None = None

    def __call__(self, pin: str) -> CitizenRow | None:
        cursor = self._cursor()
        try:
            found = cursor.execute(_SQLITE_BY_PIN, (pin,)).fetchone()
        finally:
            cursor.close()
        return None if found is None else _with_dates(CitizenRow(*found))

    def _cursor(self) -> Any:
        if self._owner != threading.get_ident():  # a new event loop thread (tests): reconnect
            self.close()
            self._connection, self._owner = self._engine.raw_connection(), threading.get_ident()
        return self._connection.cursor()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _with_dates(row: CitizenRow) -> CitizenRow:
    converted = {name: date.fromisoformat(getattr(row, name))
                 for name in _DATE_COLUMNS if getattr(row, name)}
    return row._replace(**converted)


class PostgresCitizens:
    """Citizen rows through autocommit connections from the pool (one round trip each)."""

    def __init__(self, database: Database) -> None:
        self._engine = database.reader.kw["bind"].execution_options(isolation_level="AUTOCOMMIT")

    def __call__(self, pin: str) -> Any:
        with self._engine.connect() as connection:
            return connection.execute(_BY_PIN, {"pin": pin}).first()


def citizen_reader(database: Database) -> Callable[[str], Any]:
    return SqliteCitizens(database) if database.is_sqlite else PostgresCitizens(database)


class ReadScope:
    """What a reading service function gets: :meth:`citizen` on the fast path, and a read
    session (``get``, ``execute``, ``scalars``) opened on first use and closed with the scope."""

    def __init__(self, database: Database, citizens: Callable[[str], Any]) -> None:
        self._database = database
        self._citizens = citizens
        self._context: AbstractContextManager[Session] | None = None
        self._session: Session | None = None

    def citizen(self, pin: str) -> Any:
        """The citizen's columns (attribute access), or ``None``."""
        return self._citizens(pin)

    @property
    def session(self) -> Session:
        if self._session is None:
            self._context = self._database.read()
            self._session = self._context.__enter__()
        return self._session

    def close(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = self._session = None
