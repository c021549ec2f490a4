"""The vpcd card side: length-prefixed messages, control codes, APDUs answered by the emulator."""

from __future__ import annotations

import socket
import threading

import pytest

from app.icao import bac
from app.icao.emulator import CardProfile, Faults
from app.icao.vpcd import VirtualCard, receive, send, serve

ATR = bytes.fromhex("3B8880014D5254440000000006")


def _card(**faults: int) -> VirtualCard:
    profile = CardProfile(files={0x011C: b"\x31\x00"}, mrz_hash=bac.mrz_hash_for("x"),
                          faults=Faults(**faults))
    return VirtualCard(profile, ATR, sleep=lambda seconds: slept.append(seconds))


slept: list[float] = []


@pytest.mark.parametrize(("message", "reply"), [
    (b"\x04", ATR),
    (b"\x00", None),
    (b"\x01", None),
    (b"\x02", None),
    (bytes.fromhex("00A4020C02011C"), bytes.fromhex("9000")),
    (bytes.fromhex("00CA0000"), bytes.fromhex("6D00")),
])
def test_each_vpcd_message_gets_its_reply(message, reply):
    assert _card().handle(message) == reply


def test_a_reset_starts_a_new_conversation():
    card = _card()
    card.handle(bytes.fromhex("00A4020C02011C"))
    assert card.handle(bytes.fromhex("00B0000002")) == bytes.fromhex("31009000")
    card.handle(b"\x02")
    assert card.handle(bytes.fromhex("00B0000002")) == bytes.fromhex("6986")


def test_a_slow_chip_waits_its_delay_per_apdu_through_the_given_sleep():
    slept.clear()
    card = _card(delay_ms=250)
    card.handle(bytes.fromhex("00A4020C02011C"))
    card.handle(b"\x04")
    assert slept == [0.25]


def test_serve_answers_over_a_socket_until_vpcd_closes_it():
    reader_side, card_side = socket.socketpair()
    worker = threading.Thread(target=serve, args=(_card(), card_side))
    worker.start()
    send(reader_side, b"\x04")
    assert receive(reader_side) == ATR
    send(reader_side, b"\x01")
    send(reader_side, bytes.fromhex("00A4020C02011C"))
    assert receive(reader_side) == bytes.fromhex("9000")
    reader_side.close()
    worker.join(timeout=10)
    card_side.close()
    assert not worker.is_alive()
