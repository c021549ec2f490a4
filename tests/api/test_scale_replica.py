"""``DANCU_READ_DATABASE_URL``: the data-sharing API's lookups by PIN read the replica, everything
else the primary (docs/scale.md). The "replica" here is a second database holding the same
population with one citizen's given name changed, so the answer tells where the row came from."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app.db import Database
from app.main import create_app
from app.models.population import Citizen
from app.services.population import reference
from app.settings import Settings, SettingsError, load_settings
from seed.populate import populate
from tests.api.population_support import fresh_database
from tests.conftest import TEST_POPULATION, TEST_SEED

__all__ = ["fresh_database"]

ON_REPLICA = "Replica"


@pytest.fixture(scope="module")
def replica(fresh_database: Callable[..., Database], database: Database) -> tuple[Database, str]:
    """(the replica, the PIN whose name differs there)."""
    copy = fresh_database()
    populate(copy, size=TEST_POPULATION, seed=TEST_SEED)
    alive = select(Citizen.pin).where(Citizen.status == "alive").order_by(Citizen.pin).limit(50)
    with copy.read() as session:
        generated = list(session.scalars(alive))
    with database.read() as session:  # other tests change some people of the session's database
        pin = next(p for p in generated if session.get(Citizen, p) is not None
                   and session.get(Citizen, p).status == "alive")
    with copy.write() as session:
        session.execute(update(Citizen).where(Citizen.pin == pin).values(given_name=ON_REPLICA))
    return copy, str(pin)


@pytest.fixture(scope="module")
def replicated(settings: Settings, replica: tuple[Database, str]) -> Iterator[TestClient]:
    configured = load_settings(database_url=settings.database_url, seed=settings.seed,
                               population_size=settings.population_size, auto_seed=False,
                               delivery_worker=False, read_database_url=replica[0].url)
    with TestClient(create_app(configured)) as client:
        yield client
    reference.forget()


def _token(client: TestClient, settings: Settings) -> str:
    raw = f"{settings.demo_client_id}:{settings.demo_client_secret}".encode()
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                           headers={"Authorization": "Basic " + base64.b64encode(raw).decode()})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_a_lookup_by_pin_reads_the_replica(replicated: TestClient, settings: Settings,
                                           replica: tuple[Database, str]) -> None:
    token = _token(replicated, settings)  # issued by the primary: clients and keys live there
    found = replicated.get(f"/v1/citizens/{replica[1]}",
                           headers={"Authorization": f"Bearer {token}"})
    assert found.status_code == 200, found.text
    assert ON_REPLICA in found.json()["full_name"]


def test_without_a_replica_the_lookup_reads_the_primary(client: TestClient, settings: Settings,
                                                        replica: tuple[Database, str]) -> None:
    found = client.get(f"/v1/citizens/{replica[1]}",
                       headers={"Authorization": f"Bearer {_token(client, settings)}"})
    assert found.status_code == 200, found.text
    assert ON_REPLICA not in found.json()["full_name"]


def test_the_replica_setting_accepts_only_known_databases() -> None:
    with pytest.raises(SettingsError, match="DANCU_READ_DATABASE_URL"):
        load_settings(read_database_url="mysql://elsewhere/db")
