"""POST /v1/cards/verify: every step reported with a stable code, each persona failing exactly where
it must, the population cross-check, and hostile input answered with failed steps (never a 5xx)."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from app.db import Database
from app.icao.chip import derive_chip_keys, issue_chip
from app.icao.dg13 import parse_dg13
from app.icao.face import synthetic_face
from app.icao.lds import parse_dg1
from app.icao.pki import build_sandbox_pki
from app.models.audit import AuditRecord
from app.models.population import Citizen, Residence
from app.services.cards.failure_cards import CHIP_PERSONAS, PERSONA_KEYS
from tests.api.cards_support import *  # noqa: F403
from tests.api.cards_support import (
    CHALLENGE,
    access_key,
    admin,
    answer,
    bearer,
    card_of,
    failing,
    new_citizen,
    printed,
    raw,
    read_chip,
    verify,
)

CHIP_PERSONA_KEYS = [p.key for p in CHIP_PERSONAS]
# What each persona must produce (docs/cards.md): exactly these failed steps.
EXPECTED = {
    "tampered-dg1": {("dg.hash", "hash_mismatch")},
    "forged-sod": {("sod.signature", "bad_signature")},
    "foreign-dsc": {("dsc.chain", "untrusted_signer")},
    "expired-dsc": {("dsc.validity", "expired_signer")},
    "revoked-dsc": {("dsc.revocation", "revoked_signer")},
    "cloned-chip": {("chip.active_auth", "bad_signature")},
    "lost-card": {("db.card_status", "card_lost")},
    "revoked-card": {("db.card_status", "card_revoked")},
    "expired-card": {("card.expiry", "document_expired"), ("db.card_status", "card_expired")},
    "deceased-holder": {("db.card_status", "card_revoked"), ("db.holder_alive", "holder_deceased")},
}
ALL_STEPS = ["sod.parse", "dg.hash", "sod.signed_attrs", "sod.signature", "dsc.chain",
             "dsc.validity", "dsc.revocation", "card.expiry", "chip.active_auth",
             "db.card_status", "db.holder_alive", "db.data_current"]


@pytest.fixture(scope="module")
def genuine(client: TestClient, database: Database, card_token: str) -> dict[str, Any]:
    card = card_of(database, status="active", generation="cccd_2021")
    key = access_key(printed(client, card_token, card.pin)["mrz"])
    return {"pin": card.pin, "key": key, "files": read_chip(client, card.pin, key)}


def _read_with_aa(client: TestClient, pin: str, key: str) -> tuple[dict[str, str], dict[str, str]]:
    return read_chip(client, pin, key), {"challenge": CHALLENGE,
                                         "response": answer(client, pin, key)}


def test_genuine_card_passes_every_step(client: TestClient, card_token: str,
                                        genuine: dict[str, Any]) -> None:
    files, exchange = _read_with_aa(client, genuine["pin"], genuine["key"])
    report = verify(client, card_token, files, exchange).json()
    assert (report["verdict"], report["reasons"]) == ("pass", [])
    assert [s["code"] for s in report["steps"] if s["code"] != "dg.hash"] == [
        c for c in ALL_STEPS if c != "dg.hash"]
    assert {s["status"] for s in report["steps"]} == {"pass"}


def test_verify_names_the_document_signer_and_signing_time(
        client: TestClient, card_token: str, genuine: dict[str, Any]) -> None:
    report = verify(client, card_token, genuine["files"]).json()
    assert "DANCU SANDBOX Document Signer" in report["document_signer"]["subject"]
    assert report["signing_time"].startswith(printed(client, card_token,
                                                     genuine["pin"])["issue_date"])
    assert report["pin"] == genuine["pin"]


def test_without_a_challenge_active_authentication_is_skipped_not_passed(
        client: TestClient, card_token: str, genuine: dict[str, Any]) -> None:
    steps = verify(client, card_token, genuine["files"]).json()["steps"]
    step = next(s for s in steps if s["code"] == "chip.active_auth")
    assert (step["status"], step["reason"]) == ("skipped", "not_requested")


@pytest.mark.parametrize("key", PERSONA_KEYS)
def test_each_persona_fails_exactly_where_it_must(client: TestClient, card_token: str,
                                                  personas: dict[str, Any], key: str) -> None:
    persona = personas[key]
    files, exchange = _read_with_aa(client, persona["pin"], persona["access_key"])
    report = verify(client, card_token, files, exchange).json()
    assert report["verdict"] == "fail"
    assert failing(report) == EXPECTED[key]


def test_persona_listing_states_the_documented_expectations(personas: dict[str, Any]) -> None:
    listed = {key: {(f["code"], f["reason"]) for f in p["expected"]["failing"]}
              for key, p in personas.items() if key in PERSONA_KEYS}
    assert listed == EXPECTED


def test_chip_personas_are_listed_as_cards_that_verify(personas: dict[str, Any]) -> None:
    chip = {key: p["expected"] for key, p in personas.items() if key.startswith("chip-")}
    assert chip == {key: {"verdict": "pass", "failing": []} for key in CHIP_PERSONA_KEYS}


def test_data_from_an_untrusted_sod_is_not_checked_against_the_database(
        client: TestClient, card_token: str, personas: dict[str, Any]) -> None:
    persona = personas["foreign-dsc"]
    steps = verify(client, card_token, read_chip(client, persona["pin"],
                                                 persona["access_key"])).json()["steps"]
    database_steps = {s["code"]: s["reason"] for s in steps if s["code"].startswith("db.")}
    assert database_steps == dict.fromkeys(
        ("db.card_status", "db.holder_alive", "db.data_current"), "untrusted_data")


def test_a_chip_signed_under_an_impostor_csca_with_the_same_name_is_untrusted(
        client: TestClient, card_token: str, genuine: dict[str, Any]) -> None:
    files = raw(genuine["files"])
    impostor = build_sandbox_pki(b"impostor", start=datetime(2021, 1, 1), periods=12)
    chip = issue_chip(td1=parse_dg1(files["DG1"]), details=parse_dg13(files["DG13"]),
                      face=synthetic_face(b"x"), keys=derive_chip_keys(b"impostor", "x"),
                      signer=impostor.signer_at(datetime(2021, 6, 1)),
                      signing_time=datetime(2021, 6, 1))
    forged = {"EF.SOD": _b64(chip.sod), **{f"DG{n}": _b64(d) for n, d in chip.data_groups.items()}}
    report = verify(client, card_token, forged).json()
    assert failing(report) == {("dsc.chain", "untrusted_signer")}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _with_sod(files: dict[str, str], sod: bytes) -> dict[str, str]:
    return {**files, "EF.SOD": _b64(sod)}


def _replace_last(data: bytes, old: bytes, new: bytes) -> bytes:
    at = data.rindex(old)
    return data[:at] + new + data[at + len(old):]


SHA256_OID = bytes.fromhex("0609608648016503040201")
ECDSA_SHA256_OID = bytes.fromhex("06082a8648ce3d040302")
HOSTILE_SODS = {
    "truncated": (lambda sod: sod[:-7], ("sod.parse", "malformed")),
    "wrong-tag": (lambda sod: b"\x78" + sod[1:], ("sod.parse", "malformed")),
    "huge-length": (lambda sod: b"\x77\x84\xff\xff\xff\xff" + sod[4:], ("sod.parse", "malformed")),
    "garbage": (lambda sod: bytes(range(256)) * 4, ("sod.parse", "malformed")),
    "empty": (lambda sod: b"", ("sod.parse", "malformed")),
    "unknown-hash": (lambda sod: sod.replace(SHA256_OID, SHA256_OID[:-1] + b"\x63"),
                     ("sod.parse", "unsupported_algorithm")),
    "unknown-signature-algorithm": (
        lambda sod: _replace_last(sod, ECDSA_SHA256_OID, ECDSA_SHA256_OID[:-1] + b"\x09"),
        ("sod.signature", "unsupported_algorithm")),
    "flipped-signature": (lambda sod: sod[:-3] + bytes([sod[-3] ^ 1]) + sod[-2:],
                          ("sod.signature", "bad_signature")),
}


@pytest.mark.parametrize("case", HOSTILE_SODS, ids=list(HOSTILE_SODS))
def test_hostile_sod_is_a_failed_step_not_an_error(client: TestClient, card_token: str,
                                                  genuine: dict[str, Any], case: str) -> None:
    mutate, expected = HOSTILE_SODS[case]
    sod = mutate(base64.b64decode(genuine["files"]["EF.SOD"]))
    response = verify(client, card_token, _with_sod(genuine["files"], sod))
    assert response.status_code == 200
    assert expected in failing(response.json())


def _flip(text: str, at: int) -> str:
    data = bytearray(base64.b64decode(text))
    data[at] ^= 1
    return _b64(bytes(data))


def test_warm_caches_let_no_revoked_or_expired_signer_nor_a_changed_byte_pass(
        client: TestClient, card_token: str, genuine: dict[str, Any],
        personas: dict[str, Any]) -> None:
    # What a verifier may cache (trust anchors, the document signers' certificate paths, CRLs,
    # parsed keys, OIDs; docs/cards.md) is keyed by bytes: each read is still checked whole.
    files, exchange = _read_with_aa(client, genuine["pin"], genuine["key"])
    for _ in range(3):  # warm every cache with the genuine read
        assert verify(client, card_token, files, exchange).json()["verdict"] == "pass"
    for key in ("revoked-dsc", "expired-dsc", "revoked-dsc", "expired-dsc"):
        persona = personas[key]
        bad_files, bad_exchange = _read_with_aa(client, persona["pin"], persona["access_key"])
        assert failing(verify(client, card_token, bad_files, bad_exchange).json()) == EXPECTED[key]
    sod = base64.b64decode(files["EF.SOD"])
    changed = [
        ({**files, "DG1": _flip(files["DG1"], -3)}, exchange, ("dg.hash", "hash_mismatch")),
        ({**files, "DG2": _flip(files["DG2"], 40)}, exchange, ("dg.hash", "hash_mismatch")),
        ({**files, "DG15": _flip(files["DG15"], -5)}, exchange, ("dg.hash", "hash_mismatch")),
        (_with_sod(files, sod[:-3] + bytes([sod[-3] ^ 1]) + sod[-2:]), exchange,
         ("sod.signature", "bad_signature")),
        (files, {**exchange, "response": _flip(exchange["response"], 10)},
         ("chip.active_auth", "bad_signature")),
        (files, {**exchange, "challenge": "0011223344556678"},
         ("chip.active_auth", "bad_signature")),
    ]
    for changed_files, changed_exchange, expected in changed:
        assert expected in failing(verify(client, card_token, changed_files,
                                          changed_exchange).json())
    assert verify(client, card_token, files, exchange).json()["verdict"] == "pass"


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("EF.SOD", "not base64!", ("input.decode", "bad_base64")),
    ("DG1", "%%%", ("input.decode", "bad_base64")),
    ("DG99", "AAAA", ("dg.hash", "malformed")),
    ("DG1", _b64(b"\x61\x84\xff\xff\xff\xff"), ("dg.hash", "hash_mismatch")),
    ("DG3", "AAAA", ("dg.hash", "unlisted_data_group")),
])
def test_bad_files_fail_their_own_step(client: TestClient, card_token: str,
                                       genuine: dict[str, Any], name: str, value: str,
                                       expected: tuple[str, str]) -> None:
    response = verify(client, card_token, {**genuine["files"], name: value})
    assert response.status_code == 200
    assert expected in failing(response.json())


def test_missing_sod_is_reported(client: TestClient, card_token: str,
                                 genuine: dict[str, Any]) -> None:
    files = {k: v for k, v in genuine["files"].items() if k != "EF.SOD"}
    report = verify(client, card_token, files).json()
    assert {("input.decode", "missing"), ("sod.parse", "malformed")} <= failing(report)


@pytest.mark.parametrize(("exchange", "expected"), [
    ({"challenge": "0011", "response": _b64(b"x" * 64)}, ("chip.active_auth", "bad_challenge")),
    ({"challenge": "??", "response": _b64(b"x" * 64)}, ("input.decode", "bad_encoding")),
    ({"challenge": CHALLENGE, "response": "!!"}, ("input.decode", "bad_encoding")),
    ({"challenge": CHALLENGE, "response": _b64(b"x" * 64)}, ("chip.active_auth", "bad_signature")),
    ({"challenge": CHALLENGE, "response": _b64(b"x" * 3)}, ("chip.active_auth", "bad_signature")),
])
def test_bad_active_authentication_fails_its_step(client: TestClient, card_token: str,
                                                  genuine: dict[str, Any],
                                                  exchange: dict[str, str],
                                                  expected: tuple[str, str]) -> None:
    response = verify(client, card_token, genuine["files"], exchange)
    assert expected in failing(response.json())


@pytest.mark.parametrize("body", [
    {"files": "nope"}, {"files": {"DG1": 5}}, {}, {"files": {}, "extra": 1},
    {"files": {f"DG{i}": "AA" for i in range(1, 30)}}, {"files": {"DG1/../x": "AA"}},
], ids=["files-not-object", "file-not-text", "no-files", "unknown-field", "too-many", "bad-name"])
def test_malformed_request_is_422(client: TestClient, card_token: str, body: Any) -> None:
    response = client.post("/v1/cards/verify", json=body, headers=bearer(card_token))
    assert response.status_code == 422


@pytest.mark.parametrize("media", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_read_sent_as_another_media_type_is_422_not_verified(
        client: TestClient, card_token: str, genuine: dict[str, Any], media: str) -> None:
    # Only a JSON body is read as a chip read (the hot route hands the rest to FastAPI's).
    response = client.post("/v1/cards/verify", content=json.dumps({"files": genuine["files"]}),
                           headers={**bearer(card_token), "Content-Type": media})
    assert response.status_code == 422
    assert "verdict" not in response.json()


def test_huge_body_is_refused_before_parsing(client: TestClient, card_token: str) -> None:
    body = {"files": {"EF.SOD": "A" * 300_000, "DG1": "A" * 300_000, "DG2": "A" * 300_000,
                      "DG13": "A" * 300_000}}
    response = client.post("/v1/cards/verify", json=body, headers=bearer(card_token))
    assert response.status_code == 413


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sod=st.binary(max_size=300), dg1=st.binary(max_size=120))
def test_random_bytes_never_cause_a_server_error(client: TestClient, card_token: str,
                                                 sod: bytes, dg1: bytes) -> None:
    response = verify(client, card_token, {"EF.SOD": _b64(sod), "DG1": _b64(dg1)})
    assert response.status_code == 200
    assert response.json()["verdict"] == "fail"


def test_verify_needs_the_card_verify_scope(client: TestClient, token_for_scopes: Any,
                                            genuine: dict[str, Any]) -> None:
    response = verify(client, token_for_scopes("card.read"), genuine["files"])
    assert response.status_code == 403


def test_verify_without_a_token_is_401(client: TestClient, genuine: dict[str, Any]) -> None:
    assert client.post("/v1/cards/verify", json={"files": genuine["files"]}).status_code == 401


def test_verification_is_audited_with_its_verdict(client: TestClient, card_token: str,
                                                  database: Database,
                                                  personas: dict[str, Any]) -> None:
    persona = personas["lost-card"]
    verify(client, card_token, read_chip(client, persona["pin"], persona["access_key"]))
    with database.read() as session:
        results = set(session.scalars(select(AuditRecord.result).where(
            AuditRecord.pin == persona["pin"], AuditRecord.action == "card_verify")))
    assert results == {"fail"}


# --- the population cross-check -------------------------------------------------------------------


@pytest.fixture
def issued(client: TestClient, database: Database, admin_headers: dict[str, str],
           card_token: str) -> dict[str, Any]:
    """A new citizen's new card, read."""
    pin = new_citizen(database, born=date(1991, 8, 9))
    assert admin(client, admin_headers, pin, "issue").status_code == 200
    key = access_key(printed(client, card_token, pin)["mrz"])
    return {"pin": pin, "files": read_chip(client, pin, key)}


