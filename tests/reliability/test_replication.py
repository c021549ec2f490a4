"""A real PostgreSQL streaming standby, and a failover under load (docs/scale.md, "Read replicas"
and "Failover"). PostgreSQL only: replication is the engine's own (``replication.py`` builds a new
primary and its hot standby on other ports, torn down afterwards).

- lookups by PIN read the standby while everything that must read its own writes reads the
  primary: with the standby's replay paused, a life event is in the primary's feed at once and
  reaches lookups only once replayed; the delay from acknowledgement to visibility is measured
  (asynchronous) and is nil under ``synchronous_commit = remote_apply``;
- two ``dancu serve`` processes behind HAProxy (health-checked on /readyz) under a steady load
  of lookups, logins and life events: one process is killed, then the primary
  (``pg_ctl stop -m immediate``) and the standby promoted. No answer is a 500; every failure
  during the switch is a 503 with Retry-After; every acknowledged life event is on the promoted
  node and its audit chain verifies; writes are answered again soon after the promotion.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app import migrations
from app.db import Database
from app.main import create_app
from app.services.population import reference
from app.settings import load_settings
from seed.populate import populate
from tests.conftest import TEST_SEED
from tests.reliability.processes import Server, dancu, free_port, start_servers
from tests.reliability.replication import Pair, haproxy, replication_pair
from tests.reliability.support import record
from tests.system_tools import require_tool

pytestmark = pytest.mark.skipif(
    not (os.environ.get("DANCU_TEST_DATABASE_URL") or "").startswith("postgresql"),
    reason="streaming replication is PostgreSQL's (the PostgreSQL run builds a real pair)")

POPULATION = 600
ADMIN = {"Authorization": "Bearer admin-secret"}
REDIRECT = "http://127.0.0.1:8765/callback"
VISIBLE_WITHIN_SECONDS = 10.0  # the bound on an asynchronous standby's lag on this machine
ANSWERING_WITHIN_SECONDS = 10.0  # after the promotion (issue 21)


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with replication_pair(require_tool("pg_config", debian="postgresql-15")) as built:
        database = Database.connect(built.primary.url())
        try:
            migrations.upgrade(database.engine)
            populate(database, size=POPULATION, seed=TEST_SEED)
        finally:
            database.dispose()
        # The first start's generation (cards, accounts, personas) once, before the servers:
        # two first starts at once on a fresh database race on the card personas' unique key.
        with TestClient(create_app(_settings(built))):
            pass
        reference.forget()
        yield built


def _settings(pair: Pair, **extra: Any) -> Any:
    return load_settings(database_url=pair.writer_url(), read_database_url=pair.standby.url(),
                         seed=TEST_SEED, population_size=POPULATION, auto_seed=True,
                         delivery_worker=False, **extra)


def _alive_pins(pair: Pair, count: int) -> list[str]:
    # Not the sandbox personas: lookups of fault-slow, fault-unavailable, ... answer slowly or
    # with injected 503s by design.
    rows = pair.primary.execute(
        "SELECT pin FROM citizen WHERE status = 'alive' AND birth_date < '2000-01-01' AND pin "
        f"NOT IN (SELECT pin FROM sandbox_persona) ORDER BY pin LIMIT {count}")
    return [str(row[0]) for row in rows]


def _name(prefix: str, index: int) -> str:
    """A distinct given name per index (a name has letters only)."""
    letters = ""
    while True:
        index, digit = divmod(index, 26)
        letters += chr(ord("a") + digit)
        if not index:
            return prefix + letters


def _rename(http: Any, pin: str, given: str, key: str | None = None) -> Any:
    headers = {**ADMIN, **({"Idempotency-Key": key} if key else {})}
    return http.post("/v1/life-events/name-changes", headers=headers, json={
        "pin": pin, "surname": "Phạm", "given_name": given, "reason": "civil_status_decision"})


def _lookup_name(client: TestClient, token: str, pin: str) -> str:
    found = client.get(f"/v1/citizens/{pin}", headers={"Authorization": f"Bearer {token}"})
    assert found.status_code == 200, found.text
    return str(found.json()["full_name"])


def _demo_token(client: TestClient) -> str:
    answer = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                         auth=("demo", "demo-secret-for-the-sandbox-only"))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _feed_ids(client: TestClient) -> set[int]:
    ids: set[int] = set()
    params = {"limit": 500}
    while True:
        page = client.get("/v1/events", headers=ADMIN, params=params)
        assert page.status_code == 200, page.text
        ids.update(item["id"] for item in page.json()["items"])
        if not page.json()["items"]:
            return ids
        params = {"limit": 500, "cursor": page.json()["next_cursor"]}


def _visible_after(client: TestClient, token: str, pin: str, given: str) -> float:
    """Seconds from now until a lookup answers with ``given`` (at most the bound)."""
    started = time.monotonic()
    while given not in _lookup_name(client, token, pin):
        assert time.monotonic() - started < VISIBLE_WITHIN_SECONDS, "the standby did not replay"
        time.sleep(0.005)
    return time.monotonic() - started


def test_lookups_read_the_standby_and_see_a_life_event_once_it_is_replayed(pair: Pair) -> None:
    pins = _alive_pins(pair, 21)
    with TestClient(create_app(_settings(pair))) as client:
        token = _demo_token(client)
        pair.synchronous(False)
        pair.standby.execute("SELECT pg_wal_replay_pause()", database="postgres")
        try:
            written = _rename(client, pins[0], "Paused")
            assert written.status_code == 201, written.text
            # Read-your-writes on the primary: the feed (admin) lists the event at once ...
            assert written.json()["event"]["id"] in _feed_ids(client)
            # ... while the lookup, served by the paused standby, still has the old name.
            assert "Paused" not in _lookup_name(client, token, pins[0])
        finally:
            pair.standby.execute("SELECT pg_wal_replay_resume()", database="postgres")
        _visible_after(client, token, pins[0], "Paused")
        lags = []
        for index, pin in enumerate(pins[1:11]):
            assert _rename(client, pin, _name("Async", index)).status_code == 201
            lags.append(_visible_after(client, token, pin, _name("Async", index)))
        pair.synchronous(True, level="remote_apply")
        try:
            for index, pin in enumerate(pins[11:]):
                assert _rename(client, pin, _name("Applied", index)).status_code == 201
                # remote_apply: acknowledged only once the standby has replayed it.
                assert _name("Applied", index) in _lookup_name(client, token, pin)
        finally:
            pair.synchronous(False)
    reference.forget()
    record("replication", "async standby: life event visible to lookups after, max ms",
           round(max(lags) * 1000, 1))
    record("replication", "remote_apply: life event visible at acknowledgement", "10/10")


# --- failover under load --------------------------------------------------------------------------


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    acknowledged: list[tuple[int, str]] = field(default_factory=list)  # (event seq, pin)
    answered_at: dict[str, list[float]] = field(default_factory=dict)
    unclean: list[str] = field(default_factory=list)
    cut_at: list[float] = field(default_factory=list)
    unanswered_writes: list[tuple[str, str, str]] = field(default_factory=list)  # pin, name, key
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, kind: str, answer: httpx.Response | None, error: str = "") -> str:
        at = time.monotonic()
        with self.lock:
            if answer is None:
                self.outcomes["cut (no answer)"] += 1
                self.cut_at.append(at)
                self.statuses[f"{kind} {error}"] += 1
                return "cut"
            self.statuses[f"{kind} {answer.status_code}"] += 1
            if answer.status_code < 400:
                self.outcomes["answered"] += 1
                self.answered_at.setdefault(kind, []).append(at)
                return "answered"
            if answer.status_code == 503 and answer.headers.get("Retry-After") and \
                    answer.headers.get("content-type", "").startswith("application/problem+json"):
                problem = str(answer.json().get("type", "")).rsplit("/", 1)[-1]
                self.outcomes[f"503 with Retry-After ({problem})"] += 1
                return "503"
            self.outcomes[f"other {answer.status_code}"] += 1
            self.unclean.append(f"{kind} {answer.status_code} {answer.text[:200]}")
            return "other"


@dataclass
class Load:
    base: str
    token: str
    client: tuple[str, str]
    login_pin: str
    lookup_pins: list[str]
    tally: Tally
    stop: threading.Event = field(default_factory=threading.Event)

    def lookups(self) -> None:
        with httpx.Client(base_url=self.base, timeout=15) as http:
            index = 0
            while not self.stop.is_set():
                pin = self.lookup_pins[index % len(self.lookup_pins)]
                index += 1
                self._send("lookup", partial(http.get, f"/v1/citizens/{pin}",
                                             headers={"Authorization": f"Bearer {self.token}"}))

    def life_events(self, pin: str) -> None:
        with httpx.Client(base_url=self.base, timeout=15) as http:
            index = 0
            while not self.stop.is_set():
                index += 1
                given, key = _name("Đổi", index), secrets.token_hex(8)
                answer = self._send("life event", partial(_rename, http, pin, given, key=key))
                with self.tally.lock:
                    if answer is None:
                        self.tally.unanswered_writes.append((pin, given, key))
                    elif answer.status_code == 201:
                        self.tally.acknowledged.append((int(answer.json()["event"]["id"]), pin))

    def logins(self) -> None:
        with httpx.Client(base_url=self.base, timeout=15) as http:
            while not self.stop.is_set():
                self._login(http)

    def _login(self, http: httpx.Client) -> None:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        authorized = self._send("login", lambda: http.get("/oauth2/authorize", params={
            "client_id": self.client[0], "redirect_uri": REDIRECT, "response_type": "code",
            "scope": "openid profile", "state": "s", "nonce": secrets.token_hex(8),
            "code_challenge": challenge.rstrip(b"=").decode(),
            "code_challenge_method": "S256"}, headers={"X-Sandbox-Login": self.login_pin}))
        if authorized is None or authorized.status_code != 303:
            return
        code = httpx.URL(authorized.headers["location"]).params.get("code")
        self._send("token", lambda: http.post("/oauth2/token", auth=self.client, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier}))

    def _send(self, kind: str, call: Callable[[], httpx.Response]) -> httpx.Response | None:
        try:
            answer = call()
        except httpx.HTTPError as error:
            self.tally.note(kind, None, type(error).__name__)
            time.sleep(0.05)
            return None
        if self.tally.note(kind, answer) != "answered":
            time.sleep(0.05)  # a client honouring a short Retry-After
        return answer


def _prepare(base: str, pair: Pair) -> tuple[str, tuple[str, str], str]:
    with httpx.Client(base_url=base, timeout=30) as http:
        created = http.post("/v1/admin/clients", headers=ADMIN, json={
            "name": "failover load", "scopes": ["citizen.basic", "openid", "profile"],
            "purposes": ["load-test"], "sandbox": True, "redirect_uris": [REDIRECT],
            "grant_types": ["client_credentials", "authorization_code"],
            "rate_limit": 10_000_000})
        created.raise_for_status()
        client = (created.json()["client_id"], created.json()["client_secret"])
        token = http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=client).json()["access_token"]
        personas = http.get("/v1/admin/accounts/personas", headers=ADMIN).json()["personas"]
        login_pin = next(p["pin"] for p in personas if p["key"] == "citizen-l2")
    return token, client, login_pin


@pytest.fixture
def servers(pair: Pair) -> Iterator[tuple[list[Server], str]]:
    """Two ``dancu serve`` processes on the pair's multi-host URLs, behind HAProxy."""
    binary = require_tool("haproxy", debian="haproxy")
    public = f"http://127.0.0.1:{free_port()}"
    env = {"DANCU_READ_DATABASE_URL": pair.reader_url(), "DANCU_POPULATION_SIZE": str(POPULATION),
           "DANCU_SEED": str(TEST_SEED), "DANCU_DELIVERY_WORKER": "false"}
    started: list[Server] = []
    try:
        started.extend(start_servers(pair.writer_url(), names=["failover-a", "failover-b"],
                                     issuer=public, **env))
        addresses = [server.base.removeprefix("http://") for server in started]
        with haproxy(binary, addresses, port=int(public.rsplit(":", 1)[1])) as base:
            yield started, base
    finally:
        for server in started:
            if server.process.poll() is None:
                server.stop()


