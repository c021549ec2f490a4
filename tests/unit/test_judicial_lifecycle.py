"""The criminal-record certificate request's lifecycle on the sandbox clock (pure rules), and
the fee and conviction rules of the certificate."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from app.services.documents import judicial_lifecycle as lifecycle
from app.services.documents.judicial_records import fee, shown_convictions

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


@pytest.mark.parametrize(
    ("plan", "elapsed", "status"),
    [
        (lifecycle.planned(T0), timedelta(0), "submitted"),
        (lifecycle.planned(T0), DAY - timedelta(seconds=1), "submitted"),
        (lifecycle.planned(T0), DAY, "checking"),
        (lifecycle.planned(T0), 10 * DAY - timedelta(seconds=1), "checking"),
        (lifecycle.planned(T0), 10 * DAY, "issued"),
        (lifecycle.planned(T0), 10 * DAY + HOUR, "delivered"),
        (lifecycle.planned(T0, verification=True), 14 * DAY, "checking"),
        (lifecycle.planned(T0, verification=True), 15 * DAY, "issued"),
        (lifecycle.planned(T0, outcome=lifecycle.REJECT), 10 * DAY, "rejected"),
        (lifecycle.planned(T0, outcome=lifecycle.REJECT), 100 * DAY, "rejected"),
        (lifecycle.planned(T0, hold=True), 365 * DAY, "checking"),
        (lifecycle.planned(T0), -DAY, "submitted"),
    ],
)
def test_status_is_the_last_step_whose_time_has_come(
        plan: lifecycle.Plan, elapsed: timedelta, status: str) -> None:
    assert lifecycle.status_at(plan, T0 + elapsed) == status


@pytest.mark.parametrize(
    ("plan", "at", "outcome", "status_after"),
    [
        (lifecycle.planned(T0), T0, None, "checking"),
        (lifecycle.planned(T0), T0 + DAY, None, "issued"),
        (lifecycle.planned(T0), T0 + DAY, lifecycle.REJECT, "rejected"),
        (lifecycle.planned(T0, hold=True), T0 + 2 * DAY, None, "issued"),
        (lifecycle.planned(T0, outcome=lifecycle.REJECT), T0 + DAY, lifecycle.ISSUE, "issued"),
        (lifecycle.planned(T0), T0 + 10 * DAY, None, "delivered"),
        (lifecycle.planned(T0), T0 + 11 * DAY, None, "delivered"),
        (lifecycle.planned(T0, outcome=lifecycle.REJECT), T0 + 11 * DAY, None, "rejected"),
    ],
)
def test_forcing_moves_exactly_one_step(plan: lifecycle.Plan, at: datetime,
                                        outcome: str | None, status_after: str) -> None:
    assert lifecycle.status_at(lifecycle.forced(plan, at, outcome=outcome), at) == status_after


def test_forcing_the_first_step_keeps_the_planned_decision() -> None:
    plan = lifecycle.planned(T0)
    assert lifecycle.forced(plan, T0 + HOUR).decided_at == plan.decided_at


def test_timeline_lists_only_the_steps_reached() -> None:
    steps = lifecycle.timeline(lifecycle.planned(T0), T0 + 2 * DAY)
    assert [step["status"] for step in steps] == ["submitted", "checking"]


@pytest.mark.parametrize(
    ("birth", "copies", "expected"),
    [
        (date(1990, 5, 1), 1, 200_000),
        (date(1990, 5, 1), 2, 200_000),
        (date(1990, 5, 1), 4, 210_000),
        (date(2010, 12, 2), 1, 0),  # 15 on the day: a child
        (date(2010, 12, 1), 1, 200_000),  # 16 on the day
        (date(1966, 12, 1), 1, 0),  # 60 on the day: elderly
        (date(1966, 12, 2), 1, 200_000),
    ],
)
def test_fee_exempts_children_and_the_elderly_and_charges_copies_beyond_two(
        birth: date, copies: int, expected: int) -> None:
    assert fee(birth, copies=copies, on=date(2026, 12, 1)) == expected


EXPUNGED = SimpleNamespace(expunged_on=date(2016, 12, 18))
CURRENT = SimpleNamespace(expunged_on=None)
LATER = SimpleNamespace(expunged_on=date(2027, 1, 1))


@pytest.mark.parametrize(
    ("certificate_type", "shown"),
    [(1, [CURRENT, LATER]), (2, [EXPUNGED, CURRENT, LATER])],
)
def test_no1_hides_expunged_convictions_no2_shows_every_one(
        certificate_type: int, shown: list[SimpleNamespace]) -> None:
    items = [EXPUNGED, CURRENT, LATER]
    assert shown_convictions(items, certificate_type=certificate_type,  # type: ignore[arg-type]
                             on=date(2026, 12, 7)) == shown
