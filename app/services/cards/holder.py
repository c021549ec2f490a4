"""What a card says about its holder: the printed fields, the MRZ, the QR payload and DG13.

One source (:class:`CardContent`) feeds the card images, ``GET /v1/cards/{pin}``, the chip and
the BAC access key, so they always agree. The holder's name, dates, sex and codes come from the
population record; the place of residence and the spouse are taken **as of the issue date**
(residence and family-relation history), so a move after issue leaves the card and its chip as
they were printed (the verifier's ``db.data_current`` step reports the difference). Cards issued
before the 2025-07-01 merger print every place with the names in force then (three levels: ward,
district, province of the 63): the residence as registered, and the place of origin and of birth
registration, which the record keeps as current communes, as one of the wards that went into that
commune (the same one for the same holder; :meth:`Reference.legacy_place`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Protocol, TypeVar

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from app import card_rules
from app.card_rules import (
    CardGeneration,
    CardRuleError,
    QrPayload,
    generation_for,
    printed_expiry,
)
from app.errors import Conflict
from app.icao.dates import add_years
from app.icao.dg13 import SEX_LABELS, PersonalDetails, birth_text
from app.icao.errors import IcaoError
from app.icao.mrz import MrzHolder, Precision, Td1, build_td1
from app.models.card import Card
from app.models.population import Citizen, FamilyRelation, Residence
from app.services.population.citizens import address, full_name
from app.services.population.reference import Reference, reference

MERGER = date(2025, 7, 1)


class CardUnreadable(Conflict):
    code, title = ("card-unreadable",
                   "The card cannot be rendered from the record (PIN, birth date and sex disagree)")

NATIONALITY = {"VN": "Việt Nam"}
_DATE = "%d/%m/%Y"
_RESIDENCE_ORDER = ("permanent", "current", "temporary")


@dataclass(frozen=True)
class CardContent:
    """A card's generation and its holder's data as issued: everything printed or stored.

    ``details`` are the DG13 fields (with the card's issue and expiry dates); ``name`` is the
    (surname, middle name, given name) split the MRZ needs.
    """

    card_id: int
    sequence: int
    generation: CardGeneration
    details: PersonalDetails
    name: tuple[str, str, str]
    place_of_birth_registration: str

    @property
    def issue_date(self) -> date:
        return self.details.issue_date

    @property
    def expiry_date(self) -> date | None:
        return self.details.expiry_date

    @cached_property
    def td1(self) -> Td1:
        """The MRZ printed on the back (and held in DG1)."""
        d = self.details
        return build_td1(MrzHolder(d.pin, *self.name, d.date_of_birth, d.sex, d.expiry_date,
                                   d.birth_precision))

    @cached_property
    def qr_payload(self) -> str:
        """``PIN|old CMND|full name|ddmmyyyy|Nam/Nữ|residence|issue ddmmyyyy``."""
        d = self.details
        return card_rules.qr_payload(QrPayload(
            d.pin, d.old_id_number, d.full_name, d.date_of_birth, d.sex,
            _qr_safe(d.place_of_residence), d.issue_date, d.birth_precision))

    @property
    def age_at_issue(self) -> int:
        born, day = self.details.date_of_birth, self.issue_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    @property
    def has_biometrics(self) -> bool:
        """Under 6 at issue: no photo on the card, no face in the chip (Law 2023 Art. 23)."""
        return add_years(self.details.date_of_birth, 6) <= self.issue_date


def _qr_safe(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ").replace("\r", " ")


# --- holder data as of a day ----------------------------------------------------------------------


def _relation_in_force(on: date) -> list[ColumnElement[bool]]:
    return [or_(FamilyRelation.started_on.is_(None), FamilyRelation.started_on <= on),
            or_(FamilyRelation.ended_on.is_(None), FamilyRelation.ended_on > on)]


def residences_of(session: Session, pin: str) -> list[Residence]:
    """Every registration of ``pin``, latest first."""
    return list(session.scalars(select(Residence).where(Residence.pin == pin)
                                .order_by(Residence.registered_on.desc())))


def residence_on(session: Session, pin: str, on: date) -> Residence | None:
    """The registration in force on ``on`` (permanent first), else the latest one."""
    return in_force(residences_of(session, pin), on)


class Registration(Protocol):
    kind: str
    registered_on: date
    deregistered_on: date | None


R = TypeVar("R", bound=Registration)


def in_force(rows: Sequence[R], on: date) -> R | None:
    """Among ``rows`` (latest first), the one in force on ``on``, by kind, else the latest."""
    for kind in _RESIDENCE_ORDER:
        for row in rows:
            ended = row.deregistered_on
            if row.kind == kind and row.registered_on <= on and (ended is None or ended > on):
                return row
    return rows[0] if rows else None


def residence_text(ref: Reference, row: Residence | None, *, on: date) -> str:
    """A residence as printed on a card issued ``on`` (legacy wording before the merger)."""
    if row is None:
        return ""
    if on < MERGER and row.legacy_commune_code:
        legacy = ref.legacy_address(line=row.address_line,
                                    legacy_commune_code=row.legacy_commune_code)
        if legacy:
            return legacy
    return str(address(ref, commune_code=row.commune_code, line=row.address_line)["text"])


def _relative_names(session: Session, pin: str, on: date) -> dict[str, str]:
    query = (select(FamilyRelation.kind, Citizen)
             .join(Citizen, Citizen.pin == FamilyRelation.relative_pin)
             .where(FamilyRelation.pin == pin, *_relation_in_force(on))
             .order_by(FamilyRelation.id))
    names: dict[str, str] = {}
    for kind, relative in session.execute(query):
        names.setdefault(kind, full_name(relative))
    return names


def _place(ref: Reference, commune_code: str | None, *, on: date, pin: str,
           province_code: str | None = None) -> str:
    """A place recorded by its current commune, with the names in force on ``on``."""
    if not commune_code:
        return ""
    if on < MERGER:
        legacy = ref.legacy_place(commune_code, key=int(pin), province_code=province_code)
        if legacy:
            return legacy
    return str(address(ref, commune_code=commune_code, line=None)["text"])


def _registration_place(ref: Reference, citizen: Citizen, *, on: date) -> str:
    code = citizen.birth_registration_place
    if citizen.birth_place_commune:
        return _place(ref, citizen.birth_place_commune, on=on, pin=citizen.pin, province_code=code)
    legacy = ref.legacy_province(code) if on < MERGER else None
    province = ref.province(code)
    return legacy or (province.name if province else "")


def _code_name(ref: Reference, list_name: str, code: int | None) -> str:
    names = ref.code_name(list_name, code)
    return names[0] if names else ""


def card_content(session: Session, card: Card, citizen: Citizen | None = None) -> CardContent:
    """The content of ``card``: its holder as the population database records them, with the
    residence and the spouse as of the issue date."""
    citizen = citizen or session.get(Citizen, card.pin)
    if citizen is None:
        raise LookupError("the card's holder is not in the population database")
    ref, on = reference(session), card.issue_date
    relatives = _relative_names(session, citizen.pin, on)
    details = PersonalDetails(
        pin=citizen.pin, full_name=full_name(citizen), date_of_birth=citizen.birth_date,
        sex="F" if citizen.sex == "F" else "M",
        nationality=NATIONALITY.get(citizen.nationality, citizen.nationality),
        ethnicity=_code_name(ref, "ethnicity", citizen.ethnicity_code),
        religion=_code_name(ref, "religion", citizen.religion_code),
        place_of_origin=_place(ref, citizen.origin_commune, on=on, pin=citizen.pin),
        place_of_residence=residence_text(ref, residence_on(session, citizen.pin, on), on=on),
        identifying_marks=citizen.identifying_marks or "", issue_date=on,
        expiry_date=card.expiry_date, father_name=relatives.get("father", ""),
        mother_name=relatives.get("mother", ""), spouse_name=relatives.get("spouse", ""),
        old_id_number=citizen.cmnd_number or "", birth_precision=_precision(citizen))
    content = CardContent(card_id=card.id, sequence=card.sequence,
                          generation=generation_for(card.issue_date), details=details,
                          name=(citizen.surname, citizen.middle_name or "", citizen.given_name),
                          place_of_birth_registration=_registration_place(ref, citizen, on=on))
    return _checked(content)


def _precision(citizen: Citizen) -> Precision:
    value = citizen.birth_date_precision
    return "month" if value == "month" else "year" if value == "year" else "day"


def _checked(content: CardContent) -> CardContent:
    """The content, once its MRZ and QR payload can be built: a record changed so that the PIN no
    longer matches the birth year or sex (the PIN must then be re-established) cannot be."""
    try:
        content.td1  # noqa: B018  (built and cached now, so a failure surfaces here)
        content.qr_payload  # noqa: B018
    except (IcaoError, CardRuleError):
        raise CardUnreadable() from None
    return content


# --- the printed sides ----------------------------------------------------------------------------

LABELS: dict[str, dict[str, str]] = {
    "cccd_2021": {
        "pin": "Số / No.",
        "full_name": "Họ và tên / Full name",
        "date_of_birth": "Ngày sinh / Date of birth",
        "sex": "Giới tính / Sex",
        "nationality": "Quốc tịch / Nationality",
        "place_of_origin": "Quê quán / Place of origin",
        "place_of_residence": "Nơi thường trú / Place of residence",
        "expiry_date": "Có giá trị đến / Date of expiry",
        "identifying_marks": "Đặc điểm nhân dạng / Personal identification",
        "issue_date": "Ngày, tháng, năm / Date, month, year",
    },
    "can_cuoc_2024": {
        "pin": "Số định danh cá nhân / Personal identification number",
        "full_name": "Họ, chữ đệm và tên khai sinh / Surname, middle name and given name",
        "date_of_birth": "Ngày, tháng, năm sinh / Date of birth",
        "sex": "Giới tính / Sex",
        "nationality": "Quốc tịch / Nationality",
        "place_of_residence": "Nơi cư trú / Place of residence",
        "place_of_birth_registration": "Nơi đăng ký khai sinh / Place of birth",
        "issue_date": "Ngày, tháng, năm cấp / Date of issue",
        "expiry_date": "Ngày, tháng, năm hết hạn / Date of expiry",
    },
}
GRAPHICS = frozenset({"national_emblem", "photo", "chip_icon", "chip", "issuing_officer_signature",
                      "left_index_fingerprint", "right_index_fingerprint"})


@dataclass(frozen=True)
class PrintedField:
    """One element of a card side: text fields carry their label and value, graphics neither."""

    field: str
    label: str | None
    value: str | None


def field_value(content: CardContent, name: str) -> str | None:
    """The printed text of field ``name`` (``None`` for a graphic element)."""
    d = content.details
    values = {
        "pin": d.pin, "full_name": d.full_name.upper(),
        "date_of_birth": birth_text(d.date_of_birth, d.birth_precision),
        "sex": SEX_LABELS[d.sex],
        "nationality": d.nationality, "place_of_origin": d.place_of_origin,
        "place_of_residence": d.place_of_residence,
        "place_of_birth_registration": content.place_of_birth_registration,
        "identifying_marks": d.identifying_marks, "issue_date": content.issue_date.strftime(_DATE),
        "expiry_date": printed_expiry(content.expiry_date), "title": content.generation.title,
        "issuing_authority": content.generation.issuing_authority,
        "qr_code": content.qr_payload, "mrz": "\n".join(content.td1.lines),
    }
    return values.get(name)


def printed_side(content: CardContent, side: str) -> list[PrintedField]:
    """The elements of the ``front`` or ``back`` in the generation's layout order."""
    generation = content.generation
    names = (generation.printed_front(holder_age=content.age_at_issue) if side == "front"
             else generation.back_fields)
    if not content.has_biometrics:
        names = tuple(n for n in names if n != "photo")
    labels = LABELS[generation.code]
    return [PrintedField(n, labels.get(n), None if n in GRAPHICS else field_value(content, n))
            for n in names]

