"""The bank's account opening against the sandbox: one fresh tenant per test (dancu_tenant), so
each test may change the population, the clock or the fault rules without touching another."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from bank_app import Application, Decision, LoginRejected, Onboarding, ServiceUnavailable

from dancu_testing import (
    ChipReader,
    DancuClient,
    Faults,
    Login,
    LoginFailed,
    Persona,
    Sandbox,
    SandboxClock,
    Tenant,
)

Journey = Callable[..., Application]
Personas = Callable[[str], Persona]
Residences = Callable[[Persona], dict[str, Any]]


# --- approved -------------------------------------------------------------------------------------


def test_adult_with_level2_account_and_valid_card_is_approved(apply_as: Journey) -> None:
    application = apply_as("valid-adult-level2")
    assert (application.decision, application.reasons) == (Decision.APPROVED, ())


def test_identity_comes_from_the_vneid_login(apply_as: Journey,
                                             persona: Personas) -> None:
    applicant = persona("valid-adult-level2")
    identity = apply_as("valid-adult-level2").identity
    assert (identity.pin, identity.full_name, identity.acr) == (
        applicant.pin, applicant.full_name, "LoA2")
    assert identity.birth_date == applicant.birth_date.isoformat()


def test_card_for_life_of_an_elderly_citizen_is_approved(apply_as: Journey) -> None:
    assert apply_as("elderly-card-for-life").decision is Decision.APPROVED


def test_name_with_rare_diacritics_is_approved_in_nfc(apply_as: Journey,
                                                      persona: Personas) -> None:
    application = apply_as("rare-diacritics-two-middle-names")
    assert application.decision is Decision.APPROVED
    assert application.identity.full_name == persona("rare-diacritics-two-middle-names").full_name


def test_citizen_born_abroad_is_approved(apply_as: Journey) -> None:
    assert apply_as("born-abroad").decision is Decision.APPROVED


# --- refused at the login -------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "error"), [
    ("level1-only", "unmet_authentication_requirements"),
    ("account-locked", "access_denied"),
    ("no-account", "access_denied"),
    ("minor-under-14", "access_denied"),
    ("deceased", "access_denied"),
    ("card-expired", "access_denied"),
])
def test_applicant_who_cannot_sign_in_at_loa2_is_refused(apply_as: Journey, key: str,
                                                         error: str) -> None:
    with pytest.raises(LoginRejected) as refused:
        apply_as(key)
    assert refused.value.reason == error


def test_callback_with_a_forged_state_is_refused(bank: Onboarding, oidc_login: Login,
                                                 persona: Personas) -> None:
    callback = oidc_login.approve(bank.begin(), persona("valid-adult-level2"))
    forged = callback.replace("state=", "state=x")
    with pytest.raises(LoginRejected) as refused:
        bank.complete_login(forged)
    assert refused.value.reason == "unknown_state"


def test_callback_cannot_be_used_twice(bank: Onboarding, oidc_login: Login,
                                       persona: Personas) -> None:
    callback = oidc_login.approve(bank.begin(), persona("valid-adult-level2"))
    bank.complete_login(callback)
    with pytest.raises(LoginRejected) as refused:
        bank.complete_login(callback)
    assert refused.value.reason == "unknown_state"


def test_id_token_with_a_bad_signature_is_refused(apply_as: Journey, fault: Faults,
                                                  bank_client: DancuClient) -> None:
    fault("bad-signature", path="/oauth2/token", client=bank_client)
    with pytest.raises(LoginRejected) as refused:
        apply_as("valid-adult-level2")
    assert refused.value.reason == "id_token_signature"


# --- refused at the chip --------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "reason"), [
    ("card-lost", "card_lost"),
    ("cloned-chip", "bad_signature"),
])
def test_applicant_whose_chip_fails_is_rejected(apply_as: Journey, key: str,
                                                reason: str) -> None:
    application = apply_as(key)
    assert application.decision is Decision.REJECTED
    assert reason in application.reasons


def test_chip_of_another_person_is_rejected(apply_as: Journey) -> None:
    application = apply_as("valid-adult-level2", chip_of="elderly-card-for-life")
    assert (application.decision, application.reasons) == (
        Decision.REJECTED, ("chip_of_another_person",))


def test_card_reported_lost_during_onboarding_is_rejected(
        bank: Onboarding, dancu_tenant: Tenant, dancu_server: Sandbox, oidc_login: Login,
        read_chip: ChipReader, persona: Personas) -> None:
    applicant = persona("valid-adult-level2")
    identity = bank.complete_login(oidc_login.approve(bank.begin(), applicant))
    chip = read_chip(applicant).verify_body()
    lost = dancu_tenant.request("POST", f"/v1/admin/cards/{applicant.pin}/lost",
                                headers=dancu_server.admin_headers())
    assert lost.status_code == 200, lost.text
    check = bank.check_chip(chip)
    assert (identity.pin, check.verdict, check.reasons) == (applicant.pin, "fail", ("card_lost",))


def test_card_expires_while_the_application_waits(
        bank: Onboarding, oidc_login: Login, read_chip: ChipReader, sandbox_clock: SandboxClock,
        persona: Personas) -> None:
    applicant = persona("valid-adult-level2")
    bank.complete_login(oidc_login.approve(bank.begin(), applicant))
    chip = read_chip(applicant).verify_body()
    sandbox_clock.freeze(f"{applicant.card.expiry_date.isoformat()}T12:00:00Z")
    sandbox_clock.advance(days=2)
    check = bank.check_chip(chip)
    assert check.verdict == "fail"
    assert "document_expired" in check.reasons


# --- residence ------------------------------------------------------------------------------------


def test_declared_residence_elsewhere_goes_to_review(apply_as: Journey) -> None:
    application = apply_as("valid-adult-level2", declared_province="999")
    assert (application.decision, application.reasons) == (
        Decision.REVIEW, ("residence_not_confirmed",))


def test_residence_is_checked_against_the_registry_not_the_card(
        apply_as: Journey, dancu_tenant: Tenant, dancu_server: Sandbox, persona: Personas,
        residence_of: Residences) -> None:
    """A move recorded after the card was issued (a life event in this test's tenant only): the
    province printed before is no longer confirmed, the new one is; the card still prints the old
    address, so the chip verification warns and the application goes to review."""
    mover, elsewhere = persona("valid-adult-level2"), persona("elderly-card-for-life")
    before, there = residence_of(mover), residence_of(elsewhere)
    assert before["province_code"] != there["province_code"]
    moved = dancu_tenant.request("POST", "/v1/life-events/residence-changes",
                                 headers=dancu_server.admin_headers(),
                                 json={"pin": mover.pin, "kind": "permanent",
                                       "commune_code": there["commune_code"],
                                       "address_line": "Số 1 Đường A"})
    assert moved.status_code == 201, moved.text
    stale = apply_as("valid-adult-level2", declared_province=before["province_code"])
    assert (stale.decision, stale.residence.province_code) == (
        Decision.REVIEW, there["province_code"])
    current = apply_as("valid-adult-level2")
    assert (current.decision, current.reasons, current.residence.confirmed) == (
        Decision.REVIEW, ("residence_changed",), True)


# --- the identity service failing -----------------------------------------------------------------


def test_one_unavailable_answer_is_retried(apply_as: Journey, fault: Faults,
                                           bank_client: DancuClient) -> None:
    fault("fail-first=1; status=503; retry-after=1", path="/oauth2/token", client=bank_client)
    assert apply_as("valid-adult-level2").decision is Decision.APPROVED


def test_outage_of_the_token_endpoint_is_reported_as_unavailable(
        apply_as: Journey, fault: Faults, bank_client: DancuClient) -> None:
    fault("status=503", path="/oauth2/token", client=bank_client)
    with pytest.raises(ServiceUnavailable) as failed:
        apply_as("valid-adult-level2")
    assert failed.value.reason == "http_503"


def test_rate_limited_chip_check_is_reported_as_unavailable(
        bank: Onboarding, fault: Faults, bank_client: DancuClient, read_chip: ChipReader) -> None:
    fault("status=429; retry-after=1", path="/v1/cards/verify", client=bank_client)
    with pytest.raises(ServiceUnavailable):
        bank.check_chip(read_chip("valid-adult-level2").verify_body())


def test_slow_answers_within_the_timeout_still_approve(apply_as: Journey, fault: Faults,
                                                      bank_client: DancuClient) -> None:
    fault("latency=300ms", path="/v1/citizens/*", client=bank_client)
    assert apply_as("valid-adult-level2").decision is Decision.APPROVED


def test_persona_whose_every_request_fails_cannot_sign_in(bank: Onboarding, oidc_login: Login,
                                                         persona: Personas) -> None:
    with pytest.raises(LoginFailed) as failed:
        oidc_login.approve(bank.begin(), persona("fault-unavailable"))
    assert failed.value.status == 503


# --- the plugin's own fixtures, as a suite would use them directly --------------------------------


def test_each_test_has_a_tenant_of_its_own(dancu_tenant: Tenant, dancu_server: Sandbox) -> None:
    listed = dancu_server.http.get("/v1/sandbox/tenants", headers=dancu_server.admin_headers())
    assert dancu_tenant.id in {tenant["id"] for tenant in listed.json()["tenants"]}
    assert dancu_tenant.issuer.endswith(f"/t/{dancu_tenant.id}")


@pytest.mark.dancu_client(scopes=["openid", "profile"], purposes=["account-opening"])
def test_tokens_come_from_the_real_code_flow(dancu_client: DancuClient, oidc_login: Login,
                                             persona: Personas) -> None:
    tokens = oidc_login(dancu_client, persona("valid-adult-level2"), acr="LoA2")
    assert tokens.acr == "LoA2"
    assert tokens.claims["aud"] == dancu_client.client_id
    assert tokens.claims["iss"] == dancu_client.tenant.issuer
