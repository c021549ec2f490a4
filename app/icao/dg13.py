"""DG13: Vietnamese personal details (ICAO Doc 9303 Part 10 §4.7.13, "optional details",
issuer-defined).

The real inner layout is not published (chip-verification spec §1); this sandbox fixes one and keeps
it stable::

    6D { SEQUENCE OF SEQUENCE { index INTEGER, value UTF8String } }

with exactly these 16 fields, in this order (absent values are empty strings, text in Unicode NFC):

    1 PIN                       9 place of residence
    2 full name (diacritics)   10 identifying marks
    3 date of birth (below)    11 issue date dd/mm/yyyy
    4 sex "Nam" / "Nữ"          12 expiry dd/mm/yyyy or "Không thời hạn"
    5 nationality              13 father's full name
    6 ethnicity                14 mother's full name
    7 religion                 15 spouse's full name
    8 place of origin          16 old ID (CMND) number

The date of birth is written as the card prints it: ``dd/mm/yyyy``, or ``mm/yyyy`` / ``yyyy``
when only the month and year or the year are known (``birth_precision``, which is not a field of
its own).

Error codes: ``lds.dg13`` plus the ``tlv.*`` codes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from asn1crypto import core

from app.icao import der
from app.icao.errors import ChipFormatError
from app.icao.mrz import Precision, Sex
from app.icao.tlv import decode_tlv, encode_tlv

DG13_TAG = 0x6D
NO_EXPIRY_TEXT = "Không thời hạn"
SEX_LABELS: dict[Sex, str] = {"M": "Nam", "F": "Nữ"}
_DATE_FORMAT = "%d/%m/%Y"
_BIRTH_FORMATS: dict[Precision, str] = {"day": _DATE_FORMAT, "month": "%m/%Y", "year": "%Y"}
FIELD_COUNT = 16


def birth_text(value: date, precision: Precision = "day") -> str:
    """A birth date as printed: ``dd/mm/yyyy``, ``mm/yyyy`` or ``yyyy``."""
    return value.strftime(_BIRTH_FORMATS[precision])


# ``strptime`` costs ~20 us; text of exactly these ASCII digits is read directly (the same date,
# or the same ValueError for a day or month out of range), anything else goes to strptime.
_DIGITS = {
    _DATE_FORMAT: re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})"),
    "%m/%Y": re.compile(r"()([0-9]{2})/([0-9]{4})"),
    "%Y": re.compile(r"()()([0-9]{4})"),
}


def _strptime_date(text: str, format_: str) -> date:
    match = _DIGITS[format_].fullmatch(text)
    if match is None:
        return datetime.strptime(text, format_).date()
    day, month, year = match.groups()
    return date(int(year), int(month or 1), int(day or 1))


def parse_birth_text(text: str) -> tuple[date, Precision]:
    """``birth_text`` back: the date (the first of an unknown month or day) and its precision."""
    precision: Precision = {10: "day", 7: "month", 4: "year"}.get(len(text), "day")
    try:
        return _strptime_date(text, _BIRTH_FORMATS[precision]), precision
    except ValueError as exc:
        raise ChipFormatError(
            "lds.dg13", "a DG13 birth date is not dd/mm/yyyy, mm/yyyy or yyyy") from exc


class _Field(core.Sequence):
    _fields = [("index", core.Integer), ("value", core.UTF8String)]


class _Fields(core.SequenceOf):
    _child_spec = _Field


@dataclass(frozen=True)
class PersonalDetails:
    """The 16 DG13 fields, typed; field order is the DG13 index order."""

    pin: str
    full_name: str
    date_of_birth: date
    sex: Sex
    nationality: str
    ethnicity: str
    religion: str
    place_of_origin: str
    place_of_residence: str
    identifying_marks: str
    issue_date: date
    expiry_date: date | None
    father_name: str = ""
    mother_name: str = ""
    spouse_name: str = ""
    old_id_number: str = ""
    birth_precision: Precision = "day"  # how much of field 3 is known (not a field of its own)


def _texts_of(details: PersonalDetails) -> list[str]:
    expiry = (
        NO_EXPIRY_TEXT
        if details.expiry_date is None
        else details.expiry_date.strftime(_DATE_FORMAT)
    )
    return [
        details.pin, details.full_name, birth_text(details.date_of_birth, details.birth_precision),
        SEX_LABELS[details.sex], details.nationality, details.ethnicity, details.religion,
        details.place_of_origin, details.place_of_residence, details.identifying_marks,
        details.issue_date.strftime(_DATE_FORMAT), expiry,
        details.father_name, details.mother_name, details.spouse_name, details.old_id_number,
    ]  # fmt: skip


def encode_dg13(details: PersonalDetails) -> bytes:
    """DG13 holding ``details`` in the layout above."""
    texts = [unicodedata.normalize("NFC", text) for text in _texts_of(details)]
    items = _Fields([{"index": index, "value": text} for index, text in enumerate(texts, start=1)])
    return encode_tlv(DG13_TAG, items.dump())


def _date(text: str) -> date:
    try:
        return _strptime_date(text, _DATE_FORMAT)
    except ValueError as exc:
        raise ChipFormatError("lds.dg13", "a DG13 date is not dd/mm/yyyy") from exc


def _sex(text: str) -> Sex:
    for sex, label in SEX_LABELS.items():
        if label == text:
            return sex
    raise ChipFormatError("lds.dg13", "DG13 sex must be 'Nam' or 'Nữ'")


def _known_texts(value: bytes) -> list[str]:
    """What :func:`_typed_texts` gives for the layout above (each item an INTEGER and a
    UTF8String, nothing else), read with :mod:`app.icao.der`; raises der.Unexpected (or what the
    parser or the UTF-8 decoder raises) for anything else."""
    texts = []
    for index, item in enumerate(der.elements(der.only(value, der.SEQUENCE)), start=1):
        number, text = der.layout(der.expect(item, der.SEQUENCE), der.INTEGER, der.UTF8_STRING)
        if der.integer(number) != index:
            raise der.Unexpected("not fields 1-16 in order: the typed parse says so")
        texts.append(text.decode("utf-8"))
    if len(texts) != FIELD_COUNT:
        raise der.Unexpected("not 16 fields: the typed parse says so")
    return texts


def _texts(value: bytes) -> list[str]:
    try:
        return _known_texts(value)
    except (der.Unexpected, ValueError, TypeError):
        return _typed_texts(value)


def _typed_texts(value: bytes) -> list[str]:
    try:
        items = _Fields.load(value, strict=True).native
    except (ValueError, TypeError) as exc:
        raise ChipFormatError(
            "lds.dg13", "DG13 content is not a sequence of (index, UTF-8 value)"
        ) from exc
    if [item["index"] for item in items] != list(range(1, FIELD_COUNT + 1)):
        raise ChipFormatError("lds.dg13", "DG13 must hold fields 1-16 in order")
    return [item["value"] for item in items]


def parse_dg13(data: bytes) -> PersonalDetails:
    """The personal details held in DG13."""
    texts = _texts(decode_tlv(data, expected_tag=DG13_TAG).value)
    born, precision = parse_birth_text(texts[2])
    return PersonalDetails(
        pin=texts[0],
        full_name=texts[1],
        date_of_birth=born,
        sex=_sex(texts[3]),
        nationality=texts[4],
        ethnicity=texts[5],
        religion=texts[6],
        place_of_origin=texts[7],
        place_of_residence=texts[8],
        identifying_marks=texts[9],
        issue_date=_date(texts[10]),
        expiry_date=None if texts[11] == NO_EXPIRY_TEXT else _date(texts[11]),
        father_name=texts[12],
        mother_name=texts[13],
        spouse_name=texts[14],
        old_id_number=texts[15],
        birth_precision=precision,
    )