def _db_step(report: dict[str, Any]) -> tuple[str, str | None]:
    step = next(s for s in report["steps"] if s["code"] == "db.data_current")
    return step["status"], step["reason"]


def test_a_move_after_issue_is_a_warning_not_a_failure(client: TestClient, token_for_scopes: Any,
                                                       database: Database,
                                                       issued: dict[str, Any]) -> None:
    moved_on = date.today() + timedelta(days=2)
    with database.write() as session:
        session.execute(update(Residence).where(Residence.pin == issued["pin"])
                        .values(deregistered_on=moved_on))
        old = session.scalars(select(Residence).where(Residence.pin == issued["pin"])).first()
        assert old is not None
        session.add(Residence(pin=issued["pin"], kind="permanent", commune_code=old.commune_code,
                              address_line="Số 9 Đường Mới", registered_on=moved_on))
    report = _verify_later(client, token_for_scopes, issued["files"], days=5)
    assert (report["verdict"], report["warnings"]) == ("pass", ["residence_changed"])
    assert _db_step(report) == ("warn", "residence_changed")


def _verify_later(client: TestClient, token_for_scopes: Any, files: dict[str, str], *,
                  days: int) -> dict[str, Any]:
    """Verify ``days`` later on the sandbox clock (with a token issued then)."""
    clock = client.app.state.clock  # type: ignore[attr-defined]
    clock.advance(timedelta(days=days))
    try:
        return dict(verify(client, token_for_scopes("card.verify"), files).json())
    finally:
        clock.reset()


