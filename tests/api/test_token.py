"""POST /oauth2/token (client credentials), the JWKS, discovery, and signing-key rotation."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet

from app.db import Database
from app.oidc import keys as oidc_keys
from app.services.kit import keys
from app.services.sharing import tokens
from app.services.sharing.scopes import NON_ADMIN_SCOPES
from app.settings import Settings
from tests.api.sharing_support import *  # noqa: F403
from tests.api.sharing_support import basic, bearer, issue_token, new_client


def _claims(token: str) -> dict[str, Any]:
    return dict(json.loads(jws.extract_compact(token.encode()).payload))


def _header(token: str) -> dict[str, Any]:
    return dict(jws.extract_compact(token.encode()).headers())


def test_client_credentials_over_basic_auth_gives_a_short_lived_rfc9068_token(
        client: TestClient, settings: Settings) -> None:
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials",
                                                  "scope": "citizen.basic citizen.verify"},
                           headers=basic(settings.demo_client_id, settings.demo_client_secret))
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert 300 <= body["expires_in"] <= 900
    assert body["scope"] == "citizen.basic citizen.verify"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    header, claims = _header(body["access_token"]), _claims(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert claims["iss"] == settings.issuer_url
    assert claims["aud"] == tokens.api_audience(settings)
    assert claims["sub"] == claims["client_id"] == settings.demo_client_id
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert claims["jti"]


def test_token_is_signed_by_a_key_published_in_the_jwks(
    client: TestClient, demo_token: str
) -> None:
    key_set = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
    decoded = jwt.decode(demo_token, key_set, algorithms=["ES256"])
    assert decoded.header["kid"] in {k.kid for k in key_set.keys}


def test_jwks_publishes_public_keys_only(client: TestClient) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    published = response.json()["keys"]
    assert {key["alg"] for key in published} >= {"ES256", "RS256"}
    assert all(not ({"d", "p", "q", "dp", "dq", "qi"} & key.keys()) for key in published)
    assert all(key["use"] == "sig" for key in published)


def test_discovery_announces_issuer_token_endpoint_and_jwks(
    client: TestClient, settings: Settings
) -> None:
    document = client.get("/.well-known/openid-configuration").json()
    assert document["issuer"] == settings.issuer_url
    assert document["token_endpoint"] == settings.issuer_url + "/oauth2/token"
    assert document["jwks_uri"] == settings.issuer_url + "/.well-known/jwks.json"
    assert "client_credentials" in document["grant_types_supported"]
    assert set(document["token_endpoint_auth_methods_supported"]) >= {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    }


def test_rfc8414_metadata_is_the_openid_configuration_restricted_to_rfc8414_members(
    client: TestClient,
) -> None:
    openid = client.get("/.well-known/openid-configuration").json()
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    oauth = response.json()
    assert oauth == {name: openid[name] for name in oauth}
    assert {"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri",
            "response_types_supported", "code_challenge_methods_supported",
            "introspection_endpoint", "revocation_endpoint"} <= oauth.keys()
    assert not {"userinfo_endpoint", "id_token_signing_alg_values_supported",
                "subject_types_supported", "claims_supported"} & oauth.keys()
    assert response.headers["cache-control"] == openid_cache(client)


def openid_cache(client: TestClient) -> str:
    return str(client.get("/.well-known/openid-configuration").headers["cache-control"])


def test_omitted_scope_grants_every_allowed_scope(client: TestClient, settings: Settings) -> None:
    token = issue_token(client, settings.demo_client_id, settings.demo_client_secret)
    assert set(_claims(token)["scope"].split()) == set(NON_ADMIN_SCOPES)


def test_client_secret_post_is_accepted_for_a_post_client(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    client_id, secret = new_client(
        client, admin_headers, token_endpoint_auth_method="client_secret_post"
    )
    response = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert response.status_code == 200
    assert _claims(response.json()["access_token"])["client_id"] == client_id


def _assertion(key: ECKey, *, client_id: str, audience: str, jti: str, now: int) -> str:
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": jti,
        "iat": now,
        "exp": now + 120,
    }
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


def test_private_key_jwt_authenticates_once_per_assertion(
    client: TestClient, admin_headers: dict[str, str], settings: Settings, app: Any
) -> None:
    key = ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"}, auto_kid=True)
    client_id, _ = new_client(
        client,
        admin_headers,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    now = int(app.state.clock.now().timestamp())
    assertion = _assertion(
        key,
        client_id=client_id,
        audience=tokens.token_endpoint(settings),
        jti="assertion-1",
        now=now,
    )
    form = {
        "grant_type": "client_credentials",
        "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    first = client.post("/oauth2/token", data=form)
    replay = client.post("/oauth2/token", data=form)
    assert first.status_code == 200
    assert (replay.status_code, replay.json()["error"]) == (401, "invalid_client")


def test_assertion_signed_by_an_unregistered_key_is_invalid_client(
    client: TestClient, admin_headers: dict[str, str], settings: Settings, app: Any
) -> None:
    registered = ECKey.generate_key("P-256", parameters={"alg": "ES256"}, auto_kid=True)
    other = ECKey.generate_key("P-256", parameters={"alg": "ES256"}, auto_kid=True)
    client_id, _ = new_client(
        client,
        admin_headers,
        token_endpoint_auth_method="private_key_jwt",
        jwks={"keys": [registered.as_dict(private=False)]},
    )
    assertion = _assertion(
        other,
        client_id=client_id,
        audience=settings.issuer_url,
        jti="x",
        now=int(app.state.clock.now().timestamp()),
    )
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        },
    )
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_wrong_secret_over_basic_is_401_invalid_client_with_basic_challenge(
    client: TestClient, settings: Settings
) -> None:
    response = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic(settings.demo_client_id, "wrong"),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"


def test_wrong_secret_in_the_body_is_invalid_client_without_basic_challenge(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    client_id, _ = new_client(
        client, admin_headers, token_endpoint_auth_method="client_secret_post"
    )
    response = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "nope"},
    )
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert "www-authenticate" not in response.headers


def test_unknown_client_is_invalid_client(client: TestClient) -> None:
    response = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic("nobody", "x" * 40),
    )
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_secret_method_must_be_the_registered_one(client: TestClient, settings: Settings) -> None:
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": settings.demo_client_id,
            "client_secret": settings.demo_client_secret,
        },
    )
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert response.json()["error_description"] == (
        "The client is registered for client_secret_basic; the secret was sent by "
        "client_secret_post.")


@pytest.mark.parametrize(("scope", "description"), [
    ("citizen.verify citizen.basic", "The client is not registered for the scope citizen.basic."),
    ("citizen.nosuch", "The scope citizen.nosuch is unknown (docs/scopes.md lists the scopes)."),
    ("openid", "The scope openid is a sign-in scope; a client-credentials token carries "
               "data-API scopes only."),
    ("x" * 65, "A requested scope is unknown or not registered for this client."),
])
def test_scope_outside_the_allowed_set_is_invalid_scope_naming_it(
    client: TestClient, admin_headers: dict[str, str], scope: str, description: str
) -> None:
    client_id, secret = new_client(client, admin_headers, scopes=["citizen.verify"])
    response = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers=basic(client_id, secret),
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_scope")
    assert response.json()["error_description"] == description


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "scope": 'citizen.basic"'}, "invalid_scope"),
        # a control character is refused at the edge, before the scope is read
        ({"grant_type": "client_credentials", "scope": "citizen.basic\x01"}, "invalid_request"),
    ],
)
def test_malformed_token_requests_get_rfc6749_errors(
    client: TestClient, settings: Settings, form: dict[str, str], error: str
) -> None:
    response = client.post(
        "/oauth2/token",
        data=form,
        headers=basic(settings.demo_client_id, settings.demo_client_secret),
    )
    assert (response.status_code, response.json()["error"]) == (400, error)
    assert response.headers["cache-control"] == "no-store"


def test_repeated_parameter_is_invalid_request(client: TestClient, settings: Settings) -> None:
    response = client.post(
        "/oauth2/token",
        content="grant_type=client_credentials&grant_type=client_credentials",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            **basic(settings.demo_client_id, settings.demo_client_secret),
        },
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_json_body_is_invalid_request(client: TestClient, settings: Settings) -> None:
    response = client.post(
        "/oauth2/token",
        json={"grant_type": "client_credentials"},
        headers=basic(settings.demo_client_id, settings.demo_client_secret),
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_two_authentication_methods_are_invalid_request(
    client: TestClient, settings: Settings
) -> None:
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": settings.demo_client_id,
            "client_secret": settings.demo_client_secret,
        },
        headers=basic(settings.demo_client_id, settings.demo_client_secret),
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_grants_are_dispatched_by_grant_type_to_registered_handlers(
    client: TestClient, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def refresh_grant(ctx: tokens.GrantContext) -> tokens.TokenBody:
        seen.append(ctx.client.client_id)
        return lambda: {"access_token": "x", "token_type": "Bearer"}

    monkeypatch.setitem(tokens.GRANTS, "refresh_token", refresh_grant)
    allowed_id, allowed_secret = new_client(
        client, admin_headers, grant_types=["client_credentials", "refresh_token"]
    )
    other_id, other_secret = new_client(client, admin_headers)
    ok = client.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token"},
        headers=basic(allowed_id, allowed_secret),
    )
    refused = client.post(
        "/oauth2/token", data={"grant_type": "refresh_token"}, headers=basic(other_id, other_secret)
    )
    assert ok.status_code == 200
    assert seen == [allowed_id]
    assert (refused.status_code, refused.json()["error"]) == (400, "unauthorized_client")


def test_rs256_client_gets_rs256_tokens(client: TestClient, admin_headers: dict[str, str]) -> None:
    client_id, secret = new_client(client, admin_headers, signing_alg="RS256")
    token = issue_token(client, client_id, secret, "citizen.basic")
    assert _header(token)["alg"] == "RS256"
    key_set = KeySet.import_key_set(client.get("/.well-known/jwks.json").json())
    assert jwt.decode(token, key_set, algorithms=["RS256"]).claims["client_id"] == client_id


def test_es256_keys_are_derived_from_the_deployment_secret(database: Database,
                                                           settings: Settings) -> None:
    with database.read() as session:
        ring = keys.load_ring(session)
    stored = {key.kid for key in ring.keys if key.alg == "ES256"}
    derived = {
        oidc_keys.derive_ec_key(
            keys.key_material(settings),
            label=keys.KEY_LABEL,
            generation=n,
            active_from=ring.keys[0].active_from,
        ).kid
        for n in range(1, len(stored) + 3)
    }
    assert stored
    assert stored <= derived


def test_key_rotation_signs_with_the_new_key_and_keeps_the_old_one_until_its_tokens_expire(
    client: TestClient,
    admin_headers: dict[str, str],
    settings: Settings,
    clock_guard: Any,
    demo_token: str,
) -> None:
    old_token = issue_token(client, settings.demo_client_id, settings.demo_client_secret)
    rotated = client.post("/v1/admin/keys/ES256/rotate", headers=admin_headers)
    assert rotated.status_code == 200
    new_kid = rotated.json()["kid"]
    new_token = issue_token(client, settings.demo_client_id, settings.demo_client_secret)
    published = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
    assert _header(new_token)["kid"] == new_kid != _header(old_token)["kid"]
    assert {new_kid, _header(old_token)["kid"]} <= published
    assert client.get("/v1/audit", headers=bearer(old_token)).status_code == 200
    clock_guard.advance(keys.RETIRE_AFTER + timedelta(minutes=1))
    after = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
    assert _header(old_token)["kid"] not in after
    assert new_kid in after


def test_rotating_an_unknown_algorithm_is_refused(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    assert client.post("/v1/admin/keys/HS256/rotate", headers=admin_headers).status_code == 422


def test_discovery_with_an_unusable_issuer_is_a_503_problem(tmp_path: Any) -> None:
    from app.main import create_app
    from app.settings import load_settings

    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", auto_seed=False,
                             host="0.0.0.0")
    with TestClient(create_app(settings, migrate_on_start=False)) as fresh:
        response = fresh.get("/.well-known/openid-configuration")
    assert response.status_code == 503
    assert response.json()["type"].endswith("/issuer-misconfigured")
