"""Column-oriented rows of one batch, for either loader (SQLite executemany, PostgreSQL COPY)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.dtypes import StringDType

SEPARATOR = "\x1f"  # never inside generated text
NULL_TEXT, NULL_INT = "", -1  # stand-ins for NULL that SQLite turns back with NULLIF
CHUNK = 20_000  # rows turned into Python objects at a time on the writing side


@dataclass
class Column:
    values: np.ndarray  # int64 or StringDType
    null: np.ndarray | None = None  # True where the value is NULL

    @property
    def is_text(self) -> bool:
        return self.values.dtype == StringDType()

    def python(self) -> list:
        """Values as Python objects (None for NULL), for the DB-API."""
        values = self.values.astype(object)
        if self.null is not None:
            values[self.null] = None
        return values.tolist()

    def copy_text(self) -> np.ndarray:
        """Values in PostgreSQL COPY text format (``\\N`` for NULL), as strings."""
        text = self.values.astype(StringDType(), copy=False)
        return text if self.null is None else np.where(self.null, "\\N", text)

    def stand_in(self) -> np.ndarray:
        """Values with NULLs replaced by the stand-in of the column's type."""
        if self.null is None:
            return self.values
        return np.where(self.null, NULL_TEXT if self.is_text else NULL_INT, self.values)

    def placeholder(self) -> str:
        if self.null is None:
            return "?"
        return f"NULLIF(?, '{NULL_TEXT}')" if self.is_text else f"NULLIF(?, {NULL_INT})"


@dataclass
class Rows:
    columns: dict[str, Column] = field(default_factory=dict)

    def add(self, name: str, values: np.ndarray, null: np.ndarray | None = None) -> None:
        self.columns[name] = Column(values, null)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())).values) if self.columns else 0

    def tuples(self) -> list[tuple]:
        """Rows as Python tuples (tests and small tables)."""
        return list(zip(*(c.python() for c in self.columns.values()), strict=True))

    def copy_payload(self) -> bytes:
        """COPY text: tab-separated lines, joined column by column in numpy (no per-row Python)."""
        if not len(self):
            return b""
        columns = iter(self.columns.values())
        lines = next(columns).copy_text()
        for column in columns:
            lines = np.strings.add(np.strings.add(lines, "\t"), column.copy_text())
        return ("\n".join(lines.tolist()) + "\n").encode()


def iso_dates(days: np.ndarray) -> np.ndarray:
    """Day numbers as 'YYYY-MM-DD' (the form SQLAlchemy stores on SQLite; PostgreSQL parses it)."""
    return days.astype("datetime64[D]").astype(StringDType())


def digits(values: np.ndarray, width: int) -> np.ndarray:
    return np.strings.zfill(values.astype(StringDType()), width)


@dataclass
class Packed:
    """Rows in a compact, fast-to-pickle form for SQLite: text columns as UTF-8 blobs.

    NULLs travel as stand-ins (never valid values of the nullable columns) that the INSERT
    statement maps back with ``NULLIF``: cheaper than boxing Python lists to put None in them.
    Rows come in chunks so that only one chunk exists as Python objects at a time.
    """

    columns: tuple[str, ...]
    chunks: list[list[tuple[bool, object]]]  # per chunk, per column: (is_text, data)
    placeholders: tuple[str, ...]

    def tuples(self) -> Iterator[tuple]:
        for parts in self.chunks:
            yield from zip(*(_values(is_text, data) for is_text, data in parts), strict=True)


def _values(is_text: bool, data: object) -> list:
    if not is_text:
        return data.tolist()  # type: ignore[attr-defined]
    return data.decode().split(SEPARATOR)  # type: ignore[attr-defined]


def pack(rows: Rows, chunk: int = CHUNK) -> Packed:
    chunks: list[list[tuple[bool, object]]] = [[] for _ in range(0, len(rows), chunk)]
    for column in rows.columns.values():
        values = column.stand_in()
        for k, start in enumerate(range(0, len(rows), chunk)):
            part = values[start:start + chunk]
            chunks[k].append((True, SEPARATOR.join(part.tolist()).encode()) if column.is_text
                             else (False, part.astype(np.int64)))
    return Packed(columns=tuple(rows.columns), chunks=chunks,
                  placeholders=tuple(c.placeholder() for c in rows.columns.values()))


def copy_data(rows: Rows) -> tuple[tuple[str, ...], bytes]:
    return tuple(rows.columns), rows.copy_payload()
