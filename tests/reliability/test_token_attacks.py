"""Tokens: the JWT attack corpus (``jwt_corpus.CASES``) refused at every route that accepts a
token, and token-type confusion refused (an ID token as an access token, a client-credentials
token where a citizen's token is needed, a citizen's token at the data API).

The routes are not listed by hand: they are the operations that answer 401 to a request without
credentials (probed through HTTP), so a new token-protected route joins the matrix by itself, and
``test_every_route_that_refuses_a_missing_token_is_in_the_matrix`` fails if the document and the
probes disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from app.oidc.keys import ES256, RS256
from app.services.kit import keys
from tests.api.oidc_support import browser, register_rp, tokens_for
from tests.api.sharing_support import bearer, issue_token
from tests.reliability.conftest import Isolated
from tests.reliability.jwt_corpus import CASES, Material, attack
from tests.reliability.support import (
    CLIENT_AUTH_PATHS,
    Operation,
    document_operations,
    example_path,
    record,
)

ALL_OPERATIONS = document_operations()
# Operations that take a credential, by the document (bearer) or by their role (a citizen's
# token at userinfo, the app's device token at /v1/me and the QR approval).
TOKEN_OPERATIONS = [op for op in ALL_OPERATIONS
                    if op.bearer or op.path.startswith(("/oauth2/userinfo", "/v1/me/"))
                    or op.path.startswith("/oauth2/qr/") and op.method == "POST"]
TALLY: Counter[str] = Counter()
# Dynamic registration takes an initial access token, its management a registration access token
# (tests/api/test_oidc_registration.py), never an access token of this matrix.
REGISTRATION = "/oauth2/register"
# The chip's routes take a card.read token and the access key derived from the printed MRZ
# (X-Chip-Access-Key): with a genuine token but no key they answer 401 chip-access-denied.
CHIP_KEY_ROUTES = {"GET /v1/cards/{pin}/chip", "POST /v1/cards/{pin}/chip/internal-authenticate"}
# Routes that check their token inside the handler need a valid body to get there.
BODIES = {"/oauth2/qr/{handle}/approve": {"passcode": "123456"}}


@dataclass
class Tokens:
    client: Material
    user: Material
    admin: dict[str, str]


def _signers(isolated: Isolated) -> tuple[Any, Any]:
    from app.clock import system_now

    with isolated.database.read() as session:
        ring = keys.load_ring(session)
    return ring.signing_key(ES256, now=system_now()), ring.signing_key(RS256, now=system_now())


@pytest.fixture(scope="module")
def tokens(isolated: Isolated) -> Tokens:
    client, settings = isolated.client, isolated.settings
    admin = bearer(settings.admin_token)
    personas = {p["key"]: p for p in
                client.get("/v1/admin/accounts/personas", headers=admin).json()["personas"]}
    rp = register_rp(client, admin, name="Token attack RP",
                     scopes=["openid", "profile", "vneid.history"])
    login = [tokens_for(browser(isolated.app), rp, personas[key]["pin"],
                        scope="openid profile vneid.history")
             for key in ("citizen-l2", "citizen-l2")]
    ec_key, rsa_key = _signers(isolated)
    demo = [issue_token(client, settings.demo_client_id, settings.demo_client_secret)
            for _ in range(2)]
    common = {"id_token": login[0]["id_token"], "ec_key": ec_key, "rsa_key": rsa_key,
              "issuer": settings.issuer_url}
    return Tokens(client=Material(token=demo[0], other_token=demo[1], **common),
                  user=Material(token=login[0]["access_token"],
                                other_token=login[1]["access_token"], **common),
                  admin=admin)


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[None]:
    yield
    record("tokens", "attack cases", len(CASES))
    record("tokens", "token routes", len(TOKEN_OPERATIONS))
    record("tokens", "attacks sent", TALLY["sent"])
    record("tokens", "attacks accepted", TALLY["accepted"])


def _call(isolated: Isolated, operation: Operation, headers: dict[str, str]) -> Any:
    path = example_path(operation.path, {"pin": "001093047064", "action": "issue",
                                         "side": "front", "alg": "ES256"})
    kwargs: dict[str, Any] = {"json": BODIES.get(operation.path, {})} if operation.json_body else {}
    return isolated.client.request(operation.method, path, headers=headers, **kwargs)


def _material(tokens: Tokens, operation: Operation) -> Material:
    return tokens.user if operation.identity == "user" else tokens.client


@pytest.mark.parametrize("operation", TOKEN_OPERATIONS, ids=lambda op: op.id)
@pytest.mark.parametrize("case", list(CASES))
def test_jwt_attacks_are_refused_at_every_token_route(
        isolated: Isolated, tokens: Tokens, operation: Operation, case: str) -> None:
    forged = attack(case, _material(tokens, operation))
    response = _call(isolated, operation, {"Authorization": f"Bearer {forged}"})
    TALLY["sent"] += 1
    TALLY["accepted"] += response.status_code not in (401, 403)
    assert response.status_code in (401, 403), (response.status_code, response.text[:200])
    if operation.identity in ("client", "user") and response.status_code == 401:
        assert response.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize("operation",
                         [op for op in TOKEN_OPERATIONS if op.identity == "client"],
                         ids=lambda op: op.id)
def test_the_genuine_client_token_passes_authentication(
        isolated: Isolated, tokens: Tokens, operation: Operation) -> None:
    """The control of the matrix: the untouched token gets past authentication on each route."""
    response = _call(isolated, operation, bearer(tokens.client.token))
    if operation.id in CHIP_KEY_ROUTES and response.status_code == 401:  # past the token: the key
        assert response.json()["type"].endswith("/chip-access-denied"), response.text[:200]
    else:
        assert response.status_code != 401, response.text[:200]


@pytest.mark.parametrize("operation",
                         [op for op in TOKEN_OPERATIONS if op.identity == "client"],
                         ids=lambda op: op.id)
def test_a_citizens_tokens_are_refused_by_the_client_api(
        isolated: Isolated, tokens: Tokens, operation: Operation) -> None:
    for token in (tokens.user.token, tokens.user.id_token):
        assert _call(isolated, operation, bearer(token)).status_code in (401, 403)


@pytest.mark.parametrize("path", ["/oauth2/userinfo", "/v1/me/access-history",
                                  "/v1/me/data-consents"])
def test_a_client_credentials_token_is_refused_where_a_citizen_is_needed(
        isolated: Isolated, tokens: Tokens, path: str) -> None:
    assert isolated.client.get(path, headers=bearer(tokens.user.token)).status_code == 200
    for token in (tokens.client.token, tokens.user.id_token):
        response = isolated.client.get(path, headers=bearer(token))
        assert response.status_code in (401, 403)


def test_an_id_token_is_not_introspected_as_an_access_token(
        isolated: Isolated, tokens: Tokens) -> None:
    settings = isolated.settings
    auth = (settings.demo_client_id, settings.demo_client_secret)
    response = isolated.client.post("/oauth2/introspect", data={"token": tokens.user.id_token},
                                    auth=auth)
    assert response.json() == {"active": False}


def test_every_route_that_refuses_a_missing_token_is_in_the_matrix(isolated: Isolated) -> None:
    """Probe every operation without credentials: each 401 must be a route of the matrix."""
    refusing = {op.id for op in ALL_OPERATIONS
                if op.path not in CLIENT_AUTH_PATHS and not op.path.startswith(REGISTRATION)
                and _call(isolated, op, {}).status_code == 401}
    assert refusing <= {op.id for op in TOKEN_OPERATIONS}
    assert {op.id for op in TOKEN_OPERATIONS if op.identity != "none"} <= refusing


# RFC 7662 answers for a token of any audience (the resource server checks ``aud``): a token the
# provider's own key signed for another audience is live there, so those two cases are left out.
@pytest.mark.parametrize("case", [c for c in CASES
                                  if c not in ("wrong_audience", "audience_array_without_us")])
def test_jwt_attacks_are_inactive_at_introspection(isolated: Isolated, tokens: Tokens,
                                                   case: str) -> None:
    """The token parameter of RFC 7662 is a token-taking endpoint too."""
    settings = isolated.settings
    auth = (settings.demo_client_id, settings.demo_client_secret)
    forged = attack(case, tokens.client)
    response = isolated.client.post("/oauth2/introspect", data={"token": forged}, auth=auth)
    TALLY["sent"] += 1
    TALLY["accepted"] += response.json() != {"active": False}
    assert response.status_code == 200
    assert response.json() == {"active": False}


# An expired ID token is a valid hint (OIDC RP-Initiated Logout §2), an ID token's typ is JWT,
# and the ID token itself is the genuine hint: those three cases do not apply.
@pytest.mark.parametrize("case", [c for c in CASES if c not in (
    "id_token_as_access_token", "expired", "wrong_typ_jwt")])
def test_forged_id_token_hints_are_refused_at_logout(isolated: Isolated, tokens: Tokens,
                                                     case: str) -> None:
    """RP-initiated logout takes an ID token as ``id_token_hint``: the corpus built from one."""
    id_token = tokens.user.id_token
    material = Material(token=id_token, other_token=tokens.user.other_token, id_token=id_token,
                        ec_key=tokens.user.ec_key, rsa_key=tokens.user.rsa_key,
                        issuer=tokens.user.issuer)
    forged = attack(case, material)
    response = browser(isolated.app).post("/oauth2/logout", data={"id_token_hint": forged})
    TALLY["sent"] += 1
    TALLY["accepted"] += response.status_code != 400
    assert response.status_code == 400
