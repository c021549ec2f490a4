"""TD1 MRZ of the Vietnamese card: 7-3-1 check digits, layout, transliteration, strict parsing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from mrz.base.functions import hash_string
from mrz.checker.td1 import TD1CodeChecker

from app.icao.errors import MrzError
from app.icao.mrz import (
    MrzHolder,
    build_td1,
    check_digit,
    name_line,
    parse_td1,
    split_full_name,
    transliterate,
)

from .support import HOLDER

WORKED_EXAMPLE = (
    "IDVNM0930470641001093047064<<2",
    "9301054M3301052VNM<<<<<<<<<<<8",
    "UNG<<HOANG<HIEP<<<<<<<<<<<<<<<",
)


@pytest.mark.parametrize(
    ("value", "digit"),
    [
        # ICAO Doc 9303 Part 5 TD1 specimen (ERIKSSON, Utopia): document number, birth, expiry.
        ("D23145890", "7"),
        ("740812", "2"),
        ("120415", "9"),
        ("D231458907" + "<" * 15 + "7408122" + "1204159" + "<" * 11, "6"),
        ("093047064", "1"),
        ("001093047064", "2"),
        ("", "0"),
    ],
)
def test_check_digit_reproduces_published_values(value, digit):
    assert check_digit(value) == digit


@pytest.mark.parametrize(
    "value", ["0", "9", "A", "Z", "<", "L898902C", "ABCXYZ<<09", "079204005440", "<" * 30]
)
def test_check_digit_agrees_with_the_mrz_package(value):
    assert check_digit(value) == hash_string(value)


def test_check_digit_rejects_characters_outside_the_mrz_set():
    with pytest.raises(MrzError) as error:
        check_digit("abc")
    assert error.value.code == "mrz.charset"


@pytest.mark.parametrize("length", [1, 2, 3, 29, 30, 61, 89, 90, 91, 200])
def test_check_digit_is_the_7_3_1_sum_at_every_length(length):
    # the weights are laid out for values up to 90 characters; longer ones take the per-character
    # reading, and both must be the 7-3-1 sum of Doc 9303 Part 3 §4.9
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<"
    value = "".join(alphabet[(i * 7 + length) % len(alphabet)] for i in range(length))
    assert check_digit(value) == hash_string(value)


@pytest.mark.parametrize("value", ["12a", "<" * 40 + "é", "AB\u0663"])
def test_check_digit_reads_other_characters_one_by_one(value):
    # a character outside the MRZ set is refused, and a non-ASCII decimal digit read as its
    # value, whether it comes first or after a run of MRZ characters
    if value.isascii() or not value[-1].isdigit():
        with pytest.raises(MrzError):
            check_digit(value)
    else:
        assert check_digit(value) == check_digit(value[:-1] + "3")


def test_worked_example_is_built_exactly_from_the_holders_values():
    assert build_td1(HOLDER).lines == WORKED_EXAMPLE


def test_worked_example_parses_back_to_the_holders_values():
    td1 = parse_td1(WORKED_EXAMPLE)
    assert (td1.pin, td1.document_number, td1.nationality) == ("001093047064", "093047064", "VNM")
    assert (td1.date_of_birth, td1.sex, td1.expiry) == (date(1993, 1, 5), "M", date(2033, 1, 5))
    assert (td1.surname, td1.given_names) == ("UNG", "HOANG HIEP")


def test_parse_accepts_90_characters_with_or_without_line_breaks():
    assert parse_td1("".join(WORKED_EXAMPLE)) == parse_td1("\n".join(WORKED_EXAMPLE))


HOLDERS = [
    HOLDER,
    MrzHolder(
        "079304005440", "Đặng", "Thị Ánh", "Tuyết", date(2004, 10, 4), "F", date(2029, 10, 4)
    ),
    MrzHolder("001165012345", "Trần", "Thị", "Lan", date(1965, 6, 5), "F", None),
    MrzHolder("038088000999", "Nguyễn", "Văn", "Đức", date(1988, 5, 5), "M", date(2028, 5, 5)),
    MrzHolder("092315000001", "Lê", "", "Ư", date(2015, 3, 1), "F", date(2029, 3, 1)),
    MrzHolder(
        "046200123456",
        "Tôn Nữ",
        "Hoàng Phương Thảo Nguyên",
        "Khánh",
        date(2000, 2, 29),
        "M",
        date(2025, 2, 28),
    ),
]


@pytest.mark.parametrize("holder", HOLDERS, ids=lambda h: h.pin)
def test_built_mrz_passes_the_independent_td1_checker(holder):
    assert bool(TD1CodeChecker("\n".join(build_td1(holder).lines)))


@pytest.mark.parametrize("holder", HOLDERS, ids=lambda h: h.pin)
def test_built_mrz_round_trips_dates_sex_and_pin(holder):
    td1 = parse_td1(build_td1(holder).text)
    assert (td1.pin, td1.date_of_birth, td1.sex, td1.expiry) == (
        holder.pin,
        holder.date_of_birth,
        holder.sex,
        holder.expiry,
    )


def test_no_expiry_is_written_as_991231_and_read_back_as_none():
    td1 = build_td1(HOLDERS[2])
    assert td1.lines[1][8:14] == "991231"
    assert parse_td1(td1.lines).expiry is None


@pytest.mark.parametrize(
    ("pin", "born", "expiry", "birth_year", "expiry_year"),
    [
        ("001093047064", date(1993, 1, 5), date(2033, 1, 5), 1993, 2033),
        ("079204005440", date(2004, 10, 4), date(2029, 10, 4), 2004, 2029),
        ("001050000001", date(1950, 7, 1), date(2010, 7, 1), 1950, 2010),
        ("001099000001", date(1999, 12, 31), date(2024, 12, 31), 1999, 2024),
        ("001210000001", date(2010, 1, 2), date(2024, 1, 2), 2010, 2024),
    ],
)
def test_two_digit_years_take_the_century_from_the_pin_and_expiry_follows_birth(
    pin, born, expiry, birth_year, expiry_year
):
    td1 = parse_td1(build_td1(replace(HOLDER, pin=pin, date_of_birth=born, expiry=expiry)).lines)
    assert (td1.date_of_birth.year, td1.expiry.year) == (birth_year, expiry_year)


@pytest.mark.parametrize(
    ("name", "mrz"),
    [
        ("Ứng", "UNG"),
        ("Đặng", "DANG"),
        ("đức", "DUC"),
        ("Nguyễn Thị Ánh", "NGUYEN<THI<ANH"),
        ("Ơn Ưu Ắt Ẩn Ễ Ộ", "ON<UU<AT<AN<E<O"),
        ("H'Hen Niê", "HHEN<NIE"),
        ("Y-Moan", "Y<MOAN"),
        ("  Lò   Văn  ", "LO<VAN"),
    ],
)
def test_transliteration_drops_diacritics_and_maps_d_with_stroke(name, mrz):
    assert transliterate(name) == mrz


@pytest.mark.parametrize(
    ("full_name", "parts"),
    [
        ("Ứng Hoàng Hiệp", ("Ứng", "Hoàng", "Hiệp")),
        ("Nguyễn Thị Ánh Tuyết", ("Nguyễn", "Thị Ánh", "Tuyết")),
        ("Lê Na", ("Lê", "", "Na")),
        ("Mai", ("", "", "Mai")),
    ],
)
def test_full_name_splits_into_surname_middle_and_given_name(full_name, parts):
    assert split_full_name(full_name) == parts


def test_long_names_are_truncated_to_30_characters():
    line = name_line(surname="Tôn Nữ", middle_name="Hoàng Phương Thảo Nguyên", given_name="Khánh")
    assert line == "TON<NU<<HOANG<PHUONG<THAO<NGUY"


def _with_check_digits(line1: str, line2: str) -> tuple[str, str]:
    """Recompute every check digit so a test reaches the validation after them."""
    line1 = line1[:14] + check_digit(line1[5:14]) + line1[15:29] + check_digit(line1[15:27])
    line2 = (
        line2[:6] + check_digit(line2[:6]) + line2[7:14] + check_digit(line2[8:14]) + line2[15:29]
    )
    return line1, line2 + check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])


def _mutated(line: int, position: int, text: str, *, fix_digits: bool) -> tuple[str, str, str]:
    lines = list(WORKED_EXAMPLE)
    lines[line] = lines[line][:position] + text + lines[line][position + len(text) :]
    if fix_digits:
        lines[0], lines[1] = _with_check_digits(lines[0], lines[1])
    return lines[0], lines[1], lines[2]


@pytest.mark.parametrize(
    ("line", "position", "text", "fix_digits", "code"),
    [
        (0, 14, "2", False, "mrz.check_digit"),  # document number digit
        (0, 29, "3", False, "mrz.check_digit"),  # PIN digit
        (1, 6, "5", False, "mrz.check_digit"),  # birth date digit
        (1, 14, "3", False, "mrz.check_digit"),  # expiry digit
        (1, 29, "9", False, "mrz.check_digit"),  # composite digit
        (0, 5, "1", False, "mrz.pin"),  # document number no longer the PIN's tail
        (0, 0, "P<", True, "mrz.document_code"),
        (0, 2, "UTO", True, "mrz.issuing_state"),
        (1, 15, "UTO", True, "mrz.nationality"),
        (1, 7, "X", True, "mrz.sex"),
        (1, 7, "F", True, "mrz.pin_mismatch"),  # PIN century digit 0 says male
        (1, 0, "94", True, "mrz.pin_mismatch"),  # PIN says born in '93
        (1, 2, "0230", True, "mrz.date"),  # 30 February
        (1, 20, "A", True, "mrz.filler"),
        (0, 27, "A<", True, "mrz.filler"),
        (2, 0, "<<<", True, "mrz.name"),
    ],
)
def test_parse_rejects_each_broken_field_with_a_specific_code(
    line, position, text, fix_digits, code
):
    lines = _mutated(line, position, text, fix_digits=fix_digits)
    if code == "mrz.name":
        lines = (lines[0], lines[1], "<" * 30)
    with pytest.raises(MrzError) as error:
        parse_td1(lines)
    assert error.value.code == code


@pytest.mark.parametrize(
    ("mrz", "code"),
    [
        (WORKED_EXAMPLE[:2], "mrz.shape"),
        ((WORKED_EXAMPLE[0][:29], *WORKED_EXAMPLE[1:]), "mrz.shape"),
        ("".join(WORKED_EXAMPLE)[:89], "mrz.shape"),
        ((WORKED_EXAMPLE[0].lower(), *WORKED_EXAMPLE[1:]), "mrz.charset"),
        ((WORKED_EXAMPLE[0], WORKED_EXAMPLE[1], "ỨNG<<HOANG<HIEP<<<<<<<<<<<<<<<"), "mrz.charset"),
    ],
)
def test_parse_rejects_wrong_shapes_and_characters(mrz, code):
    with pytest.raises(MrzError) as error:
        parse_td1(mrz)
    assert error.value.code == code


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"pin": "00109304706"}, "mrz.pin"),
        ({"pin": "00109304706X"}, "mrz.pin"),
        ({"sex": "F"}, "mrz.pin_mismatch"),
        ({"date_of_birth": date(1994, 1, 5)}, "mrz.pin_mismatch"),
        ({"date_of_birth": date(2093, 1, 5)}, "mrz.pin_mismatch"),
        ({"surname": "", "middle_name": "", "given_name": "—"}, "mrz.name"),
        ({"expiry": date(2099, 12, 31)}, "mrz.expiry"),
    ],
)
def test_build_refuses_values_that_would_not_round_trip(change, code):
    with pytest.raises(MrzError) as error:
        build_td1(replace(HOLDER, **change))
    assert error.value.code == code


def test_mrz_errors_never_echo_the_holders_data():
    with pytest.raises(MrzError) as error:
        parse_td1(_mutated(1, 7, "F", fix_digits=True))
    assert "001093047064" not in str(error.value)
    assert "UNG" not in str(error.value)


PARTIAL_BIRTHS = [
    # (holder born in 1950, day and/or month unknown; the six MRZ characters)
    (MrzHolder("036050001234", "Trần", "Văn", "Út", date(1950, 1, 1), "M", None, "year"),
     "50<<<<"),
    (MrzHolder("036150001234", "Lê", "Thị", "Nở", date(1950, 3, 1), "F", None, "month"),
     "5003<<"),
    (MrzHolder("036150001234", "Lê", "Thị", "Nở", date(1950, 3, 1), "F", None, "day"),
     "500301"),
]


@pytest.mark.parametrize(("holder", "field"), PARTIAL_BIRTHS, ids=lambda v: getattr(v, "pin", v))
def test_unknown_parts_of_a_birth_date_are_fillers_in_the_mrz(holder, field):
    td1 = build_td1(holder)
    assert td1.lines[1][0:6] == field
    assert td1.lines[1][6] == check_digit(field)  # '<' counts as 0


@pytest.mark.parametrize(("holder", "field"), PARTIAL_BIRTHS, ids=lambda v: getattr(v, "pin", v))
def test_partial_birth_date_parses_back_with_its_precision(holder, field):
    td1 = parse_td1(build_td1(holder).text)
    assert (td1.date_of_birth, td1.birth_precision) == (holder.date_of_birth,
                                                         holder.birth_precision)


@pytest.mark.parametrize(("holder", "field"), PARTIAL_BIRTHS, ids=lambda v: getattr(v, "pin", v))
def test_partial_birth_date_check_digits_agree_with_the_mrz_package(holder, field):
    """The package computes every check digit (birth date and composite) as we do; its separate
    birth-date *field* check wants a calendar date and refuses fillers (mrz 0.6), so that one
    report line is the only disagreement on a partial date."""
    lines = build_td1(holder).lines
    assert lines[1][6] == str(hash_string(field))
    checker = TD1CodeChecker("\n".join(lines))
    expected = [] if holder.birth_precision == "day" else [("birth date", False)]
    assert checker.report.falses == expected


@pytest.mark.parametrize("field", ["<<<<50", "50<<01", "5<<<<<", "50<0<<"])
def test_birth_date_with_fillers_in_other_places_is_refused(field):
    line2 = build_td1(HOLDERS[2]).lines[1]
    broken = field + check_digit(field) + line2[7:]
    lines = (build_td1(HOLDERS[2]).lines[0], broken, build_td1(HOLDERS[2]).lines[2])
    with pytest.raises(MrzError) as caught:
        parse_td1(lines)
    assert caught.value.code in ("mrz.date", "mrz.check_digit")
