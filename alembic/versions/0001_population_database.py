"""population database: units, code lists, citizens, households, residences, relations

Revision ID: 0001
Revises:
Create Date: 2026-11-25 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid); elsewhere a bigint.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _one_of(column: str, *values: str) -> str:
    # equality terms, not IN (...): SQLite builds a temporary table per row for an IN list
    return " OR ".join(f"{column} = '{value}'" for value in values)


def upgrade() -> None:
    _reference_tables()
    _citizen()
    _household_and_residence()
    _family_and_history()


def _reference_tables() -> None:
    op.create_table(
        "province",
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("division_type", sa.String(length=40), nullable=False),
        sa.Column("phone_code", sa.SmallInteger(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("legacy_name", sa.String(length=80), nullable=False),
        sa.Column("legacy_division_type", sa.String(length=40), nullable=False),
        sa.Column("current_code", sa.String(length=3), nullable=False),
        sa.Column("region", sa.String(length=2), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_province")),
    )
    op.create_table(
        "commune",
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("division_type", sa.String(length=20), nullable=False),
        sa.Column("province_code", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(["province_code"], ["province.code"],
                                name=op.f("fk_commune_province_code_province")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_commune")),
    )
    op.create_index(op.f("ix_commune_province_code"), "commune", ["province_code"])
    op.create_table(
        "legacy_commune",
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("division_type", sa.String(length=20), nullable=False),
        sa.Column("district_code", sa.String(length=3), nullable=False),
        sa.Column("district_name", sa.String(length=80), nullable=False),
        sa.Column("province_code", sa.String(length=3), nullable=False),
        sa.Column("current_commune_code", sa.String(length=5), nullable=True),
        sa.Column("is_partly_merged", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["current_commune_code"], ["commune.code"],
                                name=op.f("fk_legacy_commune_current_commune_code_commune")),
        sa.ForeignKeyConstraint(["province_code"], ["province.code"],
                                name=op.f("fk_legacy_commune_province_code_province")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_legacy_commune")),
    )
    op.create_index(op.f("ix_legacy_commune_current_commune_code"), "legacy_commune",
                    ["current_commune_code"])
    op.create_table(
        "legacy_commune_successor",
        sa.Column("legacy_code", sa.String(length=5), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.ForeignKeyConstraint(["commune_code"], ["commune.code"],
                                name=op.f("fk_legacy_commune_successor_commune_code_commune")),
        sa.ForeignKeyConstraint(["legacy_code"], ["legacy_commune.code"],
                                name=op.f("fk_legacy_commune_successor_legacy_code_legacy_commune")),
        sa.PrimaryKeyConstraint("legacy_code", "commune_code",
                                name=op.f("pk_legacy_commune_successor")),
    )
    op.create_index(op.f("ix_legacy_commune_successor_commune_code"), "legacy_commune_successor",
                    ["commune_code"])
    op.create_table(
        "code_item",
        sa.Column("list_name", sa.String(length=20), nullable=False),
        sa.Column("code", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("name_en", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("list_name", "code", name=op.f("pk_code_item")),
    )


def _citizen() -> None:
    op.create_table(
        "citizen",
        sa.Column("pin", sa.String(length=12), nullable=False),
        sa.Column("surname", sa.String(length=40), nullable=False),
        sa.Column("middle_name", sa.String(length=60), nullable=False),
        sa.Column("given_name", sa.String(length=40), nullable=False),
        sa.Column("name_folded", sa.String(length=140), nullable=False),
        sa.Column("other_names", sa.String(length=140), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("birth_date_precision", sa.String(length=5), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("birth_place_commune", sa.String(length=5), nullable=True),
        sa.Column("birth_registration_place", sa.String(length=3), nullable=False),
        sa.Column("origin_commune", sa.String(length=5), nullable=True),
        sa.Column("ethnicity_code", sa.SmallInteger(), nullable=False),
        sa.Column("religion_code", sa.SmallInteger(), nullable=False),
        sa.Column("nationality", sa.String(length=2), nullable=False),
        sa.Column("blood_group", sa.String(length=3), nullable=True),
        sa.Column("cmnd_number", sa.String(length=9), nullable=True),
        sa.Column("marital_status", sa.SmallInteger(), nullable=False),
        sa.Column("phone", sa.String(length=15), nullable=True),
        sa.Column("email", sa.String(length=80), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("status_date", sa.Date(), nullable=True),
        sa.Column("household_id", sa.BigInteger(), nullable=True),
        sa.Column("relationship_to_head", sa.SmallInteger(), nullable=True),
        sa.Column("identifying_marks", sa.String(length=120), nullable=True),
        sa.CheckConstraint(_one_of("birth_date_precision", "day", "month", "year"),
                           name=op.f("ck_citizen_birth_precision")),
        sa.CheckConstraint(_one_of("sex", "M", "F"), name=op.f("ck_citizen_sex")),
        sa.CheckConstraint(_one_of("status", "alive", "deceased", "missing"),
                           name=op.f("ck_citizen_status")),
        sa.PrimaryKeyConstraint("pin", name=op.f("pk_citizen")),
    )
    for column in ("birth_date", "cmnd_number", "household_id", "name_folded"):
        op.create_index(f"ix_citizen_{column}", "citizen", [column])


def _household_and_residence() -> None:
    op.create_table(
        "household",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("head_pin", sa.String(length=12), nullable=False),
        sa.Column("residence_file_number", sa.String(length=20), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("address_line", sa.String(length=120), nullable=False),
        sa.Column("legacy_commune_code", sa.String(length=5), nullable=True),
        sa.Column("registered_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["commune_code"], ["commune.code"],
                                name=op.f("fk_household_commune_code_commune")),
        sa.ForeignKeyConstraint(["legacy_commune_code"], ["legacy_commune.code"],
                                name=op.f("fk_household_legacy_commune_code_legacy_commune")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household")),
    )
    op.create_table(
        "residence",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("pin", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("commune_code", sa.String(length=5), nullable=False),
        sa.Column("address_line", sa.String(length=120), nullable=False),
        sa.Column("legacy_address", sa.String(length=200), nullable=True),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("deregistered_on", sa.Date(), nullable=True),
        sa.CheckConstraint(_one_of("kind", "permanent", "temporary", "current"),
                           name=op.f("ck_residence_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residence")),
    )
    op.create_index("ix_residence_pin", "residence", ["pin"])


def _family_and_history() -> None:
    op.create_table(
        "family_relation",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("pin", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("relative_pin", sa.String(length=12), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=True),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.CheckConstraint(_one_of("kind", "father", "mother", "spouse", "legal_representative"),
                           name=op.f("ck_family_relation_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_relation")),
    )
    op.create_index("ix_family_relation_pin", "family_relation", ["pin"])
    op.create_index("ix_family_relation_relative_pin", "family_relation", ["relative_pin"])
    op.create_table(
        "pin_history",
        sa.Column("old_pin", sa.String(length=12), nullable=False),
        sa.Column("new_pin", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("old_pin", name=op.f("pk_pin_history")),
    )
    op.create_index(op.f("ix_pin_history_new_pin"), "pin_history", ["new_pin"])
    op.create_table(
        "population_run",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("generator_version", sa.String(length=20), nullable=False),
        sa.Column("reference_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_population_run")),
    )


def downgrade() -> None:
    for table in ("population_run", "pin_history", "family_relation", "residence", "household",
                  "citizen", "code_item", "legacy_commune_successor", "legacy_commune", "commune",
                  "province"):
        op.drop_table(table)
