"""Failure throttles: how many wrong guesses of a secret a source, a client or a card may make.

What a lockout stops is guessing: wrong client secrets and assertions at the token endpoint, wrong
admin and console tokens, wrong chip access keys (a card's BAC key is a few hundred candidates
away from its PIN, docs/cards.md). Failures are counted per subject (the source address, the
client, a client's guesses at one card) in fixed windows of the sandbox clock, in the table of
the client quotas (``rate_window`` through :func:`app.services.kit.rate_limit.charge`: one atomic
upsert, so every worker process shares one count). A subject whose count reached its limit is
refused (429, ``Retry-After``) until its window ends, whatever it presents, right or wrong: a
lockout that let the right secret through would still tell a guesser which guess was right. A
success costs one read of the counters and no write; only a failure writes.

The token endpoint also counts a client's ``client_credentials`` requests against its quota
(``client.rate_limit`` per minute) with the leases of
:class:`app.services.kit.rate_limit.QuotaLeases`, in a count of their own so that fetching tokens
never eats the quota of the calls they authorise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.errors import DomainError
from app.models.client import RateWindow
from app.oidc import errors as oauth
from app.prepared import Prepared
from app.services.kit import rate_limit
from app.settings import Settings

KEY_LENGTH = 64  # rate_window.client_id
MINUTE, QUARTER_HOUR = 60, 900


class TooManyFailures(DomainError):
    code, status, title = ("too-many-failures", 429,
                           "Too many failed attempts: locked until Retry-After")


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``failures`` failures of a kind of subject in a fixed window (0: no limit)."""

    kind: str
    failures: int
    window_seconds: int


Check = tuple[Limit, str]  # a limit and the subject it counts (an address, a client id, a PIN)


def counter_key(kind: str, subject: str) -> str:
    """The ``rate_window`` key of a subject's counter (hashed when it would not fit)."""
    key = f"{kind}:{subject}"
    if len(key) <= KEY_LENGTH:
        return key
    return f"{kind}#" + hashlib.sha256(subject.encode("utf-8", "replace")).hexdigest()[:40]


def credential_limits(settings: Settings) -> tuple[Limit, Limit]:
    """Wrong client credentials and admin/console tokens: per source address, per client."""
    return (Limit("fail-src", settings.failures_per_source, MINUTE),
            Limit("fail-client", settings.failures_per_client, MINUTE))


def open_registration_limit(settings: Settings) -> Limit:
    """Registrations without an initial access token, per source address (each one counted)."""
    return Limit("reg-src", settings.open_registrations_per_source, MINUTE)


def chip_limits(settings: Settings) -> tuple[Limit, Limit]:
    """Wrong chip access keys: per (client, card), per client. Not per card alone: any ``card.read``
    client (the demo client's credentials are public) could then lock a card for every other."""
    return (Limit("chip-card", settings.chip_failures_per_card, QUARTER_HOUR),
            Limit("chip-client", settings.chip_failures_per_client, QUARTER_HOUR))


_COUNTS = Prepared(select(RateWindow.client_id, RateWindow.window_start, RateWindow.count)
                   .where(RateWindow.client_id.in_([bindparam("first"), bindparam("second")])))


def _active(checks: Sequence[Check]) -> list[tuple[Limit, str]]:
    return [(limit, counter_key(limit.kind, subject)) for limit, subject in checks
            if limit.failures > 0 and subject]


def locked(session: Session, checks: Sequence[Check], *, now: datetime) -> int:
    """Seconds until every lockout among ``checks`` (at most two) has ended; 0 when none is."""
    active = _active(checks)
    if not active:
        return 0
    keys = [key for _, key in active]
    rows = _COUNTS.all(session.connection(), {"first": keys[0], "second": keys[-1]})
    counts = {(row.client_id, row.window_start): row.count for row in rows}
    waits = [rate_limit.retry_after(now, limit.window_seconds) for limit, key in active
             if counts.get((key, rate_limit.window_of(now, limit.window_seconds)), 0)
             >= limit.failures]
    return max(waits, default=0)


def count_failure(session: Session, checks: Sequence[Check], *, now: datetime) -> None:
    """Count one failure for each subject (a write: the failure path only)."""
    for limit, key in _active(checks):
        rate_limit.charge(session, client_id=key, limit=limit.failures, now=now,
                          window_seconds=limit.window_seconds)


def too_many(retry_after: int) -> TooManyFailures:
    error = TooManyFailures()
    error.headers["Retry-After"] = str(retry_after)
    return error


# --- the token endpoint's quota -------------------------------------------------------------------


def token_quota(leases: rate_limit.QuotaLeases, *, client_id: str, limit: int,
                now: datetime) -> Callable[[Session], None] | None:
    """``None`` when this process holds a leased token request of the client's quota (no write);
    else the write that leases a block, raising ``slow_down`` (429) when none is left."""
    key = counter_key("token", client_id)
    if leases.take(key, now=now):
        return None

    def lease(session: Session) -> None:
        decision = rate_limit.charge(session, client_id=key, limit=limit, now=now,
                                     cost=rate_limit.lease_size(limit), minimum=1)
        if not decision.allowed:
            raise oauth.SlowDown("The client is over its quota of client-credentials tokens.",
                                 retry_after=decision.retry_after)
        leases.add(key, now=now, requests=decision.granted - 1)

    return lease
