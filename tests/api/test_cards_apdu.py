"""The chip over APDUs through HTTP: a session per card, raw APDUs in and out, the test reader of
``tests/unit/icao/reader.py`` reading every file through BAC and PACE and getting the very bytes
of the JSON chip read; authentication, expiry by the sandbox clock, audit."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app as cli_app
from app.db import Database
from app.icao import vpcd
from app.icao.sm import SmError
from app.models.audit import AuditRecord
from app.routers import cards_apdu
from app.services.cards.chip_apdu import ATR
from tests.api.cards_support import *  # noqa: F403
from tests.api.cards_support import (
    CHALLENGE,
    access_key,
    answer,
    card_of,
    printed,
    raw,
    read_chip,
)
from tests.api.sharing_support import bearer, demo_token  # noqa: F401 (a fixture)
from tests.unit.icao.reader import CardError, Reader

FIDS = {"EF.COM": 0x011E, "EF.SOD": 0x011D, "DG1": 0x0101, "DG2": 0x0102, "DG13": 0x010D,
        "DG14": 0x010E, "DG15": 0x010F}


@pytest.fixture(scope="module")
def genuine(client: TestClient, database: Database, card_token: str) -> dict[str, Any]:
    card = card_of(database, status="active", generation="cccd_2021")
    view = printed(client, card_token, card.pin)
    key = access_key(view["mrz"])
    return {"pin": card.pin, "key": bytes.fromhex(key), "mrz_hash": _mrz_hash(view["mrz"]),
            "files": raw(read_chip(client, card.pin, key))}


def _mrz_hash(mrz: list[str]) -> bytes:
    """PACE's MRZ password: the whole SHA-1 of the MRZ information (BAC's key is its first 16
    bytes), computed here from the printed lines."""
    return hashlib.sha1((mrz[0][5:15] + mrz[1][0:7] + mrz[1][8:15]).encode("ascii")).digest()


def _open(client: TestClient, token: str, pin: str) -> Any:
    return client.post(f"/v1/cards/{pin}/chip/sessions", headers=bearer(token))


class HttpCard:
    """``transmit`` over ``POST /v1/cards/{pin}/chip/apdu`` (one APDU per request)."""

    def __init__(self, client: TestClient, token: str, pin: str) -> None:
        opened = _open(client, token, pin)
        assert opened.status_code == 201, opened.text
        self.client, self.token, self.pin = client, token, pin
        self.session_id = opened.json()["session_id"]
        self.request_ids: list[str] = []

    def send(self, *apdus: str) -> Any:
        return self.client.post(f"/v1/cards/{self.pin}/chip/apdu", headers=bearer(self.token),
                                json={"session_id": self.session_id, "apdus": list(apdus)})

    def transmit(self, command: bytes) -> bytes:
        response = self.send(command.hex())
        assert response.status_code == 200, response.text
        self.request_ids.append(response.headers["x-request-id"])
        return bytes.fromhex(response.json()["responses"][0])


def _records(database: Database, request_ids: list[str]) -> list[tuple[str, str, str | None]]:
    with database.read() as session:
        rows = session.scalars(select(AuditRecord).where(AuditRecord.request_id.in_(request_ids))
                               .order_by(AuditRecord.seq))
        return [(r.action, r.result, r.pin) for r in rows]


def test_a_reader_reads_every_file_over_bac_as_the_json_chip_read_gives_them(
        client: TestClient, card_token: str, genuine: dict[str, Any]) -> None:
    card = HttpCard(client, card_token, genuine["pin"])
    reader = Reader(card.transmit)
    reader.select_application()
    reader.bac(genuine["key"])
    assert {name: reader.read_file(fid) for name, fid in FIDS.items()} == {
        name: data for name, data in genuine["files"].items() if name in FIDS}


def test_a_reader_reads_the_chip_over_pace_and_gets_the_json_read_bytes(
        client: TestClient, card_token: str, genuine: dict[str, Any]) -> None:
    reader = Reader(HttpCard(client, card_token, genuine["pin"]).transmit)
    reader.pace(genuine["mrz_hash"], reader.read_file(0x011C))
    reader.select_application()
    assert reader.read_file(0x0101) == genuine["files"]["DG1"]
    assert reader.read_file(0x011D) == genuine["files"]["EF.SOD"]


def test_several_apdus_in_one_request_are_answered_in_order(
        client: TestClient, card_token: str, genuine: dict[str, Any]) -> None:
    card = HttpCard(client, card_token, genuine["pin"])
    response = card.send("00A4040C07A0000002471001", "00A4020C020101", "00B0000004", "00CA0000")
    assert response.json()["responses"] == ["9000", "6982", "6986", "6D00"]
    assert response.json()["delay_ms"] == 0


def test_a_successful_access_control_is_audited_as_a_chip_read(
        client: TestClient, database: Database, card_token: str,
        genuine: dict[str, Any]) -> None:
    card = HttpCard(client, card_token, genuine["pin"])
    reader = Reader(card.transmit)
    reader.select_application()
    reader.bac(genuine["key"])
    assert ("chip_read", "disclosed", genuine["pin"]) in _records(database, card.request_ids)


def test_a_wrong_mrz_key_is_refused_and_audited_as_denied(
        client: TestClient, database: Database, card_token: str,
        genuine: dict[str, Any]) -> None:
    card = HttpCard(client, card_token, genuine["pin"])
    reader = Reader(card.transmit)
    reader.select_application()
    with pytest.raises(CardError) as failure:
        reader.bac(bytes(16))
    assert failure.value.sw == 0x6300
    assert _records(database, card.request_ids[-1:]) == [
        ("chip_read", "denied", genuine["pin"])]


def test_opening_a_session_is_audited(client: TestClient, database: Database, card_token: str,
                                      genuine: dict[str, Any]) -> None:
    response = _open(client, card_token, genuine["pin"])
    assert _records(database, [response.headers["x-request-id"]]) == [
        ("chip_session", "opened", genuine["pin"])]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}])
def test_a_chip_session_needs_an_access_token(client: TestClient, genuine: dict[str, Any],
                                              headers: dict[str, str]) -> None:
    response = client.post(f"/v1/cards/{genuine['pin']}/chip/sessions", headers=headers)
    assert response.status_code == 401


def test_a_chip_session_needs_the_card_read_scope(
        client: TestClient, token_for_scopes: Any, genuine: dict[str, Any]) -> None:
    response = _open(client, token_for_scopes("card.verify"), genuine["pin"])
    assert response.status_code == 403


def test_apdus_need_an_access_token(client: TestClient, card_token: str,
                                    genuine: dict[str, Any]) -> None:
    session_id = _open(client, card_token, genuine["pin"]).json()["session_id"]
    response = client.post(f"/v1/cards/{genuine['pin']}/chip/apdu",
                           json={"session_id": session_id, "apdus": ["0084000008"]})
    assert response.status_code == 401


def test_a_number_without_a_card_gets_card_not_found(client: TestClient, card_token: str) -> None:
    response = _open(client, card_token, "001099999999")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/card-not-found")


@pytest.mark.parametrize("session_id", ["no-such-session", "x" * 43])
def test_an_unknown_session_is_not_found(client: TestClient, card_token: str,
                                         genuine: dict[str, Any], session_id: str) -> None:
    response = client.post(f"/v1/cards/{genuine['pin']}/chip/apdu", headers=bearer(card_token),
                           json={"session_id": session_id, "apdus": ["0084000008"]})
    assert response.status_code == 404
    assert response.json()["type"].endswith("/chip-session-not-found")


def test_a_session_is_bound_to_its_client(client: TestClient, card_token: str,
                                          genuine: dict[str, Any],
                                          demo_token: str) -> None:  # noqa: F811
    session_id = _open(client, card_token, genuine["pin"]).json()["session_id"]
    response = client.post(f"/v1/cards/{genuine['pin']}/chip/apdu", headers=bearer(demo_token),
                           json={"session_id": session_id, "apdus": ["0084000008"]})
    assert response.status_code == 404


def test_a_session_expires_five_minutes_after_its_last_exchange_by_the_sandbox_clock(
        client: TestClient, token_for_scopes: Any, genuine: dict[str, Any],
        clock_guard: Any) -> None:
    card = HttpCard(client, token_for_scopes("card.read"), genuine["pin"])
    clock_guard.advance(timedelta(minutes=4))
    assert card.send("0084000008").status_code == 200
    clock_guard.advance(timedelta(minutes=4))
    assert card.send("0084000008").status_code == 200
    clock_guard.advance(timedelta(minutes=5, seconds=1))
    card.token = token_for_scopes("card.read")  # the same client; its first token has expired
    response = card.send("0084000008")
    assert response.status_code == 404


def test_a_closed_session_answers_no_more(client: TestClient, card_token: str,
                                          genuine: dict[str, Any]) -> None:
    card = HttpCard(client, card_token, genuine["pin"])
    closed = client.delete(f"/v1/cards/{genuine['pin']}/chip/sessions/{card.session_id}",
                           headers=bearer(card_token))
    assert closed.status_code == 204
    assert card.send("0084000008").status_code == 404


@pytest.mark.parametrize("apdu", ["zz", "00A4", "00" * 70000])
def test_an_apdu_that_is_not_hex_of_4_bytes_or_more_is_invalid(
        client: TestClient, card_token: str, genuine: dict[str, Any], apdu: str) -> None:
    response = HttpCard(client, card_token, genuine["pin"]).send(apdu)
    assert response.status_code == 422
    assert response.json()["type"].endswith(("/invalid-apdu", "/validation-error"))


# --- the chip personas ----------------------------------------------------------------------------


def _persona(client: TestClient, token: str, key: str) -> tuple[str, bytes]:
    """PIN and K_seed of a chip persona, as the persona catalogue lists them."""
    pin, key_seed, _ = _persona_keys(client, token, key)
    return pin, key_seed


def _persona_keys(client: TestClient, token: str, key: str) -> tuple[str, bytes, bytes]:
    """PIN, K_seed and PACE's MRZ password of a chip persona (the catalogue's card)."""
    response = client.get("/v1/sandbox/personas", headers=bearer(token))
    persona = next(p for p in response.json()["personas"] if p["key"] == key)
    return (persona["pin"], bytes.fromhex(persona["card"]["access_key"]),
            _mrz_hash(persona["card"]["mrz"]))


def test_the_slow_persona_is_held_for_its_delay(
        client: TestClient, card_token: str, monkeypatch: pytest.MonkeyPatch) -> None:
    waited: list[float] = []

    async def record(seconds: float) -> None:
        waited.append(seconds)
    monkeypatch.setattr(cards_apdu, "pause", record)
    pin, _ = _persona(client, card_token, "chip-slow")
    response = HttpCard(client, card_token, pin).send("00A4040C07A0000002471001", "0084000008")
    assert response.json()["delay_ms"] == 500
    assert waited == [0.5]


def test_the_torn_read_persona_still_gives_every_byte_to_a_resuming_reader(
        client: TestClient, card_token: str) -> None:
    pin, key = _persona(client, card_token, "chip-torn-read")
    card = HttpCard(client, card_token, pin)
    reader = Reader(card.transmit)
    reader.select_application()
    reader.bac(key)
    reader.select_file(0x0102)
    head = reader.read_binary(0, 4)
    assert len(reader.read_binary(4, 200)) == 100  # torn
    assert len(reader.read_binary(104, 200)) == 200  # once
    assert head[0] == 0x75


def test_the_broken_mac_persona_answers_protected_responses_a_reader_rejects(
        client: TestClient, card_token: str) -> None:
    pin, key = _persona(client, card_token, "chip-broken-sm-mac")
    reader = Reader(HttpCard(client, card_token, pin).transmit)
    reader.select_application()
    reader.bac(key)
    with pytest.raises(SmError):
        reader.select_file(0x0101)


def test_the_bac_only_persona_has_no_card_access(client: TestClient, card_token: str) -> None:
    pin, _ = _persona(client, card_token, "chip-bac-only")
    response = HttpCard(client, card_token, pin).send("00A4020C02011C")
    assert response.json()["responses"] == ["6A82"]


def test_the_pace_only_persona_refuses_bac_and_opens_with_pace(
        client: TestClient, card_token: str) -> None:
    pin, key, mrz_hash = _persona_keys(client, card_token, "chip-pace-only")
    reader = Reader(HttpCard(client, card_token, pin).transmit)
    reader.select_application()
    with pytest.raises(CardError) as failure:
        reader.bac(key)
    assert failure.value.sw == 0x6D00
    reader.pace(mrz_hash, reader.read_file(0x011C))
    reader.select_application()
    assert reader.read_file(0x0101) == raw(read_chip(client, pin, key.hex()))["DG1"]


# --- dancu chip serve -----------------------------------------------------------------------------


def _fake_vpcd(listener: socket.socket, exchange: list[bytes], answers: list[bytes]) -> None:
    """vpcd's side: ask the ATR, send the APDUs, keep the answers, then close."""
    connection, _ = listener.accept()
    with connection:
        for message in exchange:
            vpcd.send(connection, message)
            if len(message) != 1 or message[0] == vpcd.GET_ATR:
                answers.append(vpcd.receive(connection) or b"")


