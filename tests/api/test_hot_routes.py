"""The login flow's endpoints are served by plain Starlette routes ahead of FastAPI's
(app.routers.hot): they must behave as the FastAPI routes did, for callers and for the server's
own records (request log, metrics, the sandbox's recent requests)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.routers.hot import HOT, HotRoute, express
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import Rp, browser, register_rp, tokens_for, userinfo


@pytest.fixture(scope="module")
def rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="Hot routes RP")


def test_the_login_endpoints_are_matched_first_by_hot_routes(app: FastAPI) -> None:
    first = app.router.routes[:len(HOT)]
    assert [type(route) for route in first] == [HotRoute] * len(HOT)
    assert [route.path for route in first] == [path for path, _, _ in HOT]  # type: ignore[attr-defined]


def test_the_login_endpoints_stay_in_the_openapi_description(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/oauth2/authorize"])
    assert set(paths["/oauth2/token"]) == {"post"}
    assert {"get", "post"} <= set(paths["/oauth2/userinfo"])


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("HEAD", "/oauth2/authorize", {"GET", "POST"}), ("PUT", "/oauth2/authorize", {"GET", "POST"}),
    ("GET", "/oauth2/token", {"POST"}), ("HEAD", "/oauth2/userinfo", {"GET", "POST"}),
    ("DELETE", "/oauth2/userinfo", {"GET", "POST"})])
def test_other_methods_are_405_naming_the_allowed_ones_as_on_every_route(
        client: TestClient, method: str, path: str, allowed: set[str]) -> None:
    answer = client.request(method, path)
    assert answer.status_code == 405
    assert {m.strip() for m in answer.headers["allow"].split(",")} == allowed


def test_requests_to_hot_routes_are_recorded_under_their_route(
        app: FastAPI, client: TestClient, admin: dict[str, str], rp: Rp,
        personas: dict[str, Any]) -> None:
    agent = browser(app)
    body = tokens_for(agent, rp, personas["citizen-l2"]["pin"])
    assert userinfo(agent, body["access_token"]).status_code == 200
    seen = client.get("/v1/sandbox/requests", headers=admin).json()["requests"]
    routes = {entry["path"] for entry in seen}
    assert {"/oauth2/authorize", "/oauth2/token", "/oauth2/userinfo"} <= routes
    scraped = client.get("/metrics", headers=admin).text
    assert 'route="/oauth2/token"' in scraped


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/oauth2/authorize"), ("POST", "/oauth2/authorize"), ("POST", "/oauth2/token"),
    ("GET", "/oauth2/userinfo"), ("POST", "/oauth2/userinfo")])
def test_the_login_endpoints_are_served_express_by_the_edge(
        app: FastAPI, method: str, path: str) -> None:
    assert express(app)(_scope(method, path)) is not None


@pytest.mark.parametrize(("method", "path"), [
    ("HEAD", "/oauth2/authorize"), ("PUT", "/oauth2/authorize"), ("GET", "/oauth2/token"),
    ("DELETE", "/oauth2/userinfo"), ("POST", "/oauth2/token/"), ("POST", "/oauth2/revoke")])
def test_other_methods_and_paths_go_through_the_app(app: FastAPI, method: str, path: str) -> None:
    # the app answers them (405 with Allow, a redirect, another route), not the express handler
    assert express(app)(_scope(method, path)) is None


@pytest.mark.parametrize(("media", "express_served"), [
    (b"application/json", True), (b"Application/JSON; charset=utf-8", True),
    (b"application/x-www-form-urlencoded", False), (None, False)])
def test_a_json_verification_is_served_express_by_the_edge_and_any_other_through_the_app(
        app: FastAPI, media: bytes | None, express_served: bool) -> None:
    scope = {**_scope("POST", "/v1/cards/verify"),
             "headers": [] if media is None else [(b"content-type", media)]}
    assert (express(app)(scope, app) is not None) is express_served
    # without what the edge calls otherwise, nothing could take a body that does not validate
    assert express(app)(scope) is None
    assert express(app)({**scope, "method": "GET"}, app) is None


def test_an_express_login_answer_is_recorded_under_its_route_and_errors_keep_their_shape(
        app: FastAPI, client: TestClient, admin: dict[str, str]) -> None:
    refused = client.post("/oauth2/token", data={"grant_type": "authorization_code"})
    assert refused.status_code in (400, 401)
    assert refused.headers["content-type"].startswith("application/json")
    assert "error" in refused.json()
    assert refused.headers["x-request-id"]
    seen = client.get("/v1/sandbox/requests", headers=admin).json()["requests"]
    assert any(entry["path"] == "/oauth2/token" and entry["status"] == refused.status_code
               and entry["request_id"] == refused.headers["x-request-id"] for entry in seen)
