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


@pytest.mark.parametrize(("host", "admin_token", "exposed"), [
    ("0.0.0.0", "admin-secret", ["DANCU_ADMIN_TOKEN", "DANCU_DEMO_CLIENT_SECRET"]),
    ("0.0.0.0", "a-token-of-our-own", ["DANCU_DEMO_CLIENT_SECRET"]),
    ("127.0.0.1", "admin-secret", []),
    ("localhost", "admin-secret", []),
    ("::1", "admin-secret", []),
])
def test_published_defaults_are_named_when_the_service_listens_beyond_loopback(
        host: str, admin_token: str, exposed: list[str]) -> None:
    settings = load_settings(host=host, admin_token=admin_token)
    assert settings.public_defaults_exposed == exposed


def test_serve_warns_that_the_published_admin_token_is_reachable(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    from app.cli import server

    monkeypatch.setattr(server, "_check_database", lambda url: None)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    for name in ("HOST", "PORT", "DATABASE_URL"):  # _serve sets them: restored after the test
        monkeypatch.setenv(f"DANCU_{name}", "")
        monkeypatch.delenv(f"DANCU_{name}")
    server._serve("0.0.0.0", 8000, "sqlite:///./unused.db", 1, False)
    assert "DANCU_ADMIN_TOKEN" in capsys.readouterr().err
    server._serve("127.0.0.1", 8000, "sqlite:///./unused.db", 1, False)
    assert "warning" not in capsys.readouterr().err
