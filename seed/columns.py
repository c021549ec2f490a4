"""Column-oriented rows of one batch, for either loader (SQLite executemany, PostgreSQL COPY)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.dtypes import StringDType


@dataclass
class Column:
    values: np.ndarray  # int64 or StringDType
    null: np.ndarray | None = None  # True where the value is NULL

    def python(self) -> list:
        """Values as Python objects (None for NULL), for the DB-API."""
        if self.null is None or not self.null.any():
            return self.values.tolist()
        values = self.values.astype(object)
        values[self.null] = None
        return values.tolist()

    def copy_text(self) -> list[str]:
        """Values in PostgreSQL COPY text format (``\\N`` for NULL)."""
        text = self.values.astype(StringDType(), copy=False)
        if self.null is not None:
            text = np.where(self.null, "\\N", text)
        return text.tolist()


@dataclass
class Rows:
    columns: dict[str, Column] = field(default_factory=dict)

    def add(self, name: str, values: np.ndarray, null: np.ndarray | None = None) -> None:
        self.columns[name] = Column(values, null)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())).values) if self.columns else 0

    def tuples(self) -> list[tuple]:
        return list(zip(*(c.python() for c in self.columns.values()), strict=True))

    def copy_payload(self) -> bytes:
        lines = map("\t".join, zip(*(c.copy_text() for c in self.columns.values()), strict=True))
        return ("\n".join(lines) + "\n").encode() if len(self) else b""


def iso_dates(days: np.ndarray) -> np.ndarray:
    """Day numbers as 'YYYY-MM-DD' (the form SQLAlchemy stores on SQLite; PostgreSQL parses it)."""
    return days.astype("datetime64[D]").astype(StringDType())


def digits(values: np.ndarray, width: int) -> np.ndarray:
    return np.strings.zfill(values.astype(StringDType()), width)


SEPARATOR = "\x1f"  # never inside generated text


@dataclass
class Packed:
    """Rows in a compact, fast-to-pickle form for SQLite: text columns as one UTF-8 blob each."""

    columns: tuple[str, ...]
    parts: list[tuple[bool, object, np.ndarray | None]]  # (is_text, data, null mask)
    length: int

    def tuples(self):
        lists = [_unpack(is_text, data, null, self.length) for is_text, data, null in self.parts]
        return zip(*lists, strict=True)


def _unpack(is_text: bool, data: object, null: np.ndarray | None, length: int) -> list:
    if is_text:
        values = data.decode().split(SEPARATOR) if length else []  # type: ignore[attr-defined]
    else:
        values = data.tolist()  # type: ignore[attr-defined]
    if null is not None and null.any():
        boxed = np.array(values, dtype=object)
        boxed[null] = None
        values = boxed.tolist()
    return values


def pack(rows: Rows) -> Packed:
    parts: list[tuple[bool, object, np.ndarray | None]] = []
    for column in rows.columns.values():
        if column.values.dtype == StringDType():
            parts.append((True, SEPARATOR.join(column.values.tolist()).encode(), column.null))
        else:
            parts.append((False, column.values, column.null))
    return Packed(columns=tuple(rows.columns), parts=parts, length=len(rows))


def copy_data(rows: Rows) -> tuple[tuple[str, ...], bytes]:
    return tuple(rows.columns), rows.copy_payload()