def test_a_name_change_makes_the_chip_data_not_current(client: TestClient, card_token: str,
                                                       database: Database,
                                                       issued: dict[str, Any]) -> None:
    with database.write() as session:
        session.execute(update(Citizen).where(Citizen.pin == issued["pin"])
                        .values(given_name="Hương"))
    report = verify(client, card_token, issued["files"]).json()
    assert _db_step(report) == ("fail", "data_changed")
    assert "full_name" in next(s["detail"] for s in report["steps"]
                               if s["code"] == "db.data_current")


def _chip_verifications(verdict: str) -> float:
    from app.services.kit.metrics import VERIFICATIONS
    return VERIFICATIONS.labels("chip", verdict)._value.get()


@pytest.mark.parametrize("key", [None, "cloned-chip", "deceased-holder", "tampered-dg1"])
def test_the_answer_is_the_documented_model_written_as_pydantic_writes_it(
        client: TestClient, card_token: str, genuine: dict[str, Any], personas: dict[str, Any],
        key: str | None) -> None:
    from app.schemas.cards import VerifyResponse
    pin, access = ((genuine["pin"], genuine["key"]) if key is None
                   else (personas[key]["pin"], personas[key]["access_key"]))
    for exchange in (None, _read_with_aa(client, pin, access)[1]):
        before = {v: _chip_verifications(v) for v in ("pass", "fail")}
        response = verify(client, card_token, read_chip(client, pin, access), exchange)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        model = VerifyResponse.model_validate_json(response.content)
        assert model.model_dump_json().encode() == response.content
        # the verdict metric counts what the answer says (noted by the route, not re-read)
        assert {v: _chip_verifications(v) - before[v] for v in before} == {
            v: float(v == model.verdict) for v in before}


