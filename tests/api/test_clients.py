"""The client registry: admin API, CLI, the demo client at start-up."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app import migrations
from app.bootstrap import bootstrap
from app.cli import cli
from app.clock import SandboxClock
from app.db import Database
from app.models.client import Client
from app.oidc.client_auth import verify_client_secret
from app.services.sharing.clients import DEMO_REDIRECT_URIS
from app.services.sharing.scopes import LOGIN_SCOPES, NON_ADMIN_SCOPES
from app.settings import Settings, SettingsError, load_settings
from tests.api.sharing_support import *  # noqa: F403
from tests.api.sharing_support import basic, bearer, issue_token, new_client


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("admin-secret-but-wrong"), {"Authorization": "Basic eDp5"}],
    ids=["no token", "wrong token", "basic auth"],
)
def test_admin_api_needs_the_admin_token(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/v1/admin/clients", headers=headers)
    assert response.status_code == 401
    assert response.json()["type"].endswith("/admin-token-required")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_client_access_token_is_403_on_admin_routes(client: TestClient, demo_token: str) -> None:
    response = client.get("/v1/admin/clients", headers=bearer(demo_token))
    assert response.status_code == 403
    assert response.json()["type"].endswith("/admin-only")


def test_registering_a_client_shows_the_secret_once_and_stores_only_its_hash(
    client: TestClient, admin_headers: dict[str, str], database: Database
) -> None:
    created = client.post(
        "/v1/admin/clients",
        headers=admin_headers,
        json={
            "client_id": "bank-a",
            "name": "Bank A",
            "scopes": ["citizen.basic", "citizen.verify"],
            "purposes": ["account-opening"],
            "rate_limit": 1200,
        },
    )
    listed = client.get("/v1/admin/clients", headers=admin_headers).json()["clients"]
    one = client.get("/v1/admin/clients/bank-a", headers=admin_headers).json()
    secret = created.json()["client_secret"]
    with database.read() as session:
        stored = session.get(Client, "bank-a")
    assert created.status_code == 201
    assert len(secret) >= 32
    assert stored.secret_hash.startswith("sha256$")
    assert secret not in stored.secret_hash
    assert "bank-a" in {c["client_id"] for c in listed}
    assert secret not in str(listed)
    assert "client_secret" not in one
    assert "secret_hash" not in one
    assert one["scopes"] == ["citizen.basic", "citizen.verify"]
    assert one["rate_limit"] == 1200
    assert issue_token(client, "bank-a", secret)


def test_taken_client_id_is_409(client: TestClient, admin_headers: dict[str, str]) -> None:
    new_client(client, admin_headers, client_id="twice")
    again = client.post(
        "/v1/admin/clients",
        headers=admin_headers,
        json={"client_id": "twice", "name": "x", "scopes": ["citizen.basic"], "purposes": ["kyc"]},
    )
    assert again.status_code == 409
    assert again.json()["type"].endswith("/client-exists")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"scopes": ["citizen.everything"]}, "unknown scope"),
        ({"scopes": ["citizen.sensitive"]}, "legal basis"),
        ({"scopes": ["citizen.search"]}, "sandbox"),
        ({"purposes": ["Has Spaces"]}, "purposes"),
        ({"client_id": "bad id!"}, "client_id"),
        ({"grant_types": ["authorization_code"]}, "redirect_uris"),
        (
            {"grant_types": ["authorization_code"], "redirect_uris": ["http://evil.example/cb"]},
            "https",
        ),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),
        ({"jwks": {"keys": []}}, "jwks"),
        (
            {
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]},
            },
            "jwks",
        ),
    ],
    ids=[
        "unknown scope",
        "sensitive without legal basis",
        "search outside sandbox",
        "purpose code",
        "client id",
        "code grant without redirect",
        "http redirect",
        "key client without jwks",
        "jwks for a secret client",
        "symmetric key",
    ],
)
def test_invalid_registrations_are_422_listing_the_problems(
    client: TestClient, admin_headers: dict[str, str], change: dict[str, Any], problem: str
) -> None:
    body = {"name": "x", "scopes": ["citizen.basic"], "purposes": ["kyc"]} | change
    response = client.post("/v1/admin/clients", headers=admin_headers, json=body)
    assert response.status_code == 422
    assert any(problem in p for p in response.json()["problems"])


def test_private_jwk_is_refused_in_a_registration(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256").as_dict(private=True)
    response = client.post(
        "/v1/admin/clients",
        headers=admin_headers,
        json={
            "name": "x",
            "scopes": ["citizen.basic"],
            "purposes": ["kyc"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [key]},
        },
    )
    assert response.status_code == 422
    assert "public keys only" in str(response.json()["problems"])


def test_rotating_the_secret_retires_the_old_one_at_once(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    client_id, old = new_client(client, admin_headers)
    rotated = client.post(f"/v1/admin/clients/{client_id}/rotate-secret", headers=admin_headers)
    new = rotated.json()["client_secret"]
    with_old = client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers=basic(client_id, old)
    )
    assert rotated.status_code == 200
    assert new != old
    assert with_old.status_code == 401
    assert issue_token(client, client_id, new)


def test_unknown_client_is_404_on_admin_routes(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    for path in ("/v1/admin/clients/nope", "/v1/admin/clients/nope/disable"):
        method = client.get if path.endswith("nope") else client.post
        response = method(path, headers=admin_headers)
        assert response.status_code == 404
        assert response.json()["type"].endswith("/client-not-found")


def test_demo_client_exists_at_start_up_as_configured(
    client: TestClient, admin_headers: dict[str, str], settings: Settings
) -> None:
    demo = client.get(f"/v1/admin/clients/{settings.demo_client_id}", headers=admin_headers).json()
    assert demo["sandbox"] is True
    assert demo["status"] == "active"
    assert set(demo["scopes"]) == set(NON_ADMIN_SCOPES) | set(LOGIN_SCOPES)  # + VNeID sign-in
    assert "audit.all" not in demo["scopes"]
    assert set(demo["redirect_uris"]) == set(DEMO_REDIRECT_URIS)
    assert set(demo["grant_types"]) == {"client_credentials", "authorization_code", "refresh_token"}
    assert issue_token(client, settings.demo_client_id, settings.demo_client_secret)


def _fresh(tmp_path: Path, **overrides: Any) -> tuple[Database, Settings]:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'fresh.db'}", auto_seed=False, **overrides
    )
    database = Database.connect(settings.database_url)
    migrations.upgrade(database.engine)
    return database, settings


def test_demo_client_is_created_once_with_its_settings(tmp_path: Path) -> None:
    database, settings = _fresh(tmp_path, demo_client_id="demo-x",
                                demo_client_secret="s3cret-" + "x" * 32)
    for _ in range(2):
        bootstrap(database=database, settings=settings, clock=SandboxClock())
    with database.read() as session:
        demos = [c for c in session.query(Client).all() if c.sandbox]
    database.dispose()
    assert [c.client_id for c in demos] == ["demo-x"]


def test_no_demo_client_outside_a_sandbox_deployment(tmp_path: Path) -> None:
    database, settings = _fresh(
        tmp_path,
        sandbox=False,
        admin_token="a-real-admin-token",
        demo_client_secret="a-real-demo-secret-for-the-sandbox-only",
    )
    bootstrap(database=database, settings=settings, clock=SandboxClock())
    with database.read() as session:
        found = session.get(Client, settings.demo_client_id)
    database.dispose()
    assert found is None


def test_a_demo_client_from_an_earlier_version_gains_the_grants_added_since(
        tmp_path: Path) -> None:
    database, settings = _fresh(tmp_path)
    bootstrap(database=database, settings=settings, clock=SandboxClock())
    with database.write() as session:  # as an earlier version left it, plus an admin's own URI
        demo = session.get(Client, settings.demo_client_id)
        demo.scopes = [s for s in demo.scopes if not s.startswith("card.")]
        demo.redirect_uris = [*demo.redirect_uris[1:], "https://rp.example/cb"]
    bootstrap(database=database, settings=settings, clock=SandboxClock())
    with database.read() as session:
        demo = session.get(Client, settings.demo_client_id)
    database.dispose()
    assert set(demo.scopes) == set(NON_ADMIN_SCOPES) | set(LOGIN_SCOPES)
    assert set(demo.redirect_uris) == {*DEMO_REDIRECT_URIS, "https://rp.example/cb"}


def test_the_demo_secret_is_at_least_32_characters() -> None:
    """idpyoidc refuses HMAC keys shorter than 16 characters; every secret here has 32 or more."""
    assert len(load_settings().demo_client_secret) >= 32
    with pytest.raises(SettingsError, match="DANCU_DEMO_CLIENT_SECRET"):
        load_settings(demo_client_secret="demo-secret")


def test_a_demo_client_from_an_earlier_version_takes_the_configured_secret(
        tmp_path: Path) -> None:
    database, settings = _fresh(tmp_path)
    bootstrap(database=database, settings=settings, clock=SandboxClock())
    with database.write() as session:  # the short secret of earlier versions
        digest = base64.urlsafe_b64encode(hashlib.sha256(b"demo-secret").digest()).rstrip(b"=")
        session.get(Client, settings.demo_client_id).secret_hash = "sha256$" + digest.decode()
    bootstrap(database=database, settings=settings, clock=SandboxClock())
    with database.read() as session:
        stored = session.get(Client, settings.demo_client_id).secret_hash
    database.dispose()
    assert verify_client_secret(settings.demo_client_secret, stored)


def test_leaving_the_sandbox_disables_an_existing_demo_client(tmp_path: Path) -> None:
    database, sandbox = _fresh(tmp_path)
    bootstrap(database=database, settings=sandbox, clock=SandboxClock())
    production = load_settings(
        database_url=sandbox.database_url,
        auto_seed=False,
        sandbox=False,
        admin_token="a-real-admin-token",
        demo_client_secret="another-demo-secret-of-32-characters",
    )
    bootstrap(database=database, settings=production, clock=SandboxClock())
    with database.read() as session:
        status = session.get(Client, sandbox.demo_client_id).status
    database.dispose()
    assert status == "disabled"


def test_cli_adds_lists_rotates_disables_and_enables_clients(
    database: Database, client: TestClient
) -> None:
    runner, db = CliRunner(), ["--database-url", database.url]
    added = runner.invoke(
        cli,
        [
            "clients",
            "add",
            "--name",
            "CLI agency",
            "--client-id",
            "cli-agency",
            "--scope",
            "citizen.basic",
            "--purpose",
            "kyc",
            *db,
        ],
    )
    secret = added.output.split("client_secret: ")[1].split()[0]
    listed = runner.invoke(cli, ["clients", "list", *db])
    rotated = runner.invoke(cli, ["clients", "rotate-secret", "cli-agency", *db])
    new_secret = rotated.output.split("client_secret: ")[1].split()[0]
    disabled = runner.invoke(cli, ["clients", "disable", "cli-agency", *db])
    refused = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic("cli-agency", new_secret),
    )
    enabled = runner.invoke(cli, ["clients", "enable", "cli-agency", *db])
    assert added.exit_code == listed.exit_code == rotated.exit_code == 0
    assert disabled.exit_code == enabled.exit_code == 0
    assert "cli-agency" in listed.output
    assert secret not in listed.output
    assert secret != new_secret
    assert refused.status_code == 401
    assert issue_token(client, "cli-agency", new_secret)


def test_cli_registers_a_client_policy(database: Database, client: TestClient,
                                       admin_headers: dict[str, str]) -> None:
    added = CliRunner().invoke(cli, [
        "clients", "add", "--name", "CLI app", "--client-id", "cli-native-app",
        "--scope", "openid", "--purpose", "login", "--auth-method", "none",
        "--grant-type", "authorization_code", "--redirect-uri", "http://127.0.0.1/cb",
        "--application-type", "native", "--post-logout-redirect-uri", "https://app.example/out",
        "--database-url", database.url])
    assert added.exit_code == 0, added.output
    assert "client_secret" not in added.output
    shown = client.get("/v1/admin/clients/cli-native-app", headers=admin_headers).json()
    assert (shown["token_endpoint_auth_method"], shown["application_type"], shown["require_pkce"],
            shown["post_logout_redirect_uris"]) == ("none", "native", True,
                                                    ["https://app.example/out"])


def test_cli_reports_an_invalid_registration_in_one_line(database: Database) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "clients",
            "add",
            "--name",
            "x",
            "--scope",
            "citizen.sensitive",
            "--purpose",
            "kyc",
            "--database-url",
            database.url,
        ],
    )
    assert result.exit_code == 1
    assert "legal basis" in result.output


def test_cli_rotates_the_signing_key(database: Database, client: TestClient) -> None:
    result = CliRunner().invoke(
        cli, ["keys", "rotate", "--alg", "RS256", "--database-url", database.url]
    )
    kid = result.output.split("kid: ")[1].split()[0]
    assert result.exit_code == 0
    client.app.state.sharing_runtime.keys.invalidate()  # another process: within seconds
    assert kid in {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}


def _cli_add(database: Database, *arguments: str) -> Any:
    return CliRunner().invoke(cli, ["clients", "add", "--name", "CLI RP", "--scope", "openid",
                                    "--purpose", "login", *arguments,
                                    "--database-url", database.url])


def test_cli_registers_every_client_policy_the_admin_api_has(
        database: Database, client: TestClient, admin_headers: dict[str, str],
        tmp_path: Path) -> None:
    from joserfc.jwk import ECKey

    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
    added = _cli_add(
        database, "--client-id", "cli-full-policy", "--sandbox",
        "--token-endpoint-auth-method", "private_key_jwt", "--jwks-file", str(jwks),
        "--grant-type", "authorization_code", "--grant-type", "refresh_token",
        "--redirect-uri", "https://rp.example/cb", "--no-require-pkce",
        "--post-logout-redirect-uri", "https://rp.example/bye",
        "--sector-identifier-uri", "https://sector.example/uris.json",
        "--sector-redirect-uri", "https://rp.example/cb",
        "--id-token-signed-response-alg", "RS256", "--userinfo-signed-response-alg", "ES256",
        "--dpop-bound-access-tokens", "--require-par",
        "--backchannel-logout-uri", "https://rp.example/backchannel",
        "--backchannel-logout-session-required", "--data-basis", "consent")
    assert added.exit_code == 0, added.output
    assert "client_secret" not in added.output
    shown = client.get("/v1/admin/clients/cli-full-policy", headers=admin_headers).json()
    assert {name: shown[name] for name in (
        "token_endpoint_auth_method", "grant_types", "require_pkce", "post_logout_redirect_uris",
        "sector_identifier_uri", "signing_alg", "userinfo_signed_response_alg",
        "dpop_bound_access_tokens", "require_pushed_authorization_requests",
        "backchannel_logout_uri", "backchannel_logout_session_required", "data_basis")} == {
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["authorization_code", "refresh_token"], "require_pkce": False,
        "post_logout_redirect_uris": ["https://rp.example/bye"],
        "sector_identifier_uri": "https://sector.example/uris.json", "signing_alg": "RS256",
        "userinfo_signed_response_alg": "ES256", "dpop_bound_access_tokens": True,
        "require_pushed_authorization_requests": True,
        "backchannel_logout_uri": "https://rp.example/backchannel",
        "backchannel_logout_session_required": True, "data_basis": "consent"}


def test_cli_registers_a_fapi2_client(database: Database, client: TestClient,
                                      admin_headers: dict[str, str], tmp_path: Path) -> None:
    from joserfc.jwk import ECKey

    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
    added = _cli_add(database, "--client-id", "cli-fapi2", "--auth-method", "private_key_jwt",
                     "--jwks-file", str(jwks), "--grant-type", "authorization_code",
                     "--redirect-uri", "https://bank.example/cb", "--security-profile", "fapi2")
    assert added.exit_code == 0, added.output
    shown = client.get("/v1/admin/clients/cli-fapi2", headers=admin_headers).json()
    assert (shown["require_pkce"], shown["require_pushed_authorization_requests"],
            shown["dpop_bound_access_tokens"]) == (True, True, True)


def test_cli_registers_a_client_secret_jwt_client_whose_secret_authenticates(
        database: Database, client: TestClient, settings: Settings, app: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets as random

    from joserfc import jwt
    from joserfc.jwk import OctKey

    assert settings.secret_key is not None  # the server's; the CLI reads the same deployment's
    monkeypatch.setenv("DANCU_SECRET_KEY", settings.secret_key.get_secret_value())
    added = _cli_add(database, "--client-id", "cli-hs256", "--scope", "citizen.basic",
                     "--purpose", "kyc", "--auth-method", "client_secret_jwt")
    assert added.exit_code == 0, added.output
    secret = added.output.split("client_secret: ")[1].split()[0]
    now = int(app.state.clock.now().timestamp())
    assertion = jwt.encode({"alg": "HS256"}, {
        "iss": "cli-hs256", "sub": "cli-hs256", "aud": settings.issuer_url, "iat": now,
        "exp": now + 300, "jti": random.token_hex(8)}, OctKey.import_key(secret.encode()))
    response = client.post("/oauth2/token", data={
        "grant_type": "client_credentials", "scope": "citizen.basic",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("uri", ["http://10.0.0.1/logout", "https://169.254.169.254/"])
def test_cli_refuses_a_backchannel_uri_webhooks_could_not_reach(database: Database,
                                                                 uri: str) -> None:
    result = _cli_add(database, "--grant-type", "authorization_code",
                      "--redirect-uri", "https://rp.example/cb", "--backchannel-logout-uri", uri)
    assert result.exit_code == 1
    assert "backchannel_logout_uri" in result.output