def test_a_primary_killed_under_load_loses_no_acknowledged_write(
        pair: Pair, servers: tuple[list[Server], str]) -> None:
    processes, base = servers
    pair.synchronous(True, level="remote_apply")
    token, client, login_pin = _prepare(base, pair)
    pins = _alive_pins(pair, 40)
    tally = Tally()
    load = Load(base, token, client, login_pin, pins[4:], tally)
    threads = [threading.Thread(target=load.lookups), threading.Thread(target=load.logins),
               *(threading.Thread(target=load.life_events, args=(pin,)) for pin in pins[:3])]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        processes[0].kill()  # one server process dies mid-load
        server_killed_at = time.monotonic()
        time.sleep(3)
        pair.kill_primary()
        killed_at = time.monotonic()
        time.sleep(1)  # no primary at all for a second: writes cannot be acknowledged
        pair.promote()
        promoted_at = time.monotonic()
        deadline = promoted_at + ANSWERING_WITHIN_SECONDS + 5
        while time.monotonic() < deadline and not _answering_since(tally, promoted_at):
            time.sleep(0.1)
        time.sleep(2)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)
    _report(tally, killed_at=killed_at, promoted_at=promoted_at,
            server_killed_at=server_killed_at)
    assert not [s for s in tally.statuses if s.endswith(" 500")], tally.statuses
    assert not tally.unclean, tally.unclean[:5]
    _resend_unanswered_writes(base, tally)
    assert _answering_since(tally, promoted_at)
    recovered = max(_first_after(tally, kind, promoted_at) for kind in ("lookup", "life event"))
    assert recovered - promoted_at < ANSWERING_WITHIN_SECONDS
    assert tally.outcomes["answered"] > 0
    _assert_nothing_acknowledged_lost(pair, tally)


