"""Guessing is throttled and chip reads need a client: wrong chip access keys are counted per
(client, card) and per client (one client never locks a card for another), wrong client secrets,
admin and console tokens per source address (and client), in counts every server process shares
(the database); a locked-out subject is refused with 429 and Retry-After whatever it presents; the
token endpoint keeps to the client's quota.

These tests run apps of their own with small limits (the session's app has the throttles out of
the way, tests/conftest.py), on the session's database, with a frozen sandbox clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import Database
from app.main import create_app
from app.models.audit import AuditRecord
from app.settings import Settings
from tests.api.cards_support import access_key, admin, new_citizen
from tests.api.oidc_support import authorize, redeem, register_rp
from tests.api.sharing_support import admin_headers, basic, bearer, issue_token, new_client
from tests.unit.icao.reader import CardError, Reader

__all__ = ["admin_headers"]

LIMITS = {"failures_per_source": 4, "failures_per_client": 3, "chip_failures_per_card": 3,
          "chip_failures_per_client": 5}
WRONG_KEY = "00" * 16


@pytest.fixture
def throttled(settings: Settings, database: Database) -> Iterator[FastAPI]:
    app = create_app(settings.model_copy(update=LIMITS), database=database,
                     migrate_on_start=False)
    with TestClient(app):
        app.state.clock.freeze()
        yield app


def _from(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, client=(address, 40000))


_ADDRESSES = itertools.count(1)


def _fresh(app: FastAPI) -> TestClient:
    """A caller from an address no other test used: the failure counts live in the session's
    database, by source and minute, and the rest of the suite (its own throttles out of the way)
    still counts its deliberate failures from "testclient"; sharing that address would lock these
    small-limit apps out whenever both fall in the same minute."""
    return _from(app, _new_address())


def _new_address() -> str:
    n = next(_ADDRESSES)
    return f"10.250.{n // 250}.{n % 250 + 1}"


def _problem(response: Any) -> str:
    return str(response.json()["type"]).rsplit("/", 1)[-1]


def _locked(response: Any, kind: str = "problem") -> bool:
    code = _problem(response) if kind == "problem" else response.json()["error"]
    expected = "too-many-failures" if kind == "problem" else "slow_down"
    return (response.status_code == 429 and code == expected
            and int(response.headers["retry-after"]) >= 1)


# --- the chip ----------------------------------------------------------------------------------


@pytest.fixture
def reader(client: TestClient, admin_headers: dict[str, str]) -> tuple[str, str]:
    return new_client(client, admin_headers, scopes=["card.read"], rate_limit=100_000)


def _chip(http: TestClient, reader: tuple[str, str], pin: str, key: str | None) -> Any:
    headers = bearer(issue_token(http, *reader, "card.read"))
    return http.get(f"/v1/cards/{pin}/chip",
                    headers=headers | ({"X-Chip-Access-Key": key} if key else {}))


def _card(http: TestClient, database: Database, admin_headers: dict[str, str]) -> tuple[str, str]:
    """A new card of a new citizen (its counters are this test's): PIN and access key."""
    pin = new_citizen(database, born=date(1990, 9, 9))
    assert admin(http, admin_headers, pin, "issue").status_code == 200
    view = http.get(f"/v1/cards/{pin}", headers=bearer(issue_token(
        http, *new_client(http, admin_headers, scopes=["card.read"]), "card.read")))
    return pin, access_key(view.json()["mrz"])


def test_a_chip_read_needs_a_card_read_token_as_well_as_the_key(
        client: TestClient, database: Database, admin_headers: dict[str, str]) -> None:
    pin, key = _card(client, database, admin_headers)
    anonymous = client.get(f"/v1/cards/{pin}/chip", headers={"X-Chip-Access-Key": key})
    assert (anonymous.status_code, _problem(anonymous)) == (401, "invalid-token")
    signing = client.post(f"/v1/cards/{pin}/chip/internal-authenticate",
                          json={"challenge": "0011223344556677"},
                          headers={"X-Chip-Access-Key": key})
    assert signing.status_code == 401
    other = new_client(client, admin_headers, scopes=["citizen.basic"])
    scoped = client.get(f"/v1/cards/{pin}/chip", headers={
        "X-Chip-Access-Key": key, **bearer(issue_token(client, *other, "citizen.basic"))})
    assert (scoped.status_code, _problem(scoped)) == (403, "insufficient-scope")


def test_wrong_keys_lock_the_client_out_of_the_card_even_for_the_right_key_until_the_window_ends(
        throttled: FastAPI, database: Database, reader: tuple[str, str],
        admin_headers: dict[str, str]) -> None:
    http = _fresh(throttled)
    pin, key = _card(http, database, admin_headers)
    assert [_chip(http, reader, pin, WRONG_KEY).status_code for _ in range(3)] == [401] * 3
    refused = _chip(http, reader, pin, key)
    assert _locked(refused)
    assert _locked(_chip(http, reader, pin, WRONG_KEY))
    throttled.state.clock.advance(timedelta(seconds=int(refused.headers["retry-after"])))
    assert _chip(http, reader, pin, key).status_code == 200


def test_one_clients_wrong_keys_never_lock_the_card_for_another_client(
        throttled: FastAPI, database: Database, reader: tuple[str, str],
        admin_headers: dict[str, str]) -> None:
    http = _fresh(throttled)
    pin, key = _card(http, database, admin_headers)
    assert [_chip(http, reader, pin, WRONG_KEY).status_code for _ in range(3)] == [401] * 3
    assert _locked(_chip(http, reader, pin, key))
    other_reader = new_client(http, admin_headers, scopes=["card.read"])
    assert _chip(http, other_reader, pin, key).status_code == 200
    assert [_chip(http, other_reader, pin, WRONG_KEY).status_code for _ in range(3)] == [401] * 3
    assert _locked(_chip(http, other_reader, pin, key))  # its own guesses lock it out in turn


def test_wrong_keys_from_one_client_lock_that_client_out_on_every_card(
        throttled: FastAPI, database: Database, reader: tuple[str, str],
        admin_headers: dict[str, str]) -> None:
    http = _fresh(throttled)
    pin, key = _card(http, database, admin_headers)
    others = [_card(http, database, admin_headers)[0] for _ in range(2)]
    statuses = [_chip(http, reader, card, WRONG_KEY).status_code
                for card in [*others, *others, "001099999999"]]  # at most 2 a card
    assert statuses == [401] * 5
    assert _locked(_chip(http, reader, pin, key))
    fresh = new_client(http, admin_headers, scopes=["card.read"])
    assert _chip(http, fresh, pin, key).status_code == 200


def test_the_count_of_wrong_keys_is_shared_by_every_server_process(
        throttled: FastAPI, settings: Settings, database: Database, reader: tuple[str, str],
        admin_headers: dict[str, str]) -> None:
    second = create_app(settings.model_copy(update=LIMITS), database=database,
                        migrate_on_start=False)
    with TestClient(second, client=(_new_address(), 40000)) as other:
        second.state.clock = throttled.state.clock
        http = _fresh(throttled)
        pin, key = _card(http, database, admin_headers)
        answers = [_chip(http if i % 2 else other, reader, pin, WRONG_KEY).status_code
                   for i in range(3)]
        assert answers == [401] * 3
        assert _locked(_chip(other, reader, pin, key))
        assert _locked(_chip(http, reader, pin, key))


def test_every_chip_read_is_audited_under_the_client_granted_refused_or_locked(
        throttled: FastAPI, database: Database, reader: tuple[str, str],
        admin_headers: dict[str, str]) -> None:
    http = _fresh(throttled)
    pin, key = _card(http, database, admin_headers)
    answers = [_chip(http, reader, pin, k).status_code
               for k in (key, WRONG_KEY, WRONG_KEY, WRONG_KEY, key)]
    assert answers == [200, 401, 401, 401, 429]
    assert _chip_reads(database, pin, AuditRecord.client_id == reader[0]) == [
        "disclosed", "denied", "denied", "denied", "locked"]


def _chip_reads(database: Database, pin: str, *where: Any) -> list[str]:
    """The audited results of the card's chip reads, in order."""
    with database.read() as session:
        return list(session.scalars(select(AuditRecord.result).where(
            AuditRecord.pin == pin, AuditRecord.action == "chip_read", *where)
            .order_by(AuditRecord.seq)))


# --- the chip over APDUs: the same counts as the JSON read ---------------------------------------

SELECT_APPLICATION, GET_CHALLENGE = "00A4040C07A0000002471001", "0084000008"
WRONG_BAC = "0082000028" + "00" * 40 + "28"  # MUTUAL AUTHENTICATE with a wrong key's cryptogram


def _session(http: TestClient, token: str, pin: str) -> Any:
    return http.post(f"/v1/cards/{pin}/chip/sessions", headers=bearer(token))


def _send(http: TestClient, token: str, pin: str, session_id: str, *apdus: str) -> Any:
    return http.post(f"/v1/cards/{pin}/chip/apdu", headers=bearer(token),
                     json={"session_id": session_id, "apdus": list(apdus)})


def _wrong_bac(http: TestClient, token: str, pin: str) -> str:
    """A BAC with a wrong MRZ key in a new session: the last status word (or the refusal)."""
    opened = _session(http, token, pin)
    if opened.status_code != 201:
        return str(opened.status_code)
    answer = _send(http, token, pin, opened.json()["session_id"], SELECT_APPLICATION,
                   GET_CHALLENGE, WRONG_BAC)
    return str(answer.json()["responses"][-1]) if answer.status_code == 200 else \
        str(answer.status_code)


def _right_bac(http: TestClient, token: str, pin: str, key: str) -> Any:
    """A BAC with the right key in a new session: the refused response, else ``None``."""
    opened = _session(http, token, pin)
    if opened.status_code != 201:
        return opened
    refused: list[Any] = []

    def transmit(command: bytes) -> bytes:
        answer = _send(http, token, pin, opened.json()["session_id"], command.hex())
        if answer.status_code != 200:
            refused.append(answer)
            return bytes.fromhex("6985")
        return bytes.fromhex(answer.json()["responses"][0])

    reader = Reader(transmit)
    try:
        reader.select_application()
        reader.bac(bytes.fromhex(key))
    except CardError:
        return refused[0]
    return None


def test_wrong_mrz_keys_over_apdus_lock_the_card_out_of_apdus_and_of_the_json_read(
        throttled: FastAPI, database: Database, reader: tuple[str, str],
        admin_headers: dict[str, str]) -> None:
    http = _fresh(throttled)
    pin, key = _card(http, database, admin_headers)
    token = issue_token(http, *reader, "card.read")
    early = _session(http, token, pin).json()["session_id"]  # opened before the lockout
    assert [_wrong_bac(http, token, pin) for _ in range(3)] == ["6300"] * 3
    assert _locked(_session(http, token, pin))
    assert _locked(_send(http, token, pin, early, SELECT_APPLICATION))
    assert _locked(_chip(http, reader, pin, key))
    other = issue_token(http, *new_client(http, admin_headers, scopes=["card.read"]), "card.read")
    assert _session(http, other, pin).status_code == 201  # another client is not locked out


def test_wrong_keys_over_apdus_and_the_json_read_add_up_to_one_count(
        throttled: FastAPI, database: Database, reader: tuple[str, str],
        admin_headers: dict[str, str]) -> None:
    http = _fresh(throttled)
    pin, key = _card(http, database, admin_headers)
    token = issue_token(http, *reader, "card.read")
    answers = [str(_chip(http, reader, pin, WRONG_KEY).status_code), _wrong_bac(http, token, pin),
               str(_chip(http, reader, pin, WRONG_KEY).status_code)]
    assert answers == ["401", "6300", "401"]
    assert _locked(_session(http, token, pin))
    assert _locked(_chip(http, reader, pin, key))


def test_wrong_keys_over_apdus_lock_the_client_out_on_every_card(
        throttled: FastAPI, database: Database, reader: tuple[str, str],
        admin_headers: dict[str, str]) -> None:
    http = _fresh(throttled)
    pin, key = _card(http, database, admin_headers)
    others = [_card(http, database, admin_headers)[0] for _ in range(2)]
    token = issue_token(http, *reader, "card.read")
    answers = [_wrong_bac(http, token, card) for card in [*others, *others, pin]]
    assert answers == ["6300"] * 5  # at most 2 a card: the client's count of 5
    assert _locked(_session(http, token, pin))
    fresh = issue_token(http, *new_client(http, admin_headers, scopes=["card.read"]), "card.read")
    assert _right_bac(http, fresh, pin, key) is None


def test_a_request_of_many_wrong_keys_stops_at_the_lockout(
        throttled: FastAPI, database: Database, reader: tuple[str, str],
        admin_headers: dict[str, str]) -> None:
    http = _fresh(throttled)
    pin, _ = _card(http, database, admin_headers)
    token = issue_token(http, *reader, "card.read")
    opened = _session(http, token, pin).json()["session_id"]
    refused = _send(http, token, pin, opened, SELECT_APPLICATION,
                    *[GET_CHALLENGE, WRONG_BAC] * 5)
    assert _locked(refused)
    assert _chip_reads(database, pin, AuditRecord.request_id == refused.headers["x-request-id"]) \
        == ["denied", "denied", "denied", "locked"]
    assert _locked(_session(http, token, pin))  # the failures counted, though the answer is 429


def test_the_apdu_lockout_lifts_when_its_window_ends_by_the_sandbox_clock(
        throttled: FastAPI, database: Database, reader: tuple[str, str],
        admin_headers: dict[str, str]) -> None:
    http = _fresh(throttled)
    pin, key = _card(http, database, admin_headers)
    token = issue_token(http, *reader, "card.read")
    assert [_wrong_bac(http, token, pin) for _ in range(3)] == ["6300"] * 3
    refused = _right_bac(http, token, pin, key)
    assert _locked(refused)
    throttled.state.clock.advance(timedelta(seconds=int(refused.headers["retry-after"])))
    token = issue_token(http, *reader, "card.read")  # the first one has expired by now
    assert _right_bac(http, token, pin, key) is None
    assert _chip(http, reader, pin, key).status_code == 200


# --- secrets: the token endpoint, the admin token, the console -----------------------------------


def _token(http: TestClient, client_id: str, secret: str) -> Any:
    return http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                     headers=basic(client_id, secret))


