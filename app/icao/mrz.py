"""TD1 machine readable zone of the Vietnamese chip identity card (ICAO Doc 9303 Part 5 §4.2, Part 3
§4.9).

Layout (3 lines × 30 characters, see the chip-verification spec §2 and identity rules §2.4)::

    IDVNM ddddddddd c pppppppppppp << k      doc number = PIN[3:], c = cd(doc number),
                                              optional data = full PIN, k = cd(PIN)
    YYMMDD c S YYMMDD c VNM <<<<<<<<<<< C     birth date, sex M/F, expiry (991231 = no expiry),
                                              composite cd
    SURNAME<<MIDDLE<GIVEN<<<<<<<<<<<<<<<<    diacritics removed, Đ → D, padded / truncated to 30

Check digits use weights 7, 3, 1 (Part 3 §4.9): digits as themselves, A=10 … Z=35, ``<`` = 0, sum
mod 10. The composite digit covers line 1 [5:30] + line 2 [0:7] + [8:15] + [18:29].

Partial birth dates. A birth date known only by its year or by its month and year has ``<`` in
the unknown day (and month) positions: ``50<<<<`` (1950), ``5003<<`` (March 1950); ICAO Doc 9303
Part 3 fills an unknown part of a date of birth with filler characters, and the check digit counts
them as 0. The parsed ``date_of_birth`` is then the first day of that year or month, with
``birth_precision`` saying which parts are real.

Two-digit years. The century of the birth year comes from the PIN's century/sex digit (PIN[3]: 0/1 →
1900s, 2/3 → 2000s, …, identity rules R2), which the MRZ carries in full; PIN[4:6] must equal the
birth ``YY`` and the digit's parity the sex (even = M). The expiry year is the first year after the
birth year ending in its ``YY`` (cards expire at ages 14–60, never a century later). ``991231``
means "Không thời hạn" (no expiry) and parses to ``None``; an expiry of 2099-12-31 is therefore
refused when building.

Error codes (``MrzError.code``): ``mrz.shape``, ``mrz.charset``, ``mrz.document_code``,
``mrz.issuing_state``, ``mrz.nationality``, ``mrz.filler``, ``mrz.check_digit``, ``mrz.date``,
``mrz.sex``, ``mrz.pin``, ``mrz.pin_mismatch``, ``mrz.name``, ``mrz.expiry``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from operator import mul
from typing import Literal

from app.icao.errors import MrzError

Sex = Literal["M", "F"]
Precision = Literal["day", "month", "year"]
LINE_LENGTH = 30
NO_EXPIRY = "991231"
_WEIGHTS = (7, 3, 1)
_PIN = re.compile(r"\d{12}")
_LINE = re.compile(r"[0-9A-Z<]{30}")
_BIRTH = re.compile(r"(\d{2})(\d{2}|<<)(\d{2}|<<)")


@dataclass(frozen=True)
class MrzHolder:
    """The values printed in the MRZ; names keep their diacritics (transliterated when built)."""

    pin: str
    surname: str
    middle_name: str
    given_name: str
    date_of_birth: date
    sex: Sex
    expiry: date | None
    birth_precision: Precision = "day"


@dataclass(frozen=True)
class Td1:
    """A validated Vietnamese TD1 MRZ and its fields (names A–Z, words separated by spaces)."""

    lines: tuple[str, str, str]
    document_number: str
    pin: str
    date_of_birth: date
    sex: Sex
    expiry: date | None
    nationality: str
    surname: str
    given_names: str
    birth_precision: Precision = "day"

    @property
    def text(self) -> str:
        """The 90 characters as stored in DG1 (no line breaks)."""
        return "".join(self.lines)


def _char_value(char: str) -> int:
    if char.isdigit():
        return int(char)
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    if char == "<":
        return 0
    raise MrzError("mrz.charset", "check digit input must be 0-9, A-Z or '<'")


# The values of the MRZ characters, looked up (a call per character was half of parsing DG1);
# anything else goes to _char_value, which reads it or raises.
_CHAR_VALUES = {char: _char_value(char) for char in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"}


# The 7-3-1 weights for a value as long as any MRZ field (a TD1 composite is 61 characters).
_WEIGHTS_ALONG = _WEIGHTS * 30


def check_digit(value: str) -> str:
    """ICAO 7-3-1 check digit of ``value`` (Doc 9303 Part 3 §4.9)."""
    if len(value) <= len(_WEIGHTS_ALONG):
        try:  # the MRZ characters, each looked up and weighted in C (no bytecode per character)
            return str(sum(map(mul, map(_CHAR_VALUES.__getitem__, value), _WEIGHTS_ALONG)) % 10)
        except KeyError:
            pass  # another character: read (or refused) one by one below
    values, total = _CHAR_VALUES, 0
    for i, char in enumerate(value):
        known = values.get(char)
        total += (_char_value(char) if known is None else known) * _WEIGHTS[i % 3]
    return str(total % 10)


def transliterate(name: str) -> str:
    """Vietnamese name → MRZ characters: no diacritics, Đ → D, upper case, separators → ``<``."""
    plain = name.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", plain)
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    letters = letters.upper().replace("'", "")
    mapped = "".join(char if "A" <= char <= "Z" else "<" for char in letters)
    return "<".join(part for part in mapped.split("<") if part)


def split_full_name(full_name: str) -> tuple[str, str, str]:
    """Vietnamese order (surname, middle name(s), given name); one word is the given name."""
    words = full_name.split()
    if not words:
        raise MrzError("mrz.name", "the name is empty")
    if len(words) == 1:
        return "", "", words[0]
    return words[0], " ".join(words[1:-1]), words[-1]


def name_line(*, surname: str, middle_name: str, given_name: str) -> str:
    """Line 3: ``SURNAME<<MIDDLE<GIVEN`` padded with ``<`` and truncated to 30 characters."""
    secondary = "<".join(
        part for part in (transliterate(middle_name), transliterate(given_name)) if part
    )
    primary = transliterate(surname)
    if not primary and not secondary:
        raise MrzError("mrz.name", "the name has no letters A-Z after transliteration")
    return f"{primary}<<{secondary}".ljust(LINE_LENGTH, "<")[:LINE_LENGTH]


def _yymmdd(value: date) -> str:
    return value.strftime("%y%m%d")


def birth_field(value: date, precision: Precision = "day") -> str:
    """The six MRZ characters of a birth date, ``<`` for the unknown parts."""
    if precision == "year":
        return value.strftime("%y") + "<<<<"
    if precision == "month":
        return value.strftime("%y%m") + "<<"
    return _yymmdd(value)


def _expiry_field(expiry: date | None) -> str:
    if expiry is None:
        return NO_EXPIRY
    if expiry == date(2099, 12, 31):
        raise MrzError("mrz.expiry", "2099-12-31 is indistinguishable from 'no expiry' (991231)")
    return _yymmdd(expiry)


def _check_pin_matches(pin: str, date_of_birth: date, sex: Sex) -> None:
    century_digit = int(pin[3])
    if 1900 + 100 * (century_digit // 2) != date_of_birth.year - date_of_birth.year % 100:
        raise MrzError("mrz.pin_mismatch", "the PIN century digit does not match the birth year")
    if pin[4:6] != f"{date_of_birth.year % 100:02d}":
        raise MrzError("mrz.pin_mismatch", "the PIN birth-year digits do not match the birth date")
    if ("M" if century_digit % 2 == 0 else "F") != sex:
        raise MrzError("mrz.pin_mismatch", "the PIN century/sex digit does not match the sex")


def _line1(pin: str) -> str:
    document_number = pin[3:]
    return f"IDVNM{document_number}{check_digit(document_number)}{pin}<<{check_digit(pin)}"


def _line2(line1: str, holder: MrzHolder) -> str:
    birth = birth_field(holder.date_of_birth, holder.birth_precision)
    sex, until = holder.sex, _expiry_field(holder.expiry)
    body = f"{birth}{check_digit(birth)}{sex}{until}{check_digit(until)}VNM{'<' * 11}"
    return body + _composite(line1, body)


def _composite(line1: str, line2: str) -> str:
    return check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])


def _check_holder(holder: MrzHolder) -> None:
    if not _PIN.fullmatch(holder.pin):
        raise MrzError("mrz.pin", "the PIN must be 12 digits")
    if holder.sex not in ("M", "F"):
        raise MrzError("mrz.sex", "sex must be 'M' or 'F'")
    _check_pin_matches(holder.pin, holder.date_of_birth, holder.sex)


def build_td1(holder: MrzHolder) -> Td1:
    """The three MRZ lines of a Vietnamese card, validated by parsing them back."""
    _check_holder(holder)
    line1 = _line1(holder.pin)
    line2 = _line2(line1, holder)
    line3 = name_line(
        surname=holder.surname, middle_name=holder.middle_name, given_name=holder.given_name
    )
    return parse_td1((line1, line2, line3))


def _split_lines(mrz: str | Sequence[str]) -> tuple[str, str, str]:
    if isinstance(mrz, str):
        compact = mrz.replace("\r", "").replace("\n", "")
        lines = [compact[i : i + LINE_LENGTH] for i in range(0, len(compact), LINE_LENGTH)]
        if len(compact) != 3 * LINE_LENGTH:
            lines = []
    else:
        lines = list(mrz)
    if len(lines) != 3 or any(
        not isinstance(line, str) or len(line) != LINE_LENGTH for line in lines
    ):
        raise MrzError("mrz.shape", "a TD1 MRZ is 3 lines of 30 characters")
    if not all(_LINE.fullmatch(line) for line in lines):
        raise MrzError("mrz.charset", "MRZ characters must be 0-9, A-Z or '<'")
    return lines[0], lines[1], lines[2]


def _expect(actual: str, expected: str, code: str, what: str) -> None:
    if actual != expected:
        raise MrzError(code, f"{what} is not {expected!r}")


def _verify_digit(value: str, digit: str, field: str) -> None:
    if check_digit(value) != digit:
        raise MrzError("mrz.check_digit", f"check digit of {field} does not match")


def _check_line1(line1: str) -> str:
    _expect(line1[0:2], "ID", "mrz.document_code", "the document code")
    _expect(line1[2:5], "VNM", "mrz.issuing_state", "the issuing state")
    pin = line1[15:27]
    if not _PIN.fullmatch(pin) or line1[5:14] != pin[3:]:
        raise MrzError(
            "mrz.pin", "optional data must be the 12-digit PIN ending in the document number"
        )
    _expect(line1[27:29], "<<", "mrz.filler", "the filler after the PIN")
    _verify_digit(line1[5:14], line1[14], "document number")
    _verify_digit(pin, line1[29], "PIN")
    return pin


def _parse_date(yymmdd: str, year: int) -> date:
    try:
        return date(year, int(yymmdd[2:4]), int(yymmdd[4:6]))
    except ValueError as exc:
        raise MrzError("mrz.date", "not a calendar date") from exc


def _birth_date(line2: str, pin: str) -> tuple[date, Precision]:
    match = _BIRTH.fullmatch(line2[0:6])
    if match is None or (match[2] == "<<" and match[3] != "<<"):
        raise MrzError("mrz.date", "birth date must be YYMMDD, YYMM<< or YY<<<<")
    century = 1900 + 100 * (int(pin[3]) // 2)
    precision: Precision = "year" if match[2] == "<<" else "month" if match[3] == "<<" else "day"
    filled = match[1] + match[2].replace("<<", "01") + match[3].replace("<<", "01")
    return _parse_date(filled, century + int(match[1])), precision


def _expiry_date(line2: str, date_of_birth: date) -> date | None:
    field = line2[8:14]
    if field == NO_EXPIRY:
        return None
    if not field.isdigit():
        raise MrzError("mrz.date", "expiry must be digits")
    year = date_of_birth.year - date_of_birth.year % 100 + int(field[0:2])
    return _parse_date(field, year if year > date_of_birth.year else year + 100)


def _check_line2(line2: str) -> Sex:
    _verify_digit(line2[0:6], line2[6], "date of birth")
    _verify_digit(line2[8:14], line2[14], "expiry date")
    _expect(line2[15:18], "VNM", "mrz.nationality", "the nationality")
    _expect(line2[18:29], "<" * 11, "mrz.filler", "the optional data of line 2")
    sex = line2[7]
    if sex not in ("M", "F"):
        raise MrzError("mrz.sex", "sex must be 'M' or 'F'")
    return "M" if sex == "M" else "F"


def _names(line3: str) -> tuple[str, str]:
    primary, separator, secondary = line3.rstrip("<").partition("<<")
    if not separator and not primary:
        raise MrzError("mrz.name", "the name line is empty")
    return primary.replace("<", " "), secondary.replace("<", " ").strip()


def parse_td1(mrz: str | Sequence[str]) -> Td1:
    """Validate a Vietnamese TD1 MRZ (90 characters, or 3 lines) and return its fields."""
    line1, line2, line3 = _split_lines(mrz)
    pin = _check_line1(line1)
    sex = _check_line2(line2)
    _verify_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29], line2[29], "composite")
    date_of_birth, precision = _birth_date(line2, pin)
    _check_pin_matches(pin, date_of_birth, sex)
    surname, given_names = _names(line3)
    return Td1(
        lines=(line1, line2, line3),
        document_number=line1[5:14],
        pin=pin,
        date_of_birth=date_of_birth,
        sex=sex,
        expiry=_expiry_date(line2, date_of_birth),
        nationality=line2[15:18],
        surname=surname,
        given_names=given_names,
        birth_precision=precision,
    )
