"""The national population database (Law on Identification 2023, Art. 9).

Codes instead of repeated text keep a 105-million-row table small: administrative units, ethnicity,
religion and marital status are codes whose names live in reference tables.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId, CodeString

# The large tables' indexes are built once after a bulk load and then change little: full pages
# (PostgreSQL's default leaves 10% free for later inserts) are 10% smaller; see docs/scale.md.
PACKED = {"fillfactor": 100}


def one_of(column: str, *values: str) -> str:
    """``column = 'a' OR column = 'b'``: the same rule as ``IN (...)``, but SQLite evaluates an IN
    list in a CHECK by building a temporary table for every inserted row (~4x slower bulk loads)."""
    return " OR ".join(f"{column} = '{value}'" for value in values)


class Province(Base):
    """Provincial units by their PIN-style code: the 63 until 2025-06-30, of which 34 go on.

    Since 2025-07-01 (Resolution 202/2025/QH15) there are 34 units; each kept the GSO code of one
    of its constituents, so one code may name a legacy and a current unit (``024``: Bắc Giang until
    2025-06-30, Bắc Ninh since): ``name`` is the current name, ``legacy_name`` the earlier one.
    """

    __tablename__ = "province"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)  # PIN-style, zero-padded: "001"
    name: Mapped[str] = mapped_column(String(80))
    division_type: Mapped[str] = mapped_column(String(40))
    phone_code: Mapped[int] = mapped_column(SmallInteger)  # landline area code
    is_current: Mapped[bool]
    legacy_name: Mapped[str] = mapped_column(String(80))
    legacy_division_type: Mapped[str] = mapped_column(String(40))
    current_code: Mapped[str] = mapped_column(String(3))  # the current unit it is (part of)
    region: Mapped[str] = mapped_column(String(2))  # N, NC, SC, S: drives name variants


class Commune(Base):
    """Commune-level units (xã, phường, đặc khu) since 2025-07-01, GSO codes."""

    __tablename__ = "commune"

    code: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    division_type: Mapped[str] = mapped_column(String(20))
    province_code: Mapped[str] = mapped_column(ForeignKey("province.code"), index=True)


class LegacyCommune(Base):
    """Commune-level units until 2025-06-30 (with their district) and the commune each became.

    ``current_commune_code`` is the (first) successor; a ward split between several communes
    (``is_partly_merged``) lists all of them in ``legacy_commune_successor``.
    """

    __tablename__ = "legacy_commune"

    code: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    division_type: Mapped[str] = mapped_column(String(20))
    district_code: Mapped[str] = mapped_column(String(3))
    district_name: Mapped[str] = mapped_column(String(80))
    province_code: Mapped[str] = mapped_column(ForeignKey("province.code"))
    current_commune_code: Mapped[str | None] = mapped_column(ForeignKey("commune.code"), index=True)
    is_partly_merged: Mapped[bool]


class LegacyCommuneSuccessor(Base):
    """Every current commune a legacy ward went (partly) into on 2025-07-01."""

    __tablename__ = "legacy_commune_successor"

    legacy_code: Mapped[str] = mapped_column(ForeignKey("legacy_commune.code"), primary_key=True)
    commune_code: Mapped[str] = mapped_column(ForeignKey("commune.code"), primary_key=True,
                                              index=True)


class CodeItem(Base):
    """Small code lists: ethnicity, religion, marital status, relationship to household head."""

    __tablename__ = "code_item"

    list_name: Mapped[str] = mapped_column(String(20), primary_key=True)
    code: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(80))


class Household(Base):
    """Hộ gia đình (Art. 9 items 20, 22, 23): one head, members by PIN, one residence file.

    Members point here through ``citizen.household_id``; the address is the household's permanent
    residence, with the legacy ward it was registered under before 2025-07-01.
    """

    __tablename__ = "household"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    head_pin: Mapped[str] = mapped_column(CodeString(12))
    residence_file_number: Mapped[str] = mapped_column(String(20))
    commune_code: Mapped[str] = mapped_column(ForeignKey("commune.code"))
    address_line: Mapped[str] = mapped_column(String(120))
    legacy_commune_code: Mapped[str | None] = mapped_column(ForeignKey("legacy_commune.code"))
    registered_on: Mapped[date | None] = mapped_column(Date)  # at this address


class Citizen(Base):
    """One person in the population database, keyed by PIN (Law on Identification 2023 Art. 9).

    No foreign keys on the large tables: they are bulk-loaded and, on distributed databases
    (Citus), sharded by PIN; the generator's tests check the references instead.
    """

    __tablename__ = "citizen"
    __table_args__ = (
        CheckConstraint(one_of("sex", "M", "F"), name="sex"),
        CheckConstraint(one_of("status", "alive", "deceased", "missing", "replaced"),
                        name="status"),
        CheckConstraint(one_of("birth_date_precision", "day", "month", "year"),
                        name="birth_precision"),
        Index("ix_citizen_name_folded", "name_folded", postgresql_with=PACKED),
        Index("ix_citizen_birth_date", "birth_date", postgresql_with=PACKED),
        Index("ix_citizen_household_id", "household_id", postgresql_with=PACKED),
        # 40% have no CMND: `cmnd_number = :x` implies NOT NULL, so both databases use it
        Index("ix_citizen_cmnd_number", "cmnd_number", postgresql_with=PACKED,
              sqlite_where=text("cmnd_number IS NOT NULL"),
              postgresql_where=text("cmnd_number IS NOT NULL")),
    )

    pin: Mapped[str] = mapped_column(CodeString(12), primary_key=True)
    surname: Mapped[str] = mapped_column(String(40))
    middle_name: Mapped[str] = mapped_column(String(60))  # may be empty; may hold two words
    given_name: Mapped[str] = mapped_column(String(40))
    # lower-case, no diacritics: for search
    name_folded: Mapped[str] = mapped_column(CodeString(140))
    other_names: Mapped[str | None] = mapped_column(String(140))
    birth_date: Mapped[date] = mapped_column(Date)
    birth_date_precision: Mapped[str] = mapped_column(String(5), default="day")
    sex: Mapped[str] = mapped_column(String(1))
    birth_place_commune: Mapped[str | None] = mapped_column(String(5))  # None when born abroad
    birth_registration_place: Mapped[str] = mapped_column(String(3))  # = PIN[:3]
    origin_commune: Mapped[str | None] = mapped_column(String(5))  # quê quán
    ethnicity_code: Mapped[int] = mapped_column(SmallInteger)
    religion_code: Mapped[int] = mapped_column(SmallInteger)
    nationality: Mapped[str] = mapped_column(String(2), default="VN")
    blood_group: Mapped[str | None] = mapped_column(String(3))
    cmnd_number: Mapped[str | None] = mapped_column(CodeString(9))
    marital_status: Mapped[int] = mapped_column(SmallInteger)
    phone: Mapped[str | None] = mapped_column(String(15))
    email: Mapped[str | None] = mapped_column(String(80))
    # "replaced": the PIN was cancelled and re-established; pin_history names the new one
    status: Mapped[str] = mapped_column(String(8), default="alive")
    status_date: Mapped[date | None] = mapped_column(Date)  # of death, declared missing, replaced
    household_id: Mapped[int | None] = mapped_column(BigInteger)
    relationship_to_head: Mapped[int | None] = mapped_column(SmallInteger)
    identifying_marks: Mapped[str | None] = mapped_column(String(120))


class Residence(Base):
    """Permanent, temporary or current residence (Law on Residence 2020)."""

    __tablename__ = "residence"
    __table_args__ = (
        CheckConstraint(one_of("kind", "permanent", "temporary", "current"), name="kind"),
        Index("ix_residence_pin", "pin", postgresql_with=PACKED),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pin: Mapped[str] = mapped_column(CodeString(12))
    kind: Mapped[str] = mapped_column(String(10))
    commune_code: Mapped[str] = mapped_column(String(5))
    address_line: Mapped[str] = mapped_column(String(120))
    # the legacy ward of a registration made before 2025-07-01: the address as written then is
    # rendered from it (ward, district, province names) instead of stored
    legacy_commune_code: Mapped[str | None] = mapped_column(String(5))
    registered_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    deregistered_on: Mapped[date | None] = mapped_column(Date)


class FamilyRelation(Base):
    """``pin``'s ``kind`` is ``relative_pin`` (father, mother, spouse, legal_representative).

    Children are found through the reverse index on ``relative_pin``.
    """

    __tablename__ = "family_relation"
    __table_args__ = (
        CheckConstraint(one_of("kind", "father", "mother", "spouse", "legal_representative"),
                        name="kind"),
        Index("ix_family_relation_pin", "pin", postgresql_with=PACKED),
        Index("ix_family_relation_relative_pin", "relative_pin", postgresql_with=PACKED),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pin: Mapped[str] = mapped_column(CodeString(12))
    kind: Mapped[str] = mapped_column(String(24))
    relative_pin: Mapped[str] = mapped_column(CodeString(12))
    started_on: Mapped[date | None] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)


class PinHistory(Base):
    """Cancelled and re-established PINs (Circular 59/2021 Art. 6); old PINs stay resolvable."""

    __tablename__ = "pin_history"

    old_pin: Mapped[str] = mapped_column(CodeString(12), primary_key=True)
    new_pin: Mapped[str] = mapped_column(CodeString(12), index=True)
    reason: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PopulationRun(Base):
    """Which seed and size produced the population (one row)."""

    __tablename__ = "population_run"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    seed: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(BigInteger)
    generator_version: Mapped[str] = mapped_column(String(20))
    reference_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
