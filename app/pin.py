"""Personal identification number (số định danh cá nhân, PIN) of Vietnamese citizens.

Structure (Decree 137/2015/NĐ-CP Art. 13; Circular 07/2016/TT-BCA Art. 7, Circular 59/2021/TT-BCA;
Law on Identification 26/2023/QH15 Art. 12): twelve ASCII digits

    PPP G YY NNNNNN
    PPP     place where the birth was registered: a province code (the 63 pre-2025 GSO codes;
            births registered from 2025-07-01 carry one of the 34 post-merger codes, a subset of
            the 63) or a foreign-registration country code (000, 101-295, Circular 59/2021
            Appendix II)
    G       century and sex: 1900s M=0 F=1, 2000s 2/3, 2100s 4/5, 2200s 6/7, 2300s 8/9
    YY      last two digits of the birth year
    NNNNNN  random block; there is NO check digit

A leading non-zero digit is legal (born-abroad registrations), so never validate with ``^0``.

>>> validate(' 001093047064 ')
'001093047064'
>>> info('001093047064').birth_year
1993
>>> is_valid('001193047064')
True
>>> is_valid('003093047064')  # 003 is an unused code
False
>>> mask('079084005440')
'0790****5440'
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

__all__ = [
    "CURRENT_PROVINCE_CODES",
    "FOREIGN_CODES",
    "LEGACY_PROVINCE_CODES",
    "InvalidCentury",
    "InvalidFormat",
    "InvalidLength",
    "InvalidPlace",
    "PinError",
    "PinInfo",
    "birth_century_sex_digit",
    "compact",
    "generate",
    "info",
    "is_valid",
    "mask",
    "validate",
]

LEGACY_PROVINCE_CODES: frozenset[str] = frozenset(
    f"{c:03d}"
    for c in (
        1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35, 36,
        37, 38, 40, 42, 44, 45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70, 72, 74,
        75, 77, 79, 80, 82, 83, 84, 86, 87, 89, 91, 92, 93, 94, 95, 96,
    )
)
"""The 63 provinces of the GSO list in use until 2025-06-30 (zero-padded)."""

CURRENT_PROVINCE_CODES: frozenset[str] = frozenset(
    f"{c:03d}"
    for c in (
        1, 4, 8, 11, 12, 14, 15, 19, 20, 22, 24, 25, 31, 33, 37, 38, 40, 42, 44, 46, 48, 51, 52,
        56, 66, 68, 75, 79, 80, 82, 86, 91, 92, 96,
    )
)
"""The 34 provincial units since 2025-07-01 (Resolution 202/2025/QH15); a subset of the 63."""

FOREIGN_CODES: frozenset[str] = frozenset({"000"} | {f"{c:03d}" for c in range(101, 296)})
"""Country codes for births registered abroad (Circular 59/2021 Appendix II numbering)."""

MERGER_DATE = date(2025, 7, 1)
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


class PinError(ValueError):
    """A PIN is invalid. ``rule`` names the rule broken; the message never repeats the input."""

    rule = "pin.invalid"
    message = "The personal identification number is invalid."

    def __init__(self) -> None:
        super().__init__(self.message)


class InvalidLength(PinError):
    rule = "pin.length"
    message = "A personal identification number has exactly 12 digits."


class InvalidFormat(PinError):
    rule = "pin.format"
    message = "A personal identification number contains only the ASCII digits 0-9."


class InvalidPlace(PinError):
    rule = "pin.place"
    message = "Digits 1-3 are not a province or foreign-registration code."


class InvalidCentury(PinError):
    rule = "pin.century_sex"
    message = "Digit 4 (century and sex) does not agree with the birth year or sex."


@dataclass(frozen=True, slots=True)
class PinInfo:
    pin: str
    place_code: str
    is_foreign_registration: bool
    sex: str  # "M" or "F"
    birth_year: int


def compact(number: str) -> str:
    """Strip surrounding whitespace and inner spaces, dots and dashes people type."""
    return "".join(number.split()).replace(".", "").replace("-", "")


def validate(number: str, *, strict_ascii: bool = True) -> str:
    """Return the normalised PIN or raise a specific :class:`PinError`.

    With ``strict_ascii`` (the API default) full-width or other Unicode digits are a format error;
    without it, full-width digits are folded to ASCII first.
    """
    if not (number.isascii() and number.isdigit()):  # else compact and ASCII already
        number = compact(number)
        if not strict_ascii:
            number = number.translate(_FULLWIDTH)
    if not (number.isascii() and number.isdigit()):
        raise InvalidFormat()
    if len(number) != 12:
        raise InvalidLength()
    place = number[:3]
    if place not in LEGACY_PROVINCE_CODES and place not in FOREIGN_CODES:
        raise InvalidPlace()
    return number


def is_valid(number: str) -> bool:
    try:
        validate(number)
    except PinError:
        return False
    return True


def info(number: str) -> PinInfo:
    """Decode the place, sex and birth year encoded in a valid PIN."""
    number = validate(number)
    g = int(number[3])
    century = 1900 + 100 * (g // 2)
    return PinInfo(
        pin=number,
        place_code=number[:3],
        is_foreign_registration=number[:3] in FOREIGN_CODES,
        sex="M" if g % 2 == 0 else "F",
        birth_year=century + int(number[4:6]),
    )


def birth_century_sex_digit(*, birth_year: int, sex: str) -> str:
    """Digit 4 for a birth year (1900-2399) and sex ``"M"``/``"F"``."""
    if not 1900 <= birth_year <= 2399:
        raise InvalidCentury()
    if sex not in ("M", "F"):
        raise InvalidCentury()
    return str(2 * ((birth_year - 1900) // 100) + (sex == "F"))


def prefix(*, place_code: str, birth_year: int, sex: str) -> str:
    """The first six digits, which fix the uniqueness bucket of a PIN."""
    digit = birth_century_sex_digit(birth_year=birth_year, sex=sex)
    return f"{place_code}{digit}{birth_year % 100:02d}"


def check_consistent(number: str, *, birth_date: date, sex: str) -> None:
    """Raise :class:`InvalidCentury` when the PIN disagrees with a person's birth year or sex."""
    decoded = info(number)
    if decoded.birth_year != birth_date.year or decoded.sex != sex:
        raise InvalidCentury()


def registration_place_is_allowed(*, place_code: str, registered_on: date) -> bool:
    """Births registered from 2025-07-01 in Vietnam carry one of the 34 current codes."""
    if place_code in FOREIGN_CODES:
        return True
    if registered_on >= MERGER_DATE:
        return place_code in CURRENT_PROVINCE_CODES
    return place_code in LEGACY_PROVINCE_CODES


def generate(*, place_code: str, birth_year: int, sex: str, rng: random.Random) -> str:
    """A syntactically valid PIN; uniqueness is the caller's (the database's) job."""
    if place_code not in LEGACY_PROVINCE_CODES and place_code not in FOREIGN_CODES:
        raise InvalidPlace()
    serial = f"{rng.randrange(10**6):06d}"
    return prefix(place_code=place_code, birth_year=birth_year, sex=sex) + serial


def mask(number: str) -> str:
    """Mask a PIN for logs and errors: ``0790****5440``. Anything else is fully masked."""
    if len(number) == 12 and number.isascii() and number.isdigit():
        return f"{number[:4]}****{number[8:]}"
    return "****"
