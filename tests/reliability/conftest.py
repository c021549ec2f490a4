"""Fixtures of the reliability suite.

``isolated_app``: a service on a database of its own (a second SQLite file, or a second
PostgreSQL database on the same server), for families that change state at random (the schema
fuzzer may disable clients, rotate keys, lock accounts, record births), so the session database
the other tests share is never touched by them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app import migrations
from app.db import Database
from app.main import create_app
from app.settings import Settings, load_settings
from tests.api.oidc_support import browser, register_rp, tokens_for
from tests.api.sharing_support import basic, bearer, issue_token
from tests.conftest import TEST_SEED, _postgres_database

ISOLATED_POPULATION = 600


@dataclass
class Isolated:
    app: FastAPI
    client: TestClient
    settings: Settings
    database: Database


@pytest.fixture(scope="module")
def isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Isolated]:
    from seed.populate import populate

    server = os.environ.get("DANCU_TEST_DATABASE_URL")
    if server and server.startswith("postgresql"):
        urls: Iterator[str] = _postgres_database(server)
    else:
        urls = iter([f"sqlite:///{tmp_path_factory.mktemp('isolated') / 'isolated.db'}"])
    url = next(urls)
    settings = load_settings(database_url=url, seed=TEST_SEED, population_size=ISOLATED_POPULATION,
                             auto_seed=True, delivery_worker=False)
    database = Database.connect(url)
    migrations.upgrade(database.engine)
    populate(database, size=ISOLATED_POPULATION, seed=TEST_SEED)
    app = create_app(settings, database=database)
    try:
        with TestClient(app) as client:
            yield Isolated(app, client, settings, database)
    finally:
        database.dispose()
        for _ in urls:  # drops the PostgreSQL database
            pass


def identities(isolated: Isolated) -> dict[str, dict[str, str]]:
    """Headers per identity kind (see ``support.Operation.identity``)."""
    settings, client = isolated.settings, isolated.client
    admin = bearer(settings.admin_token)
    personas = client.get("/v1/admin/accounts/personas", headers=admin).json()["personas"]
    by_key = {p["key"]: p["pin"] for p in personas}
    pin = by_key["citizen-l2"]
    rp = register_rp(client, admin, name="Reliability RP")
    user = tokens_for(browser(isolated.app), rp, pin, scope="openid profile")
    demo = issue_token(client, settings.demo_client_id, settings.demo_client_secret)
    return {"admin": admin, "user": bearer(user["access_token"]), "client": bearer(demo),
            "basic": basic(settings.demo_client_id, settings.demo_client_secret), "none": {},
            # Real identifiers for path parameters, so generated requests reach existing rows;
            # admin routes get other ones (they may close the account or disable the client
            # the other identities need).
            "values": {"pin": pin, "client_id": rp.client_id},
            "admin values": {"pin": by_key["locked-self"],
                             "client_id": register_rp(client, admin, name="Fuzz target").client_id}}


def as_dict(headers: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in dict(headers or {}).items()}
