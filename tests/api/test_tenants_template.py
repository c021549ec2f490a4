"""Tenant templates: the first tenant of a seed and size generates a template, the next ones and
every reset copy it; a new generator makes a new template; a copy shares no secret."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import Database
from app.models import Base
from app.models.account import Account
from app.models.population import Citizen
from app.services.sandbox import tenant_templates, tenants
from app.settings import Settings
from tests.api.sharing_support import admin_headers

__all__ = ["admin_headers"]
SIZE, SEED = 300, 21


def _create(client: TestClient, headers: dict[str, str], seed: int = SEED) -> str:
    response = client.post("/v1/sandbox/tenants", json={"size": SIZE, "seed": seed},
                           headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
def made(client: TestClient, admin_headers: dict[str, str]) -> Iterator[list[str]]:
    """Ids of the tenants a test creates, deleted after it."""
    ids: list[str] = []
    yield ids
    for tenant_id in ids:
        client.delete(f"/v1/sandbox/tenants/{tenant_id}", headers=admin_headers)


def _tenant_database(settings: Settings, tenant_id: str) -> Database:
    return Database.connect(tenants.database_url(settings.database_url, tenant_id))


def _read(settings: Settings, tenant_id: str, query: Any) -> list[Any]:
    database = _tenant_database(settings, tenant_id)
    try:
        with database.read() as session:
            return list(session.execute(query).all())
    finally:
        database.dispose()


def _row_counts(settings: Settings, tenant_id: str) -> dict[str, int]:
    database = _tenant_database(settings, tenant_id)
    try:
        with database.read() as session:
            return {table.name: session.scalar(select(func.count()).select_from(table)) or 0
                    for table in Base.metadata.sorted_tables}
    finally:
        database.dispose()


def _templates(settings: Settings) -> list[str]:
    return tenant_templates.listed(settings.database_url)


def test_the_second_tenant_of_a_seed_and_size_is_copied_from_the_first_ones_template(
        client: TestClient, admin_headers: dict[str, str], settings: Settings,
        made: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    made.append(_create(client, admin_headers))
    before = _templates(settings)

    def generate(*_: Any, **__: Any) -> None:
        raise AssertionError("generated again instead of copying the template")

    monkeypatch.setattr(tenant_templates, "_generate", generate)
    made.append(_create(client, admin_headers))
    assert _templates(settings) == before
    query = select(*Citizen.__table__.columns).order_by(Citizen.pin)
    first, second = (_read(settings, tenant_id, query) for tenant_id in made)
    assert len(first) >= SIZE
    assert first == second


def test_a_new_generator_version_makes_a_new_template_and_drops_the_stale_one(
        client: TestClient, admin_headers: dict[str, str], settings: Settings,
        made: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    made.append(_create(client, admin_headers))
    before = _templates(settings)
    monkeypatch.setattr("seed.populate.GENERATOR_VERSION", "next-generator")
    made.append(_create(client, admin_headers))
    after = _templates(settings)
    assert len(after) == 1
    assert not set(after) & set(before)
    assert _read(settings, made[1], select(func.count()).select_from(Citizen))[0][0] >= SIZE


def test_a_reset_gives_back_the_state_of_a_new_tenant(
        client: TestClient, admin_headers: dict[str, str], settings: Settings,
        made: list[str]) -> None:
    made.extend(_create(client, admin_headers) for _ in range(2))
    inside = {**admin_headers, "X-Sandbox-Tenant": made[0]}
    page = client.get("/v1/citizens", params={"limit": 5}, headers=inside).json()
    pin = next(p["pin"] for p in page["items"] if p["status"] == "alive")
    renamed = client.post("/v1/life-events/name-changes", headers=inside, json={
        "pin": pin, "given_name": "Thử", "reason": "correction"})
    assert renamed.status_code == 201, renamed.text
    changed = _row_counts(settings, made[0])
    assert changed != _row_counts(settings, made[1])
    reset = client.post(f"/v1/sandbox/tenants/{made[0]}/reset", headers=admin_headers)
    assert reset.status_code == 200, reset.text
    assert _row_counts(settings, made[0]) == _row_counts(settings, made[1])
    query = select(*Citizen.__table__.columns).order_by(Citizen.pin)
    citizens = [_read(settings, tenant_id, query) for tenant_id in made]
    assert citizens[0] == citizens[1]


def test_tenants_copied_from_one_template_share_no_device_secret(
        client: TestClient, admin_headers: dict[str, str], settings: Settings,
        made: list[str]) -> None:
    made.extend(_create(client, admin_headers) for _ in range(2))
    query = (select(Account.persona, Account.device_token_hash)
             .where(Account.device_token_hash.is_not(None)).order_by(Account.persona))
    first, second = (dict(_read(settings, tenant_id, query)) for tenant_id in made)
    assert first
    assert first.keys() == second.keys()
    assert all(first[key] != second[key] for key in first)


def test_past_the_templates_kept_the_least_recently_used_one_is_dropped_with_its_database(
        client: TestClient, settings: Settings) -> None:
    kept = settings.model_copy(update={"population_size": 100, "tenant_templates_kept": 2})
    now = client.app.state.clock.now()  # type: ignore[attr-defined]

    def ensure(seed: int) -> str:
        return tenant_templates.ensure(settings.database_url, now=now,
                                       settings=kept.model_copy(update={"seed": seed}))

    first, second = ensure(9001), ensure(9002)
    assert ensure(9001) == first  # copied again: now the more recently used of the two
    third = ensure(9003)
    assert set(_templates(settings)) == {first, third}
    assert not tenant_templates.exists(second)  # its file or database is gone, not only unlisted
    assert tenant_templates.exists(first)
    assert tenant_templates.exists(third)
