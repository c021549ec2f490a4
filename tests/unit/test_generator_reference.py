"""The reference data in seed/data: official units, the corrected merger table, code lists."""

from __future__ import annotations

import unicodedata
from collections import Counter

import pytest

from app import pin
from app.matching import accent_fold
from seed import reference
from seed.naming import fold, name_model
from seed.reference import admin_units


def test_there_are_34_current_and_63_legacy_provinces() -> None:
    provinces = admin_units().provinces.values()
    assert len(provinces) == 63
    assert sum(p.is_current for p in provinces) == 34


def test_province_codes_are_the_pin_modules_codes() -> None:
    provinces = admin_units().provinces.values()
    assert {p.code for p in provinces} == pin.LEGACY_PROVINCE_CODES
    assert {p.code for p in provinces if p.is_current} == pin.CURRENT_PROVINCE_CODES


def test_communes_are_2621_xa_687_phuong_13_dac_khu() -> None:
    kinds = Counter(c.division_type for c in admin_units().communes.values())
    assert kinds == {"xã": 2621, "phường": 687, "đặc khu": 13}


@pytest.mark.parametrize(("legacy", "current"), [
    ("082", "082"),  # Tiền Giang -> Đồng Tháp (the package's conversion data says Tây Ninh too)
    ("087", "082"), ("080", "080"), ("074", "079"), ("077", "079"), ("002", "008"),
    ("015", "015"), ("010", "015"), ("062", "051"), ("054", "066"), ("093", "092"), ("095", "096"),
])
def test_legacy_provinces_map_to_the_corrected_merger_table(legacy: str, current: str) -> None:
    assert reference.current_province_code(legacy) == current


def test_every_converted_legacy_ward_lands_in_its_provinces_successor() -> None:
    units = admin_units()
    for ward in units.legacy_wards.values():
        expected = reference.current_province_code(ward.province_code)
        assert all(units.communes[c].province_code == expected for c in ward.current_codes)


def test_every_commune_belongs_to_a_current_province() -> None:
    units = admin_units()
    assert all(units.provinces[c.province_code].is_current for c in units.communes.values())


def test_names_are_nfc() -> None:
    units = admin_units()
    names = [c.name for c in units.communes.values()]
    names += [w.name for w in units.legacy_wards.values()]
    assert all(unicodedata.is_normalized("NFC", n) for n in names)


def test_a_commune_and_its_province_render_as_a_two_level_address() -> None:
    assert reference.render_address(line="Số 12 Kim Mã", commune_code="00004") == \
        "Số 12 Kim Mã, Phường Ba Đình, Thành phố Hà Nội"


def test_a_legacy_ward_renders_with_its_district_and_old_province() -> None:
    text = reference.render_legacy_address(line="Số 5", legacy_ward_code="00001")
    assert text == "Số 5, Phường Phúc Xá, Quận Ba Đình, Thành phố Hà Nội"


def test_a_code_names_its_current_and_its_legacy_province() -> None:
    assert reference.province_name("024") == "Thành phố Bắc Ninh"
    assert reference.province_name("024", legacy=True) == "Tỉnh Bắc Giang"


@pytest.mark.parametrize(("list_name", "count"), [
    ("ethnicity", 56), ("religion", 18), ("marital_status", 5), ("relationship", 28)])
def test_code_lists_are_complete(list_name: str, count: int) -> None:
    codes = [code for code, _, _ in reference.code_lists()[list_name]]
    assert len(codes) == len(set(codes)) == count


def test_name_folding_is_the_services_search_key_for_every_name_token() -> None:
    words = name_model().vocab.words
    assert all(fold(w) == accent_fold(w) for w in words)
    assert fold("Đặng Thị Ánh") == "dang thi anh"


def test_every_commune_name_opens_with_its_capitalised_division_type() -> None:
    """The catalogue spelt commune 06325 "xã Bắc Sơn"; addresses print "Xã Bắc Sơn"."""
    wrong = [c.code for c in admin_units().communes.values()
             if not c.name.startswith(c.division_type[:1].upper() + c.division_type[1:] + " ")]
    assert wrong == []
