"""The attribute-matching policy of ``POST /v1/citizens/verify`` (``app.matching``)."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from app.matching import (
    MatchLevel,
    accent_fold,
    birth_date_matches,
    canonical_name,
    canonical_phone,
    clean_text,
    name_match,
)

NFD = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731

CANONICAL_EQUAL = [
    ("Nguyễn Văn An", "Nguyễn Văn An", "identical"),
    (NFD("Nguyễn Thị Thuỷ"), "Nguyễn Thị Thuỷ", "NFD against NFC"),
    ("Nguy\u00ea\u0303n Văn An", "Nguyễn Văn An", "IME composite: precomposed ê + combining tilde"),
    ("nguyễn văn an", "NGUYỄN VĂN AN", "case"),
    ("ĐẶNG THỊ HÀ", "Đặng Thị Hà", "upper-case Đ"),
    ("  Nguyễn   Văn\tAn ", "Nguyễn Văn An", "leading, trailing and inner whitespace"),
    ("Nguyễn\u00a0Văn\u0085An", "Nguyễn Văn An", "NBSP and NEL"),
    ("Nguy\u200bễn Văn\u200d An", "Nguyễn Văn An", "zero-width space and joiner"),
    ("\u202eNguyễn Văn An", "Nguyễn Văn An", "bidi override"),
    ("Lê Hòa", "Lê Hoà", "old/new tone placement oa"),
    ("Trần Thủy", "Trần Thuỷ", "old/new tone placement uy"),
    ("Phạm Khỏe", "Phạm Khoẻ", "old/new tone placement oe"),
    ("Võ Thị Hóa", "Võ Thị Hoá", "old/new tone placement with sắc"),
    ("Lý Thị Thụy", "Lý Thị Thuỵ", "old/new tone placement with nặng"),
]

CANONICAL_DIFFERENT = [
    ("Nguyễn Văn An", "Nguyễn Văn Ân", "vowel mark â differs"),
    ("Lê Hòa", "Lê Hóa", "different tone"),
    ("Lê Hòa", "Lê Hoa", "tone missing"),
    ("Đặng Hà", "Dặng Hà", "đ is not d"),
    ("Nguyễn Văn An", "Nguyễn An", "word missing"),
    ("Nguyễn Văn An", "Nguyễn Văn Anh", "different given name"),
    ("NguyễnVăn An", "Nguyễn Văn An", "words run together"),
    ("", "Nguyễn Văn An", "empty claim"),
    ("   ", "Nguyễn Văn An", "whitespace-only claim"),
]


@pytest.mark.parametrize(("claimed", "recorded", "case"), CANONICAL_EQUAL,
                         ids=[c[2] for c in CANONICAL_EQUAL])
def test_canonical_name_match_ignores_form_case_space_and_tone_placement(
        claimed: str, recorded: str, case: str) -> None:
    result = name_match(claimed, recorded)
    assert (result.matched, result.level) == (True, MatchLevel.CANONICAL)
    assert canonical_name(claimed) == canonical_name(recorded)


@pytest.mark.parametrize(("claimed", "recorded", "case"), CANONICAL_DIFFERENT,
                         ids=[c[2] for c in CANONICAL_DIFFERENT])
def test_canonical_name_match_keeps_letters_vowel_marks_and_tones(
        claimed: str, recorded: str, case: str) -> None:
    result = name_match(claimed, recorded)
    assert (result.matched, result.level) == (False, MatchLevel.NONE)


ACCENT_INSENSITIVE = [
    ("Nguyen Van An", "Nguyễn Văn An", True),
    ("nguyen van an", "Nguyễn Văn Ân", True),
    ("Dang Thi Ha", "Đặng Thị Hà", True),
    ("DANG THI HA", "Đặng Thị Hà", True),
    ("Le Hoa", "Lê Hòa", True),
    ("Nguyen Van Anh", "Nguyễn Văn An", False),
    ("Nguyen Van", "Nguyễn Văn An", False),
    ("", "Nguyễn Văn An", False),
]


@pytest.mark.parametrize(("claimed", "recorded", "matched"), ACCENT_INSENSITIVE)
def test_accent_insensitive_mode_ignores_diacritics_and_reports_its_level(
        claimed: str, recorded: str, matched: bool) -> None:
    result = name_match(claimed, recorded, accent_insensitive=True)
    assert result.matched is matched
    assert result.level == (MatchLevel.ACCENT_INSENSITIVE if matched else MatchLevel.NONE)


def test_accent_insensitive_mode_still_reports_canonical_when_accents_agree() -> None:
    assert name_match("Lê Hoà", "Lê Hòa", accent_insensitive=True).level == MatchLevel.CANONICAL


def test_accents_count_unless_accent_insensitive_mode_is_asked() -> None:
    assert not name_match("Nguyen Van An", "Nguyễn Văn An").matched


@pytest.mark.parametrize(("value", "folded"), [
    ("Nguyễn Văn An", "nguyen van an"),
    ("ĐẶNG  Thị\u00a0Thuỷ", "dang thi thuy"),
    (NFD("Trần Thủy"), "tran thuy"),
    ("", ""),
])
def test_accent_fold_gives_lowercase_ascii_letters(value: str, folded: str) -> None:
    assert accent_fold(value) == folded


@pytest.mark.parametrize(("value", "cleaned"), [
    (" a \t b\n", "a b"),
    ("a\u200bb", "ab"),
    (NFD("ễ"), "ễ"),
    ("\ud800", "\ud800"),  # a lone surrogate passes through unchanged; it never matches a record
])
def test_clean_text_normalises_to_nfc_and_collapses_whitespace(value: str, cleaned: str) -> None:
    assert clean_text(value) == cleaned


@pytest.mark.parametrize(("claimed", "recorded", "precision", "matched"), [
    (date(1990, 5, 17), date(1990, 5, 17), "day", True),
    (date(1990, 5, 18), date(1990, 5, 17), "day", False),
    (date(1990, 5, 1), date(1990, 5, 17), "month", True),
    (date(1990, 6, 17), date(1990, 5, 17), "month", False),
    (date(1942, 12, 31), date(1942, 1, 1), "year", True),
    (date(1943, 1, 1), date(1942, 1, 1), "year", False),
])
def test_birth_date_matches_only_the_recorded_precision(
        claimed: date, recorded: date, precision: str, matched: bool) -> None:
    assert birth_date_matches(claimed, recorded, precision=precision) is matched


@pytest.mark.parametrize(("value", "canonical"), [
    ("0912345678", "0912345678"),
    ("+84 912 345 678", "0912345678"),
    ("84912345678", "0912345678"),
    ("0912.345.678", "0912345678"),
    ("(091) 234-5678", "0912345678"),
    ("+1 555 0100", "+15550100"),
])
def test_canonical_phone_uses_the_national_form(value: str, canonical: str) -> None:
    assert canonical_phone(value) == canonical
