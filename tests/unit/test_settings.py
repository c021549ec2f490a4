"""Settings fail fast with a one-line message naming the variable."""

from __future__ import annotations

import pytest

from app.settings import SettingsError, load_settings


def test_defaults_are_a_sqlite_sandbox_on_localhost() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///./dancu.db"
    assert settings.issuer_url == "http://127.0.0.1:8000"
    assert settings.sandbox is True


def test_postgresql_urls_use_psycopg3() -> None:
    settings = load_settings(database_url="postgresql://u@h:5432/d")
    assert settings.database_url == "postgresql+psycopg://u@h:5432/d"


def test_issuer_follows_the_listen_address_unless_set() -> None:
    assert load_settings(port=9000).issuer_url == "http://127.0.0.1:9000"
    assert load_settings(issuer="https://id.example/").issuer_url == "https://id.example"


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"database_url": "mysql://x"}, "DANCU_DATABASE_URL"),
        ({"port": 70000}, "DANCU_PORT"),
        ({"port": "eighty"}, "DANCU_PORT"),
        ({"host": "not a host"}, "DANCU_HOST"),
        ({"population_size": 5}, "DANCU_POPULATION_SIZE"),
        ({"seed": -1}, "DANCU_SEED"),
        ({"issuer": "ftp://x"}, "DANCU_ISSUER"),
    ],
)
def test_bad_setting_fails_with_one_line_naming_the_variable(
    overrides: dict[str, object], variable: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(**overrides)
    message = str(caught.value)
    assert variable in message
    assert "\n" not in message


def test_bad_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DANCU_PORT", "-3")
    with pytest.raises(SettingsError, match="DANCU_PORT"):
        load_settings()


def test_production_refuses_default_secrets() -> None:
    with pytest.raises(SettingsError, match="DANCU_ADMIN_TOKEN"):
        load_settings(sandbox=False)
    settings = load_settings(sandbox=False, admin_token="a" * 32, demo_client_secret="b" * 32)
    assert settings.sandbox is False
