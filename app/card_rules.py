"""Rules of the Vietnamese identity card (pure): expiry by renewal age, QR payload, generations.

Source: the identity-rules reference, §2.
* Expiry (§2.3, Law on Identification 26/2023 Art. 21; Law 59/2014 Art. 21 for cards issued before
  2024-07-01): a card expires on the holder's 14th, 25th, 40th or 60th birthday, the first such
  milestone that is more than 2 years after the issue date; a card issued within 2 years before a
  milestone runs to the next one, and one issued at 58 or later never expires (``None``, printed
  "Không thời hạn", MRZ ``991231``). Law 2014 had no 14 milestone, but it only issued cards from age
  14, when that milestone can no longer apply, so one rule covers both. A 29 February birthday
  reaches its milestone on 28 February in a common year (assumption, not settled by law).
* QR payload (§2.5, "likely", from public parsers):
  ``PIN|old CMND (may be empty)|full name|ddmmyyyy|Nam/Nữ|address|issue ddmmyyyy``; the 2024 card
  keeps the 7 fields with its place of residence. A birth date known only by its month and year
  or its year has ``00`` for the unknown day (and month): ``00031950``, ``00001950`` (our choice,
  the zeros of the VNeID ``NgayThangNamSinh`` claim; no public payload of such a card was found).
* Generations (§2.1–2.2): ``cccd_2021`` (chip CCCD, issued 2021-01-01 … 2024-06-30, Circular
  06/2021/TT-BCA) and ``can_cuoc_2024`` (thẻ căn cước from 2024-07-01, Circular 16/2024/TT-BCA),
  each with the fields printed on its front and back.

Errors: ``CardRuleError`` with codes ``card.dates``, ``card.generation``, ``qr.field``,
``qr.malformed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from app.icao.dates import add_years
from app.icao.dg13 import NO_EXPIRY_TEXT, SEX_LABELS
from app.icao.mrz import Precision, Sex

RENEWAL_AGES = (14, 25, 40, 60)
GRACE_YEARS = 2
QR_SEPARATOR = "|"
_QR_DATE = "%d%m%Y"
_PIN = re.compile(r"\d{12}")


class CardRuleError(ValueError):
    """A card rule cannot be applied to the given values; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def card_expiry(*, date_of_birth: date, issue_date: date) -> date | None:
    """Expiry of a card issued on ``issue_date``; ``None`` means no expiry ("Không thời hạn")."""
    if issue_date < date_of_birth:
        raise CardRuleError("card.dates", "the issue date is before the date of birth")
    for age in RENEWAL_AGES:
        milestone = add_years(date_of_birth, age)
        if issue_date < add_years(milestone, -GRACE_YEARS):
            return milestone
    return None


def printed_expiry(expiry: date | None) -> str:
    """The expiry as printed on the card: ``dd/mm/yyyy`` or "Không thời hạn"."""
    return NO_EXPIRY_TEXT if expiry is None else expiry.strftime("%d/%m/%Y")


# --- QR payload ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QrPayload:
    """The seven fields of the card's QR code; ``old_id_number`` is empty when there was no CMND."""

    pin: str
    old_id_number: str
    full_name: str
    date_of_birth: date
    sex: Sex
    address: str
    issue_date: date
    birth_precision: Precision = "day"


def _checked(text: str) -> str:
    if QR_SEPARATOR in text or "\n" in text or "\r" in text:
        raise CardRuleError("qr.field", "a QR field contains '|' or a line break")
    return text


def qr_payload(payload: QrPayload) -> str:
    """``PIN|old CMND|full name|ddmmyyyy|Nam/Nữ|address|issue ddmmyyyy``."""
    fields = (
        payload.pin,
        payload.old_id_number,
        payload.full_name,
        _qr_birth(payload.date_of_birth, payload.birth_precision),
        SEX_LABELS[payload.sex],
        payload.address,
        payload.issue_date.strftime(_QR_DATE),
    )
    return QR_SEPARATOR.join(_checked(field) for field in fields)


def _qr_birth(value: date, precision: Precision) -> str:
    day = value.strftime("%d") if precision == "day" else "00"
    month = value.strftime("%m") if precision != "year" else "00"
    return f"{day}{month}{value.year:04d}"


def _qr_birth_date(text: str) -> tuple[date, Precision]:
    day, month, year = text[0:2], text[2:4], text[4:]
    precision: Precision = "year" if month == "00" else "month" if day == "00" else "day"
    if precision == "year" and day != "00":
        raise CardRuleError("qr.malformed", "a QR birth date with an unknown month has a day")
    known = {"day": day + month, "month": "01" + month, "year": "0101"}[precision]
    return _qr_date(known + year), precision


