"""population footprint: the legacy ward's code instead of the legacy address text, citizen columns
in alignment order, packed and partial indexes (docs/scale.md, measured at 1M people)

- ``residence.legacy_address`` (the pre-2025 address as written, ~78 bytes on 90% of rows) becomes
  ``legacy_commune_code`` (5 characters); the text is rendered from it and the address line.
  Existing rows get the ward whose rendered names end their text. 179 -> 109 MiB per million.
- PostgreSQL: ``citizen`` is rebuilt with its fixed-width columns first (bigint, dates, smallints,
  then the variable-length ones), which removes the alignment padding between them: 158 -> 150 MiB
  per million. The order is physical only; the columns and constraints are the same. (SQLite's
  records have no alignment padding; its table stays as it is.)
- The indexes of the large tables are built full (fillfactor 100, PostgreSQL; SQLite has no such
  setting): they are built once after a bulk load. ``ix_citizen_cmnd_number`` leaves out the 40%
  of people without a CMND number (both databases infer ``cmnd_number = :x`` implies NOT NULL).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PACKED = {"fillfactor": 100}
CMND_PRESENT = sa.text("cmnd_number IS NOT NULL")
LARGE_TABLES = ("citizen", "household", "residence", "family_relation")
SECONDARY = {
    "residence": {"ix_residence_pin": ["pin"]},
    "family_relation": {"ix_family_relation_pin": ["pin"],
                        "ix_family_relation_relative_pin": ["relative_pin"]},
}
CITIZEN_INDEXES = ("birth_date", "cmnd_number", "household_id", "name_folded")
# ", ward, district, province" of each legacy ward, with the names before 2025-07-01
LEGACY_SUFFIX = ("SELECT lc.code AS code, ', ' || lc.name || ', ' || lc.district_name || ', ' "
                 "|| p.legacy_name AS suffix FROM legacy_commune lc "
                 "JOIN province p ON p.code = lc.province_code")


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    _residence_legacy_code()
    _citizen_in_alignment_order()
    for table, indexes in SECONDARY.items():
        for name, columns in indexes.items():
            op.drop_index(name, table)
            op.create_index(name, table, columns, postgresql_with=PACKED)
    if _is_postgres():
        for table in ("household", "residence", "family_relation"):
            op.execute(f"ALTER INDEX pk_{table} SET (fillfactor = 100)")
            op.execute(f"REINDEX INDEX pk_{table}")


def _residence_legacy_code() -> None:
    op.add_column("residence", sa.Column("legacy_commune_code", sa.String(length=5),
                                         nullable=True))
    op.execute(f"CREATE TABLE legacy_ward_suffix_0007 AS {LEGACY_SUFFIX}")
    op.create_index("ix_legacy_ward_suffix_0007", "legacy_ward_suffix_0007", ["suffix"])
    op.execute("UPDATE residence SET legacy_commune_code = (SELECT min(s.code) "
               "FROM legacy_ward_suffix_0007 s WHERE s.suffix = "
               "substr(residence.legacy_address, length(residence.address_line) + 1)) "
               "WHERE legacy_address IS NOT NULL")
    op.drop_table("legacy_ward_suffix_0007")
    with op.batch_alter_table("residence") as batch:
        batch.drop_column("legacy_address")


def _citizen_columns() -> list[sa.Column]:
    """Widest alignment first: 8-byte, 4-byte, 2-byte, then variable-length columns."""
    string = sa.String
    return [
        sa.Column("household_id", sa.BigInteger(), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("status_date", sa.Date(), nullable=True),
        sa.Column("ethnicity_code", sa.SmallInteger(), nullable=False),
        sa.Column("religion_code", sa.SmallInteger(), nullable=False),
        sa.Column("marital_status", sa.SmallInteger(), nullable=False),
        sa.Column("relationship_to_head", sa.SmallInteger(), nullable=True),
        sa.Column("pin", string(length=12), nullable=False),
        sa.Column("surname", string(length=40), nullable=False),
        sa.Column("middle_name", string(length=60), nullable=False),
        sa.Column("given_name", string(length=40), nullable=False),
        sa.Column("name_folded", string(length=140), nullable=False),
        sa.Column("other_names", string(length=140), nullable=True),
        sa.Column("birth_date_precision", string(length=5), nullable=False),
        sa.Column("sex", string(length=1), nullable=False),
        sa.Column("birth_place_commune", string(length=5), nullable=True),
        sa.Column("birth_registration_place", string(length=3), nullable=False),
        sa.Column("origin_commune", string(length=5), nullable=True),
        sa.Column("nationality", string(length=2), nullable=False),
        sa.Column("blood_group", string(length=3), nullable=True),
        sa.Column("cmnd_number", string(length=9), nullable=True),
        sa.Column("phone", string(length=15), nullable=True),
        sa.Column("email", string(length=80), nullable=True),
        sa.Column("status", string(length=8), nullable=False),
        sa.Column("identifying_marks", string(length=120), nullable=True),
    ]


def _one_of(column: str, *values: str) -> str:
    return " OR ".join(f"{column} = '{value}'" for value in values)


def _citizen_in_alignment_order() -> None:
    """Rebuild ``citizen`` with the same columns in another physical order (PostgreSQL: SQLite's
    records are not aligned, so the order costs nothing there), and its indexes."""
    for column in CITIZEN_INDEXES:
        op.drop_index(f"ix_citizen_{column}", "citizen")
    if _is_postgres():
        _rebuild_citizen()
    for column in CITIZEN_INDEXES:
        where = {"sqlite_where": CMND_PRESENT, "postgresql_where": CMND_PRESENT} \
            if column == "cmnd_number" else {}
        op.create_index(f"ix_citizen_{column}", "citizen", [column], postgresql_with=PACKED,
                        **where)


def _rebuild_citizen() -> None:
    op.drop_constraint("fk_card_pin_citizen", "card", type_="foreignkey")
    op.drop_constraint("pk_citizen", "citizen", type_="primary")
    op.rename_table("citizen", "citizen_0006")
    columns = _citizen_columns()
    names = ", ".join(c.name for c in columns)
    op.create_table(
        "citizen", *columns,
        sa.CheckConstraint(_one_of("birth_date_precision", "day", "month", "year"),
                           name=op.f("ck_citizen_birth_precision")),
        sa.CheckConstraint(_one_of("sex", "M", "F"), name=op.f("ck_citizen_sex")),
        sa.CheckConstraint(_one_of("status", "alive", "deceased", "missing", "replaced"),
                           name=op.f("ck_citizen_status")),
    )
    op.execute(f"INSERT INTO citizen ({names}) SELECT {names} FROM citizen_0006")
    op.drop_table("citizen_0006")
    op.execute("ALTER TABLE citizen ADD CONSTRAINT pk_citizen PRIMARY KEY (pin) "
               "WITH (fillfactor = 100)")
    op.create_foreign_key("fk_card_pin_citizen", "card", "citizen", ["pin"], ["pin"])


def downgrade() -> None:
    for column in CITIZEN_INDEXES:
        op.drop_index(f"ix_citizen_{column}", "citizen")
        op.create_index(f"ix_citizen_{column}", "citizen", [column])
    for table, indexes in SECONDARY.items():
        for name, columns in indexes.items():
            op.drop_index(name, table)
            op.create_index(name, table, columns)
    if _is_postgres():
        for table in LARGE_TABLES:
            op.execute(f"ALTER INDEX pk_{table} RESET (fillfactor)")
    op.add_column("residence", sa.Column("legacy_address", sa.String(length=200), nullable=True))
    op.execute(f"UPDATE residence SET legacy_address = residence.address_line || (SELECT s.suffix "
               f"FROM ({LEGACY_SUFFIX}) s WHERE s.code = residence.legacy_commune_code) "
               "WHERE legacy_commune_code IS NOT NULL")
    with op.batch_alter_table("residence") as batch:
        batch.drop_column("legacy_commune_code")
