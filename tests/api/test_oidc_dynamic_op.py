"""The OpenID Foundation's Config and Dynamic OP certification plans
(``oidcc-config-certification-test-plan``, ``oidcc-dynamic-certification-test-plan``), ported to
pytest: one test per module, named after it, sending what the suite sends.

The suite's dynamic client (variant ``private_key_jwt``, ``response_type=code``) is registered as
``OIDCCCreateDynamicClientRegistrationRequest`` builds it: ``client_name``, ``grant_types``
``["authorization_code"]``, a fresh RS256 ``jwks``, ``token_endpoint_auth_method``
``private_key_jwt``, ``response_types`` ``["code"]``, one ``redirect_uris`` entry under the suite's
base URL and ``contacts``; the suite's configuration field ``client.initial_access_token`` carries
the initial access token (here one the administrator minted). It sends no PKCE. Its client
assertion is RS256, ``aud`` the token endpoint (the issuer in
``oidcc-ensure-client-assertion-with-iss-aud-succeeds``). ``X-Sandbox-Login`` stands for the user in
the browser; redirects are read, never followed (the suite's callback host is not reachable).

Modules not applicable, each with its reason (docs/vneid.md "Standards support"):

* ``oidcc-idtoken-unsigned``: ``none`` is never a signing algorithm here; registering it is refused
  (``invalid_client_metadata``), as the suite accepts when ``none`` is not announced.
* ``oidcc-registration-jwks-uri``: keys are registered by value (``jwks``); ``jwks_uri`` is refused.
* ``oidcc-registration-logo-uri``, ``-policy-uri``, ``-tos-uri``: accepted, not shown (these end
  with a screenshot of the login page showing them).
* ``oidcc-request-uri-unsigned``, ``oidcc-request-uri-signed-rs256``: request objects are taken by
  value (``request``) or pushed (PAR), never fetched from a ``request_uri`` the client hosts
  (``request_uri_not_supported``); ``oidcc-ensure-request-object-with-redirect-uri`` sends an
  unsigned object, which is refused (``invalid_request_object``).
* ``oidcc-server-rotate-keys``, ``oidcc-refresh-token-rp-key-rotation``: key rotation is tested in
  ``tests/api/test_key_rotation_processes.py``; the RP-key module needs a ``jwks_uri``.
* The discovery module's Dynamic-profile checks that ``implicit`` and the ``id_token`` /
  ``token id_token`` response types are supported: the provider serves the code flow only
  (RFC 9700 §2.1.2), so a Dynamic OP certification would record these two as failures.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    jwt_header,
    loopback_json_server,
    query_of,
    verify_with_jwks,
)

SUITE_BASE = "https://localhost.emobix.co.uk:8443/test/a/dancu"
CALLBACK = SUITE_BASE + "/callback"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def initial_token(client: TestClient, admin: dict[str, str]) -> str:
    minted = client.post("/v1/admin/registration-tokens", json={"expires_in": 3600},
                         headers=admin)
    assert minted.status_code == 201, minted.text
    return str(minted.json()["initial_access_token"])


@pytest.fixture(scope="module")
def metadata(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/.well-known/openid-configuration").json())


class DynamicClient:
    """A client the suite registered, with its RS256 key."""

    def __init__(self, registered: dict[str, Any], key: RSAKey) -> None:
        self.registered, self.key = registered, key
        self.client_id = str(registered["client_id"])


def registration_request(key: RSAKey, **extra: Any) -> dict[str, Any]:
    """``OIDCCCreateDynamicClientRegistrationRequest`` for ``response_type=code``."""
    return {"client_name": "oidcc dancu " + secrets.token_hex(3),
            "grant_types": ["authorization_code"],
            "jwks": {"keys": [key.as_dict(private=False)]},
            "token_endpoint_auth_method": "private_key_jwt",
            "response_types": ["code"], "redirect_uris": [CALLBACK],
            "contacts": ["certification@oidf.org"], **extra}


def register(client: TestClient, initial_token: str, body: dict[str, Any]) -> Any:
    return client.post("/oauth2/register", json=body,
                       headers={"Authorization": f"Bearer {initial_token}"})


def dynamic_client(client: TestClient, initial_token: str, **extra: Any) -> DynamicClient:
    key = RSAKey.generate_key(2048, auto_kid=True)
    response = register(client, initial_token, registration_request(key, **extra))
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["registration_access_token"]
    assert body["registration_client_uri"].endswith("/oauth2/register/" + body["client_id"])
    assert "client_secret" not in body  # private_key_jwt
    return DynamicClient(body, key)


def _assertion(rp: DynamicClient, aud: str) -> str:
    now = int(__import__("time").time())
    claims = {"iss": rp.client_id, "sub": rp.client_id, "aud": aud, "jti": secrets.token_hex(8),
              "iat": now, "exp": now + 60}
    return jwt.encode({"alg": "RS256", "kid": rp.key.kid}, claims, rp.key, algorithms=["RS256"])


def authorization(agent: TestClient, rp: DynamicClient, citizen: str | None,
                  **params: str) -> Any:
    query = {"client_id": rp.client_id, "redirect_uri": CALLBACK, "response_type": "code",
             "scope": "openid", "state": secrets.token_urlsafe(8),
             "nonce": secrets.token_urlsafe(8)} | params
    query = {name: value for name, value in query.items() if value != ""}
    headers = {"X-Sandbox-Login": citizen} if citizen else {}
    return agent.get("/oauth2/authorize", params=query, headers=headers)


def token_request(agent: TestClient, rp: DynamicClient, code: str, metadata: dict[str, Any],
                  *, aud: str | None = None, redirect_uri: str = CALLBACK) -> Any:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _assertion(rp, aud or metadata["token_endpoint"])}
    return agent.post("/oauth2/token", data=form)


def tokens(agent: TestClient, rp: DynamicClient, citizen: str, metadata: dict[str, Any],
           **params: str) -> dict[str, Any]:
    answer = authorization(agent, rp, citizen, **params)
    assert answer.status_code == 303, answer.text
    result = query_of(answer.headers["location"])
    assert "code" in result, answer.headers["location"]
    response = token_request(agent, rp, result["code"], metadata,
                             redirect_uri=params.get("redirect_uri", CALLBACK))
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- Config plan (and the Dynamic plan's copy of it) --------------------------------------------


def test_oidcc_discovery_endpoint_verification(client: TestClient, metadata: dict[str, Any],
                                               settings: Settings) -> None:
    response = client.get("/.well-known/openid-configuration")
    assert response.headers["content-type"].startswith("application/json")
    assert metadata["issuer"] == settings.issuer_url
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                 "registration_endpoint"):
        assert metadata[name].startswith(settings.issuer_url + "/")
    assert "openid" in metadata["scopes_supported"]
    assert "code" in metadata["response_types_supported"]
    assert "pairwise" in metadata["subject_types_supported"]
    assert "RS256" in metadata["id_token_signing_alg_values_supported"]
    assert "RS256" in metadata["userinfo_signing_alg_values_supported"]
    assert "authorization_code" in metadata["grant_types_supported"]
    assert isinstance(metadata["code_challenge_methods_supported"], list)
    assert {"sub", "name"} <= set(metadata["claims_supported"])
    assert metadata["claims_parameter_supported"] is True
    assert metadata["request_parameter_supported"] is True  # signed request objects
    assert metadata["request_uri_parameter_supported"] is False  # a pushed request's only
    keys = KeySet.import_key_set(client.get(metadata["jwks_uri"]).json())
    assert all(not key.is_private for key in keys.keys)


def test_oidcc_discovery_dynamic_profile_response_types_are_the_code_flow_only(
        metadata: dict[str, Any]) -> None:
    """Not applicable by design: the Dynamic profile asks for implicit and id_token response
    types, which RFC 9700 §2.1.2 advises against; only the code flow is announced."""
    assert metadata["response_types_supported"] == ["code"]
    assert "implicit" not in metadata["grant_types_supported"]


# --- Dynamic plan ---------------------------------------------------------------------------------


def test_oidcc_server(agent: TestClient, client: TestClient, initial_token: str, citizen: str,
                      metadata: dict[str, Any], settings: Settings) -> None:
    rp = dynamic_client(client, initial_token)
    assert rp.registered["id_token_signed_response_alg"] == "RS256"  # Registration §2 default
    body = tokens(agent, rp, citizen, metadata)
    jwks = client.get(metadata["jwks_uri"]).json()
    claims = verify_with_jwks(body["id_token"], jwks, issuer=settings.issuer_url,
                              audience=rp.client_id)
    assert jwt_header(body["id_token"])["alg"] == "RS256"
    assert claims["azp"] == rp.client_id
    info = agent.get("/oauth2/userinfo", headers={"Authorization": "Bearer "
                                                  + body["access_token"]})
    assert info.json()["sub"] == claims["sub"]


def test_oidcc_idtoken_rs256(agent: TestClient, client: TestClient, initial_token: str,
                             citizen: str, metadata: dict[str, Any]) -> None:
    rp = dynamic_client(client, initial_token, id_token_signed_response_alg="RS256")
    assert jwt_header(tokens(agent, rp, citizen, metadata)["id_token"])["alg"] == "RS256"


def test_oidcc_idtoken_unsigned(client: TestClient, initial_token: str) -> None:
    key = RSAKey.generate_key(2048, auto_kid=True)
    refused = register(client, initial_token,
                       registration_request(key, id_token_signed_response_alg="none"))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata"


def test_oidcc_userinfo_rs256(agent: TestClient, client: TestClient, initial_token: str,
                              citizen: str, metadata: dict[str, Any],
                              settings: Settings) -> None:
    rp = dynamic_client(client, initial_token, userinfo_signed_response_alg="RS256")
    body = tokens(agent, rp, citizen, metadata)
    info = agent.get("/oauth2/userinfo",
                     headers={"Authorization": "Bearer " + body["access_token"]})
    assert info.status_code == 200
    assert info.headers["content-type"].startswith("application/jwt")
    assert jwt_header(info.text)["alg"] == "RS256"
    key_set = KeySet.import_key_set(client.get(metadata["jwks_uri"]).json())
    decoded = jwt.decode(info.text, key_set.get_by_kid(jwt_header(info.text)["kid"]),
                         algorithms=["RS256"])
    assert decoded.claims["iss"] == settings.issuer_url
    assert decoded.claims["aud"] == rp.client_id
    assert decoded.claims["sub"] == json.loads(
        __import__("base64").urlsafe_b64decode(body["id_token"].split(".")[1] + "=="))["sub"]


def test_oidcc_ensure_redirect_uri_in_authorization_request(
        agent: TestClient, client: TestClient, initial_token: str, citizen: str) -> None:
    rp = dynamic_client(client, initial_token)
    answer = authorization(agent, rp, citizen, redirect_uri="")
    assert answer.status_code == 400  # an error page, never a redirect
    assert "location" not in answer.headers


def test_oidcc_redirect_uri_query_ok(agent: TestClient, client: TestClient, initial_token: str,
                                     citizen: str, metadata: dict[str, Any]) -> None:
    with_query = CALLBACK + "?foo=bar"
    rp = dynamic_client(client, initial_token, redirect_uris=[with_query])
    answer = authorization(agent, rp, citizen, redirect_uri=with_query)
    assert answer.headers["location"].startswith(with_query + "&code=")
    assert query_of(answer.headers["location"])["foo"] == "bar"


def test_oidcc_redirect_uri_query_mismatch(agent: TestClient, client: TestClient,
                                           initial_token: str, citizen: str) -> None:
    rp = dynamic_client(client, initial_token, redirect_uris=[CALLBACK + "?foo=bar"])
    answer = authorization(agent, rp, citizen, redirect_uri=CALLBACK + "?foo=zot")
    assert answer.status_code == 400
    assert "location" not in answer.headers


def test_oidcc_redirect_uri_query_added(agent: TestClient, client: TestClient,
                                        initial_token: str, citizen: str) -> None:
    rp = dynamic_client(client, initial_token)
    answer = authorization(agent, rp, citizen, redirect_uri=CALLBACK + "?foo=bar")
    assert answer.status_code == 400
    assert "location" not in answer.headers


def test_oidcc_redirect_uri_regfrag(client: TestClient, initial_token: str) -> None:
    key = RSAKey.generate_key(2048, auto_kid=True)
    refused = register(client, initial_token,
                       registration_request(key, redirect_uris=[CALLBACK + "#foobar"]))
    assert refused.status_code == 400
    assert refused.json()["error"] in ("invalid_redirect_uri", "invalid_client_metadata")


@pytest.mark.parametrize("member", ["logo_uri", "policy_uri", "tos_uri"])
def test_oidcc_registration_logo_policy_tos_uri_are_accepted(
        client: TestClient, initial_token: str, member: str) -> None:
    """oidcc-registration-logo-uri, -policy-uri, -tos-uri: the registration succeeds (the
    screenshot of the login page showing them does not apply: they are not displayed)."""
    dynamic_client(client, initial_token, **{member: f"{SUITE_BASE}/{member}.png"})


def test_oidcc_registration_jwks_uri(client: TestClient, initial_token: str) -> None:
    key = RSAKey.generate_key(2048, auto_kid=True)
    body = registration_request(key, jwks_uri=SUITE_BASE + "/jwks")
    del body["jwks"]
    refused = register(client, initial_token, body)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata"


@pytest.fixture(scope="module")
def suite_server() -> Iterator[tuple[str, dict[str, list[str]]]]:
    """The suite's own endpoint ``{base_url}/redirect_uris.json`` (here on loopback: a sandbox
    fetches loopback like webhooks)."""
    served: dict[str, list[str]] = {"value": []}
    with loopback_json_server(lambda: served["value"]) as (base, _asked):
        yield base, served


def test_oidcc_registration_sector_uri(agent: TestClient, client: TestClient,
                                       initial_token: str, citizen: str,
                                       metadata: dict[str, Any],
                                       suite_server: tuple[str, dict[str, list[str]]]) -> None:
    base, served = suite_server
    served["value"] = [CALLBACK, SUITE_BASE + "/other"]  # CreateSectorRedirectUris
    rp = dynamic_client(client, initial_token, subject_type="pairwise",
                        sector_identifier_uri=base + "/redirect_uris.json")
    assert rp.registered["sector_identifier_uri"] == base + "/redirect_uris.json"
    assert tokens(agent, rp, citizen, metadata)["id_token"]


def test_oidcc_registration_sector_bad(client: TestClient, initial_token: str,
                                       suite_server: tuple[str, dict[str, list[str]]]) -> None:
    base, served = suite_server
    served["value"] = [SUITE_BASE + "/not-the-callback"]  # CreateInvalidSectorRedirectUris
    key = RSAKey.generate_key(2048, auto_kid=True)
    refused = register(client, initial_token, registration_request(
        key, subject_type="pairwise", sector_identifier_uri=base + "/redirect_uris.json"))
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/json")
    assert refused.json()["error"] == "invalid_client_metadata"


def test_oidcc_request_uri_unsigned(agent: TestClient, client: TestClient, initial_token: str,
                                    citizen: str) -> None:
    rp = dynamic_client(client, initial_token)
    answer = authorization(agent, rp, citizen, request_uri=SUITE_BASE + "/requests/1")
    assert query_of(answer.headers["location"])["error"] == "request_uri_not_supported"


def test_oidcc_ensure_client_assertion_with_iss_aud_succeeds(
        agent: TestClient, client: TestClient, initial_token: str, citizen: str,
        metadata: dict[str, Any]) -> None:
    rp = dynamic_client(client, initial_token)
    answer = authorization(agent, rp, citizen)
    code = query_of(answer.headers["location"])["code"]
    response = token_request(agent, rp, code, metadata, aud=metadata["issuer"])
    assert response.status_code == 200, response.text


def test_unregister_dynamically_registered_client(client: TestClient, initial_token: str,
                                                   agent: TestClient, citizen: str) -> None:
    """The suite's clean-up (``UnregisterDynamicallyRegisteredClient``): DELETE with the
    registration access token answers 204, and the client no longer logs in."""
    rp = dynamic_client(client, initial_token)
    uri = rp.registered["registration_client_uri"].removeprefix(str(client.base_url))
    deleted = client.delete(uri, headers={"Authorization": "Bearer "
                                          + rp.registered["registration_access_token"]})
    assert deleted.status_code == 204
    assert authorization(agent, rp, citizen).status_code == 400
