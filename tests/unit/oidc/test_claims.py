"""Scope -> claims (OIDC Core §5.4), VNeID claim names, pairwise sub (§8.1)."""

import base64
import hashlib
import hmac
import unicodedata
from datetime import date

import pytest

from app.oidc.claims import (
    CLAIMS_SUPPORTED,
    NEVER_RELEASED_CLAIMS,
    SCOPE_CLAIMS,
    ClaimSource,
    PostalAddress,
    claim_names,
    pairwise_subject,
    userinfo_claims,
)
from app.oidc.errors import InvalidScope
from app.oidc.scopes import format_scope, narrow, parse_scope, require_subset

PIN = "079203005440"
SECRET = b"k" * 32
SOURCE = ClaimSource(
    pin=PIN,
    surname="Nguyễn",
    middle_name="Thị Thuỷ",
    given_name="Linh",
    birth_date=date(2003, 4, 9),
    sex="F",
    email="linh@example.vn",
    email_verified=True,
    phone="0912345678",
    phone_verified=True,
    address=PostalAddress(
        formatted="12 Lý Thường Kiệt, Phường Hoàn Kiếm, Hà Nội",
        locality="Phường Hoàn Kiếm",
        region="Hà Nội",
    ),
)
ALL_SCOPES = tuple(SCOPE_CLAIMS)


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        (("openid",), {"sub"}),
        (
            ("openid", "profile"),
            {"sub", "name", "family_name", "given_name", "middle_name", "birthdate", "gender"},
        ),
        (("openid", "email"), {"sub", "email", "email_verified"}),
        (("openid", "phone"), {"sub", "phone_number", "phone_number_verified"}),
        (("openid", "address"), {"sub", "address"}),
        (
            ("openid", "vneid.identity"),
            {"sub", "SoDinhDanh", "HoVaTen", "NgayThangNamSinh", "GioiTinh", "LoaiTaiKhoan"},
        ),
        (("openid", "offline_access"), {"sub"}),
        (("openid", "ethnicity", "religion", "citizen.sensitive"), {"sub"}),
    ],
)
def test_userinfo_releases_exactly_the_claims_of_the_granted_scopes(scopes, expected):
    assert set(userinfo_claims(SOURCE, scopes=scopes, subject="s")) == expected


def test_profile_claims_follow_oidc_core_section_5_1():
    claims = userinfo_claims(SOURCE, scopes=("openid", "profile"), subject="s")
    assert claims == {
        "sub": "s",
        "name": "Nguyễn Thị Thuỷ Linh",
        "family_name": "Nguyễn",
        "given_name": "Linh",
        "middle_name": "Thị Thuỷ",
        "birthdate": "2003-04-09",
        "gender": "female",
    }


def test_vneid_identity_claims_use_relying_party_names_and_formats():
    claims = userinfo_claims(SOURCE, scopes=("openid", "vneid.identity"), subject="s")
    assert claims == {
        "sub": "s",
        "SoDinhDanh": PIN,
        "HoVaTen": "Nguyễn Thị Thuỷ Linh",
        "NgayThangNamSinh": "20030409",
        "GioiTinh": "Nữ",
        "LoaiTaiKhoan": 1,
    }


def test_pin_is_released_only_under_vneid_identity():
    every_other_scope = [s for s in ALL_SCOPES if s != "vneid.identity"]
    released = userinfo_claims(SOURCE, scopes=every_other_scope, subject="s")
    assert PIN not in {str(value) for value in released.values()}
    assert "preferred_username" not in released


def test_no_sensitive_claim_is_ever_released_whatever_the_scope():
    released = userinfo_claims(
        SOURCE, scopes=(*ALL_SCOPES, "ethnicity", "religion", "biometrics"), subject="s"
    )
    assert not NEVER_RELEASED_CLAIMS & released.keys()
    assert not NEVER_RELEASED_CLAIMS & set(CLAIMS_SUPPORTED)


def test_names_are_emitted_in_nfc():
    decomposed = ClaimSource(
        pin=PIN,
        surname=unicodedata.normalize("NFD", "Nguyễn"),
        middle_name="",
        given_name="An",
        birth_date=date(1990, 1, 1),
        sex="M",
    )
    claims = userinfo_claims(
        decomposed, scopes=("openid", "profile", "vneid.identity"), subject="s"
    )
    assert claims["family_name"] == "Nguyễn"
    assert unicodedata.is_normalized("NFC", claims["HoVaTen"])
    assert "middle_name" not in claims
    assert claims["name"] == "Nguyễn An"


