"""The routers are imported and built by the first request under their paths
(app.routers.lazy): until then a request is answered as it was when every router was included at
start -- the same route, the same 404 and 405 -- and the OpenAPI document lists every route."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from app.db import Database
from app.main import ROUTERS, create_app
from app.routers import lazy
from app.settings import Settings


@pytest.fixture
def fresh(settings: Settings, database: Database) -> FastAPI:
    """An app none of whose lazy routers has been loaded yet."""
    return create_app(settings, database=database, migrate_on_start=False)


def _loaded(app: FastAPI) -> set[tuple[str, str]]:
    return {(router.module, router.attribute) for router in lazy.lazy_routers(app)
            if router.loaded}


def test_every_route_of_a_lazy_router_is_under_one_of_its_prefixes(fresh: FastAPI) -> None:
    lazy.load_all(fresh)
    routers = list(lazy.lazy_routers(fresh))
    assert [(r.module, r.attribute, r.prefixes) for r in routers] == list(ROUTERS)
    for router in routers:
        for route in iter_route_contexts(router.routes):
            literal = re.split(r"[{]", route.path, maxsplit=1)[0]
            assert literal.startswith(router.prefixes), (router.module, route.path)


def test_a_request_loads_only_the_routers_under_its_path(fresh: FastAPI) -> None:
    with TestClient(fresh) as client:
        assert client.get("/readyz").status_code == 200
        assert client.get("/healthz").status_code == 200
        assert _loaded(fresh) == set()
        assert client.get("/v1/pki/csca.pem").status_code == 200
        assert _loaded(fresh) == {("app.routers.pki", "router")}


@pytest.mark.parametrize(("method", "path", "status", "allow"), [
    ("GET", "/no/such/path", 404, None),
    ("GET", "/v1/pki/no-such-thing", 404, None),
    ("DELETE", "/v1/pki/csca.pem", 405, {"GET"}),
    ("PUT", "/v1/sandbox/clock/freeze", 405, {"POST"}),
    # RFC 9110 §15.5.6: Allow lists every method of the resource, whichever route serves each
    ("PUT", "/v1/subscriptions/sub_x", 405, {"GET", "PATCH", "DELETE"}),
    ("PUT", "/v1/sandbox/faults", 405, {"GET", "POST", "DELETE"}),
    ("PATCH", "/v1/admin/clients", 405, {"GET", "POST"}),
    ("PUT", "/oauth2/logout", 405, {"GET", "POST"}),
])
def test_unknown_paths_and_methods_are_answered_as_before_any_router_loaded(
        fresh: FastAPI, method: str, path: str, status: int, allow: set[str] | None) -> None:
    with TestClient(fresh) as client:
        answer = client.request(method, path)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/problem+json")
    if allow is not None:
        assert {m.strip() for m in answer.headers["allow"].split(",")} == allow


def test_the_openapi_document_of_a_fresh_app_lists_every_router(
        fresh: FastAPI, client: TestClient) -> None:
    with TestClient(fresh) as fresh_client:
        document = fresh_client.get("/openapi.json").json()
    assert all(router.loaded for router in lazy.lazy_routers(fresh))
    assert document == client.get("/openapi.json").json()
    assert {"/v1/judicial-records/authority", "/metrics", "/v1/sandbox/tenants",
            "/v1/pki/csca.pem"} <= set(document["paths"])
