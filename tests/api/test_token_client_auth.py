"""Client authentication as RFC 7523 §3 and OIDC Core §9 allow it, at every endpoint that
authenticates clients (token, introspection, revocation): ``private_key_jwt`` with RS256, PS256 or
ES256, ``aud`` a string or an array naming the issuer, the token endpoint or the endpoint itself,
``kid`` optional, up to 3,900 s of lifetime (Authlib's default is 3,600 s), single use."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from app.services.sharing import tokens
from app.settings import Settings
from tests.api.sharing_support import *  # noqa: F403
from tests.api.sharing_support import new_client

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RSA_KEY = RSAKey.generate_key(2048, auto_kid=True)
SECOND_RSA_KEY = RSAKey.generate_key(2048, auto_kid=True)
EC_KEY = ECKey.generate_key("P-256", auto_kid=True)
KEYS = {"RS256": RSA_KEY, "PS256": SECOND_RSA_KEY, "ES256": EC_KEY}


@pytest.fixture(scope="module")
def key_client(client: TestClient, admin_headers: dict[str, str]) -> str:
    """A client with several keys, as Authlib users register them (no alg member)."""
    client_id, _ = new_client(client, admin_headers, token_endpoint_auth_method="private_key_jwt",
                              jwks={"keys": [k.as_dict(private=False) for k in KEYS.values()]})
    return client_id


def _assertion(client_id: str, app: Any, *, alg: str = "RS256", aud: Any, lifetime: int = 3600,
               kid: bool = False) -> str:
    now = int(app.state.clock.now().timestamp())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "jti": secrets.token_hex(8),
              "iat": now, "exp": now + lifetime}
    header = {"alg": alg, **({"kid": KEYS[alg].kid} if kid else {})}
    return jwt.encode(header, claims, KEYS[alg], algorithms=[alg])


def _form(assertion: str, **params: str) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, **params}


def _token(client: TestClient, assertion: str) -> Any:
    return client.post("/oauth2/token", data=_form(assertion, grant_type="client_credentials",
                                                   scope="citizen.basic"))


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
@pytest.mark.parametrize("kid", [False, True], ids=["no kid", "kid"])
def test_an_assertion_signed_with_any_announced_alg_authenticates(
        client: TestClient, key_client: str, settings: Settings, app: Any, alg: str,
        kid: bool) -> None:
    assertion = _assertion(key_client, app, alg=alg, kid=kid,
                           aud=tokens.token_endpoint(settings))
    response = _token(client, assertion)
    assert response.status_code == 200, response.text
    announced = client.get("/.well-known/openid-configuration").json()
    assert alg in announced["token_endpoint_auth_signing_alg_values_supported"]


@pytest.mark.parametrize("audience", ["issuer", "token endpoint", "array"])
def test_an_assertion_may_name_the_issuer_or_the_token_endpoint_as_string_or_array(
        client: TestClient, key_client: str, settings: Settings, app: Any,
        audience: str) -> None:
    aud = {"issuer": settings.issuer_url, "token endpoint": tokens.token_endpoint(settings),
           "array": ["https://elsewhere.example", tokens.token_endpoint(settings)]}[audience]
    assert _token(client, _assertion(key_client, app, aud=aud)).status_code == 200


@pytest.mark.parametrize("lifetime", [3600, 3900])
def test_an_assertion_lives_up_to_3900_seconds(client: TestClient, key_client: str,
                                               settings: Settings, app: Any,
                                               lifetime: int) -> None:
    assertion = _assertion(key_client, app, aud=settings.issuer_url, lifetime=lifetime)
    assert _token(client, assertion).status_code == 200
    too_long = _assertion(key_client, app, aud=settings.issuer_url, lifetime=lifetime + 301)
    assert _token(client, too_long).json()["error"] == "invalid_client"


@pytest.mark.parametrize("path", ["/oauth2/introspect", "/oauth2/revoke"])
@pytest.mark.parametrize("audience", ["token endpoint", "issuer", "this endpoint"])
def test_introspection_and_revocation_accept_the_same_audiences(
        client: TestClient, key_client: str, settings: Settings, app: Any, path: str,
        audience: str) -> None:
    issued = _token(client, _assertion(key_client, app, aud=settings.issuer_url)).json()
    token = issued["access_token"] if path == "/oauth2/introspect" else "an-unknown-token"
    aud = {"token endpoint": tokens.token_endpoint(settings), "issuer": settings.issuer_url,
           "this endpoint": settings.issuer_url + path}[audience]
    response = client.post(path, data=_form(_assertion(key_client, app, aud=aud), token=token))
    assert response.status_code == 200, response.text
    if path == "/oauth2/introspect":
        assert response.json()["active"] is True


def test_an_assertion_is_single_use_at_every_endpoint(
        client: TestClient, key_client: str, settings: Settings, app: Any) -> None:
    assertion = _assertion(key_client, app, aud=tokens.token_endpoint(settings))
    issued = _token(client, assertion).json()
    replay = client.post("/oauth2/introspect", data=_form(assertion,
                                                          token=issued["access_token"]))
    assert (replay.status_code, replay.json()["error"]) == (401, "invalid_client")


def test_an_assertion_for_another_server_is_refused(
        client: TestClient, key_client: str, app: Any) -> None:
    assertion = _assertion(key_client, app, aud=["https://elsewhere.example/token"])
    assert _token(client, assertion).json()["error"] == "invalid_client"
