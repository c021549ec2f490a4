"""Races, on whichever database the session runs (SQLite or PostgreSQL):

- an authorization code redeemed by 16 threads at once issues exactly one token, in each of
  ``DANCU_RACE_TRIALS`` trials (50 by default, the CI figure);
- 16 concurrent births through HTTP never share a PIN (the life-events service's in-process
  version with identical random draws is ``tests/api/test_events_idempotency.py``);
- a consent withdrawal and a bank's concurrent data accesses are ordered: once the withdrawal has
  answered, no access succeeds.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.clock import system_now
from app.db import Database
from app.oidc import errors as oauth
from app.services.kit.keys import KeyStore
from app.services.sharing import tokens
from app.settings import Settings
from tests.api.events_support import married_couple
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import Rp, authorize, browser, register_rp, tokens_for
from tests.api.sharing_support import bearer, issue_token, new_client
from tests.reliability.conftest import Isolated
from tests.reliability.processes import running_server
from tests.reliability.support import record
from tests.reliability.test_access_control import citizen_with_account

TRIALS = int(os.environ.get("DANCU_RACE_TRIALS", "50"))
THREADS = 16
TALLY: Counter[str] = Counter()
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hải", "Khánh", "Lâm", "Minh", "Nam", "Phúc",
         "Quân", "Sơn", "Tâm", "Vinh", "Xuân"]


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[None]:
    yield
    record("races", "code trials x threads", f"{TALLY['code trials']} x {THREADS}")
    record("races", "trials with exactly one token", TALLY["single token trials"])
    record("races", "concurrent births", TALLY["births"])
    record("races", "duplicate PINs", TALLY["duplicate pins"])
    record("races", "accesses after withdrawal", TALLY["late accesses"])


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released together; results (or exceptions) in order."""
    barrier, results = threading.Barrier(count), [None] * count

    def one(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except BaseException as error:  # reported by the caller
            results[index] = error

    workers = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return results


def _redeem_once(database: Database, settings: Settings, request: tokens.TokenRequest,
                 store: KeyStore) -> str:
    try:
        with database.write() as session:
            tokens.token_response(session, request, settings=settings, keys=store,
                                  now=system_now())
        return "issued"
    except oauth.OAuthError as error:
        return error.error


@pytest.fixture(scope="module")
def race_rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="Race RP")


def test_concurrent_redemptions_of_one_code_issue_exactly_one_token_in_every_trial(
        app: Any, race_rp: Rp, personas: dict[str, Any], database: Database,
        settings: Settings) -> None:
    agent, store, pin = browser(app), KeyStore(database), personas["citizen-l2"]["pin"]
    for _ in range(TRIALS):
        flow = authorize(agent, race_rp, pin=pin)
        headers, form = race_rp.auth({
            "grant_type": "authorization_code", "code": flow.result["code"],
            "redirect_uri": flow.params["redirect_uri"], "code_verifier": flow.verifier})
        request = tokens.TokenRequest(form, headers.get("Authorization"))
        outcomes = in_threads(THREADS, lambda _, r=request: _redeem_once(database, settings, r,
                                                                          store))
        TALLY["code trials"] += 1
        assert Counter(outcomes) == {"issued": 1, "invalid_grant": THREADS - 1}, outcomes
        TALLY["single token trials"] += 1


def test_concurrent_births_through_http_never_share_a_pin(isolated: Isolated) -> None:
    admin = bearer(isolated.settings.admin_token)
    mother = married_couple(isolated.database).wife
    today = date.today().isoformat()

    def birth(index: int) -> str:
        response = agent().post("/v1/life-events/births", headers=admin, json={
            "mother_pin": mother, "surname": "Vũ", "given_name": GIVEN[index % len(GIVEN)],
            "sex": "M", "birth_date": today})
        assert response.status_code == 201, response.text
        return str(response.json()["pin"])

    def agent() -> TestClient:  # a client of its own per thread, without a second lifespan
        return TestClient(isolated.app)

    pins = in_threads(THREADS, birth)
    errors = [p for p in pins if isinstance(p, BaseException)]
    assert errors == []
    TALLY["births"] += len(pins)
    TALLY["duplicate pins"] += len(pins) - len(set(pins))
    assert len(set(pins)) == THREADS


