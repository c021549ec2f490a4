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
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigId


class Province(Base):
    """Provincial units: the 34 since 2025-07-01 and the 63 before (``is_current`` tells which)."""

    __tablename__ = "province"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)  # PIN-style, zero-padded: "001"
    name: Mapped[str] = mapped_column(String(80))
    legacy_name: Mapped[str | None] = mapped_column(String(80))  # its name before 2025-07-01
    division_type: Mapped[str] = mapped_column(String(40))
    is_current: Mapped[bool]
    is_legacy: Mapped[bool]
    current_code: Mapped[str] = mapped_column(String(3))  # the 34-unit province a legacy one merged into
    region: Mapped[str] = mapped_column(String(1))  # N(orth), C(entre), S(outh): drives name variants


class Commune(Base):
    """Commune-level units (xã, phường, đặc khu) since 2025-07-01, GSO codes."""

    __tablename__ = "commune"

    code: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    division_type: Mapped[str] = mapped_column(String(20))
    province_code: Mapped[str] = mapped_column(ForeignKey("province.code"), index=True)


class LegacyCommune(Base):
    """Pre-2025 wards with their district, and the current commune each became."""

    __tablename__ = "legacy_commune"

    code: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    district_name: Mapped[str] = mapped_column(String(80))
    province_code: Mapped[str] = mapped_column(ForeignKey("province.code"))
    current_commune_code: Mapped[str | None] = mapped_column(ForeignKey("commune.code"), index=True)


class CodeItem(Base):
    """Small code lists: ethnicity, religion, marital status, relationship to household head."""

    __tablename__ = "code_item"

    list_name: Mapped[str] = mapped_column(String(20), primary_key=True)
    code: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    name_en: Mapped[str] = mapped_column(String(80))


class Household(Base):
    """Hộ gia đình: one head, members by PIN, one residence file number."""

    __tablename__ = "household"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    head_pin: Mapped[str | None] = mapped_column(String(12))
    residence_file_number: Mapped[str] = mapped_column(String(20))
    commune_code: Mapped[str] = mapped_column(ForeignKey("commune.code"))
    address_line: Mapped[str] = mapped_column(String(120))


class Citizen(Base):
    """One person in the population database, keyed by PIN."""

    __tablename__ = "citizen"
    __table_args__ = (
        CheckConstraint("sex IN ('M', 'F')", name="sex"),
        CheckConstraint("status IN ('alive', 'deceased', 'missing')", name="status"),
        CheckConstraint("birth_date_precision IN ('day', 'month', 'year')", name="birth_precision"),
        Index("ix_citizen_name_folded", "name_folded"),
        Index("ix_citizen_birth_date", "birth_date"),
        Index("ix_citizen_household_id", "household_id"),
        Index("ix_citizen_cmnd_number", "cmnd_number"),
    )

    pin: Mapped[str] = mapped_column(String(12), primary_key=True)
    surname: Mapped[str] = mapped_column(String(40))
    middle_name: Mapped[str] = mapped_column(String(60))  # may be empty; may hold two words
    given_name: Mapped[str] = mapped_column(String(40))
    name_folded: Mapped[str] = mapped_column(String(140))  # lower-case, no diacritics: for search
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
    cmnd_number: Mapped[str | None] = mapped_column(String(9))
    marital_status: Mapped[int] = mapped_column(SmallInteger)
    phone: Mapped[str | None] = mapped_column(String(15))
    email: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(8), default="alive")
    status_date: Mapped[date | None] = mapped_column(Date)  # date of death or of being declared missing
    household_id: Mapped[int | None] = mapped_column(BigInteger)
    relationship_to_head: Mapped[int | None] = mapped_column(SmallInteger)
    identifying_marks: Mapped[str | None] = mapped_column(String(120))


class Residence(Base):
    """Permanent, temporary or current residence (Law on Residence 2020)."""

    __tablename__ = "residence"
    __table_args__ = (
        CheckConstraint("kind IN ('permanent', 'temporary', 'current')", name="kind"),
        Index("ix_residence_pin", "pin"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pin: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(10))
    commune_code: Mapped[str] = mapped_column(String(5))
    address_line: Mapped[str] = mapped_column(String(120))
    legacy_address: Mapped[str | None] = mapped_column(String(200))  # as registered before 2025-07-01
    registered_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    deregistered_on: Mapped[date | None] = mapped_column(Date)


class FamilyRelation(Base):
    """``pin``'s ``kind`` is ``relative_pin`` (father, mother, spouse, legal_representative).

    Children are found through the reverse index on ``relative_pin``.
    """

    __tablename__ = "family_relation"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('father', 'mother', 'spouse', 'legal_representative')", name="kind"),
        Index("ix_family_relation_pin", "pin"),
        Index("ix_family_relation_relative_pin", "relative_pin"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    pin: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(24))
    relative_pin: Mapped[str] = mapped_column(String(12))
    started_on: Mapped[date | None] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date)


class PinHistory(Base):
    """Cancelled and re-established PINs (Circular 59/2021 Art. 6); old PINs stay resolvable."""

    __tablename__ = "pin_history"

    old_pin: Mapped[str] = mapped_column(String(12), primary_key=True)
    new_pin: Mapped[str] = mapped_column(String(12), index=True)
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
