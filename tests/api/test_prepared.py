"""app.prepared: statements run on the driver's cursor read and write exactly what SQLAlchemy's own
execution does, on SQLite and PostgreSQL, for every column type of the login statements."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from app.db import Database
from app.models.oidc import BrowserSession
from app.prepared import Prepared
from app.services.cards import verification
from app.services.kit.keys import aware
from app.services.sharing import client_auth, consent
from app.services.vneid import credentials, grants
from app.services.vneid import userinfo as oidc_userinfo
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import Rp, browser, jwt_claims, register_rp, tokens_for


@pytest.fixture(scope="module")
def rp(client: TestClient, admin: dict[str, str]) -> Rp:
    return register_rp(client, admin, name="Prepared statements RP")


@pytest.fixture(scope="module")
def login(app: FastAPI, rp: Rp, personas: dict[str, Any], database: Database) -> dict[str, Any]:
    """A finished login: its code, access token, account and citizen are in the database."""
    pin = personas["citizen-l2"]["pin"]
    body = tokens_for(browser(app), rp, pin, scope="openid profile vneid.identity")
    with database.engine.connect() as connection:
        code = connection.execute(select(grants.AuthorizationCode.code_hash)
                                  .order_by(grants.AuthorizationCode.issued_at.desc())
                                  .limit(1)).scalar_one()
    return {"pin": pin, "client_id": rp.client_id, "code_hash": code,
            "jti": jwt_claims(body["access_token"])["jti"]}


def _cases(login: dict[str, Any]) -> dict[str, tuple[Prepared, dict[str, Any]]]:
    now = datetime.now(UTC)
    return {
        "client (JSON, booleans, datetimes)": (client_auth._CLIENT,
                                               {"client_id": login["client_id"]}),
        "account by PIN": (credentials._BY_PIN, {"pin": login["pin"]}),
        "consent in force (LIMIT bound in the statement)": (consent._IN_FORCE, {
            "pin": login["pin"], "client_id": login["client_id"], "purpose": "login",
            "now": now}),
        "authorization code (JSON lists, datetimes, NULLs)": (grants._CODE,
                                                              {"code_hash": login["code_hash"]}),
        "userinfo grant (a join; dates)": (oidc_userinfo._GRANT, {"jti": login["jti"]}),
        "residences (several rows, ordered)": (oidc_userinfo._RESIDENCES, {"pin": login["pin"]}),
        "verifier: holder and cards (outer join, labels, dates, datetimes)": (
            verification._HOLDER_AND_CARDS, {"pin": login["pin"]}),
        "verifier: cards of a PIN": (verification._CARDS, {"pin": login["pin"]}),
        "verifier: holder": (verification._HOLDER, {"pin": login["pin"]}),
        "verifier: residences": (verification._RESIDENCES, {"pin": login["pin"]}),
    }


CASES = ["client (JSON, booleans, datetimes)", "account by PIN",
         "consent in force (LIMIT bound in the statement)",
         "authorization code (JSON lists, datetimes, NULLs)", "userinfo grant (a join; dates)",
         "residences (several rows, ordered)",
         "verifier: holder and cards (outer join, labels, dates, datetimes)",
         "verifier: cards of a PIN", "verifier: holder", "verifier: residences"]


@pytest.mark.parametrize("case", CASES)
def test_prepared_reads_give_the_rows_sqlalchemy_gives(login: dict[str, Any], database: Database,
                                                        case: str) -> None:
    prepared, params = _cases(login)[case]
    with database.engine.connect() as connection:
        expected = connection.execute(prepared.statement, params).all()
        got = prepared.all(connection, params)
        first = prepared.first(connection, params)
    assert expected, "the case must read something"
    assert [tuple(row) for row in got] == [tuple(row) for row in expected]
    assert [row._fields for row in got] == [tuple(row._fields) for row in expected]
    assert first == got[0]


def test_prepared_writes_store_what_sqlalchemy_stores(database: Database) -> None:
    now = datetime.now(UTC).replace(microsecond=123456)
    values = {"account_id": 1, "auth_time": now, "amr": ["pwd", "sms"],
              "level": 2, "created_at": now, "expires_at": now + timedelta(hours=8)}
    ours, theirs = secrets.token_hex(8), secrets.token_hex(8)
    table = BrowserSession.__table__
    with database.engine.connect() as connection:
        Prepared(insert(table)).run(connection, {"id": ours, "cookie_hash": ours, **values})
        connection.execute(insert(table), {"id": theirs, "cookie_hash": theirs, **values})
        rows = {row.id: row for row in connection.execute(
            select(table).where(table.c.id.in_([ours, theirs])))}
        connection.rollback()
    def stored(row: Any) -> dict[str, Any]:
        return {k: v for k, v in row._mapping.items() if k not in ("id", "cookie_hash")}
    assert stored(rows[ours]) == stored(rows[theirs])
    assert aware(rows[ours].auth_time) == now
    assert rows[ours].amr == ["pwd", "sms"]


def test_a_prepared_update_reports_the_rows_it_matched(database: Database) -> None:
    table = BrowserSession.__table__
    end = Prepared(update(table).where(table.c.id == bindparam("sid"), table.c.ended_at.is_(None))
                   .values(ended_at=bindparam("at")))
    now, sid = datetime.now(UTC), secrets.token_hex(8)
    with database.engine.connect() as connection:
        Prepared(insert(table)).run(connection, {
            "id": sid, "cookie_hash": sid, "account_id": 1, "auth_time": now, "amr": [],
            "level": 1, "created_at": now, "expires_at": now})
        assert end.run(connection, {"sid": sid, "at": now}) == 1
        assert end.run(connection, {"sid": sid, "at": now}) == 0  # already ended: no match
        connection.rollback()


def test_prepared_errors_are_sqlalchemys_and_list_no_parameters(database: Database) -> None:
    table = BrowserSession.__table__
    now, sid = datetime.now(UTC), "duplicate-" + secrets.token_hex(4)
    row = {"id": sid, "cookie_hash": "SECRET-COOKIE-HASH-" + sid, "account_id": 1, "auth_time": now,
           "amr": [], "level": 1, "created_at": now, "expires_at": now}
    with database.engine.connect() as connection:
        Prepared(insert(table)).run(connection, row)
        with pytest.raises(IntegrityError) as raised:
            Prepared(insert(table)).run(connection, row)
        connection.rollback()
    assert "SECRET-COOKIE-HASH" not in str(raised.value)  # the driver's own message, no values


def test_prepared_refuses_statements_sqlalchemy_would_complete_itself() -> None:
    table = Table("defaults", MetaData(), Column("id", Integer, primary_key=True),
                  Column("kind", String, default="plain"))
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    with engine.connect() as connection, pytest.raises(ValueError, match="complete"):
        Prepared(insert(table)).run(connection, {"id": 1})  # "kind" would get its default


def test_prepared_json_columns_decode_as_sqlalchemys_sqlite_json() -> None:
    """SQLite's JSON values decoded in one call (objects, lists, JSON null, SQL NULL, and a
    number SQLite hands back as a number) give what SQLAlchemy's two processors give."""
    from sqlalchemy import JSON, text

    engine = create_engine("sqlite://")
    table = Table("json_values", MetaData(), Column("id", Integer), Column("value", JSON))
    table.create(engine)
    with engine.begin() as connection:
        connection.execute(insert(table), [{"id": 1, "value": {"a": [1, "é"]}},
                                           {"id": 2, "value": None}, {"id": 3, "value": []}])
        connection.execute(text("INSERT INTO json_values VALUES (4, 5), (5, 2.5), (6, NULL)"))
        query = select(table.c.id, table.c.value).order_by(table.c.id)
        expected = [tuple(row) for row in connection.execute(query)]
        assert [tuple(row) for row in Prepared(query).all(connection, {})] == expected


