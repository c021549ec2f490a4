"""Column-oriented rows of one batch, for either loader (SQLite executemany, PostgreSQL COPY).

A column holds integers, strings, or *codes* into a small vocabulary of strings (dates, communes,
names, kinds...). Coded columns are cheap everywhere: the generator renders each distinct value
once, the SQLite writer turns codes into shared Python strings with one numpy gather (and sqlite3
reuses their cached UTF-8), COPY text gathers the vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.dtypes import StringDType

SEPARATOR = "\x1f"  # never inside generated text
NULL_TEXT, NULL_INT = "", -1  # stand-ins for NULL that SQLite turns back with NULLIF
CHUNK = 20_000  # rows turned into Python objects at a time on the writing side
INT, TEXT, CODED = "int", "text", "coded"


@dataclass
class Column:
    values: np.ndarray  # int64, StringDType, or codes into ``vocab``
    null: np.ndarray | None = None  # True where the value is NULL
    vocab: np.ndarray | None = None  # StringDType vocabulary of a coded column

    @property
    def kind(self) -> str:
        if self.vocab is not None:
            return CODED
        return TEXT if self.values.dtype == StringDType() else INT

    def strings(self) -> np.ndarray:
        if self.vocab is not None:
            return self.vocab[self.values]
        return self.values.astype(StringDType(), copy=False)

    def python(self) -> list:
        """Values as Python objects (None for NULL), for the DB-API."""
        values = self.strings().astype(object) if self.kind != INT else self.values.astype(object)
        if self.null is not None:
            values[self.null] = None
        return values.tolist()

    def copy_text(self) -> np.ndarray:
        """Values in PostgreSQL COPY text format (``\\N`` for NULL), as strings."""
        text = self.strings()
        return text if self.null is None else np.where(self.null, "\\N", text)

    def stand_in(self) -> np.ndarray:
        """Values with NULLs replaced by a stand-in (for codes: one past the vocabulary)."""
        if self.null is None:
            return self.values
        if self.kind == CODED:
            return np.where(self.null, len(self.vocab), self.values)  # type: ignore[arg-type]
        return np.where(self.null, NULL_INT if self.kind == INT else NULL_TEXT, self.values)

    def placeholder(self) -> str:
        if self.null is None:
            return "?"
        return f"NULLIF(?, {NULL_INT})" if self.kind == INT else f"NULLIF(?, '{NULL_TEXT}')"


@dataclass
class Rows:
    columns: dict[str, Column] = field(default_factory=dict)

    def add(self, name: str, values: np.ndarray, null: np.ndarray | None = None) -> None:
        self.columns[name] = Column(values, null)

    def add_keyed(self, name: str, keys: np.ndarray, render: Callable[[np.ndarray], np.ndarray],
                  null: np.ndarray | None = None) -> None:
        """A coded column: ``render`` turns each distinct integer key into its string once."""
        unique, codes = np.unique(keys, return_inverse=True)
        self.columns[name] = Column(codes.astype(np.int64), null,
                                    render(unique).astype(StringDType(), copy=False))

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())).values) if self.columns else 0

    def tuples(self) -> list[tuple]:
        """Rows as Python tuples (tests and small tables)."""
        return list(zip(*(c.python() for c in self.columns.values()), strict=True))


def iso_dates(days: np.ndarray) -> np.ndarray:
    """Day numbers as 'YYYY-MM-DD' (the form SQLAlchemy stores on SQLite; PostgreSQL parses it)."""
    return days.astype("datetime64[D]").astype(StringDType())


def digits(values: np.ndarray, width: int) -> np.ndarray:
    return np.strings.zfill(values.astype(StringDType()), width)


def blob(strings: np.ndarray) -> bytes:
    return SEPARATOR.join(strings.tolist()).encode()


@dataclass
class Packed:
    """Rows in a compact, fast-to-pickle form for the writer.

    Text columns travel as one UTF-8 blob per chunk, coded columns as int codes plus their
    vocabulary, integers as arrays (as text for PostgreSQL). NULLs travel as stand-ins: for SQLite
    values the INSERT maps back with ``NULLIF`` (cheaper than putting None into Python lists),
    for PostgreSQL COPY's ``\\N``. Rows come in chunks so that only one chunk exists as Python
    objects at a time.
    """

    columns: tuple[str, ...]
    kinds: tuple[str, ...]
    vocabularies: dict[int, bytes]  # column position -> vocabulary blob (stand-in last)
    chunks: list[list[object]]  # per chunk, per column: ints, text blob or codes
    placeholders: tuple[str, ...]

    def _lists(self) -> Iterator[list[list]]:
        words = {i: np.array(v.decode().split(SEPARATOR), dtype=object)
                 for i, v in self.vocabularies.items()}
        for parts in self.chunks:
            yield [_python(kind, data, words.get(i))
                   for i, (kind, data) in enumerate(zip(self.kinds, parts, strict=True))]

    def tuples(self) -> Iterator[tuple]:
        """Row tuples for ``executemany``."""
        for lists in self._lists():
            yield from zip(*lists, strict=True)

    def copy_chunks(self) -> Iterator[str]:
        """COPY text, one chunk of lines at a time."""
        for lists in self._lists():
            yield "\n".join(map("\t".join, zip(*lists, strict=True))) + "\n"


def _python(kind: str, data: object, words: np.ndarray | None) -> list:
    if kind == CODED:
        return words[data].tolist()  # type: ignore[index]
    if kind == TEXT:
        return data.decode().split(SEPARATOR)  # type: ignore[attr-defined]
    return data.tolist()  # type: ignore[attr-defined]


def pack(rows: Rows, *, for_copy: bool = False, chunk: int = CHUNK) -> Packed:
    """Pack for SQLite (NULL stand-ins for NULLIF) or, with ``for_copy``, for PostgreSQL COPY."""
    columns = list(rows.columns.values())
    chunks: list[list[object]] = [[] for _ in range(0, len(rows), chunk)]
    vocabularies, kinds = {}, []
    for position, column in enumerate(columns):
        kind = TEXT if for_copy and column.kind == INT else column.kind
        values = column.copy_text() if kind == TEXT and for_copy else column.stand_in()
        if kind == CODED:
            null = "\\N" if for_copy else NULL_TEXT
            vocabularies[position] = blob(np.append(column.vocab, null))
        for k, start in enumerate(range(0, len(rows), chunk)):
            part = values[start:start + chunk]
            chunks[k].append(blob(part) if kind == TEXT else part.astype(np.int64))
        kinds.append(kind)
    return Packed(columns=tuple(rows.columns), kinds=tuple(kinds), vocabularies=vocabularies,
                  chunks=chunks, placeholders=tuple(c.placeholder() for c in columns))
