"""The data API's access-token check: 401/403 with RFC 6750 challenges, client status, purposes,
and the per-client quota."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.db import Database
from app.main import create_app
from app.oidc import tokens as oidc_tokens
from app.services.kit import keys
from app.services.sharing import tokens
from app.settings import Settings
from tests.api.sharing_support import *  # noqa: F403
from tests.api.sharing_support import People, bearer, issue_token, new_client


def _forged(database: Database, settings: Settings, now: Any, **content: Any) -> str:
    """A token signed with the server's real key but with chosen content."""
    with database.read() as session:
        key = keys.load_ring(session).signing_key("ES256", now=now)
    values = {"subject": settings.demo_client_id, "client_id": settings.demo_client_id,
              "audience": (tokens.api_audience(settings),), "scope": ("citizen.basic",)} | content
    issuer = values.pop("issuer", settings.issuer_url)
    return oidc_tokens.issue_access_token(oidc_tokens.AccessTokenContent(**values), key=key,
                                          issuer=issuer, now=now, ttl=timedelta(minutes=5)).value


def _lookup(client: TestClient, pin: str, headers: dict[str, str]) -> Any:
    return client.get(f"/v1/citizens/{pin}", headers=headers)


def test_missing_token_is_401_with_a_bare_bearer_challenge(
    client: TestClient, people: People
) -> None:
    response = _lookup(client, people.mother, {})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/invalid-token")
    assert response.headers["www-authenticate"] == 'Bearer realm="dancu"'


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x" * 9000])
def test_invalid_token_is_401_invalid_token(client: TestClient, people: People, token: str) -> None:
    response = _lookup(client, people.mother, bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_expired_token_is_401_invalid_token(
    client: TestClient, people: People, demo_token: str, clock_guard: Any
) -> None:
    assert _lookup(client, people.mother, bearer(demo_token)).status_code == 200
    clock_guard.advance(tokens.ACCESS_TOKEN_TTL + timedelta(minutes=1))
    response = _lookup(client, people.mother, bearer(demo_token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    "content",
    [
        {"audience": ("https://elsewhere.example/api",)},
        {"issuer": "https://impostor.example"},
        {"subject": "some-citizen-pseudonym"},  # a user's token (not client credentials)
        {"client_id": "no-such-client", "subject": "no-such-client"},
    ],
    ids=["wrong audience", "wrong issuer", "user token", "unknown client"],
)
def test_token_for_another_audience_issuer_or_party_is_401(
    client: TestClient,
    database: Database,
    settings: Settings,
    people: People,
    app: Any,
    content: dict[str, Any],
) -> None:
    token = _forged(database, settings, app.state.clock.now(), **content)
    response = _lookup(client, people.mother, bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_tampered_token_is_401(client: TestClient, people: People, demo_token: str) -> None:
    header, payload, signature = demo_token.split(".")
    tampered = f"{header}.{payload[:-2]}AA.{signature}"
    assert _lookup(client, people.mother, bearer(tampered)).status_code == 401


def test_token_without_the_scope_is_403_insufficient_scope(
    client: TestClient, people: People, token_for_scopes: Any
) -> None:
    response = client.post(
        "/v1/citizens/verify",
        json={"pin": people.mother, "sex": "F"},
        headers=bearer(token_for_scopes("citizen.basic")),
    )
    assert response.status_code == 403
    assert response.json()["type"].endswith("/insufficient-scope")
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="citizen.verify"' in challenge


def test_admin_token_is_not_a_client_token(
    client: TestClient, people: People, admin_headers: dict[str, str]
) -> None:
    assert _lookup(client, people.mother, admin_headers).status_code == 401


def test_disabled_client_is_refused_at_once_and_again_served_when_enabled(
    client: TestClient, admin_headers: dict[str, str], people: People
) -> None:
    client_id, secret = new_client(client, admin_headers)
    token = issue_token(client, client_id, secret, "citizen.basic")
    assert (
        client.post(f"/v1/admin/clients/{client_id}/disable", headers=admin_headers).status_code
        == 200
    )
    refused = _lookup(client, people.mother, bearer(token))
    no_token = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {_b64(client_id, secret)}"},
    )
    assert (
        client.post(f"/v1/admin/clients/{client_id}/enable", headers=admin_headers).status_code
        == 200
    )
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert no_token.status_code == 401
    assert _lookup(client, people.mother, bearer(token)).status_code == 200


def _b64(client_id: str, secret: str) -> str:
    import base64

    return base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_unregistered_purpose_is_403_and_a_registered_one_is_audited(
    client: TestClient, admin_headers: dict[str, str], people: People
) -> None:
    client_id, secret = new_client(client, admin_headers, purposes=["kyc", "fraud-check"])
    headers = bearer(issue_token(client, client_id, secret, "citizen.basic"))
    refused = _lookup(client, people.mother, {**headers, "X-Purpose": "marketing"})
    served = _lookup(client, people.mother, {**headers, "X-Purpose": "fraud-check"})
    trail = client.get("/v1/audit", headers=headers).json()["records"]
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/purpose-not-registered")
    assert served.status_code == 200
    assert trail[0]["purpose"] == "fraud-check"
    assert trail[0]["request_id"] == served.headers["x-request-id"]


def test_quota_exceeded_is_429_with_retry_after_until_the_window_ends(
    client: TestClient, admin_headers: dict[str, str], people: People, clock_guard: Any
) -> None:
    clock_guard.freeze()
    client_id, secret = new_client(client, admin_headers, rate_limit=3)
    headers = bearer(issue_token(client, client_id, secret, "citizen.basic"))
    statuses = [_lookup(client, people.mother, headers).status_code for _ in range(3)]
    limited = _lookup(client, people.mother, headers)
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.json()["type"].endswith("/rate-limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    clock_guard.advance(timedelta(seconds=int(limited.headers["retry-after"])))
    assert _lookup(client, people.mother, headers).status_code == 200


def test_quota_is_shared_by_every_server_process(
    client: TestClient,
    admin_headers: dict[str, str],
    people: People,
    settings: Settings,
    database: Database,
    clock_guard: Any,
) -> None:
    clock_guard.freeze()
    client_id, secret = new_client(client, admin_headers, rate_limit=4)
    headers = bearer(issue_token(client, client_id, secret, "citizen.basic"))
    second = create_app(settings, database=database, migrate_on_start=False)
    second.state.clock = clock_guard
    with TestClient(second) as other:
        statuses = [
            (client if i % 2 else other)
            .get(f"/v1/citizens/{people.mother}", headers=headers)
            .status_code
            for i in range(5)
        ]
    assert statuses == [200, 200, 200, 200, 429]


def _leased(database: Database, client_id: str) -> int:
    from sqlalchemy import func, select

    from app.models.client import RateWindow

    with database.read() as session:
        return int(session.scalar(select(func.coalesce(func.sum(RateWindow.count), 0))
                                  .where(RateWindow.client_id == client_id)))


def test_the_next_block_of_a_quota_is_leased_before_this_one_runs_out(
    client: TestClient, admin_headers: dict[str, str], people: People, database: Database,
    clock_guard: Any
) -> None:
    """A quota of 1,000 a minute is leased 10 requests at a time; the next block is leased in the
    background once a quarter of this one is left, so no request waits for it."""
    import time

    clock_guard.freeze(_mid_window(clock_guard.now()))  # not in a window's last second
    client_id, secret = new_client(client, admin_headers, rate_limit=1000)
    headers = bearer(issue_token(client, client_id, secret, "citizen.basic"))
    statuses = [_lookup(client, people.mother, headers).status_code for _ in range(7)]
    before = _leased(database, client_id)
    statuses.append(_lookup(client, people.mother, headers).status_code)  # 2 of 10 left
    deadline = time.monotonic() + 10
    while _leased(database, client_id) == before and time.monotonic() < deadline:
        time.sleep(0.01)  # the lease ahead runs after the answer
    assert statuses == [200] * 8
    assert (before, _leased(database, client_id)) == (10, 20)


def _mid_window(now: Any) -> Any:
    """The middle of the next window: later than now (the signing keys are valid from now on),
    and not in a window's last second (where the next window's block is leased too)."""
    return now.replace(second=30, microsecond=0) + timedelta(minutes=1)


def _leased_in(database: Database, client_id: str, window_start: int) -> int:
    from sqlalchemy import select

    from app.models.client import RateWindow

    with database.read() as session:
        return int(session.scalar(select(RateWindow.count).where(
            RateWindow.client_id == client_id, RateWindow.window_start == window_start)) or 0)


def test_the_next_windows_first_block_is_leased_in_the_last_second_of_this_one(
    client: TestClient, admin_headers: dict[str, str], people: People, database: Database,
    clock_guard: Any
) -> None:
    """Once a minute the old window's block is void: the new window's first request leased a
    block and every request arriving meanwhile waited for it. A request in a window's last second
    leases the next window's first block (in the background, counted in that window), and the
    requests of the new window are served from it without a lease."""
    import time

    from app.services.kit import rate_limit

    clock_guard.freeze(_mid_window(clock_guard.now()))
    client_id, secret = new_client(client, admin_headers, rate_limit=1000)
    headers = bearer(issue_token(client, client_id, secret, "citizen.basic"))
    window = rate_limit.window_of(clock_guard.now())
    clock_guard.advance(timedelta(seconds=29.5))  # the window's last half second
    statuses = [_lookup(client, people.mother, headers).status_code for _ in range(2)]
    deadline = time.monotonic() + 10
    while _leased_in(database, client_id, window + 60) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # the lease ahead runs after the answer
    leased = _leased_in(database, client_id, window), _leased_in(database, client_id, window + 60)
    clock_guard.advance(timedelta(seconds=1))  # the next window
    statuses += [_lookup(client, people.mother, headers).status_code for _ in range(3)]
    assert statuses == [200] * 5
    assert leased == (10, 10)
    assert _leased_in(database, client_id, window + 60) == 10  # served from the block ahead
    assert _leased_in(database, client_id, window) == 10  # the window that ended is kept
