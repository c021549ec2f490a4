"""``client_secret_jwt`` (OIDC Core §9, RFC 7523 with HS256): the client MACs its assertion with
its secret, so the provider keeps the secret encrypted under a key derived from the deployment
secret (never the seed), besides the hash every other use checks."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from pydantic import SecretStr
from sqlalchemy import select

from app.db import Database
from app.models.client import Client
from app.services.sharing import client_secrets, tokens
from app.settings import Settings
from tests.api.sharing_support import *  # noqa: F403
from tests.api.sharing_support import new_client

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RSA_KEY = RSAKey.generate_key(2048, auto_kid=True)


@pytest.fixture(scope="module")
def jwt_client(client: TestClient, admin_headers: dict[str, str]) -> tuple[str, str]:
    return new_client(client, admin_headers, token_endpoint_auth_method="client_secret_jwt")


def _assertion(client_id: str, secret: str, app: Any, *, aud: Any, lifetime: int = 3600,
               jti: str | None = None, alg: str = "HS256") -> str:
    now = int(app.state.clock.now().timestamp())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "jti": jti or secrets.token_hex(8),
              "iat": now, "exp": now + lifetime}
    key = OctKey.import_key(secret.encode()) if alg == "HS256" else RSA_KEY
    return jwt.encode({"alg": alg}, claims, key, algorithms=[alg])


def _token(client: TestClient, assertion: str, **extra: str) -> Any:
    return client.post("/oauth2/token", data={
        "grant_type": "client_credentials", "scope": "citizen.basic",
        "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, **extra})


def test_an_hs256_assertion_under_the_clients_secret_authenticates(
        client: TestClient, jwt_client: tuple[str, str], settings: Settings, app: Any) -> None:
    client_id, secret = jwt_client
    for aud in (tokens.token_endpoint(settings), settings.issuer_url,
                [settings.issuer_url, "https://other.example"]):
        response = _token(client, _assertion(client_id, secret, app, aud=aud))
        assert response.status_code == 200, response.text


def test_the_assertion_is_accepted_at_introspection_and_revocation(
        client: TestClient, jwt_client: tuple[str, str], settings: Settings, app: Any) -> None:
    client_id, secret = jwt_client
    access = _token(client, _assertion(client_id, secret, app,
                                       aud=tokens.token_endpoint(settings))).json()["access_token"]
    for path, token in (("/oauth2/introspect", access), ("/oauth2/revoke", "no-such-token")):
        form = {"token": token, "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": _assertion(client_id, secret, app,
                                               aud=settings.issuer_url + path)}
        response = client.post(path, data=form)
        assert response.status_code == 200, (path, response.text)


@pytest.mark.parametrize("case", ["wrong secret", "rsa-signed", "too long", "wrong audience"])
def test_a_bad_assertion_is_invalid_client(client: TestClient, jwt_client: tuple[str, str],
                                           settings: Settings, app: Any, case: str) -> None:
    client_id, secret = jwt_client
    aud = tokens.token_endpoint(settings)
    assertion = {
        "wrong secret": lambda: _assertion(client_id, secrets.token_urlsafe(32), app, aud=aud),
        "rsa-signed": lambda: _assertion(client_id, secret, app, aud=aud, alg="RS256"),
        "too long": lambda: _assertion(client_id, secret, app, aud=aud, lifetime=7200),
        "wrong audience": lambda: _assertion(client_id, secret, app, aud="https://rp.example"),
    }[case]()
    response = _token(client, assertion)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


def test_an_assertion_is_single_use(client: TestClient, jwt_client: tuple[str, str],
                                    settings: Settings, app: Any) -> None:
    client_id, secret = jwt_client
    assertion = _assertion(client_id, secret, app, aud=tokens.token_endpoint(settings))
    assert _token(client, assertion).status_code == 200
    assert _token(client, assertion).json()["error"] == "invalid_client"


def test_an_hs256_assertion_from_a_private_key_jwt_client_is_refused(
        client: TestClient, admin_headers: dict[str, str], settings: Settings, app: Any) -> None:
    """The alg picks the method; a key client has no secret an HMAC could be checked with."""
    client_id, _ = new_client(client, admin_headers, token_endpoint_auth_method="private_key_jwt",
                              jwks={"keys": [RSA_KEY.as_dict(private=False)]})
    forged = _assertion(client_id, "x" * 43, app, aud=tokens.token_endpoint(settings))
    assert _token(client, forged).json()["error"] == "invalid_client"


def test_the_secret_sent_by_another_method_is_told_the_registered_one(
        client: TestClient, jwt_client: tuple[str, str]) -> None:
    client_id, secret = jwt_client
    response = client.post("/oauth2/token", auth=(client_id, secret),
                           data={"grant_type": "client_credentials"})
    assert response.status_code == 401
    assert "client_secret_jwt" in response.json()["error_description"]


def test_the_secret_is_stored_encrypted_under_the_deployment_secret(
        jwt_client: tuple[str, str], database: Database, settings: Settings) -> None:
    client_id, secret = jwt_client
    with database.read() as session:
        sealed = session.scalar(select(Client.secret_encrypted)
                                .where(Client.client_id == client_id))
    assert sealed is not None
    assert secret not in sealed
    assert client_secrets.unseal(settings, client_id=client_id, sealed=sealed) == secret
    other = settings.model_copy(update={"secret_key": SecretStr("another-deployment-secret!")})
    assert client_secrets.unseal(other, client_id=client_id, sealed=sealed) is None
    assert client_secrets.unseal(settings, client_id="another-client", sealed=sealed) is None


def test_only_client_secret_jwt_clients_keep_an_encrypted_secret(
        client: TestClient, admin_headers: dict[str, str], database: Database) -> None:
    client_id, _ = new_client(client, admin_headers)
    with database.read() as session:
        assert session.get(Client, client_id).secret_encrypted is None


def test_a_rotated_secret_replaces_the_encrypted_copy(
        client: TestClient, admin_headers: dict[str, str], settings: Settings, app: Any) -> None:
    client_id, old = new_client(client, admin_headers,
                                token_endpoint_auth_method="client_secret_jwt")
    rotated = client.post(f"/v1/admin/clients/{client_id}/rotate-secret", headers=admin_headers)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["client_secret"]
    aud = tokens.token_endpoint(settings)
    assert _token(client, _assertion(client_id, old, app, aud=aud)).status_code == 401
    assert _token(client, _assertion(client_id, new, app, aud=aud)).status_code == 200


def test_discovery_announces_client_secret_jwt_and_hs256(client: TestClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").json()
    assert "client_secret_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assert "HS256" in metadata["token_endpoint_auth_signing_alg_values_supported"]
    assert "HS256" not in metadata["id_token_signing_alg_values_supported"]
