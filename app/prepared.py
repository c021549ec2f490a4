"""Hot statements compiled once per dialect and run on the driver's cursor.

``Connection.execute`` costs ~90 us per statement on our 2-core machines (execution context,
events, result object) against ~10 us for SQLite's own work, and a login flow runs about fifteen.
:class:`Prepared` keeps SQLAlchemy as the SQL compiler and the type system -- the SQL text, the
order of the parameters, PostgreSQL's bind casts and every value conversion (dates, JSON, booleans)
are SQLAlchemy's own for the connection's dialect -- and skips only the per-execution machinery.

For the login endpoints' statements (measured in isolation; the flows' instructions before and
after: bench/RESULTS.md, ``bench/oidc_instructions.sh``). Refused when
compiled: statements whose execution SQLAlchemy would complete itself (Python-side column
defaults, expanding ``IN``, post-compile parameters). Errors are raised as SQLAlchemy's
(``sqlalchemy.exc.IntegrityError``...), without the parameters. The connection is begun first if
it is not in a transaction, as ``Connection.execute`` would (unless its unit began one on the
driver: ``DRIVER_TRANSACTION``).
"""

from __future__ import annotations

import datetime
import json
import numbers
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exc
from sqlalchemy.dialects.sqlite.base import DATETIME as SQLITE_DATETIME
from sqlalchemy.dialects.sqlite.base import _SQliteJson
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable, sqltypes
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None
_SQLITE_JSON_RESULT = _SQliteJson.result_processor  # what _sqlite_json_loads stands in for
_SQLITE_DATETIME_FORMAT = SQLITE_DATETIME()._storage_format  # what _sqlite_datetime writes
_MISSING = object()

DRIVER_TRANSACTION = "_dancu_driver_transaction"
"""Set (``True``) as an attribute of a ``Connection`` while its transaction is begun and ended on
the driver's connection itself, outside SQLAlchemy's bookkeeping (``app.db.driver_transaction``):
a statement then runs in it without ``Connection.begin``."""


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # parameter names, in the order the driver takes them when positional
    keys: tuple[str, ...]  # the driver's names, when named
    defaults: Mapping[str, Any]  # values bound in the statement itself (literals, LIMIT)
    processors: tuple[Processor, ...]
    binds: tuple[tuple[str, Processor, Any], ...]  # (name, processor, default or _MISSING)
    positional: bool
    columns: tuple[tuple[str, Any], ...]  # (name, type) of each selected column
    row: Any  # a namedtuple class of the columns
    dialect: Dialect
    untyped: bool  # the driver gives no column type codes (sqlite3: ``description`` has None)


