"""Personal identification number rules (vietnam-identity-rules.md §1)."""

from __future__ import annotations

import random
from datetime import date

import pytest

from app import pin


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("001093047064", "001093047064"),  # public MRZ sample: Hà Nội, male, 1993
        (" 001 093 047 064 ", "001093047064"),
        ("079-184-005440", "079184005440"),
        ("286200000002", "286200000002"),  # born abroad (Ukraine, Circular 59/2021 App. II)
        ("000305123456", "000305123456"),
        ("096399999999", "096399999999"),
    ],
)
def test_validate_accepts_and_normalises_valid_pins(number: str, expected: str) -> None:
    assert pin.validate(number) == expected


@pytest.mark.parametrize(
    ("number", "error"),
    [
        ("00109304706", pin.InvalidLength),
        ("0010930470640", pin.InvalidLength),
        ("", pin.InvalidFormat),
        ("00109304706a", pin.InvalidFormat),
        ("００１０９３０４７０６４", pin.InvalidFormat),  # full-width digits
        ("٠٠١٠٩٣٠٤٧٠٦٤", pin.InvalidFormat),  # Arabic-Indic digits
        ("003093047064", pin.InvalidPlace),  # gap in the GSO list
        ("097093047064", pin.InvalidPlace),  # beyond 096
        ("296093047064", pin.InvalidPlace),  # beyond the foreign range
        ("999093047064", pin.InvalidPlace),
    ],
)
def test_validate_names_the_rule_broken(number: str, error: type[pin.PinError]) -> None:
    with pytest.raises(error) as caught:
        pin.validate(number)
    assert number.strip() == "" or number not in str(caught.value)


def test_full_width_digits_fold_only_when_asked() -> None:
    assert pin.validate("００１０９３０４７０６４", strict_ascii=False) == "001093047064"


@pytest.mark.parametrize(
    ("number", "sex", "year"),
    [
        ("001093047064", "M", 1993),
        ("001193047064", "F", 1993),
        ("079205000001", "M", 2005),
        ("079325000001", "F", 2025),
        ("001400000001", "M", 2100),
        ("001599000001", "F", 2199),
        ("001800000001", "M", 2300),
        ("001900000001", "F", 2300),
    ],
)
def test_century_sex_digit_decodes_sex_and_birth_year(number: str, sex: str, year: int) -> None:
    decoded = pin.info(number)
    assert (decoded.sex, decoded.birth_year) == (sex, year)


@pytest.mark.parametrize(
    ("year", "sex", "digit"),
    [(1900, "M", "0"), (1999, "F", "1"), (2000, "M", "2"), (2099, "F", "3"), (2150, "M", "4"),
     (2250, "F", "7"), (2399, "M", "8")],
)
def test_century_sex_digit_table(year: int, sex: str, digit: str) -> None:
    assert pin.birth_century_sex_digit(birth_year=year, sex=sex) == digit


@pytest.mark.parametrize(("year", "sex"), [(1899, "M"), (2400, "F"), (1990, "X")])
def test_century_sex_digit_refuses_impossible_values(year: int, sex: str) -> None:
    with pytest.raises(pin.InvalidCentury):
        pin.birth_century_sex_digit(birth_year=year, sex=sex)


def test_check_consistent_rejects_pin_that_disagrees_with_the_person() -> None:
    pin.check_consistent("001093047064", birth_date=date(1993, 1, 5), sex="M")
    with pytest.raises(pin.InvalidCentury):
        pin.check_consistent("001093047064", birth_date=date(1994, 1, 5), sex="M")
    with pytest.raises(pin.InvalidCentury):
        pin.check_consistent("001093047064", birth_date=date(1993, 1, 5), sex="F")


def test_there_are_63_legacy_and_34_current_codes_and_current_is_a_subset() -> None:
    assert len(pin.LEGACY_PROVINCE_CODES) == 63
    assert len(pin.CURRENT_PROVINCE_CODES) == 34
    assert pin.CURRENT_PROVINCE_CODES <= pin.LEGACY_PROVINCE_CODES
    assert len(pin.FOREIGN_CODES) == 196


@pytest.mark.parametrize(
    ("place", "registered_on", "allowed"),
    [
        ("015", date(2025, 7, 1), True),  # Lào Cai (current)
        ("010", date(2025, 7, 1), False),  # old Lào Cai code, merged
        ("010", date(2025, 6, 30), True),
        ("286", date(2026, 1, 1), True),  # abroad
    ],
)
def test_births_registered_after_the_merger_use_current_codes(
    place: str, registered_on: date, allowed: bool
) -> None:
    answer = pin.registration_place_is_allowed(place_code=place, registered_on=registered_on)
    assert answer is allowed


def test_generate_gives_valid_consistent_pins() -> None:
    rng = random.Random(1)
    for _ in range(200):
        year = rng.randrange(1900, 2100)
        sex = rng.choice("MF")
        place = rng.choice(sorted(pin.LEGACY_PROVINCE_CODES | pin.FOREIGN_CODES))
        number = pin.generate(place_code=place, birth_year=year, sex=sex, rng=rng)
        decoded = pin.info(number)
        assert (decoded.place_code, decoded.birth_year, decoded.sex) == (place, year, sex)


@pytest.mark.parametrize(
    ("value", "masked"),
    [("079084005440", "0790****5440"), ("not-a-pin", "****"), ("07908400544", "****")],
)
def test_mask_hides_the_middle_of_a_pin(value: str, masked: str) -> None:
    assert pin.mask(value) == masked
