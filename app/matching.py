"""PURE: how claimed personal attributes are compared with the population record.

Name policy (``docs/data-sharing.md``, "Name matching"):

* canonical mode (default): Unicode-normalisation-insensitive (NFC = NFD = "composite" IME input),
  case-insensitive, whitespace-normalised (any Unicode space, NBSP, NEL; invisible format characters
  such as zero-width spaces and bidi overrides are dropped), and old/new tone placement are equal
  (``Hòa`` = ``Hoà``, ``Thủy`` = ``Thuỷ``): each word is compared as its letters without tone marks
  plus its tone, wherever the mark sits. Vowel marks (â, ă, ê, ô, ơ, ư) and đ still count.
* accent-insensitive mode (opt-in): additionally ignores every diacritic and maps đ to d, so
  ``Nguyen Van An`` matches ``Nguyễn Văn An``; the response reports which mode and level matched.

>>> name_match("Nguyễn Thị Thuỷ", "nguyễn  thị thủy").level
'canonical'
>>> name_match("Nguyen Thi Thuy", "Nguyễn Thị Thuỷ", accent_insensitive=True).level
'accent_insensitive'
>>> canonical_phone("+84 912 345 678")
'0912345678'
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

__all__ = [
    "MatchLevel",
    "NameMatch",
    "accent_fold",
    "birth_date_matches",
    "canonical_name",
    "canonical_phone",
    "clean_text",
    "name_match",
]

# Vietnamese tones as combining marks after NFD: huyền, sắc, ngã, hỏi, nặng.
TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")
# Invisible characters that must not change a comparison (zero-width, joiners, BOM, bidi controls).
_INVISIBLE = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u202a\u202b\u202c\u202d\u202e"
             "\u2066\u2067\u2068\u2069\u200e\u200f"))
_D_FOLD = str.maketrans({"đ": "d", "Đ": "D"})


class MatchLevel(StrEnum):
    CANONICAL = "canonical"
    ACCENT_INSENSITIVE = "accent_insensitive"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class NameMatch:
    matched: bool
    level: MatchLevel


# Ê-đê names are written given name first, clan last ("Y Moan Êban", "H'Hen Niê"); the record keeps
# the clan as ``surname`` (the ``family_name`` claim) like everyone's family name (population.md)
CLAN_LAST_ETHNICITIES = frozenset({12})


def clean_text(value: str) -> str:
    """NFC, invisible characters dropped, runs of any whitespace collapsed to one space."""
    return " ".join(unicodedata.normalize("NFC", value).translate(_INVISIBLE).split())


def _canonical_word(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word.casefold())
    tones = "".join(sorted(ch for ch in decomposed if ch in TONE_MARKS))
    letters = "".join(ch for ch in decomposed if ch not in TONE_MARKS)
    return unicodedata.normalize("NFC", letters) + tones


def canonical_name(value: str) -> str:
    """A comparison key: equal keys mean the same name under the canonical policy."""
    return " ".join(_canonical_word(word) for word in clean_text(value).split(" ") if word)


def accent_fold(value: str) -> str:
    """Lower-case, no diacritics, đ → d, whitespace-normalised: ``Nguyễn  Văn`` → ``nguyen van``."""
    decomposed = unicodedata.normalize("NFD", clean_text(value).translate(_D_FOLD).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_match(claimed: str, recorded: str, *, accent_insensitive: bool = False) -> NameMatch:
    """Compare a claimed name with the recorded one; the level says which rule matched."""
    if canonical_name(claimed) == canonical_name(recorded) and canonical_name(recorded):
        return NameMatch(True, MatchLevel.CANONICAL)
    if (
        accent_insensitive
        and accent_fold(claimed) == accent_fold(recorded)
        and accent_fold(recorded)
    ):
        return NameMatch(True, MatchLevel.ACCENT_INSENSITIVE)
    return NameMatch(False, MatchLevel.NONE)


def birth_date_matches(claimed: date, recorded: date, *, precision: str) -> bool:
    """Only the recorded part counts: a year-only record matches any date in that year."""
    if precision == "year":
        return claimed.year == recorded.year
    if precision == "month":
        return (claimed.year, claimed.month) == (recorded.year, recorded.month)
    return claimed == recorded


def canonical_phone(value: str) -> str:
    """Vietnamese mobile numbers in national form: ``+84 912-345-678`` → ``0912345678``."""
    digits = "".join(ch for ch in clean_text(value) if ch not in " .-()")
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits
