"""Limits on guessing at login: wrong passwords, passcodes and SMS codes are counted by the
database (a parallel burst, each guess its own transaction, loses no count), and an interaction
and an account get only so many SMS codes (sandbox clock)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.clock import SandboxClock
from app.db import Database
from app.models.account import OneTimeCode
from app.services.vneid import accounts, credentials
from app.services.vneid import otp as accounts_otp
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    Rp,
    authorize,
    browser,
    citizen_with_contact,
    csrf_of,
    register_rp,
    sms_code,
)

PASSWORD, PASSCODE = "Vneid@2025", "123456"
BURST = 16  # parallel guesses, each in its own transaction (within the pool's 10 + 10)


@pytest.fixture(scope="module")
def rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="Login attempts RP")


@pytest.fixture
def citizen(client: TestClient, admin: dict[str, str], database: Database) -> str:
    pin = citizen_with_contact(database)
    response = client.post("/v1/admin/accounts", headers=admin,
                           json={"pin": pin, "level": 2, "password": PASSWORD,
                                 "passcode": PASSCODE})
    assert response.status_code == 201, response.text
    return pin


@pytest.fixture
def agent(app: FastAPI) -> TestClient:
    return browser(app)


def _burst(guess: Callable[[], str]) -> list[str]:
    """``guess()`` from BURST threads released together; the refusal reasons."""
    start = threading.Barrier(BURST)

    def one() -> str:
        start.wait()
        return guess()

    with ThreadPoolExecutor(BURST) as pool:
        return list(pool.map(lambda _: one(), range(BURST)))


def _password(database: Database, pin: str, password: str, now: datetime) -> str:
    with database.write() as session:
        try:
            credentials.password_login(session, pin, password, now=now)
        except credentials.LoginRefused as refused:
            return refused.reason
    return "ok"


def _passcode(database: Database, pin: str, passcode: str, now: datetime) -> str:
    with database.write() as session:
        try:
            credentials.passcode_check(session, accounts.get(session, pin), passcode,
                                             now=now)
        except credentials.LoginRefused as refused:
            return refused.reason
    return "ok"


@pytest.mark.parametrize(("check", "wrong", "right"), [
    (_password, "Wrong#Pass1", PASSWORD),
    (_passcode, "654321", PASSCODE),
], ids=["password", "passcode"])
def test_a_parallel_burst_of_wrong_secrets_blocks_the_account(
        database: Database, citizen: str, clock: SandboxClock, check: Callable[..., str],
        wrong: str, right: str) -> None:
    clock.freeze()
    now = clock.now()
    reasons = _burst(lambda: check(database, citizen, wrong, now))
    assert set(reasons) <= {credentials.INVALID, credentials.THROTTLED}
    assert check(database, citizen, right, now) == credentials.THROTTLED
    with database.read() as session:
        blocked = accounts.events(session, accounts.get(session, citizen))
        assert [e.kind for e in blocked].count("login_blocked") == 1
    clock.advance(accounts.LOGIN_BLOCK)
    assert check(database, citizen, right, clock.now()) == "ok"


def _otp_stage(agent: TestClient, rp: Rp, pin: str) -> tuple[str, str]:
    """A login at its SMS-code step: (interaction id, the OTP page's CSRF token)."""
    flow = authorize(agent, rp)
    interaction = flow.location.rsplit("/", 1)[-1]
    sent = agent.post(f"/oauth2/login/{interaction}/password", data={
        "csrf": csrf_of(agent.get(flow.location).text), "pin": pin, "password": PASSWORD})
    assert sent.status_code == 303, sent.text
    return interaction, csrf_of(agent.get(sent.headers["location"]).text)


def _other(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_parallel_burst_of_wrong_sms_codes_kills_the_code(
        app: FastAPI, admin: dict[str, str], rp: Rp, citizen: str, database: Database,
        clock: SandboxClock) -> None:
    clock.freeze()
    agent = browser(app)
    interaction, csrf = _otp_stage(agent, rp, citizen)
    code = sms_code(agent, admin, citizen)

    def guess() -> str:
        with database.write() as session:
            return str(accounts_otp.check_login_code(session, interaction_id=interaction,
                                                     code=_other(code), now=clock.now()))

    assert set(_burst(guess)) == {"False"}
    with database.read() as session:
        attempts = session.scalars(select(OneTimeCode.attempts)
                                   .where(OneTimeCode.interaction_id == interaction)).all()
    assert len(attempts) == 1
    assert attempts[0] >= accounts_otp.OTP_MAX_ATTEMPTS
    right = agent.post(f"/oauth2/login/{interaction}/otp", data={"csrf": csrf, "code": code})
    assert right.status_code == 200  # the code page again, not the redirect of a login


def test_resends_per_login_are_limited(agent: TestClient, admin: dict[str, str], rp: Rp,
                                       citizen: str, clock: SandboxClock) -> None:
    clock.freeze()
    interaction, csrf = _otp_stage(agent, rp, citizen)
    resend = f"/oauth2/login/{interaction}/otp/resend"
    for _ in range(accounts_otp.CODES_PER_LOGIN - 1):
        assert agent.post(resend, data={"csrf": csrf}).status_code == 303
    code = sms_code(agent, admin, citizen)
    refused = agent.post(resend, data={"csrf": csrf})
    assert refused.status_code == 200
    assert "Too many codes" in refused.text or "quá nhiều mã" in refused.text
    assert sms_code(agent, admin, citizen) == code  # nothing more was sent
    done = agent.post(f"/oauth2/login/{interaction}/otp", data={"csrf": csrf, "code": code})
    assert done.status_code == 303


def test_many_wrong_codes_over_many_resends_never_log_in(
        agent: TestClient, admin: dict[str, str], rp: Rp, citizen: str,
        clock: SandboxClock) -> None:
    """The reported attack: five wrong codes, resend, again and again; then the right code."""
    clock.freeze()
    interaction, csrf = _otp_stage(agent, rp, citizen)
    for _ in range(30):
        code = sms_code(agent, admin, citizen)
        for _ in range(accounts_otp.OTP_MAX_ATTEMPTS):
            agent.post(f"/oauth2/login/{interaction}/otp",
                       data={"csrf": csrf, "code": _other(code)})
        agent.post(f"/oauth2/login/{interaction}/otp/resend", data={"csrf": csrf})
    last = agent.post(f"/oauth2/login/{interaction}/otp",
                      data={"csrf": csrf, "code": sms_code(agent, admin, citizen)})
    assert last.status_code == 200


def test_codes_per_account_are_limited_per_hour_of_sandbox_time(
        app: FastAPI, admin: dict[str, str], rp: Rp, citizen: str,
        clock: SandboxClock) -> None:
    clock.freeze()
    for _ in range(accounts_otp.CODES_PER_HOUR):
        _otp_stage(browser(app), rp, citizen)
    agent = browser(app)
    flow = authorize(agent, rp)
    refused = agent.post(f"/oauth2/login/{flow.location.rsplit('/', 1)[-1]}/password", data={
        "csrf": csrf_of(agent.get(flow.location).text), "pin": citizen, "password": PASSWORD})
    assert refused.status_code == 200
    assert "Too many codes" in refused.text or "quá nhiều mã" in refused.text
    clock.advance(accounts_otp.CODES_PER_HOUR_WINDOW)
    _otp_stage(agent, rp, citizen)  # asserts the password step sent a code