@pytest.mark.parametrize(
    ("precision", "birthdate", "ngay_thang_nam_sinh"),
    [
        ("day", "1950-07-15", "19500715"),
        ("month", "1950", "19500700"),
        ("year", "1950", "19500000"),
    ],
)
def test_partial_birth_dates_follow_oidc_and_card_conventions(
    precision, birthdate, ngay_thang_nam_sinh
):
    source = ClaimSource(
        pin=PIN,
        surname="Trần",
        middle_name="Văn",
        given_name="Bình",
        birth_date=date(1950, 7, 15),
        sex="M",
        birth_date_precision=precision,
    )
    claims = userinfo_claims(source, scopes=("openid", "profile", "vneid.identity"), subject="s")
    assert (claims["birthdate"], claims["NgayThangNamSinh"], claims["GioiTinh"]) == (
        birthdate,
        ngay_thang_nam_sinh,
        "Nam",
    )


def test_phone_is_e164_and_address_is_structured():
    claims = userinfo_claims(SOURCE, scopes=("openid", "phone", "address"), subject="s")
    assert claims["phone_number"] == "+84912345678"
    assert claims["address"] == {
        "formatted": "12 Lý Thường Kiệt, Phường Hoàn Kiếm, Hà Nội",
        "locality": "Phường Hoàn Kiếm",
        "region": "Hà Nội",
        "country": "Việt Nam",
    }


def test_absent_contact_data_is_omitted_not_null():
    bare = ClaimSource(
        pin=PIN, surname="Lê", middle_name="", given_name="Na", birth_date=date(2000, 1, 1), sex="F"
    )
    assert userinfo_claims(bare, scopes=("openid", "email", "phone", "address"), subject="s") == {
        "sub": "s"
    }


def test_pairwise_sub_matches_an_independent_hmac():
    expected = (
        base64.urlsafe_b64encode(
            hmac.new(SECRET, b"rp.example\x00" + PIN.encode(), hashlib.sha256).digest()
        )
        .rstrip(b"=")
        .decode()
    )
    assert pairwise_subject(PIN, sector_identifier="rp.example", secret=SECRET) == expected


def test_pairwise_sub_is_stable_per_sector_and_differs_across_sectors():
    a1 = pairwise_subject(PIN, sector_identifier="rp-a", secret=SECRET)
    a2 = pairwise_subject(PIN, sector_identifier="rp-a", secret=SECRET)
    b = pairwise_subject(PIN, sector_identifier="rp-b", secret=SECRET)
    assert a1 == a2 != b
    assert PIN not in a1
    assert len(a1) == 43


def test_pairwise_sub_depends_on_the_secret():
    assert pairwise_subject(PIN, sector_identifier="rp-a", secret=SECRET) != pairwise_subject(
        PIN, sector_identifier="rp-a", secret=b"j" * 32
    )


@pytest.mark.parametrize(("sector", "secret"), [("rp", b"short"), ("", SECRET), ("a\x00b", SECRET)])
def test_pairwise_sub_refuses_weak_secret_or_ambiguous_sector(sector, secret):
    with pytest.raises(ValueError, match="secret|sector"):
        pairwise_subject(PIN, sector_identifier=sector, secret=secret)


def test_claim_names_ignore_unknown_scopes_and_repeat_nothing():
    assert claim_names(("openid", "unknown", "openid")) == ("sub",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("openid profile", ("openid", "profile")),
        ("profile  openid profile", ("profile", "openid")),
        ("", ()),
        (None, ()),
    ],
)
def test_scope_parameter_is_split_on_spaces_without_repeats(value, expected):
    assert parse_scope(value) == expected


@pytest.mark.parametrize("value", ['openid "x"', "openid \\x", "openid\tprofile", "openid é"])
def test_scope_tokens_outside_rfc6749_abnf_are_invalid_scope(value):
    with pytest.raises(InvalidScope):
        parse_scope(value)


def test_narrow_and_subset_rules():
    assert narrow(("openid", "email", "x"), allowed={"openid", "x"}) == ("openid", "x")
    assert require_subset(("openid",), granted={"openid", "profile"}) == ("openid",)
    assert format_scope(("openid", "profile")) == "openid profile"
    with pytest.raises(InvalidScope):
        require_subset(("openid", "email"), granted={"openid"})


@pytest.mark.parametrize(("clan_last", "name"), [(False, "Êban Y Moan"), (True, "Y Moan Êban")])
def test_a_clan_last_name_is_written_given_name_first_and_the_clan_stays_the_family_name(
        clan_last, name):
    source = ClaimSource(pin=PIN, surname="Êban", middle_name="", given_name="Y Moan",
                         birth_date=date(1980, 1, 1), sex="M", clan_last=clan_last)
    claims = userinfo_claims(source, scopes=("openid", "profile", "vneid.identity"),
                             subject="s")
    assert (claims["name"], claims["HoVaTen"]) == (name, name)
    assert (claims["family_name"], claims["given_name"]) == ("Êban", "Y Moan")