def _resend_unanswered_writes(base: str, tally: Tally) -> None:
    """A life event whose answer never came (its connection cut: the killed server process, or
    a connection closed under the client) may or may not have been kept. Sent again with its
    ``Idempotency-Key``, as a client would, it is recorded exactly once: the stored result if
    the first one was committed, else now. Either way it then counts as acknowledged."""
    with httpx.Client(base_url=base, timeout=30) as http:
        for pin, given, key in tally.unanswered_writes:
            answer = _rename(http, pin, given, key)
            assert answer.status_code == 201, answer.text
            tally.acknowledged.append((int(answer.json()["event"]["id"]), pin))
            tally.outcomes["unanswered, then kept once on resending"] += 1
            tally.outcomes["of which had been committed"] += (
                answer.headers.get("Idempotent-Replayed") == "true")
    record("failover", "unanswered life events resent with their Idempotency-Key (committed "
           "before)", f"{len(tally.unanswered_writes)} "
           f"({tally.outcomes['of which had been committed']})")


def _answering_since(tally: Tally, since: float) -> bool:
    with tally.lock:
        return all(any(at > since for at in tally.answered_at.get(kind, ()))
                   for kind in ("lookup", "life event", "login", "token"))


def _first_after(tally: Tally, kind: str, since: float) -> float:
    return min(at for at in tally.answered_at[kind] if at > since)


