"""One card's chip: reproducible files, EF.COM listing them, each DG readable back."""

from __future__ import annotations

from app.icao.chip import derive_chip_keys
from app.icao.dg2 import parse_dg2
from app.icao.dg13 import parse_dg13
from app.icao.dg14 import parse_dg14
from app.icao.keys import public_key_der
from app.icao.lds import parse_com, parse_dg1, parse_dg15
from app.icao.mrz import build_td1

from .support import DETAILS, HOLDER, SEED, genuine_chip, issue


def test_chip_files_are_reproducible_from_the_seed_and_card_id():
    again = issue()
    assert (again.com, dict(again.data_groups), again.sod) == (
        genuine_chip().com,
        dict(genuine_chip().data_groups),
        genuine_chip().sod,
    )


def test_another_card_gets_other_chip_keys():
    assert issue(card_id="card-2").data_groups[15] != genuine_chip().data_groups[15]


def test_ef_com_lists_the_data_groups_on_the_chip():
    assert parse_com(genuine_chip().com).data_groups == (1, 2, 13, 14, 15)


def test_every_data_group_reads_back():
    chip, keys = genuine_chip(), derive_chip_keys(SEED, "card-1")
    assert parse_dg1(chip.data_groups[1]) == build_td1(HOLDER)
    assert parse_dg2(chip.data_groups[2]).gender == "male"
    assert parse_dg13(chip.data_groups[13]) == DETAILS
    assert parse_dg14(chip.data_groups[14]).chip_authentication_public_key == public_key_der(
        keys.chip_authentication
    )
    assert parse_dg15(chip.data_groups[15]) == keys.active_authentication.public_key()


def test_chip_data_groups_are_read_only():
    try:
        genuine_chip().data_groups[1] = b""  # type: ignore[index]
    except TypeError:
        return
    raise AssertionError("data_groups accepted an assignment")
