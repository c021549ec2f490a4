"""Hypothesis property tests of the pure modules (no database, no app): PIN rules, MRZ, strict
TLV and the LDS files, name matching. Each property holds for every generated input; the
example-based tables of ``tests/unit`` stay the specification, these search the space between
them. Derandomised (the same examples every run) and bounded by ``DANCU_PROPERTY_EXAMPLES``.
"""

from __future__ import annotations

import os
import random
import unicodedata
from collections import Counter
from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import matching
from app import pin as pin_rules
from app.icao import lds, mrz, tlv
from app.icao.errors import IcaoError
from tests.reliability.support import record

EXAMPLES = int(os.environ.get("DANCU_PROPERTY_EXAMPLES", "300"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
TALLY: Counter[str] = Counter()

PLACES = sorted(pin_rules.LEGACY_PROVINCE_CODES)
ANY_TEXT = st.text(alphabet=st.characters(codec=None), max_size=40)
VIETNAMESE = st.text(alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩị"
                              "óòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ", min_size=1, max_size=8)
NAMES = st.lists(VIETNAMESE, min_size=2, max_size=4).map(" ".join)


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[None]:
    yield
    record("properties", "properties", len(TALLY))
    record("properties", "examples run", sum(TALLY.values()))


@st.composite
def pin_parts(draw: st.DrawFn) -> tuple[str, int, str, int]:
    return (draw(st.sampled_from(PLACES)), draw(st.integers(1900, 2099)),
            draw(st.sampled_from("MF")), draw(st.integers(0, 2**32)))


@PROPERTY
@given(pin_parts())
def test_a_generated_pin_is_valid_and_decodes_to_what_made_it(parts: tuple) -> None:
    TALLY["pin round trip"] += 1
    place, year, sex, seed = parts
    number = pin_rules.generate(place_code=place, birth_year=year, sex=sex,
                                rng=random.Random(seed))
    decoded = pin_rules.info(number)
    assert (decoded.place_code, decoded.birth_year, decoded.sex) == (place, year, sex)


@PROPERTY
@given(ANY_TEXT)
def test_pin_validation_returns_twelve_ascii_digits_or_a_pin_error(text: str) -> None:
    TALLY["pin validation total"] += 1
    if not pin_rules.is_valid(text):
        with pytest.raises(pin_rules.PinError, match=r"."):
            pin_rules.validate(text)
        return
    number = pin_rules.validate(text)
    assert len(number) == 12
    assert number.isascii()
    assert number.isdigit()


@PROPERTY
@given(pin_parts())
def test_a_masked_pin_shows_only_its_ends(parts: tuple) -> None:
    TALLY["pin mask"] += 1
    place, year, sex, seed = parts
    number = pin_rules.generate(place_code=place, birth_year=year, sex=sex,
                                rng=random.Random(seed))
    masked = pin_rules.mask(number)
    assert masked == number[:4] + "****" + number[8:]


@st.composite
def holders(draw: st.DrawFn) -> mrz.MrzHolder:
    born = draw(st.dates(date(1920, 1, 1), date(2020, 12, 31)))
    sex = draw(st.sampled_from("MF"))
    number = pin_rules.generate(place_code=draw(st.sampled_from(PLACES)), birth_year=born.year,
                                sex=sex, rng=random.Random(draw(st.integers(0, 2**32))))
    words = draw(st.lists(VIETNAMESE, min_size=3, max_size=4))
    # A card expires at the latest at 60 plus a grace period: two-digit years read within a century
    # after the birth year.
    expiry = draw(st.one_of(st.none(), st.dates(date(born.year + 1, 1, 1),
                                                 date(born.year + 99, 12, 31))))
    return mrz.MrzHolder(pin=number, surname=words[0], middle_name=" ".join(words[1:-1]),
                         given_name=words[-1], date_of_birth=born, sex=sex, expiry=expiry)


@PROPERTY
@given(holders())
def test_an_mrz_built_for_a_holder_parses_back_to_it(holder: mrz.MrzHolder) -> None:
    TALLY["mrz round trip"] += 1
    built = mrz.build_td1(holder)
    parsed = mrz.parse_td1(built.lines)
    assert parsed.pin == holder.pin
    assert parsed.date_of_birth == holder.date_of_birth
    assert parsed.sex == holder.sex
    assert parsed.expiry == holder.expiry
    assert lds.parse_dg1(lds.encode_dg1(built)).lines == built.lines


@PROPERTY
@given(holders(), st.integers(0, 59), st.sampled_from("0123456789"))
def test_a_changed_digit_in_the_number_or_dates_is_caught_by_a_check_digit(
        holder: mrz.MrzHolder, position: int, digit: str) -> None:
    TALLY["mrz check digits"] += 1
    lines = list(mrz.build_td1(holder).lines)
    joined = lines[0] + lines[1]
    if not joined[position].isdigit() or joined[position] == digit:
        return
    changed = joined[:position] + digit + joined[position + 1:]
    with pytest.raises(IcaoError):
        mrz.parse_td1([changed[:30], changed[30:], lines[2]])


@PROPERTY
@given(st.lists(ANY_TEXT, min_size=0, max_size=4))
def test_parsing_any_text_as_an_mrz_raises_only_mrz_errors(lines: list[str]) -> None:
    TALLY["mrz hostile text"] += 1
    try:
        mrz.parse_td1(lines)
    except IcaoError:
        pass


@PROPERTY
@given(st.integers(1, 0x7F5F), st.binary(max_size=600))
def test_tlv_encoding_round_trips(tag: int, value: bytes) -> None:
    TALLY["tlv round trip"] += 1
    try:
        encoded = tlv.encode_tlv(tag, value)
    except IcaoError:
        return  # not an encodable tag number
    decoded = tlv.decode_tlv(encoded)
    assert (decoded.tag, decoded.value) == (tag, value)


@PROPERTY
@given(st.binary(max_size=300))
def test_hostile_bytes_in_any_lds_parser_raise_only_chip_errors(data: bytes) -> None:
    TALLY["lds hostile bytes"] += 1
    for parse in (tlv.decode_tlv, tlv.decode_children, lds.parse_com, lds.parse_dg1,
                  lds.parse_dg15):
        try:
            parse(data)
        except IcaoError:
            pass


@PROPERTY
@given(NAMES)
def test_a_name_matches_its_nfd_upper_case_and_spaced_forms(name: str) -> None:
    TALLY["name canonical equivalents"] += 1
    for variant in (unicodedata.normalize("NFD", name), name.upper(),
                    "  " + name.replace(" ", " \u00a0 ") + "\t", name.replace(" ", "\u200b ")):
        assert matching.name_match(variant, name).matched, variant


@PROPERTY
@given(NAMES, NAMES)
def test_name_matching_is_symmetric_and_accent_folding_only_widens_it(a: str, b: str) -> None:
    TALLY["name matching symmetry"] += 1
    assert matching.name_match(a, b).matched == matching.name_match(b, a).matched
    if matching.name_match(a, b).matched:
        assert matching.name_match(a, b, accent_insensitive=True).matched
    assert matching.accent_fold(matching.accent_fold(a)) == matching.accent_fold(a)


@PROPERTY
@given(ANY_TEXT, ANY_TEXT)
def test_name_matching_never_raises_and_never_matches_an_empty_record(a: str, b: str) -> None:
    TALLY["name hostile text"] += 1
    result = matching.name_match(a, b, accent_insensitive=True)
    if not matching.clean_text(b):
        assert not result.matched
