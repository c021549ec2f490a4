"""code columns compared byte by byte: PINs, CMND numbers and folded names get ``COLLATE "C"`` on
PostgreSQL (``app.models.base.CodeString``)

Their values are digits or lower-case ASCII, which the database's UTF-8 collation orders exactly as
"C" does, but through the C library's ``strcoll``; with "C" PostgreSQL compares with ``memcmp`` and
abbreviated keys. The PIN indexes of a bulk load build in about half the time (1M
``family_relation(pin)``: 0.94-1.32 s -> 0.51-0.55 s, bench/RESULTS.md). Every PIN column changes
together, so that joins between them keep using their indexes. The type stays the same, so no
table is rewritten; the indexes on these columns are rebuilt. SQLite compares bytes already.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 14:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE_COLUMNS: dict[str, dict[str, int]] = {
    "citizen": {"pin": 12, "cmnd_number": 9, "name_folded": 140},
    "household": {"head_pin": 12},
    "residence": {"pin": 12},
    "family_relation": {"pin": 12, "relative_pin": 12},
    "pin_history": {"old_pin": 12, "new_pin": 12},
    "card": {"pin": 12},
    "vneid_account": {"pin": 12},
    "consent": {"pin": 12},
    "audit_record": {"pin": 12},
    "life_event": {"pin": 12},
    "sandbox_persona": {"pin": 12},
}


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in CODE_COLUMNS.items():
        changes = ", ".join(f'ALTER COLUMN {column} TYPE varchar({length}) COLLATE "{collation}"'
                            for column, length in columns.items())
        op.execute(f"ALTER TABLE {table} {changes}")


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