def test_wrong_client_secrets_lock_the_client_out_in_the_oauth_format(
        throttled: FastAPI, admin_headers: dict[str, str]) -> None:
    bank = new_client(_fresh(throttled), admin_headers, scopes=["citizen.basic"])
    wrong = [_token(_from(throttled, f"10.1.0.{i}"), bank[0], "wrong").status_code
             for i in range(3)]  # three addresses: the client's count, not a source's
    assert wrong == [401] * 3
    refused = _token(_from(throttled, "10.1.0.9"), *bank)
    assert _locked(refused, kind="oauth")
    assert refused.headers["content-type"].startswith("application/json")
    other = new_client(_fresh(throttled), admin_headers, scopes=["citizen.basic"])
    assert _token(_from(throttled, "10.1.0.9"), *other).status_code == 200


def test_wrong_secrets_from_one_source_lock_that_source_out(
        throttled: FastAPI, admin_headers: dict[str, str]) -> None:
    bank = new_client(_fresh(throttled), admin_headers, scopes=["citizen.basic"])
    guesser = _from(throttled, "10.2.0.1")
    answers = [_token(guesser, f"nobody-{i}", "wrong").status_code for i in range(4)]
    assert answers == [401] * 4
    assert _locked(_token(guesser, *bank), kind="oauth")
    assert _token(_from(throttled, "10.2.0.2"), *bank).status_code == 200
    throttled.state.clock.advance(timedelta(seconds=60))
    assert _token(guesser, *bank).status_code == 200


