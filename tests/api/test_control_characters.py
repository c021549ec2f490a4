"""Control characters (NUL first: PostgreSQL refuses it in text and answered 500) in a path, a
query, a form body or Basic credentials are refused at the edge with the endpoint's own 4xx: an
HTML error page, an RFC 6749 ``invalid_request`` / ``invalid_client``, or a ``validation-error``
problem (rule ``control_character``). Unknown JSON member names are not echoed either."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.errors import UNKNOWN_MEMBER
from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403

AUTHORIZE = ("/oauth2/authorize?response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A8765"
             "%2Fcallback&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
             "&code_challenge_method=S256")
PAGE, OAUTH, PROBLEM = "page", "oauth", "problem"

# (case, method, URL, form body or None, what answers)
CASES: list[tuple[str, str, str, dict[str, str] | None, str]] = [
    ("authorize client_id", "GET", f"{AUTHORIZE}&client_id=de%00mo", None, PAGE),
    ("authorize nonce", "GET", f"{AUTHORIZE}&client_id=demo&nonce=%00", None, PAGE),
    ("authorize form", "POST", "/oauth2/authorize",
     {"client_id": "de\x00mo", "response_type": "code"}, PAGE),
    ("token form", "POST", "/oauth2/token",
     {"grant_type": "client_credentials", "client_id": "de\x00mo", "client_secret": "x"}, OAUTH),
    ("introspection form", "POST", "/oauth2/introspect",
     {"token": "abc", "client_id": "de\x00mo", "client_secret": "x"}, OAUTH),
    ("revocation form", "POST", "/oauth2/revoke",
     {"token": "a\x01b", "client_id": "demo", "client_secret": "x"}, OAUTH),
    ("logout query", "GET", "/oauth2/logout?client_id=de%00mo", None, PAGE),
    ("login page id", "GET", "/oauth2/login/a%00b", None, PAGE),
    ("code page id", "GET", "/oauth2/otp/a%00b", None, PAGE),
    ("consent page id", "GET", "/oauth2/consent/a%00b", None, PAGE),
    ("password form id", "POST", "/oauth2/login/a%00b/password", {"pin": "1"}, PAGE),
    ("qr handle", "GET", "/oauth2/qr/a%00b", None, PROBLEM),
    ("userinfo query", "GET", "/oauth2/userinfo?x=%00", None, OAUTH),
    ("C1 in a query", "GET", "/oauth2/logout?client_id=de%C2%85mo", None, PAGE),
    ("admin client id", "GET", "/v1/admin/clients/de%00mo", None, PROBLEM),
    ("admin account pin", "GET", "/v1/admin/accounts/0010%0093047064", None, PROBLEM),
    ("subscription id", "GET", "/v1/subscriptions/a%00b", None, PROBLEM),
    ("citizen search query", "GET", "/v1/citizens?name=a%00b", None, PROBLEM),
    ("DEL in a path", "GET", "/v1/subscriptions/a%7Fb", None, PROBLEM),
]


@pytest.mark.parametrize(("method", "url", "form", "answer"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_control_characters_are_refused_at_the_edge_with_the_endpoints_4xx(
        client: TestClient, settings: Settings, method: str, url: str,
        form: dict[str, str] | None, answer: str) -> None:
    admin = {"Authorization": f"Bearer {settings.admin_token}"}
    response = client.request(method, url, data=form, headers=admin, follow_redirects=False)
    if answer == PAGE:
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("text/html")
        assert "invalid_request" in response.text
    elif answer == OAUTH:
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
    else:
        assert response.status_code == 422
        assert response.json()["errors"][0]["rule"] == "control_character"


def _basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize("raw", [b"de\x00mo:secret", b"de%00mo:secret", b"de\x1bmo:secret"],
                         ids=["NUL", "encoded NUL", "ESC"])
def test_a_control_character_in_basic_credentials_is_invalid_client(
        client: TestClient, raw: bytes) -> None:
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                           headers=_basic(raw))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_tab_and_newlines_stay_legal_in_form_bodies(client: TestClient) -> None:
    form = {"grant_type": "client_credentials", "client_id": "nobody",
            "client_secret": "a\tb\r\n"}
    response = client.post("/oauth2/token", data=form)
    assert response.status_code == 401  # an unknown client, not a refused body


@pytest.mark.parametrize("name", ["pin_0790123\x20secret", "Nguyễn Văn A", "x" * 300],
                         ids=["spaces", "personal", "long"])
def test_unknown_json_member_names_are_not_echoed(client: TestClient, settings: Settings,
                                                  name: str) -> None:
    body: dict[str, Any] = {"name": "Echo test RP", "redirect_uris": ["https://rp.example/cb"],
                            name: 1}
    response = client.post("/v1/admin/clients", json=body,
                           headers={"Authorization": f"Bearer {settings.admin_token}"})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [error["loc"] for error in errors if error["rule"] == "extra_forbidden"] == [
        ["body", UNKNOWN_MEMBER]]
    assert name not in response.text


@pytest.mark.parametrize("consent_id", ["523182708331957714944", str(2**63)])
def test_a_row_id_outside_64_bits_is_a_validation_error(client: TestClient, settings: Settings,
                                                         consent_id: str) -> None:
    response = client.post(f"/v1/admin/consents/{consent_id}/withdraw",
                           headers={"Authorization": f"Bearer {settings.admin_token}"})
    assert response.status_code == 422
    assert consent_id not in response.text