def test_prepared_sqlite_datetimes_are_stored_as_sqlalchemys_text() -> None:
    """SQLite's DATETIME bound by Prepared (its own formatter for datetimes) is the text
    SQLAlchemy writes: microseconds always, the time zone dropped, small years padded; dates,
    NULLs and refused values through SQLAlchemy's processor."""
    from sqlalchemy import DateTime, text

    engine = create_engine("sqlite://")
    table = Table("stamps", MetaData(), Column("id", Integer), Column("at", DateTime))
    table.create(engine)
    values = [datetime(2026, 12, 8, 1, 2, 3), datetime(2026, 12, 8, 1, 2, 3, 45, tzinfo=UTC),
              datetime(5, 1, 2), datetime.max, None]
    with engine.begin() as connection:
        for number, value in enumerate(values):
            Prepared(insert(table)).run(connection, {"id": number, "at": value})
            connection.execute(insert(table), {"id": 100 + number, "at": value})
        stored = dict(connection.execute(text("SELECT id, at FROM stamps")).all())
        with pytest.raises(TypeError):
            Prepared(insert(table)).run(connection, {"id": 9, "at": "2026-12-08"})
    assert [stored[n] for n in range(len(values))] == [stored[100 + n] for n in range(len(values))]
    assert stored[1] == "2026-12-08 01:02:03.000045"
