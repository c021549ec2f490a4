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


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql+psycopg://dancu@/dancu?host=db1:5432&host=db2:5433"
     "&target_session_attrs=read-write",
     {"host": "db1,db2", "port": "5432,5433", "target_session_attrs": "read-write",
      "dbname": "dancu", "user": "dancu"}),
    ("postgresql+psycopg://dancu:p%40ss@db1:6432/national",
     {"host": "db1", "port": "6432", "password": "p@ss", "dbname": "national"}),
])
def test_psycopg_connections_keep_every_host_of_a_failover_url(
        url: str, expected: dict[str, str]) -> None:
    """The audit writer and the async lookups connect with psycopg itself: a multi-host URL
    must reach them whole, or they would stay on one node after a failover."""
    from psycopg.conninfo import conninfo_to_dict

    from app.db import libpq_dsn

    parsed = conninfo_to_dict(libpq_dsn(url))
    assert {key: parsed.get(key) for key in expected} == expected


@pytest.mark.parametrize(("error", "unreachable"), [
    ("refused", True), ("read-only", True), ("shutdown", True), ("unique", False),
    ("plain", False),
])
def test_only_a_lost_database_counts_as_unavailable(error: str, unreachable: bool) -> None:
    import psycopg
    from psycopg import errors
    from sqlalchemy import exc

    made: dict[str, BaseException] = {
        "refused": exc.OperationalError("SELECT 1", None, psycopg.OperationalError("refused")),
        "read-only": exc.InternalError("INSERT", None, errors.ReadOnlySqlTransaction("ro")),
        "shutdown": errors.AdminShutdown("terminating connection"),
        "unique": exc.IntegrityError("INSERT", None, errors.UniqueViolation("dup")),
        "plain": ValueError("not a database error"),
    }
    from app.db import database_unreachable

    assert database_unreachable(made[error]) is unreachable
