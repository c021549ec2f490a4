"""The shared quota counter: a charge never passes the limit, whether taken in a transaction of
the ORM (SQLite's leases, the batch charges) or from the event loop (PostgreSQL's leases,
``AsyncPostgresCharges``), and both count in the same row."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.models.client import RateWindow
from app.services.kit import rate_limit

NOW = datetime(2030, 1, 1, 12, 0, 30, tzinfo=UTC)


def _counted(database: Database, key: str) -> int:
    with database.read() as session:
        return int(
            session.scalar(
                select(func.coalesce(func.sum(RateWindow.count), 0)).where(
                    RateWindow.client_id == key
                )
            )
        )


def _charge_in_session(database: Database, key: str, **kwargs: int) -> rate_limit.RateDecision:
    with database.write() as session:
        return rate_limit.charge(session, client_id=key, limit=10, now=NOW, **kwargs)


def test_leases_are_cut_to_what_is_left_and_refused_at_the_limit(database: Database) -> None:
    key = f"quota-test-{uuid.uuid4().hex[:8]}"
    granted = [_charge_in_session(database, key, cost=4, minimum=1) for _ in range(4)]
    assert [(d.allowed, d.granted) for d in granted] == [
        (True, 4),
        (True, 4),
        (True, 2),
        (False, 0),
    ]
    assert granted[-1].retry_after == 30
    assert _counted(database, key) == 10


def test_leases_from_the_event_loop_count_in_the_same_row_and_never_pass_the_limit(
    database: Database, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite leases through the ORM's transaction (the test above)")
    key = f"quota-test-{uuid.uuid4().hex[:8]}"
    charges = rate_limit.AsyncPostgresCharges(database.url)

    async def charged(costs: list[int], minimum: int | None) -> list[rate_limit.RateDecision]:
        try:
            return [
                await charges.charge(client_id=key, limit=10, now=NOW, cost=cost, minimum=minimum)
                for cost in costs
            ]
        finally:
            await charges.aclose()

    first = _charge_in_session(database, key, cost=1)
    leased = asyncio.run(charged([4, 4, 4, 4], minimum=1))
    assert first.granted == 1
    assert [(d.allowed, d.granted) for d in leased] == [(True, 4), (True, 4), (True, 1), (False, 0)]
    assert _counted(database, key) == 10
    after = _charge_in_session(database, key, cost=1)
    [all_or_nothing] = asyncio.run(charged([2], minimum=None))
    assert (after.allowed, all_or_nothing.allowed, _counted(database, key)) == (False, False, 10)


def test_leases_from_the_event_loop_open_a_bounded_number_of_connections(
    database: Database, is_postgres: bool
) -> None:
    """Many clients' leases at once share a few connections: each lease opening its own (the
    idle list kept them all) let one organisation's many registered clients take PostgreSQL's
    connections from everyone (the worker thread's lease was bounded by the engine's pool)."""
    if not is_postgres:
        pytest.skip("SQLite leases through the ORM's transaction")
    charges = rate_limit.AsyncPostgresCharges(database.url)
    opened = 0
    connect = charges._connect

    async def counted_connect():  # type: ignore[no-untyped-def]
        nonlocal opened
        opened += 1
        return await connect()

    charges._connect = counted_connect  # type: ignore[method-assign]
    keys = [f"quota-test-{uuid.uuid4().hex[:8]}" for _ in range(3 * charges.MAX_CONNECTIONS)]

    async def leased() -> list[rate_limit.RateDecision]:
        try:
            return await asyncio.gather(
                *(charges.charge(client_id=key, limit=10, now=NOW, cost=2) for key in keys)
            )
        finally:
            await charges.aclose()

    decisions = asyncio.run(leased())
    assert all(decision.allowed for decision in decisions)
    assert [_counted(database, key) for key in keys] == [2] * len(keys)
    assert opened <= charges.MAX_CONNECTIONS


def test_the_connections_of_an_event_loop_are_closed_when_the_loop_ends(
    database: Database, is_postgres: bool
) -> None:
    """A test client used without its context runs each request in an event loop of its own:
    the connections such a loop kept stayed open until it was collected (or another loop
    charged), and a loop of requests took PostgreSQL's ``max_connections``. The loop closes
    them as it shuts down."""
    if not is_postgres:
        pytest.skip("SQLite leases through the ORM's transaction")
    charges = rate_limit.AsyncPostgresCharges(database.url)
    kept: list[Any] = []

    async def lease_and_keep() -> None:
        await charges.charge(client_id=f"quota-test-{uuid.uuid4().hex[:8]}", limit=10, now=NOW)
        kept.extend(charges._loops[asyncio.get_running_loop()][0].idle)
        assert not any(connection.closed for connection in kept)

    asyncio.run(lease_and_keep())
    (first,) = kept
    assert first.closed


def test_the_connections_of_a_loop_closed_without_shutting_down_go_when_another_loop_charges(
    database: Database, is_postgres: bool
) -> None:
    """A loop closed without shutting its asynchronous generators down (``loop.close()``
    alone) cannot close its connections: the next loop that charges does."""
    if not is_postgres:
        pytest.skip("SQLite leases through the ORM's transaction")
    charges = rate_limit.AsyncPostgresCharges(database.url)
    kept: list[Any] = []

    async def lease_and_keep() -> None:
        await charges.charge(client_id=f"quota-test-{uuid.uuid4().hex[:8]}", limit=10, now=NOW)
        kept.extend(charges._loops[asyncio.get_running_loop()][0].idle)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(lease_and_keep())
    loop.close()  # no shutdown_asyncgens
    (first,) = kept
    assert not first.closed
    asyncio.run(lease_and_keep())
    assert first.closed
    assert len(charges._loops) == 1
    charges._forget_closed_loops()  # the second loop's, ended too
    assert all(connection.closed for connection in kept)


def test_a_later_windows_charge_counts_there_and_keeps_the_current_windows_count(
    database: Database, is_postgres: bool
) -> None:
    """The next window's first block, leased in the last second of this one: counted in the
    next window, and its first charge (which forgets the client's stale windows) keeps this
    one's count, which other processes still lease from."""
    key = f"quota-test-{uuid.uuid4().hex[:8]}"
    current = rate_limit.window_of(NOW)
    _charge_in_session(database, key, cost=4)
    with database.write() as session:
        ahead = rate_limit.charge(
            session, client_id=key, limit=10, now=NOW, cost=3, window_start=current + 60
        )
    assert (ahead.allowed, ahead.granted) == (True, 3)
    assert _windows(database, key) == {current: 4, current + 60: 3}
    if is_postgres:
        charges = rate_limit.AsyncPostgresCharges(database.url)
        later = f"quota-test-{uuid.uuid4().hex[:8]}"
        _charge_in_session(database, later, cost=4)

        async def charged() -> rate_limit.RateDecision:
            try:
                return await charges.charge(
                    client_id=later, limit=10, now=NOW, cost=3, window_start=current + 60
                )
            finally:
                await charges.aclose()

        assert asyncio.run(charged()).granted == 3
        assert _windows(database, later) == {current: 4, current + 60: 3}


def _windows(database: Database, key: str) -> dict[int, int]:
    with database.read() as session:
        rows = session.execute(
            select(RateWindow.window_start, RateWindow.count).where(RateWindow.client_id == key)
        )
        return {row[0]: row[1] for row in rows}


def test_a_block_leased_for_the_next_window_is_served_once_that_window_begins() -> None:
    leases = rate_limit.QuotaLeases()
    current = rate_limit.window_of(NOW)
    later = NOW.replace(minute=1, second=0)
    leases.add("c", now=NOW, requests=1)
    leases.add_next("c", now=NOW, window_start=current + 60, requests=2)
    assert leases.holds_next("c", window_start=current + 60)
    assert [leases.take("c", now=NOW) for _ in range(2)] == [True, False]  # not before it begins
    assert [leases.take("c", now=later) for _ in range(3)] == [True, True, False]
    assert not leases.holds_next("c", window_start=current + 60)


def test_a_next_windows_block_landing_after_that_window_began_joins_its_block() -> None:
    leases = rate_limit.QuotaLeases()
    current = rate_limit.window_of(NOW)
    later = NOW.replace(minute=1, second=1)
    leases.add("c", now=later, requests=1)  # a request's own lease in the new window
    leases.add_next("c", now=later, window_start=current + 60, requests=2)
    leases.add_next("c", now=later, window_start=current, requests=5)  # a window over: dropped
    assert [leases.take("c", now=later) for _ in range(4)] == [True, True, True, False]


def test_a_refused_lease_for_the_next_window_is_kept_empty_so_it_is_not_tried_again() -> None:
    """Every request of a window's last second would lease again after a refusal; an empty block
    stops that, and the next window's first request then leases as it did before."""
    leases = rate_limit.QuotaLeases()
    current = rate_limit.window_of(NOW)
    leases.add_next("c", now=NOW, window_start=current + 60, requests=0)
    assert leases.holds_next("c", window_start=current + 60)
    assert not leases.take("c", now=NOW.replace(minute=1, second=0))
