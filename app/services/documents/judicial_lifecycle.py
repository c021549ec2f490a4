"""The criminal-record certificate request's lifecycle, as times on the sandbox clock.

Law on Judicial Records (No. 28/2009/QH12, amended by Law 107/2025/QH15), Art. 48: a certificate
is issued within 10 days of a valid request, within 15 days when the record holds a conviction
whose expungement must be verified (or the person lived in several places or abroad). The
sandbox plans every step when the request is submitted:

==============  ========================================================================
``submitted``   received by the e-service (``submitted_at``)
``checking``    being checked against the judicial-records database (+1 day)
``issued``      decided: the certificate is signed (+10 days, +15 with a conviction)
``rejected``    decided: refused (Art. 49), with a reason code
``delivered``   the issued certificate is in the citizen's VNeID (+1 hour after issue)
==============  ========================================================================

A request on hold (``decided_at`` unset: a verification that never answers, the pending persona)
stays ``checking`` until the sandbox forces the decision. Pure: times in, status out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SUBMITTED, CHECKING, ISSUED, REJECTED, DELIVERED = (
    "submitted", "checking", "issued", "rejected", "delivered")
STATUSES = (SUBMITTED, CHECKING, ISSUED, REJECTED, DELIVERED)
FINAL = frozenset({REJECTED, DELIVERED})
ISSUE, REJECT = "issue", "reject"
CHECK_AFTER = timedelta(days=1)
PROCESSING = timedelta(days=10)
PROCESSING_WITH_VERIFICATION = timedelta(days=15)
DELIVERY_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Plan:
    """The step times of one request (``decided_at`` ``None``: on hold)."""

    submitted_at: datetime
    checking_at: datetime
    decided_at: datetime | None
    delivered_at: datetime | None
    outcome: str


def planned(submitted_at: datetime, *, outcome: str = ISSUE, verification: bool = False,
            hold: bool = False) -> Plan:
    """The plan of a request submitted at ``submitted_at``."""
    decided = None if hold else submitted_at + (
        PROCESSING_WITH_VERIFICATION if verification else PROCESSING)
    delivered = decided + DELIVERY_AFTER if decided is not None and outcome == ISSUE else None
    return Plan(submitted_at, submitted_at + CHECK_AFTER, decided, delivered, outcome)


def status_at(plan: Plan, now: datetime) -> str:
    """The request's status at ``now``: the last step whose time has come."""
    if plan.decided_at is not None and now >= plan.decided_at:
        if plan.outcome == REJECT:
            return REJECTED
        return DELIVERED if plan.delivered_at is not None and now >= plan.delivered_at else ISSUED
    return CHECKING if now >= plan.checking_at else SUBMITTED


def forced(plan: Plan, now: datetime, *, outcome: str | None = None) -> Plan:
    """The plan after forcing the next step at ``now`` (``outcome`` overrides the planned decision
    when the next step is the decision); the same plan when the request is final."""
    status = status_at(plan, now)
    if status == SUBMITTED:
        return Plan(plan.submitted_at, now, _later(plan.decided_at, now),
                    _later(plan.delivered_at, now + DELIVERY_AFTER), plan.outcome)
    if status == CHECKING:
        decided = outcome or plan.outcome
        return Plan(plan.submitted_at, plan.checking_at, now,
                    now + DELIVERY_AFTER if decided == ISSUE else None, decided)
    if status == ISSUED:
        return Plan(plan.submitted_at, plan.checking_at, plan.decided_at, now, plan.outcome)
    return plan


def _later(moment: datetime | None, floor: datetime) -> datetime | None:
    return None if moment is None else max(moment, floor)


def timeline(plan: Plan, now: datetime) -> list[dict[str, object]]:
    """The steps reached by ``now`` with their times, oldest first (what the status page shows)."""
    steps: list[tuple[str, datetime | None]] = [
        (SUBMITTED, plan.submitted_at), (CHECKING, plan.checking_at),
        (REJECTED if plan.outcome == REJECT else ISSUED, plan.decided_at),
        (DELIVERED, plan.delivered_at)]
    return [{"status": name, "at": at} for name, at in steps if at is not None and at <= now]
