"""A deployment with ``DANCU_SANDBOX=false`` holds no account anyone can log in to with a documented
credential: generated accounts have no password or passcode, there are no personas and no
persona devices, and a database made as a sandbox loses its documented credentials at start."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import Database
from app.main import create_app
from app.models.account import Account
from app.services.vneid import account_generation as generated
from app.services.vneid import accounts
from app.settings import Settings
from tests.api.population_support import fresh_database  # noqa: F401  (fixture)

SIZE = 200


def _settings(settings: Settings, *, sandbox: bool) -> Settings:
    return settings.model_copy(update={
        "sandbox": sandbox, "population_size": SIZE, "admin_token": "a-real-admin-token",
        "demo_client_secret": "a-real-demo-secret-of-32-characters"})


def _start(database: Database, settings: Settings) -> list[dict[str, str]]:
    """Start a server process on ``database``: the personas its admin API lists."""
    app = create_app(settings, database=database, migrate_on_start=False)
    with TestClient(app) as client:
        listed = client.get("/v1/admin/accounts/personas", headers={
            "Authorization": f"Bearer {settings.admin_token}"})
        assert listed.status_code == 200, listed.text
        return list(listed.json()["personas"])


def _documented_credentials(database: Database, settings: Settings) -> dict[str, int]:
    """How many accounts a documented password, passcode or persona device opens."""
    with database.read() as session:
        rows = list(session.execute(select(Account.password_hash, Account.passcode_hash)
                                    .distinct()))
        counts = {hashes: session.scalar(select(func.count()).select_from(Account).where(
            Account.password_hash == hashes[0], Account.passcode_hash == hashes[1]))
            for hashes in rows}
        devices = sum(accounts.account_for_device(
            session, generated.persona_device_token(settings, key)) is not None
            for key in generated.PERSONA_KEYS)
    password = sum(n for (hashed, _), n in counts.items()
                   if hashed and accounts.verify_secret(hashed, generated.SANDBOX_PASSWORD))
    passcode = sum(n for (_, hashed), n in counts.items()
                   if hashed and accounts.verify_secret(hashed, generated.SANDBOX_PASSCODE))
    return {"password": password, "passcode": passcode, "device": devices}


NONE = {"password": 0, "passcode": 0, "device": 0}


def test_a_non_sandbox_deployment_generates_accounts_without_documented_credentials(
        fresh_database: Callable[..., Database], settings: Settings) -> None:  # noqa: F811
    database, production = fresh_database(), _settings(settings, sandbox=False)
    assert _start(database, production) == []
    with database.read() as session:
        assert generated.account_count(session) > 0
        assert not generated.personas(session)
    assert _documented_credentials(database, production) == NONE


def test_a_sandbox_database_started_as_non_sandbox_loses_its_documented_credentials(
        fresh_database: Callable[..., Database], settings: Settings) -> None:  # noqa: F811
    database = fresh_database()
    assert _start(database, _settings(settings, sandbox=True))
    before = _documented_credentials(database, settings)
    assert before["password"]
    assert before["passcode"]
    assert before["device"]
    assert _start(database, _settings(settings, sandbox=False)) == []
    assert _documented_credentials(database, settings) == NONE
