"""The bank's test suite uses only the dancu plugin: a fresh sandbox tenant per test, a client
registered in it for the bank, and the personas, login, chip reader, clock and faults of the
sandbox (docs/testing.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bank_app import Application, Onboarding, Settings

from dancu_testing import ChipReader, DancuClient, Login, Persona, Tenant

Personas = Callable[[str], Persona]
Residences = Callable[[Persona], dict[str, Any]]
BANK_SCOPES = ["openid", "profile", "vneid.identity", "card.verify", "citizen.residence"]


@pytest.fixture
def bank_client(dancu_client_factory: Callable[..., DancuClient]) -> DancuClient:
    """The bank's registration at the identity service (in the test's tenant)."""
    return dancu_client_factory(name="Bank onboarding", scopes=BANK_SCOPES,
                                purposes=["account-opening"])


@pytest.fixture
def bank(dancu_tenant: Tenant, bank_client: DancuClient) -> Iterator[Onboarding]:
    settings = Settings(issuer=dancu_tenant.issuer, client_id=bank_client.client_id,
                        client_secret=bank_client.client_secret,
                        redirect_uri=bank_client.redirect_uri, max_retry_wait=0.05, timeout=3.0)
    onboarding = Onboarding(settings)
    yield onboarding
    onboarding.http.close()


@pytest.fixture
def residence_of(dancu_tenant: Tenant) -> Residences:
    """A persona's permanent residence as the population database holds it (read with the
    tenant's demo client, not the bank's): what an honest applicant declares."""

    def read(persona: Persona) -> dict[str, Any]:
        token = dancu_tenant.sandbox.http.post(
            "/oauth2/token", headers=dancu_tenant.headers, auth=(
                dancu_tenant.demo.client_id, dancu_tenant.demo.client_secret),
            data={"grant_type": "client_credentials", "scope": "citizen.residence"})
        answer = dancu_tenant.request(
            "GET", f"/v1/citizens/{persona.current_pin}/residence",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        return dict(answer.json().get("permanent_residence") or {})

    return read


@pytest.fixture
def apply_as(bank: Onboarding, persona: Personas, oidc_login: Login, read_chip: ChipReader,
             residence_of: Residences) -> Callable[..., Application]:
    """The whole journey for a persona: VNeID login in the browser, the phone's chip read, the
    declared residence (default: the true one)."""

    def journey(key: str, *, chip_of: str | None = None,
                declared_province: str | None = None) -> Application:
        applicant = persona(key)
        callback = oidc_login.approve(bank.begin(), applicant)
        chip = read_chip(persona(chip_of or key)).verify_body()
        province = declared_province or residence_of(applicant).get("province_code", "")
        return bank.apply(callback, chip, province)

    return journey