def test_chip_serve_puts_the_card_in_a_vpcd_reader(database: Database,
                                                   genuine: dict[str, Any]) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    answers: list[bytes] = []
    messages = [b"\x04", b"\x01", bytes.fromhex("00A4020C02011C"), bytes.fromhex("00B0000004")]
    worker = threading.Thread(target=_fake_vpcd, args=(listener, messages, answers))
    worker.start()
    result = CliRunner().invoke(cli_app, ["chip", "serve", genuine["pin"], "--port",
                                          str(listener.getsockname()[1]),
                                          "--database-url", database.url])
    worker.join(timeout=30)
    listener.close()
    assert result.exit_code == 0, result.output
    assert answers == [ATR, bytes.fromhex("9000"), bytes.fromhex("31143012") + b"\x90\x00"]
    assert "after 2 APDUs" in result.output


def test_chip_serve_without_a_virtual_reader_says_so(database: Database,
                                                     genuine: dict[str, Any]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(cli_app, ["chip", "serve", genuine["pin"], "--port", str(port),
                                          "--database-url", database.url])
    assert result.exit_code == 1
    assert "no virtual reader" in result.output


def test_internal_authenticate_over_apdus_signs_as_the_json_endpoint_does(
        client: TestClient, card_token: str, genuine: dict[str, Any]) -> None:
    """Deterministic ECDSA: the same key, hash and challenge give the very same signature."""
    reader = Reader(HttpCard(client, card_token, genuine["pin"]).transmit)
    reader.select_application()
    reader.bac(genuine["key"])
    over_apdus = reader.internal_authenticate(bytes.fromhex(CHALLENGE))
    over_json = answer(client, genuine["pin"], genuine["key"].hex())
    assert over_apdus == base64.b64decode(over_json)