def _assert_nothing_acknowledged_lost(pair: Pair, tally: Tally) -> None:
    seqs = sorted(seq for seq, _ in tally.acknowledged)
    assert seqs, "no life event was acknowledged"
    present = {(int(seq), str(pin)) for seq, pin in pair.standby.execute(  # the promoted node
        f"SELECT seq, pin FROM life_event WHERE seq IN ({', '.join(map(str, seqs))})")}
    lost = set(tally.acknowledged) - present
    record("failover", "acknowledged life events", len(seqs))
    record("failover", "acknowledged life events lost", len(lost))
    assert not lost
    for pin, given, _ in tally.unanswered_writes:  # recorded once, whether first or resent
        assert pair.standby.execute("SELECT count(*) FROM life_event WHERE pin = %s AND "
                                    "data->>'given_name' = %s", (pin, given)) == [(1,)]
    verified = dancu("audit", "verify", database_url=pair.standby.url())
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _report(tally: Tally, *, killed_at: float, promoted_at: float,
            server_killed_at: float) -> None:
    for outcome, count in sorted(tally.outcomes.items()):
        record("failover", f"requests {outcome}", count)
    record("failover", "status 500", sum(n for s, n in tally.statuses.items()
                                         if s.endswith(" 500")))
    if _answering_since(tally, promoted_at):
        recovered = max(_first_after(tally, kind, promoted_at)
                        for kind in ("lookup", "life event", "login", "token"))
        record("failover", "every kind answered again, s after promotion",
               round(recovered - promoted_at, 2))
    record("failover", "promotion took, s after the kill", round(promoted_at - killed_at, 2))
    record("failover", "requests cut, s after the server kill",
           sorted({round(at - server_killed_at, 1) for at in tally.cut_at}))
