"""Vietnamese card rules: expiry by renewal age (14/25/40/60, 2-year grace), QR, generations."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from app.card_rules import (
    CAN_CUOC_2024,
    CCCD_2021,
    CardRuleError,
    QrPayload,
    card_expiry,
    generation_for,
    parse_qr_payload,
    printed_expiry,
    qr_payload,
)


@pytest.mark.parametrize(
    ("born", "issued", "expiry"),
    [
        # Real cards recomputed in the identity-rules reference §2.3.
        (date(1993, 1, 5), date(2021, 4, 1), date(2033, 1, 5)),
        (date(2004, 10, 4), date(2021, 4, 1), date(2029, 10, 4)),
        (date(1988, 5, 5), date(2021, 5, 1), date(2028, 5, 5)),
        (date(1965, 6, 5), date(2025, 6, 6), None),
        # Children's cards since 2024-07-01.
        (date(2020, 3, 1), date(2024, 8, 1), date(2034, 3, 1)),
        (date(2012, 3, 1), date(2024, 8, 1), date(2037, 3, 1)),
    ],
)
def test_card_expires_at_the_next_renewal_birthday(born, issued, expiry):
    assert card_expiry(date_of_birth=born, issue_date=issued) == expiry


BORN = date(1990, 6, 15)


@pytest.mark.parametrize(
    ("issued", "expiry"),
    [
        (date(2013, 6, 14), date(2015, 6, 15)),  # one day short of 2 years before 25 → valid to 25
        (date(2013, 6, 15), date(2030, 6, 15)),  # exactly 2 years before 25 → valid to 40
        (date(2015, 6, 14), date(2030, 6, 15)),  # the day before turning 25 → valid to 40
        (date(2015, 6, 15), date(2030, 6, 15)),  # on the 25th birthday → valid to 40
        (date(2028, 6, 14), date(2030, 6, 15)),
        (date(2028, 6, 15), date(2050, 6, 15)),  # 2 years before 40 → valid to 60
        (date(2048, 6, 14), date(2050, 6, 15)),  # one day before turning 58 → valid to 60
        (date(2048, 6, 15), None),  # on the 58th birthday → no expiry
        (date(2060, 1, 1), None),
    ],
)
def test_a_card_issued_within_two_years_of_a_milestone_runs_to_the_next_one(issued, expiry):
    assert card_expiry(date_of_birth=BORN, issue_date=issued) == expiry


@pytest.mark.parametrize(
    ("born", "issued", "expiry"),
    [
        (date(2000, 2, 29), date(2021, 4, 1), date(2025, 2, 28)),  # 25th birthday in a common year
        (date(1996, 2, 29), date(2021, 4, 1), date(2036, 2, 29)),  # 40th birthday in a leap year
        (date(2000, 2, 29), date(2023, 2, 28), date(2040, 2, 29)),  # grace starts on 28 Feb 2023
        (date(2000, 2, 29), date(2023, 2, 27), date(2025, 2, 28)),
    ],
)
def test_29_february_birthdays_reach_a_milestone_on_28_february_in_common_years(
    born, issued, expiry
):
    assert card_expiry(date_of_birth=born, issue_date=issued) == expiry


def test_issue_before_birth_is_refused():
    with pytest.raises(CardRuleError) as error:
        card_expiry(date_of_birth=date(2000, 1, 2), issue_date=date(2000, 1, 1))
    assert error.value.code == "card.dates"


@pytest.mark.parametrize(
    ("expiry", "text"), [(date(2033, 1, 5), "05/01/2033"), (None, "Không thời hạn")]
)
def test_printed_expiry(expiry, text):
    assert printed_expiry(expiry) == text


SAMPLE = QrPayload(
    pin="001090123456",
    old_id_number="012345678",
    full_name="Nguyễn Văn A",
    date_of_birth=date(1990, 1, 1),
    sex="M",
    address="Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh",
    issue_date=date(2021, 4, 15),
)


def test_qr_payload_is_seven_pipe_separated_fields():
    assert qr_payload(SAMPLE) == (
        "001090123456|012345678|Nguyễn Văn A|01011990|Nam|"
        "Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh|15042021"
    )


@pytest.mark.parametrize(
    "payload",
    [
        SAMPLE,
        QrPayload(
            "001190123456", "", "Trần Thị B", date(1990, 12, 31), "F", "Hà Nội", date(2024, 7, 1)
        ),
    ],
)
def test_qr_payload_round_trips(payload):
    assert parse_qr_payload(qr_payload(payload)) == payload


@pytest.mark.parametrize(("born", "precision", "field"), [
    (date(1950, 1, 1), "year", "00001950"),
    (date(1950, 3, 1), "month", "00031950"),
])
def test_qr_payload_writes_unknown_birth_day_and_month_as_zeros(born, precision, field):
    payload = replace(SAMPLE, date_of_birth=born, birth_precision=precision)
    assert qr_payload(payload).split("|")[3] == field
    assert parse_qr_payload(qr_payload(payload)) == payload


def test_female_is_nu_and_a_missing_cmnd_is_an_empty_field():
    text = qr_payload(
        QrPayload(
            "001190123456", "", "Trần Thị B", date(1990, 12, 31), "F", "Hà Nội", date(2024, 7, 1)
        )
    )
    assert text.split("|")[1] == ""
    assert text.split("|")[4] == "Nữ"


@pytest.mark.parametrize("field", ["full_name", "address", "old_id_number"])
@pytest.mark.parametrize("bad", ["a|b", "a\nb"])
def test_fields_that_would_break_the_payload_are_refused(field, bad):
    with pytest.raises(CardRuleError) as error:
        qr_payload(replace(SAMPLE, **{field: bad}))
    assert error.value.code == "qr.field"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "001090123456|012345678|Nguyễn Văn A|01011990|Nam|Hà Nội",
        "001090123456|012345678|Nguyễn Văn A|01011990|Nam|Hà Nội|15042021|extra",
        "00109012345|012345678|Nguyễn Văn A|01011990|Nam|Hà Nội|15042021",
        "001090123456|012345678|Nguyễn Văn A|1990-01-01|Nam|Hà Nội|15042021",
        "001090123456|012345678|Nguyễn Văn A|05001990|Nam|Hà Nội|15042021",
        "001090123456|012345678|Nguyễn Văn A|31021990|Nam|Hà Nội|15042021",
        "001090123456|012345678|Nguyễn Văn A|01011990|Male|Hà Nội|15042021",
    ],
)
def test_malformed_qr_payloads_are_refused(text):
    with pytest.raises(CardRuleError) as error:
        parse_qr_payload(text)
    assert error.value.code == "qr.malformed"


@pytest.mark.parametrize(
    ("issued", "generation"),
    [
        (date(2021, 1, 1), CCCD_2021),
        (date(2024, 6, 30), CCCD_2021),
        (date(2024, 7, 1), CAN_CUOC_2024),
        (date(2026, 11, 25), CAN_CUOC_2024),
    ],
)
def test_generation_follows_the_issue_date(issued, generation):
    assert generation_for(issued) is generation


def test_no_chip_card_before_2021():
    with pytest.raises(CardRuleError) as error:
        generation_for(date(2020, 12, 31))
    assert error.value.code == "card.generation"


def test_2024_card_drops_place_of_origin_marks_and_fingerprints_and_adds_birth_registration():
    printed_2021 = set(CCCD_2021.front_fields + CCCD_2021.back_fields)
    printed_2024 = set(CAN_CUOC_2024.front_fields + CAN_CUOC_2024.back_fields)
    assert printed_2021 - printed_2024 == {
        "place_of_origin",
        "identifying_marks",
        "issuing_officer_signature",
        "left_index_fingerprint",
        "right_index_fingerprint",
    }
    assert printed_2024 - printed_2021 == {"place_of_birth_registration", "issuing_authority"}


@pytest.mark.parametrize(("generation", "side"), [(CCCD_2021, "front"), (CAN_CUOC_2024, "back")])
def test_qr_code_moved_to_the_back_in_2024(generation, side):
    assert "qr_code" in getattr(generation, f"{side}_fields")


def test_both_generations_print_the_mrz_and_expiry():
    for generation in (CCCD_2021, CAN_CUOC_2024):
        assert "mrz" in generation.back_fields
        assert "expiry_date" in generation.front_fields + generation.back_fields


@pytest.mark.parametrize(("age", "has_photo"), [(0, False), (5, False), (6, True), (14, True)])
def test_2024_cards_for_children_under_6_have_no_photo(age, has_photo):
    assert ("photo" in CAN_CUOC_2024.printed_front(holder_age=age)) is has_photo


def test_issuing_authority_is_bo_cong_an_from_2024():
    assert CAN_CUOC_2024.issuing_authority.startswith("BỘ CÔNG AN")
    assert CCCD_2021.issuing_authority.startswith("CỤC TRƯỞNG")