def _qr_date(text: str) -> date:
    try:
        return datetime.strptime(text, _QR_DATE).date()
    except ValueError as exc:
        raise CardRuleError("qr.malformed", "a QR date is not ddmmyyyy") from exc


def _qr_sex(text: str) -> Sex:
    for sex, label in SEX_LABELS.items():
        if label == text:
            return sex
    raise CardRuleError("qr.malformed", "the QR sex is not 'Nam' or 'Nữ'")


def parse_qr_payload(text: str) -> QrPayload:
    """The fields of a card QR payload (7 fields separated by ``|``)."""
    fields = text.split(QR_SEPARATOR)
    if len(fields) != 7 or not _PIN.fullmatch(fields[0]):
        raise CardRuleError(
            "qr.malformed", "a card QR payload is 7 '|'-separated fields, PIN first"
        )
    pin, old_id_number, full_name, birth, sex, address, issued = fields
    born, precision = _qr_birth_date(birth)
    return QrPayload(pin, old_id_number, full_name, born, _qr_sex(sex), address, _qr_date(issued),
                     precision)


# --- card generations ----------------------------------------------------------------------------

GenerationCode = Literal["cccd_2021", "can_cuoc_2024"]


@dataclass(frozen=True)
class CardGeneration:
    """A card model in circulation and what each side prints (field codes, in layout order)."""

    code: GenerationCode
    title: str
    legal_specimen: str
    issued_from: date
    issued_until: date | None
    issuing_authority: str
    front_fields: tuple[str, ...]
    back_fields: tuple[str, ...]
    photo_min_age: int

    def printed_front(self, *, holder_age: int) -> tuple[str, ...]:
        """Front fields for a holder aged ``holder_age`` at issue (no photo below the minimum)."""
        if holder_age >= self.photo_min_age:
            return self.front_fields
        return tuple(field for field in self.front_fields if field != "photo")


CCCD_2021 = CardGeneration(
    code="cccd_2021",
    title="CĂN CƯỚC CÔNG DÂN / Citizen Identity Card",
    legal_specimen="Circular 06/2021/TT-BCA",
    issued_from=date(2021, 1, 1),
    issued_until=date(2024, 6, 30),
    issuing_authority=(
        "CỤC TRƯỞNG CỤC CẢNH SÁT QUẢN LÝ HÀNH CHÍNH VỀ TRẬT TỰ XÃ HỘI / DIRECTOR GENERAL OF THE "
        "POLICE DEPARTMENT FOR ADMINISTRATIVE MANAGEMENT OF SOCIAL ORDER"
    ),
    front_fields=(
        "national_emblem", "photo", "expiry_date", "title", "chip_icon", "qr_code", "pin",
        "full_name", "date_of_birth", "sex", "nationality", "place_of_origin", "place_of_residence",
    ),
    back_fields=(
        "identifying_marks", "issue_date", "issuing_officer_signature", "chip",
        "left_index_fingerprint", "right_index_fingerprint", "mrz",
    ),
    photo_min_age=0,
)  # fmt: skip

CAN_CUOC_2024 = CardGeneration(
    code="can_cuoc_2024",
    title="CĂN CƯỚC / IDENTITY CARD",
    legal_specimen="Circular 16/2024/TT-BCA",
    issued_from=date(2024, 7, 1),
    issued_until=None,
    issuing_authority="BỘ CÔNG AN / MINISTRY OF PUBLIC SECURITY",
    front_fields=(
        "national_emblem", "title", "chip_icon", "photo", "pin", "full_name", "date_of_birth",
        "sex", "nationality",
    ),
    back_fields=(
        "place_of_residence", "place_of_birth_registration", "chip", "qr_code", "issue_date",
        "expiry_date", "issuing_authority", "mrz",
    ),
    photo_min_age=6,
)  # fmt: skip

GENERATIONS: tuple[CardGeneration, ...] = (CCCD_2021, CAN_CUOC_2024)


def generation_for(issue_date: date) -> CardGeneration:
    """The chip-card generation issued on ``issue_date`` (earlier cards had no chip)."""
    for generation in GENERATIONS:
        until = generation.issued_until or date.max
        if generation.issued_from <= issue_date <= until:
            return generation
    raise CardRuleError("card.generation", "no chip card was issued before 2021-01-01")
