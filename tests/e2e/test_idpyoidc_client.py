"""idpyoidc, the Python RP library of the IdentityPython project, with its default client
configuration (``client_secret_basic``, PKCE S256 as an add-on) against a real server process:
discovery, the code flow, ID-token verification against the JWKS, userinfo, and RP-initiated logout
(idpyoidc's ``EndSession`` service, which its defaults leave out: the one service added). It runs
as the demo client: cryptojwt refuses an HMAC key (a client secret) under 16 characters, which the
old ``demo-secret`` was."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import requests
from idpyoidc.client.defaults import DEFAULT_CLIENT_CONFIGS, DEFAULT_OIDC_SERVICES
from idpyoidc.client.rp_handler import RPHandler

from app.services.sharing.clients import DEMO_REDIRECT_URIS
from app.settings import Settings
from tests.e2e.conftest import Server
from tests.e2e.test_authlib_client import _persona_pin, _register

END_SESSION = {"class": "idpyoidc.client.oidc.end_session.EndSession"}


@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """idpyoidc's default key configuration writes the RP's keys to ``static/jwks.json`` under
    the working directory: run it in a directory of its own, not in the checkout."""
    monkeypatch.chdir(tmp_path)


def _handler(server: Server, client_id: str, secret: str, redirect_uri: str, *,
             logout: bool = False) -> RPHandler:
    config = copy.deepcopy(DEFAULT_CLIENT_CONFIGS[""]) | {
        "issuer": server.base, "client_id": client_id, "client_secret": secret,
        "redirect_uris": [redirect_uri], "behaviour": {"response_types": ["code"]}}
    if logout:
        config["services"] = copy.deepcopy(DEFAULT_OIDC_SERVICES) | {"end_session": END_SESSION}
    return RPHandler(base_url=server.base, client_configs={"vneid": config},
                     httpc=requests.request)


def _log_in(server: Server, handler: RPHandler) -> dict[str, Any]:
    url = handler.begin(issuer_id="vneid")
    assert "code_challenge_method=S256" in url
    answer = httpx.get(url, headers={"X-Sandbox-Login": _persona_pin(server, "citizen-l2")},
                       follow_redirects=False)
    assert answer.status_code == 303, answer.text
    returned = {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}
    result: dict[str, Any] = handler.finalize(server.base, returned)
    assert result["state"] == returned["state"]
    assert result["id_token"]["iss"] == server.base
    assert result["userinfo"]["sub"] == result["id_token"]["sub"]
    return result


def test_idpyoidc_defaults_log_in_as_the_demo_client(server: Server, settings: Settings) -> None:
    handler = _handler(server, settings.demo_client_id, settings.demo_client_secret,
                       DEMO_REDIRECT_URIS[0])
    assert _log_in(server, handler)["id_token"]["aud"] == [settings.demo_client_id]


def test_idpyoidc_defaults_log_in_as_a_registered_client(server: Server) -> None:
    client_id, secret = _register(server)
    _log_in(server, _handler(server, client_id, secret, DEMO_REDIRECT_URIS[0]))


def test_idpyoidc_logs_out_at_the_end_session_endpoint(server: Server) -> None:
    client_id, secret = _register(server)
    handler = _handler(server, client_id, secret, DEMO_REDIRECT_URIS[0], logout=True)
    result = _log_in(server, handler)
    request = handler.logout(result["state"], post_logout_redirect_uri=DEMO_REDIRECT_URIS[0])
    answer = httpx.get(request["url"], follow_redirects=False)
    assert answer.status_code == 303, answer.text
    back = urlsplit(answer.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == DEMO_REDIRECT_URIS[0]
    assert parse_qs(back.query)["state"] == [request["request"]["state"]]
