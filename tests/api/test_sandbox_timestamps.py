"""Instants the sandbox endpoints answer carry their time zone (ISO 8601 with an offset) on
SQLite too, where stored instants come back without one: a tenant's and a fault rule's
``created_at``, whether just created or read back."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from tests.api.sandbox_support import sandbox_client, token
from tests.api.sharing_support import admin_headers, bearer

__all__ = ["admin_headers"]


def _has_offset(text: str) -> bool:
    moment = datetime.fromisoformat(text)
    return moment.utcoffset() is not None


def test_tenant_created_at_has_an_offset_when_created_listed_and_read(
        client: TestClient, admin_headers: dict[str, str]) -> None:
    created = client.post("/v1/sandbox/tenants", json={"size": 100}, headers=admin_headers)
    assert created.status_code == 201, created.text
    tenant = created.json()["id"]
    try:
        one = client.get(f"/v1/sandbox/tenants/{tenant}", headers=admin_headers).json()
        listed = client.get("/v1/sandbox/tenants", headers=admin_headers).json()["tenants"]
        stamps = [created.json()["created_at"], one["created_at"],
                  *(t["created_at"] for t in listed if t["id"] == tenant)]
        assert len(stamps) == 3
        assert all(_has_offset(stamp) for stamp in stamps), stamps
        assert len({datetime.fromisoformat(stamp) for stamp in stamps}) == 1, stamps
    finally:
        client.delete(f"/v1/sandbox/tenants/{tenant}", headers=admin_headers)


def test_fault_rule_created_at_has_an_offset(client: TestClient,
                                             admin_headers: dict[str, str]) -> None:
    access = bearer(token(client, sandbox_client(client, admin_headers), scope="citizen.basic"))
    created = client.post("/v1/sandbox/faults", headers=access,
                          json={"fault": "status=503", "path": "/v1/nowhere"})
    assert created.status_code == 201, created.text
    try:
        listed = client.get("/v1/sandbox/faults", headers=access).json()["rules"]
        stamps = [created.json()["created_at"], *(r["created_at"] for r in listed)]
        assert all(_has_offset(stamp) for stamp in stamps), stamps
        first = datetime.fromisoformat(stamps[0])
        assert all(abs(datetime.fromisoformat(s) - first) < timedelta(days=1) for s in stamps)
    finally:
        client.delete("/v1/sandbox/faults", headers=access)