def test_wrong_admin_tokens_lock_the_source_out_of_the_admin_routes(
        throttled: FastAPI, settings: Settings) -> None:
    guesser = _from(throttled, "10.3.0.1")
    answers = [guesser.get("/v1/admin/clients", headers=bearer(f"guess-{i}")).status_code
               for i in range(4)]
    assert answers == [401] * 4
    refused = guesser.get("/v1/admin/clients", headers=bearer(settings.admin_token))
    assert _locked(refused)
    search = guesser.get("/v1/citizens", params={"surname": "Lê"},
                         headers=bearer(settings.admin_token))  # a route open to the admin too
    assert _locked(search)
    fault = guesser.get("/v1/sandbox/personas", headers={
        **bearer(settings.admin_token), "X-Sandbox-Fault": "status=500"})
    assert _locked(fault)
    elsewhere = _from(throttled, "10.3.0.2")
    assert elsewhere.get("/v1/admin/clients", headers=bearer(settings.admin_token)).status_code \
        == 200


def test_wrong_admin_tokens_with_a_fault_header_are_guesses_too(
        throttled: FastAPI, settings: Settings) -> None:
    guesser = _from(throttled, "10.4.0.1")
    answers = [guesser.get("/.well-known/jwks.json", headers={
        **bearer(f"guess-{i}"), "X-Sandbox-Fault": "status=500"}).status_code for i in range(4)]
    assert answers == [403] * 4
    assert _locked(guesser.get("/.well-known/jwks.json", headers={
        **bearer(settings.admin_token), "X-Sandbox-Fault": "status=500"}))


