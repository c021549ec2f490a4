"""Authlib with its defaults, against a real server process: each client authentication method
(``client_secret_basic``, ``client_secret_post``, ``private_key_jwt`` with ``PrivateKeyJWT`` as it
comes: an RS256 key, no ``kid``, a 3,600 s assertion, ``aud`` = the token endpoint), and
``client_secret_jwt`` with ``ClientSecretJWT`` as it comes (HS256 under the client's secret, the
same 3,600 s lifetime; ``aud`` the token endpoint, or with no endpoint given the URL each request
goes to) through the
code flow, refresh, introspection and revocation. Authlib sends no PKCE unless told, so the clients
are registered with ``require_pkce`` false (docs/vneid.md "Client policy").

One Authlib default is not followed: ``revocation_endpoint_auth_method`` is ``client_secret_basic``
for every client with a "secret", whatever its token-endpoint method -- for ``private_key_jwt``
that sends the private key as a Basic password, which no server can accept. Clients registered for
another method set it to their method; the provider authenticates each client by the one method
it registered (OIDC Core §9), at every endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT
from joserfc.jwk import ECKey, RSAKey

from tests.e2e.conftest import Server
from tests.e2e.test_authlib_client import REDIRECT, _persona_pin, _register

RSA_KEY = RSAKey.generate_key(2048)
OTHER_KEY = ECKey.generate_key("P-256", auto_kid=True)  # a second key: no kid means choosing


def _metadata(server: Server) -> dict[str, Any]:
    return dict(httpx.get(server.base + "/.well-known/openid-configuration").json())


def _session(server: Server, method: str, *, aud_token_endpoint: bool = True) -> OAuth2Client:
    """An Authlib client with nothing set but the method (and the key for private_key_jwt)."""
    scope = "openid profile offline_access"
    token_endpoint = _metadata(server)["token_endpoint"] if aud_token_endpoint else None
    if method != "private_key_jwt":
        client_id, secret = _register(server, require_pkce=False,
                                      token_endpoint_auth_method=method)
        client = OAuth2Client(client_id, secret, scope=scope, redirect_uri=REDIRECT,
                              token_endpoint_auth_method=method,
                              revocation_endpoint_auth_method=method)
        if method == "client_secret_jwt":
            client.register_client_auth_method(ClientSecretJWT(token_endpoint))
        return client
    client_id, _ = _register(server, require_pkce=False, token_endpoint_auth_method=method,
                             jwks={"keys": [RSA_KEY.as_dict(private=False),
                                            OTHER_KEY.as_dict(private=False)]})
    session = OAuth2Client(client_id, RSA_KEY.as_pem(private=True), scope=scope,
                           redirect_uri=REDIRECT, token_endpoint_auth_method=method,
                           revocation_endpoint_auth_method=method)
    session.register_client_auth_method(PrivateKeyJWT(token_endpoint))
    return session


@pytest.fixture(params=["client_secret_basic", "client_secret_post", "private_key_jwt",
                        "private_key_jwt aud=endpoint", "client_secret_jwt",
                        "client_secret_jwt aud=endpoint"])
def session(request: pytest.FixtureRequest, server: Server) -> Iterator[OAuth2Client]:
    method, _, variant = str(request.param).partition(" ")
    created = _session(server, method, aud_token_endpoint=not variant)
    yield created
    created.close()


def test_authlib_defaults_log_in_refresh_introspect_and_revoke(
        server: Server, session: OAuth2Client) -> None:
    metadata = _metadata(server)
    url, state = session.create_authorization_url(metadata["authorization_endpoint"],
                                                  prompt="consent")
    assert "code_challenge" not in parse_qs(urlsplit(url).query)
    answer = httpx.get(url, headers={"X-Sandbox-Login": _persona_pin(server, "citizen-l2")},
                       follow_redirects=False)
    token = session.fetch_token(metadata["token_endpoint"],
                                authorization_response=answer.headers["location"], state=state)
    assert token["id_token"]
    assert token["refresh_token"]
    refreshed = session.refresh_token(metadata["token_endpoint"],
                                      refresh_token=token["refresh_token"])
    introspected = session.introspect_token(metadata["introspection_endpoint"],
                                            token=refreshed["access_token"])
    assert introspected.status_code == 200, introspected.text
    assert introspected.json()["active"] is True
    revoked = session.revoke_token(metadata["revocation_endpoint"],
                                   token=refreshed["refresh_token"])
    assert revoked.status_code == 200, revoked.text
    with pytest.raises(OAuthError, match="invalid_grant"):
        session.refresh_token(metadata["token_endpoint"], refresh_token=refreshed["refresh_token"])


def test_discovery_announces_what_authlib_uses(server: Server) -> None:
    metadata = _metadata(server)
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt"} <= set(
        metadata["token_endpoint_auth_methods_supported"])
    assert PrivateKeyJWT.alg in metadata["token_endpoint_auth_signing_alg_values_supported"]
    assert PrivateKeyJWT.alg in metadata["introspection_endpoint_auth_signing_alg_values_supported"]
    assert PrivateKeyJWT.alg in metadata["revocation_endpoint_auth_signing_alg_values_supported"]
    oauth = httpx.get(server.base + "/.well-known/oauth-authorization-server")
    assert oauth.status_code == 200
    assert oauth.json()["token_endpoint"] == metadata["token_endpoint"]
