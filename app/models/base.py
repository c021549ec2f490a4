"""Declarative base with a naming convention so migrations get stable constraint names."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid); PostgreSQL gets a bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def CodeString(length: int) -> String:  # a column type, named like one
    """Text of codes (PINs, CMND numbers, folded names) compared byte by byte: on PostgreSQL the
    column gets ``COLLATE "C"``, which orders digits and ASCII exactly like the usual UTF-8
    collations but lets index builds and lookups compare with memcmp instead of the C library's
    collation (the PIN indexes of a national load build in about half the time, docs/scale.md).
    SQLite compares bytes already (BINARY). Every PIN column has it, so joins between them keep
    using their indexes."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")
