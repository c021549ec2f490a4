"""A complete OpenID Connect login driven by an independent client library, Authlib, against a
real server process over HTTP: discovery (validated by Authlib's metadata models), PKCE S256,
state, ``iss`` (RFC 9207), code exchange, ID-token validation against the published JWKS (with a
re-fetch after key rotation), userinfo, refresh, RP-initiated logout -- and code redemption raced
from 16 threads."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.base_client.sync_openid import OpenIDMixin
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oidc.discovery import OpenIDProviderMetadata

from app.services.kit import keys
from tests.e2e.conftest import Server

REDIRECT = "http://127.0.0.1:8765/callback"


class AuthlibRp(OpenIDMixin):
    """Authlib's own OpenID logic (JWKS fetch and re-fetch, ID-token validation, userinfo) on
    Authlib's httpx OAuth 2.0 client; we only supply the metadata and the session."""

    def __init__(self, server: Server, client_id: str, secret: str, scope: str) -> None:
        self.server_metadata = httpx.get(server.base + "/.well-known/openid-configuration").json()
        self.client_id = client_id
        self.session = OAuth2Client(client_id, secret, scope=scope, redirect_uri=REDIRECT,
                                    code_challenge_method="S256",
                                    token_endpoint_auth_method="client_secret_basic")

    def load_server_metadata(self) -> dict[str, Any]:
        return dict(self.server_metadata)

    def _get_session(self) -> Any:
        return contextlib.nullcontext(self.session)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.session.get(url, **kwargs)


def _register(server: Server, **spec: Any) -> tuple[str, str]:
    body = {"name": "Authlib RP", "scopes": ["openid", "profile", "vneid.identity", "address",
                                             "offline_access"],
            "purposes": ["e2e"], "sandbox": True, "redirect_uris": [REDIRECT, REDIRECT + "/out"],
            "grant_types": ["authorization_code", "refresh_token"]} | spec
    created = httpx.post(f"{server.base}/v1/admin/clients", json=body, headers=server.admin)
    assert created.status_code == 201, created.text
    return created.json()["client_id"], created.json()["client_secret"]


def _persona_pin(server: Server, key: str) -> str:
    listed = httpx.get(f"{server.base}/v1/admin/accounts/personas", headers=server.admin).json()
    return next(p["pin"] for p in listed["personas"] if p["key"] == key)


@pytest.fixture
def rp(server: Server) -> Iterator[AuthlibRp]:
    client_id, secret = _register(server)
    relying_party = AuthlibRp(server, client_id, secret, "openid profile vneid.identity address")
    yield relying_party
    relying_party.session.close()


def _login(rp: AuthlibRp, pin: str, **params: str) -> tuple[dict[str, Any], str]:
    """Authorize (headless sandbox login as the user agent), then let Authlib redeem the code."""
    metadata = rp.load_server_metadata()
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = rp.session.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **params)
    answer = httpx.get(url, headers={"X-Sandbox-Login": pin}, follow_redirects=False)
    assert answer.status_code == 303
    location = answer.headers["location"]
    returned = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert returned["iss"] == metadata["issuer"]  # RFC 9207, which Authlib does not check
    token = rp.session.fetch_token(metadata["token_endpoint"], authorization_response=location,
                                   state=state, code_verifier=verifier)
    return dict(token), nonce


def test_discovery_document_passes_authlib_validation(server: Server) -> None:
    document = httpx.get(server.base + "/.well-known/openid-configuration").json()
    OpenIDProviderMetadata(document).validate()
    assert document["issuer"] == server.base
    assert document["code_challenge_methods_supported"] == ["S256"]


def test_authlib_completes_login_validates_the_id_token_and_reads_userinfo(
        server: Server, rp: AuthlibRp) -> None:
    pin = _persona_pin(server, "citizen-l2")
    token, nonce = _login(rp, pin, acr_values="LoA2")
    claims = rp.parse_id_token(token, nonce=nonce)  # signature (JWKS), iss, aud, exp, at_hash
    assert claims["acr"] == "LoA2"
    assert claims["sub"] != pin
    profile = rp.userinfo()
    assert profile["sub"] == claims["sub"]
    assert profile["SoDinhDanh"] == pin
    assert profile["HoVaTen"] == profile["name"]
    with pytest.raises(Exception, match="nonce"):
        rp.parse_id_token(token, nonce="another-nonce")


def test_authlib_refreshes_and_an_rs256_client_validates(server: Server) -> None:
    client_id, secret = _register(server, signing_alg="RS256")
    rp = AuthlibRp(server, client_id, secret, "openid profile offline_access")
    token, nonce = _login(rp, _persona_pin(server, "citizen-l1"), prompt="consent")
    assert rp.parse_id_token(token, nonce=nonce)["acr"] == "LoA1"
    refreshed = rp.session.refresh_token(rp.load_server_metadata()["token_endpoint"],
                                         refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert rp.parse_id_token(dict(refreshed), nonce=None)["sub"]
    rp.session.close()


def test_authlib_refetches_the_jwks_after_a_key_rotation(server: Server, rp: AuthlibRp) -> None:
    pin = _persona_pin(server, "citizen-l2")
    token, nonce = _login(rp, pin)
    rp.parse_id_token(token, nonce=nonce)  # caches the JWKS
    rotated = httpx.post(f"{server.base}/v1/admin/keys/ES256/rotate", headers=server.admin)
    assert rotated.status_code == 200
    newer, nonce = _login(rp, pin)
    deadline = time.monotonic() + 2 * keys.CACHE_SECONDS  # other workers reload within seconds
    while _kid(newer) != rotated.json()["kid"] and time.monotonic() < deadline:
        time.sleep(0.5)
        newer, nonce = _login(rp, pin)
    assert _kid(newer) == rotated.json()["kid"]
    assert rp.parse_id_token(newer, nonce=nonce)["sub"]  # unknown kid: Authlib re-fetches
    assert rp.parse_id_token(token, nonce=None)["sub"]  # the old key is still published


def _kid(token: dict[str, Any]) -> str:
    header = token["id_token"].split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "==")).get("kid"))


def test_authlib_logout_url_ends_the_session(server: Server, rp: AuthlibRp) -> None:
    token, _ = _login(rp, _persona_pin(server, "citizen-l2"))
    logout = rp.create_logout_url(post_logout_redirect_uri=REDIRECT + "/out",
                                  id_token_hint=token["id_token"])
    answer = httpx.get(logout["url"], follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{REDIRECT}/out?state={logout['state']}"


def test_sixteen_concurrent_redemptions_of_one_code_over_http_issue_one_token(
        server: Server, rp: AuthlibRp) -> None:
    metadata = rp.load_server_metadata()
    verifier = secrets.token_urlsafe(48)
    url, _ = rp.session.create_authorization_url(metadata["authorization_endpoint"],
                                                 code_verifier=verifier)
    location = httpx.get(url, headers={"X-Sandbox-Login": _persona_pin(server, "citizen-l2")},
                         follow_redirects=False).headers["location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier}
    barrier, statuses = threading.Barrier(16), []

    def redeem() -> None:
        with httpx.Client(auth=(rp.client_id, rp.session.client_secret)) as http:
            barrier.wait()
            statuses.append(http.post(metadata["token_endpoint"], data=form).status_code)

    threads = [threading.Thread(target=redeem) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200] + [400] * 15