def test_wrong_console_tokens_lock_the_source_out_of_the_console(
        throttled: FastAPI, settings: Settings) -> None:
    guesser = TestClient(throttled, client=("10.5.0.1", 40000), follow_redirects=False)
    answers = [guesser.post("/console/login", data={"token": f"guess-{i}"}).status_code
               for i in range(4)]
    assert answers == [401] * 4
    refused = guesser.post("/console/login", data={"token": settings.admin_token})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "dancu_console" not in refused.cookies


def test_the_token_endpoint_keeps_to_the_clients_quota(
        throttled: FastAPI, admin_headers: dict[str, str]) -> None:
    http = _fresh(throttled)
    bank = new_client(http, admin_headers, scopes=["citizen.basic"], rate_limit=3)
    answers = [_token(http, *bank) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200] * 3
    assert _locked(answers[3], kind="oauth")
    lookup = http.get("/v1/citizens/001099999999", headers=bearer(
        answers[0].json()["access_token"]))
    assert lookup.status_code == 404  # the calls' quota is a count of its own
    throttled.state.clock.advance(timedelta(seconds=int(answers[3].headers["retry-after"])))
    assert _token(http, *bank).status_code == 200


def test_the_quota_keeps_serving_after_the_sandbox_clock_is_set_back(
        settings: Settings, database: Database, admin_headers: dict[str, str]) -> None:
    """A block leased while the clock was ahead must not stop later leases from landing: each
    lease was counted and dropped, and the client, well within its quota, got 429s."""
    app = create_app(settings, database=database, migrate_on_start=False)
    with TestClient(app, client=(_new_address(), 40000)) as http:  # one event loop throughout
        bank = new_client(http, admin_headers, scopes=["citizen.basic"],
                          rate_limit=1000)  # blocks of 10
        token = _token(http, *bank).json()["access_token"]
        clock = app.state.clock
        clock.freeze(clock.now() + timedelta(minutes=2))
        try:
            assert http.get("/v1/citizens/001099999999",
                            headers=bearer(token)).status_code == 404
        finally:
            clock.reset()
        answers = [http.get("/v1/citizens/001099999999", headers=bearer(token)).status_code
                   for _ in range(150)]  # 150 of the 1,000 a minute
    assert set(answers) == {404}