def test_a_verification_served_express_is_recorded_under_its_route_with_the_edge_headers(
        client: TestClient, card_token: str, genuine: dict[str, Any],
        admin_headers: dict[str, str]) -> None:
    # the edge hands a JSON verification straight to app.routers.hot's handler (not through the
    # app's router): the answer still carries the edge's headers and is recorded under its route
    response = verify(client, card_token, read_chip(client, genuine["pin"], genuine["key"]))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    request_id = response.headers["x-request-id"]
    seen = client.get("/v1/sandbox/requests", headers=admin_headers).json()["requests"]
    assert [(e["path"], e["status"]) for e in seen if e["request_id"] == request_id] == [
        ("/v1/cards/verify", 200)]
    assert 'route="/v1/cards/verify"' in client.get("/metrics", headers=admin_headers).text


def test_a_data_group_given_twice_leaves_the_chip_data_untrusted(
        client: TestClient, card_token: str, genuine: dict[str, Any]) -> None:
    # DG1 under two spellings: the first DG1 hash step is the failed duplicate, and the database
    # steps go by the first step of each code and subject, not by any step that passed.
    files = {**genuine["files"], "dg1": genuine["files"]["DG1"]}
    steps = verify(client, card_token, files).json()["steps"]
    dg1 = [s["status"] for s in steps if s["code"] == "dg.hash" and s["subject"] == "DG1"]
    assert dg1[0] == "fail"
    assert "pass" in dg1[1:]
    database_steps = {s["code"]: s["reason"] for s in steps if s["code"].startswith("db.")}
    assert database_steps == dict.fromkeys(
        ("db.card_status", "db.holder_alive", "db.data_current"), "untrusted_data")
