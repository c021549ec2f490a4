"""The recent-request list (``GET /v1/sandbox/requests``) on a shared deployment: an entry is a
client's only when the request proved it is that client; one that only names a client (a token
request's ``client_id``, a wrong secret, another's ID token) is shown to the admin as claimed and
never lands in that client's list."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.oidc_support import admin, browser, personas, register_rp, tokens_for
from tests.api.sharing_support import bearer, issue_token, new_client

__all__ = ["admin", "personas"]


def _listed(client: TestClient, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get("/v1/sandbox/requests", headers=headers)
    assert response.status_code == 200, response.text
    return {entry["request_id"]: entry for entry in response.json()["requests"]}


def test_a_client_id_only_named_never_enters_that_clients_request_list(
        client: TestClient, admin: dict[str, str]) -> None:
    victim, secret = new_client(client, admin, name="victim org")
    wrong = base64.b64encode(f"{victim}:not-the-secret".encode()).decode()
    forged = [client.post("/oauth2/token", headers={"X-Request-ID": "forged-form"},
                          data={"grant_type": "client_credentials", "client_id": victim}),
              client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                          headers={"X-Request-ID": "forged-basic",
                                   "Authorization": f"Basic {wrong}"})]
    assert [r.status_code for r in forged] == [401, 401]
    raw = f"{victim}:{secret}".encode()
    own = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                      headers={"X-Request-ID": "own-token",
                               "Authorization": "Basic " + base64.b64encode(raw).decode()})
    assert own.status_code == 200
    refused = client.post("/oauth2/token", data={"grant_type": "refresh_token",
                                                 "refresh_token": "x"},
                          headers={"X-Request-ID": "own-refused",
                                   "Authorization": "Basic " + base64.b64encode(raw).decode()})
    assert refused.status_code == 400  # authenticated, then refused: still its own request

    mine = _listed(client, bearer(issue_token(client, victim, secret)))
    assert {"own-token", "own-refused"} <= set(mine)
    assert not {"forged-form", "forged-basic"} & set(mine)
    assert all(entry["client_authenticated"] for entry in mine.values())
    everything = _listed(client, admin)
    assert [(everything[r]["client_id"], everything[r]["client_authenticated"])
            for r in ("forged-form", "forged-basic", "own-token")] == [
        (victim, False), (victim, False), (victim, True)]


def test_an_id_token_proves_nothing_about_its_audience_at_the_edge(
        app: FastAPI, client: TestClient, admin: dict[str, str],
        personas: dict[str, Any]) -> None:
    """A citizen's browser carries an RP's ID token (``id_token_hint`` of a logout): it must not
    let the citizen inject faults as that client, use up its rules or write into its list."""
    rp = register_rp(client, admin, name="RP whose ID token leaks")
    id_token = tokens_for(browser(app), rp, str(personas["citizen-l2"]["pin"]))["id_token"]
    pin = str(personas["citizen-l2"]["pin"])
    response = client.get(f"/v1/citizens/{pin}", headers={
        **bearer(id_token), "X-Sandbox-Fault": "status=503", "X-Request-ID": "id-token-fault"})
    assert response.status_code == 403
    assert response.json()["type"].endswith("/sandbox-client-required")
    entry = _listed(client, admin)["id-token-fault"]
    assert (entry["client_id"], entry["client_authenticated"]) == (None, False)