def test_concurrent_births_and_lookups_on_a_real_server_all_succeed(isolated: Isolated) -> None:
    """One event loop for every request, as deployed: births (sync routes whose transaction
    commits from a worker thread; the admin's: only the admin records life events in the
    deployment) meet a client's quota leases (writes too)."""
    admin = bearer(isolated.settings.admin_token)
    writer = new_client(isolated.client, admin, scopes=["citizen.basic"], rate_limit=100)
    mother = married_couple(isolated.database).wife
    with running_server(isolated.settings.database_url, name="races", DANCU_AUTO_SEED="false",
                        DANCU_ADMIN_TOKEN=isolated.settings.admin_token,
                        DANCU_DELIVERY_WORKER="false") as server, \
            httpx.Client(base_url=server.base, timeout=60) as http:
        token = http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=writer).json()["access_token"]

        def work(index: int) -> int:
            if index % 2:
                return http.get(f"/v1/citizens/{mother}", headers=bearer(token)).status_code
            return http.post("/v1/life-events/births", headers=admin, json={
                "mother_pin": mother, "surname": "Vũ", "given_name": GIVEN[index % len(GIVEN)],
                "sex": "F", "birth_date": date.today().isoformat()}).status_code

        statuses = in_threads(THREADS, work)
    TALLY["births"] += THREADS // 2
    assert statuses == [201 if i % 2 == 0 else 200 for i in range(THREADS)]


def test_no_access_succeeds_once_a_consent_withdrawal_has_answered(isolated: Isolated) -> None:
    client, admin = isolated.client, bearer(isolated.settings.admin_token)
    bank = register_rp(client, admin, name="Race bank", scopes=[
        "citizen.basic", "openid", "vneid.history"], purposes=["account-opening"],
        data_basis="consent", grant_types=["client_credentials", "authorization_code"])
    pin = citizen_with_account(isolated, date(1988, 8, 8))
    me = bearer(tokens_for(browser(isolated.app), bank, pin,
                           scope="openid vneid.history")["access_token"])
    given = client.post("/v1/admin/consents", headers=admin, json={  # given in writing
        "pin": pin, "client_id": bank.client_id, "purpose": "account-opening",
        "scopes": ["citizen.basic"], "method": "written"})
    assert given.status_code == 201, given.text
    bank_token = bearer(issue_token(client, bank.client_id, bank.secret or "", "citizen.basic"))
    assert client.get(f"/v1/citizens/{pin}", headers=bank_token).status_code == 200
    withdrawn = threading.Event()
    late: list[int] = []

    def access(index: int) -> list[tuple[bool, int]]:
        seen, agent = [], TestClient(isolated.app)
        for _ in range(12):
            after = withdrawn.is_set()
            status = agent.get(f"/v1/citizens/{pin}", headers=bank_token).status_code
            seen.append((after, status))
        return seen

    def withdraw() -> None:
        response = TestClient(isolated.app).post(
            f"/v1/me/data-consents/{given.json()['id']}/withdraw", headers=me)
        assert response.status_code == 200, response.text
        withdrawn.set()

    results = in_threads(8, lambda i: withdraw() if i == 0 else access(i))
    assert not any(isinstance(r, BaseException) for r in results), results
    for seen in results[1:]:
        late += [status for after, status in seen if after and status != 403]
        assert {status for _, status in seen} <= {200, 403}
    TALLY["late accesses"] += len(late)
    assert late == []
    assert client.get(f"/v1/citizens/{pin}", headers=bank_token).status_code == 403
