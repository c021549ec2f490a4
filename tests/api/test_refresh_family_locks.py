"""Every write to a refresh token family's rows takes the family's lock first (PostgreSQL), also
the revocations by account or login session: those updated rows of several families without
it, and could take one family's rows while a rotation that had found its token already rotated
held another of them and waited for the first to revoke its family (a deadlock, a 500)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, exc, select, text
from sqlalchemy.orm import Session

from app.db import Database
from app.models.oidc import RefreshToken
from app.services.vneid import revocation

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)


def _token(family_id: str, *, account_id: int, session_id: str, code_hash: str) -> RefreshToken:
    return RefreshToken(
        token_hash=uuid.uuid4().hex,
        family_id=family_id,
        client_id="family-lock-test",
        account_id=account_id,
        scope=["openid"],
        auth_time=NOW,
        acr="1",
        amr=["pwd"],
        session_id=session_id,
        code_hash=code_hash,
        issued_at=NOW,
        expires_at=NOW + timedelta(days=1),
        family_expires_at=NOW + timedelta(days=30),
    )


@pytest.mark.parametrize(
    "revoke",
    [
        lambda s, t: revocation.revoke_session_grants(
            s, account_id=t.account_id, session_ids=[t.session_id], now=NOW
        ),
        lambda s, t: revocation.revoke_grants(
            s, account_id=t.account_id, client_id=t.client_id, now=NOW
        ),
        lambda s, t: revocation.revoke_from_code(s, t.code_hash, now=NOW),
    ],
    ids=["sessions-ended", "consent-withdrawn", "code-reused"],
)
def test_revocations_wait_for_the_family_lock(
    database: Database, is_postgres: bool, revoke: Callable[[Session, RefreshToken], None]
) -> None:
    if not is_postgres:
        pytest.skip("SQLite has one writer at a time")
    token = _token(
        uuid.uuid4().hex,
        account_id=int(uuid.uuid4().int % 2**40) + 2**50,
        session_id=uuid.uuid4().hex,
        code_hash=uuid.uuid4().hex,
    )
    with database.write() as session:
        session.add(
            _token(
                token.family_id,
                account_id=token.account_id,
                session_id=token.session_id,
                code_hash=token.code_hash,
            )
        )

    def revoke_in_time() -> None:
        with database.write() as session:
            session.execute(text("SET LOCAL lock_timeout = '300ms'"))
            revoke(session, token)

    with database.write() as holder:  # a rotation of the family, under way
        revocation.lock_family(holder, token.family_id)
        with pytest.raises(exc.OperationalError, match="lock timeout"):
            revoke_in_time()
    revoke_in_time()  # once the rotation is over, it goes through


def test_a_reused_code_takes_each_family_lock_once(database: Database, is_postgres: bool) -> None:
    """revoke_from_code takes the locks of all its families first, in one order, and then
    revokes each family without taking its lock again (it took each lock twice)."""
    if not is_postgres:
        pytest.skip("the family lock is PostgreSQL's (SQLite has one writer at a time)")
    code_hash = uuid.uuid4().hex
    account_id = int(uuid.uuid4().int % 2**40) + 2**50
    families = sorted(uuid.uuid4().hex for _ in range(2))
    with database.write() as session:
        for family_id in families:
            session.add(
                _token(family_id, account_id=account_id, session_id="s", code_hash=code_hash)
            )
    taken: list[str] = []
    with database.write() as session:

        def count(conn, cursor, statement, parameters, context, executemany) -> None:
            if "pg_advisory_xact_lock" in statement:
                taken.append(str(parameters["family"]))

        connection = session.connection()
        event.listen(connection, "before_cursor_execute", count)
        try:
            revocation.revoke_from_code(session, code_hash, now=NOW)
        finally:
            event.remove(connection, "before_cursor_execute", count)
    assert taken == [f"refresh-family:{family_id}" for family_id in families]
    with database.read() as session:
        rows = session.scalars(select(RefreshToken).where(RefreshToken.code_hash == code_hash))
        assert all(row.revoked_at is not None for row in rows)