def test_a_logins_tokens_are_not_held_to_the_data_api_quota(
        throttled: FastAPI, client: TestClient, admin_headers: dict[str, str]) -> None:
    rp = register_rp(client, admin_headers, name="Quota RP", rate_limit=1)
    listed = client.get("/v1/admin/accounts/personas", headers=admin_headers).json()["personas"]
    citizen = next(p["pin"] for p in listed if p["key"] == "citizen-l2")
    agent = TestClient(throttled, client=(_new_address(), 40000), follow_redirects=False)
    answers = [redeem(agent, rp, authorize(agent, rp, pin=citizen)).status_code
               for _ in range(3)]
    assert answers == [200] * 3


@pytest.mark.parametrize("path", ["/oauth2/introspect", "/oauth2/revoke"])
def test_introspection_and_revocation_count_wrong_secrets_like_the_token_endpoint(
        throttled: FastAPI, admin_headers: dict[str, str], path: str) -> None:
    bank = new_client(_fresh(throttled), admin_headers, scopes=["citizen.basic"])
    guesser = _from(throttled, f"10.6.0.{len(path)}")
    wrong = [guesser.post(path, data={"token": "x"}, headers=basic(bank[0], f"guess-{i}"))
             for i in range(3)]
    assert [w.status_code for w in wrong] == [401] * 3
    assert _locked(guesser.post(path, data={"token": "x"}, headers=basic(*bank)), kind="oauth")
    assert _locked(_token(_from(throttled, "10.6.0.99"), *bank), kind="oauth")  # one count


