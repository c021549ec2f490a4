"""GET /v1/cards/{pin} and the card images: the printed card of each generation, its MRZ and QR
payload consistent with the population record, access by scope, every read audited."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mrz.checker.td1 import TD1CodeChecker
from sqlalchemy import select

from app.card_rules import CAN_CUOC_2024, CCCD_2021, card_expiry, parse_qr_payload
from app.db import Database
from app.models.audit import AuditRecord
from app.models.card import Card
from app.models.population import Citizen
from app.services.population.citizens import full_name
from tests.api.cards_support import *  # noqa: F403
from tests.api.cards_support import admin, bearer, card_of, new_citizen, printed

GENERATIONS = {"cccd_2021": CCCD_2021, "can_cuoc_2024": CAN_CUOC_2024}
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module", params=list(GENERATIONS))
def view(request: pytest.FixtureRequest, client: TestClient, database: Database,
         card_token: str) -> dict[str, Any]:
    card = card_of(database, status="active", generation=request.param)
    return printed(client, card_token, card.pin)


@pytest.fixture(scope="module")
def holder(database: Database, view: dict[str, Any]) -> Citizen:
    with database.read() as session:
        citizen = session.get(Citizen, view["pin"])
    assert citizen is not None
    return citizen


def test_card_lists_the_fields_of_its_generation_in_layout_order(view: dict[str, Any]) -> None:
    generation = GENERATIONS[view["generation"]]
    assert [f["field"] for f in view["front"]] == list(generation.front_fields)
    assert [f["field"] for f in view["back"]] == list(generation.back_fields)


def test_2024_card_prints_no_place_of_origin_and_2021_no_birth_registration(
        view: dict[str, Any]) -> None:
    fields = {f["field"] for f in view["front"] + view["back"]}
    absent = "place_of_origin" if view["generation"] == "can_cuoc_2024" else (
        "place_of_birth_registration")
    assert absent not in fields


def test_mrz_is_three_lines_of_30_that_check_with_the_mrz_package(view: dict[str, Any]) -> None:
    assert [len(line) for line in view["mrz"]] == [30, 30, 30]
    assert bool(TD1CodeChecker("\n".join(view["mrz"])))


def test_mrz_line_1_carries_the_pin_as_on_vietnamese_cards(view: dict[str, Any]) -> None:
    pin = view["pin"]
    assert view["mrz"][0].startswith(f"IDVNM{pin[3:]}")
    assert view["mrz"][0][15:29] == f"{pin}<<"


def test_mrz_expiry_is_991231_exactly_when_the_card_never_expires(view: dict[str, Any]) -> None:
    assert (view["mrz"][1][8:14] == "991231") == (view["expiry_date"] is None)


def test_expiry_follows_the_renewal_ages(view: dict[str, Any], holder: Citizen) -> None:
    expected = card_expiry(date_of_birth=holder.birth_date,
                           issue_date=date.fromisoformat(view["issue_date"]))
    assert view["expiry_date"] == (expected.isoformat() if expected else None)


def test_qr_payload_matches_the_record(view: dict[str, Any], holder: Citizen) -> None:
    payload = parse_qr_payload(view["qr_payload"])
    assert (payload.pin, payload.full_name, payload.date_of_birth, payload.sex) == (
        holder.pin, full_name(holder), holder.birth_date, holder.sex)
    assert payload.old_id_number == (holder.cmnd_number or "")
    assert payload.issue_date.isoformat() == view["issue_date"]


def test_printed_name_is_the_full_name_in_capitals(view: dict[str, Any], holder: Citizen) -> None:
    name = next(f["value"] for f in view["front"] if f["field"] == "full_name")
    assert name == full_name(holder).upper()


def test_history_starts_with_the_issue(view: dict[str, Any]) -> None:
    assert view["history"][0]["action"] == "issued"
    assert view["cards"][0]["sequence"] == view["sequence"]


def test_an_older_card_can_be_asked_for(client: TestClient, database: Database,
                                        card_token: str) -> None:
    card = card_of(database, status="replaced")
    response = client.get(f"/v1/cards/{card.pin}?sequence={card.sequence}",
                          headers=bearer(card_token))
    assert (response.json()["sequence"], response.json()["status"]) == (card.sequence, "replaced")


@pytest.mark.parametrize(("pin", "status"), [("001099999999", 404), ("00109304706", 422),
                                             ("00109304706x", 422)])
def test_unknown_or_invalid_number(client: TestClient, card_token: str, pin: str,
                                   status: int) -> None:
    response = client.get(f"/v1/cards/{pin}", headers=bearer(card_token))
    assert response.status_code == status
    assert pin not in response.text


def test_card_needs_the_card_read_scope(client: TestClient, token_for_scopes: Any,
                                        view: dict[str, Any]) -> None:
    response = client.get(f"/v1/cards/{view['pin']}", headers=bearer(token_for_scopes(
        "citizen.basic")))
    assert response.status_code == 403


def test_card_without_a_token_is_401(client: TestClient, view: dict[str, Any]) -> None:
    assert client.get(f"/v1/cards/{view['pin']}").status_code == 401


def test_card_reads_are_audited(client: TestClient, database: Database, card_token: str,
                                view: dict[str, Any]) -> None:
    client.get("/v1/cards/001099999999", headers=bearer(card_token))
    with database.read() as session:
        results = set(session.scalars(select(AuditRecord.result).where(
            AuditRecord.action == "card_read",
            AuditRecord.pin.in_([view["pin"], "001099999999"]))))
    assert results == {"disclosed", "not_found"}


# --- images ---------------------------------------------------------------------------------------


def _svg(client: TestClient, token: str, pin: str, side: str) -> ET.Element:
    response = client.get(f"/v1/cards/{pin}/image/{side}.svg", headers=bearer(token))
    assert response.headers["content-type"] == "image/svg+xml"
    return ET.fromstring(response.content)


def _texts(root: ET.Element) -> list[str]:
    return [element.text or "" for element in root.iter(f"{SVG_NS}text")]


def test_back_image_prints_the_mrz(client: TestClient, card_token: str,
                                   view: dict[str, Any]) -> None:
    texts = _texts(_svg(client, card_token, view["pin"], "back"))
    assert all(line in texts for line in view["mrz"])


def test_images_print_every_text_field_of_the_card(client: TestClient, card_token: str,
                                                   view: dict[str, Any]) -> None:
    printed_text = " ".join(_texts(_svg(client, card_token, view["pin"], "front"))
                            + _texts(_svg(client, card_token, view["pin"], "back")))
    for item in view["front"] + view["back"]:
        if item["value"] and item["field"] not in ("qr_code", "mrz", "title"):
            words = re.sub(r"\s+", " ", item["value"]).split(" ")
            assert all(word in printed_text for word in words), item["field"]


def test_qr_code_is_on_the_side_its_generation_prints_it(client: TestClient, card_token: str,
                                                         view: dict[str, Any]) -> None:
    side = "front" if view["generation"] == "cccd_2021" else "back"
    root = _svg(client, card_token, view["pin"], side)
    assert any("segno" in (e.get("class") or "") for e in root.iter(f"{SVG_NS}svg"))


def test_under_6_card_image_has_no_photo(client: TestClient, database: Database,
                                         admin_headers: dict[str, str], card_token: str) -> None:
    pin = new_citizen(database, born=date(2022, 1, 5), sex="M")
    assert admin(client, admin_headers, pin, "issue", "under_14_on_request").status_code == 200
    root = _svg(client, card_token, pin, "front")
    assert not list(root.iter(f"{SVG_NS}image"))
    assert "photo" not in [f["field"] for f in printed(client, card_token, pin)["front"]]


def test_images_need_the_card_read_scope(client: TestClient, token_for_scopes: Any,
                                         view: dict[str, Any]) -> None:
    response = client.get(f"/v1/cards/{view['pin']}/image/front.svg",
                          headers=bearer(token_for_scopes("card.verify")))
    assert response.status_code == 403


def test_unknown_side_is_422(client: TestClient, card_token: str, view: dict[str, Any]) -> None:
    response = client.get(f"/v1/cards/{view['pin']}/image/inside.svg", headers=bearer(card_token))
    assert response.status_code == 422


CARD_CONSENT = ["citizen.basic", "citizen.identity", "citizen.residence"]


@pytest.mark.parametrize(("consented", "status"), [
    (None, 403), (["citizen.basic"], 403), (["citizen.basic", "citizen.residence"], 403),
    (CARD_CONSENT, 200)])
def test_a_consent_based_client_sees_a_card_only_with_consent_to_all_it_shows(
        client: TestClient, database: Database, admin_headers: dict[str, str],
        consented: list[str] | None, status: int) -> None:
    from tests.api.sharing_support import issue_token, new_client

    pin = new_citizen(database, born=date(1985, 5, 5))
    assert admin(client, admin_headers, pin, "issue").status_code == 200
    bank, secret = new_client(client, admin_headers, scopes=["card.read", *CARD_CONSENT],
                              purposes=["kyc"], data_basis="consent")
    if consented is not None:
        assert client.post("/v1/admin/consents", headers=admin_headers, json={
            "pin": pin, "client_id": bank, "purpose": "kyc", "scopes": consented,
            "method": "written"}).status_code == 201
    token = bearer(issue_token(client, bank, secret, "card.read"))
    for path in (f"/v1/cards/{pin}", f"/v1/cards/{pin}/image/front.svg"):
        response = client.get(path, headers=token)
        assert response.status_code == status, path
        if status == 403:
            assert response.json()["type"].endswith("/consent-required")
    with database.read() as session:
        results = set(session.scalars(select(AuditRecord.result).where(
            AuditRecord.pin == pin, AuditRecord.client_id == bank)))
    assert results == {"consent_required" if status == 403 else "disclosed"}


def test_2021_cards_print_an_identifying_mark(client: TestClient, database: Database,
                                              card_token: str) -> None:
    """Đặc điểm nhân dạng, e.g. 'Nốt ruồi C:3cm trên sau mép trái' (rules §2.2), on the back."""
    with database.read() as session:
        pins = session.scalars(select(Card.pin).where(
            Card.persona.is_(None), Card.status == "active", Card.generation == "cccd_2021")
            .order_by(Card.pin).limit(20)).all()
    assert pins
    marks = [next(f["value"] for f in printed(client, card_token, pin)["back"]
                  if f["field"] == "identifying_marks") for pin in pins]
    assert all(re.fullmatch(r"[^\d]+ C:\d(,5)?cm (trên|dưới) (trước|sau) [^\d]+ (trái|phải)", m)
               for m in marks), marks