class Prepared:
    """A Core statement (``select``, ``insert``, ``update``, ``delete``) to run many times."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # an insert is compiled for the columns it is given (the key below); read once, not per run
        self._is_insert = bool(getattr(statement, "is_insert", False))
        self._compiled: dict[tuple[str, str, tuple[str, ...]], _Compiled] = {}
        # the dialect last run on and its compiled form (not for inserts, compiled per columns):
        # one identity check instead of a key built and looked up per execution
        self._last: tuple[Dialect | None, _Compiled | None] = (None, None)
        self._results: dict[tuple[str, tuple[Any, ...]], tuple[Processor, ...] | None] = {}

    def first(self, connection: Connection, params: Mapping[str, Any]) -> Any | None:
        """The first row (a named tuple), or ``None``."""
        compiled, cursor = self._run(connection, params)
        try:
            found = cursor.fetchone()
            return None if found is None else self._row(compiled, cursor, found)
        finally:
            cursor.close()

    def all(self, connection: Connection, params: Mapping[str, Any]) -> list[Any]:
        compiled, cursor = self._run(connection, params)
        try:
            return [self._row(compiled, cursor, found) for found in cursor.fetchall()]
        finally:
            cursor.close()

    def run(self, connection: Connection, params: Mapping[str, Any]) -> int:
        """Execute a write; the number of rows it matched."""
        _, cursor = self._run(connection, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    # --- compiling and running ---------------------------------------------------------------

    def _run(self, connection: Connection, params: Mapping[str, Any]) -> tuple[_Compiled, Any]:
        dialect = connection.dialect
        last, compiled = self._last
        if last is not dialect or compiled is None:
            key = (dialect.name, dialect.driver, tuple(params) if self._is_insert else ())
            compiled = self._compiled.get(key) or self._compile(dialect, key)
            if not self._is_insert:
                self._last = (dialect, compiled)
        values = []
        for name, process, default in compiled.binds:
            value = params[name] if default is _MISSING or name in params else default
            values.append(process(value) if process else value)
        arguments: Sequence[Any] | dict[str, Any] = (
            values if compiled.positional else dict(zip(compiled.keys, values, strict=True)))
        if not connection.in_transaction() and not getattr(connection, DRIVER_TRANSACTION, False):
            connection.begin()
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.sql, arguments)
        except dialect.loaded_dbapi.Error as error:
            cursor.close()
            raise exc.DBAPIError.instance(compiled.sql, None, error, dialect.loaded_dbapi.Error,
                                          hide_parameters=True) from error
        return compiled, cursor

    def _compile(self, dialect: Dialect, key: tuple[str, str, tuple[str, ...]]) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect, column_keys=list(key[2]) or None)
        assert isinstance(compiled, SQLCompiler)
        if compiled.insert_prefetch or compiled.update_prefetch or "POSTCOMPILE" in compiled.string:
            raise ValueError("Prepared runs only statements SQLAlchemy need not complete itself")
        names = tuple(compiled.positiontup or ()) if dialect.positional \
            else tuple(compiled.bind_names.values())
        binds = {compiled.bind_names[bind]: bind for bind in compiled.bind_names}
        escaped = compiled.escaped_bind_names or {}
        columns = tuple((column.key, column.type)
                        for column in getattr(self.statement, "selected_columns", ()))
        if len({name for name, _ in columns}) != len(columns):
            raise ValueError("Prepared needs distinct column names")
        defaults = {n: binds[n].effective_value for n in names if not binds[n].required}
        processors = tuple(_bind_processor(binds[n].type.dialect_impl(dialect), dialect)
                           for n in names)
        made = _Compiled(
            sql=compiled.string, names=names, keys=tuple(escaped.get(n, n) for n in names),
            defaults=defaults, processors=processors,
            binds=tuple((n, process, defaults.get(n, _MISSING))
                        for n, process in zip(names, processors, strict=True)),
            positional=bool(dialect.positional), columns=columns,
            row=namedtuple("Row", [name for name, _ in columns]) if columns else None,  # type: ignore[misc]
            dialect=dialect, untyped=dialect.name == "sqlite" and dialect.driver == "pysqlite")
        self._compiled[key] = made
        return made

    def _row(self, compiled: _Compiled, cursor: Any, found: Sequence[Any]) -> Any:
        processors = self._result_processors(compiled, cursor)
        if processors is None:  # no column needs converting: the driver's values as they are
            return compiled.row._make(found)
        return compiled.row._make([process(value) if process else value
                                   for process, value in zip(processors, found, strict=True)])

    def _result_processors(self, compiled: _Compiled,
                           cursor: Any) -> tuple[Processor, ...] | None:
        """The columns' result processors for this cursor's column types (``None`` when no
        column has one), computed once per statement and set of type codes."""
        key = (compiled.sql, None if compiled.untyped
               else tuple([column[1] for column in cursor.description]))
        try:
            return self._results[key]
        except KeyError:
            dialect = compiled.dialect
            codes = key[1] or tuple(column[1] for column in cursor.description)
            found = tuple(_sqlite_json_loads if _plain_sqlite_json(kind, dialect, code)
                          else kind.dialect_impl(dialect).result_processor(dialect, code)
                          for (_, kind), code in zip(compiled.columns, codes, strict=True))
            self._results[key] = None if not any(found) else found
            return self._results[key]


def _plain_sqlite_json(kind: Any, dialect: Dialect, code: Any) -> bool:
    """A JSON column as SQLite's dialect decodes it with its default deserializer: the text
    through ``json.loads`` (a number stored as one given as it is), which
    :func:`_sqlite_json_loads` does in one call instead of SQLAlchemy's two nested processors
    (a login flow decodes ~17 of a client row's values)."""
    impl = kind.dialect_impl(dialect)
    return (dialect.name == "sqlite" and isinstance(impl, sqltypes.JSON)
            and type(impl).result_processor is _SQLITE_JSON_RESULT
            and getattr(dialect, "_json_deserializer", None) is None
            and impl._str_impl.result_processor(dialect, code) is None)


def _sqlite_json_loads(value: Any) -> Any:
    """SQLite's JSON result processor (``sqlalchemy.dialects.sqlite.base._SQliteJson``) with
    ``json.loads``: ``None`` stays ``None``; a number SQLite hands back as a number stays one."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except TypeError:
        if isinstance(value, numbers.Number):
            return value
        raise


def _bind_processor(impl: Any, dialect: Dialect) -> Processor:
    """The type's bind processor for the dialect; SQLite's ``DATETIME`` in its default storage
    format as :func:`_sqlite_datetime` (the same text, formatted from a tuple, not a dict: a
    login flow binds ~10 datetimes)."""
    process = impl.bind_processor(dialect)
    if (process is not None and type(impl) is SQLITE_DATETIME
            and impl._storage_format == _SQLITE_DATETIME_FORMAT):
        return _sqlite_datetime(process)
    return process


def _sqlite_datetime(fallback: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """SQLite's ``DATETIME`` bind processor (``sqlalchemy.dialects.sqlite.base.DATETIME``) for a
    ``datetime``: ``YYYY-MM-DD HH:MM:SS.ffffff``, the time zone dropped, as SQLAlchemy writes it;
    anything else (``None``, a ``date``, a wrong type) through SQLAlchemy's own."""
    kind = datetime.datetime

    def process(value: Any) -> Any:
        if isinstance(value, kind):
            return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 (the fastest)
                value.year, value.month, value.day, value.hour, value.minute, value.second,
                value.microsecond)
        return fallback(value)

    return process