def test_a_quota_block_leased_for_a_window_already_over_keeps_the_new_windows_block() -> None:
    """The lease ahead runs in the background with the time of the request that started it: as
    the window turns, a request may lease the new window's block first. The late, stale lease
    must not replace that block (its requests are counted in the database: the client would
    lose them)."""
    from datetime import UTC, datetime

    from app.services.kit.rate_limit import WINDOW_SECONDS, QuotaLeases

    leases = QuotaLeases()
    old = datetime(2026, 12, 7, 12, 0, 59, tzinfo=UTC)
    new = old + timedelta(seconds=WINDOW_SECONDS)
    leases.add("bank-a", now=new, requests=10)  # the new window's block
    leases.add("bank-a", now=old, requests=10, ahead=True)  # started in the old window
    assert leases.left("bank-a", now=new) == 10
    assert leases.take("bank-a", now=new)


def test_a_quota_block_leased_after_the_sandbox_clock_was_set_back_is_kept() -> None:
    """A request's own lease always lands: with the sandbox clock set back, a block kept for a
    later window would refuse every lease for ever (each lease counted, none usable: 429s)."""
    from datetime import UTC, datetime

    from app.services.kit.rate_limit import WINDOW_SECONDS, QuotaLeases

    leases = QuotaLeases()
    later = datetime(2026, 12, 7, 12, 5, 0, tzinfo=UTC)
    earlier = later - timedelta(seconds=3 * WINDOW_SECONDS)
    leases.add("bank-a", now=later, requests=10)
    leases.add("bank-a", now=earlier, requests=10)  # the clock set back
    assert leases.left("bank-a", now=earlier) == 10
    assert leases.take("bank-a", now=earlier)


def test_a_request_finding_the_block_empty_joins_the_lease_ahead_already_started() -> None:
    """The lease ahead's flight is registered when it is started, not at the task's first step:
    a request that found the block empty in between leased too, and the two flights under one
    key replaced each other (the second to end failed on the missing key: a 500, and the
    requests waiting on its flight waited for ever)."""
    import asyncio
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from app import security
    from app.services.kit.rate_limit import QuotaLeases, RateDecision

    leased: list[str] = []

    class Charges:  # the shared counter (PostgreSQL's path); the write is not what is tested
        async def charge(self, **_: Any) -> RateDecision:
            leased.append("ahead")
            return RateDecision(allowed=True, limit=400, granted=4, retry_after=0)

    async def scenario() -> tuple[bool, bool]:
        now = datetime(2026, 12, 7, 12, 0, 30, tzinfo=UTC)
        cache = SimpleNamespace(quotas=QuotaLeases(), charges=Charges())
        client = SimpleNamespace(client_id="bank-a", rate_limit=400)  # blocks of 4
        cache.quotas.add("bank-a", now=now, requests=1)  # a quarter of the block left
        security._lease_ahead(None, client, now, cache)  # type: ignore[arg-type]
        assert cache.quotas.take("bank-a", now=now)  # the last one: the block is empty now
        joined = await security._joined(cache, "lease", "bank-a")  # type: ignore[arg-type]
        await asyncio.sleep(0)
        key = security._flight_key(cache, "lease", "bank-a")  # type: ignore[arg-type]
        return joined, key in security._FLIGHTS

    joined, still_flying = asyncio.run(scenario())
    assert joined  # it waited for the lease ahead instead of leasing a second block
    assert leased == ["ahead"]
    assert not still_flying


def test_flights_under_one_key_end_in_any_order_and_wake_their_waiters() -> None:
    import asyncio
    from types import SimpleNamespace

    from app import security

    async def scenario() -> None:
        cache = SimpleNamespace()
        async with security._leading(cache, "lease", "bank-a"):  # type: ignore[arg-type]
            key = security._flight_key(cache, "lease", "bank-a")  # type: ignore[arg-type]
            first = security._FLIGHTS[key]
            async with security._leading(cache, "lease", "bank-a"):  # type: ignore[arg-type]
                second = security._FLIGHTS[key]
        assert first.done()
        assert second.done()
        assert key not in security._FLIGHTS

    asyncio.run(scenario())
