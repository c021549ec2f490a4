"""Fault injection for sandbox clients: the ``X-Sandbox-Fault`` syntax, the per-client rules
(``/v1/sandbox/faults``) and the "fail only the first N times" counters.

A fault is a ``;``-separated list of items (``latency=500ms; status=503``):

``latency=<n>ms|<n>s``  wait before answering (up to 60 s), then answer normally
``timeout[=<n>s]``      hold the request (default 30 s), then 504 ``timeout``
``status=<code>``       answer 429 (with ``Retry-After``), 500, 503 or 504 instead of the route
``retry-after=<n>``     the ``Retry-After`` seconds of a 429 or 503 (default 1)
``bad-signature``       the route answers, but the JWTs in the JSON body are signed with a key
                        nobody publishes (same ``kid``): the signature check must fail
``malformed-body``      the route answers, but its body is cut in half (not parseable)
``fail-first=<n>``      only the first n matching requests get the fault, the next ones pass
``key=<name>``          the counter ``fail-first`` uses (default: method, path and the fault)

The counters live in the database (``sandbox_fault_counter``), so they count across server
processes. Waits go through the sandbox's sleep, which tests replace.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.errors import DomainError, Forbidden, NotFound, ValidationFailed
from app.models.sandbox import FaultCounter, FaultRule

FAULT_HEADER = "X-Sandbox-Fault"
STATUSES = (429, 500, 503, 504)
MAX_LATENCY_MS = 60_000
MAX_TIMEOUT_MS = 120_000
DEFAULT_TIMEOUT_MS = 30_000
MAX_FAIL_FIRST = 1000
MAX_RULES = 50
MAX_COUNTERS = 1000  # fail-first counters per client (the least recently counted go first)
_DURATION = re.compile(r"([0-9]{1,6})(ms|s)")
_KEY = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class InvalidFault(ValidationFailed):
    code, title = "invalid-fault", "The fault is not valid"


class SandboxClientRequired(Forbidden):
    code, title = ("sandbox-client-required",
                   "Sandbox controls are for sandbox clients and the admin")


class FaultRuleNotFound(NotFound):
    code, title = "fault-rule-not-found", "No such fault rule"


class InjectedTimeout(DomainError):
    code, status, title = "timeout", 504, "The request timed out"


@dataclass(frozen=True)
class Fault:
    latency_ms: int = 0
    timeout_ms: int | None = None
    status: int | None = None
    retry_after: int = 1
    bad_signature: bool = False
    malformed_body: bool = False
    fail_first: int | None = None
    key: str | None = None
    text: str = ""

    @property
    def rewrites_body(self) -> bool:
        return self.bad_signature or self.malformed_body

    @property
    def answers_instead(self) -> bool:
        """The route never runs: the fault is the answer."""
        return self.timeout_ms is not None or self.status is not None


def _duration(value: str, rule: str, limit: int) -> int:
    match = _DURATION.fullmatch(value)
    if match is None:
        raise InvalidFault(f"{rule} takes a duration such as 500ms or 2s.", rule=rule)
    amount = int(match[1]) * (1 if match[2] == "ms" else 1000)
    if amount > limit:
        raise InvalidFault(f"{rule} is at most {limit // 1000} s.", rule=rule)
    return amount


def _count(value: str, rule: str, low: int, high: int) -> int:
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise InvalidFault(f"{rule} takes a whole number from {low} to {high}.", rule=rule)
    return int(value)


def _item(fields: dict[str, object], name: str, value: str | None) -> None:
    if name == "latency" and value is not None:
        fields["latency_ms"] = _duration(value, name, MAX_LATENCY_MS)
    elif name == "timeout":
        fields["timeout_ms"] = (DEFAULT_TIMEOUT_MS if value is None
                                else _duration(value, name, MAX_TIMEOUT_MS))
    elif name == "status" and value is not None:
        fields["status"] = _count(value, name, 100, 599)
        if fields["status"] not in STATUSES:
            raise InvalidFault("status is one of 429, 500, 503, 504.", rule=name)
    elif name == "retry-after" and value is not None:
        fields["retry_after"] = _count(value, name, 0, 3600)
    elif name == "fail-first" and value is not None:
        fields["fail_first"] = _count(value, name, 1, MAX_FAIL_FIRST)
    elif name == "key" and value is not None and _KEY.fullmatch(value):
        fields["key"] = value
    elif name in ("bad-signature", "malformed-body") and value is None:
        fields[name.replace("-", "_")] = True
    else:
        raise InvalidFault("Unknown fault item (see docs/sandbox.md).", rule="fault.item")


def parse(text: str) -> Fault:
    """The :class:`Fault` a header or rule describes; :class:`InvalidFault` names the rule."""
    if len(text) > 200 or not text.isascii():
        raise InvalidFault("A fault is at most 200 ASCII characters.", rule="fault.length")
    fields: dict[str, object] = {}
    items = [part.strip() for part in re.split(r"[;,]", text) if part.strip()]
    for item in items:
        name, sep, value = item.partition("=")
        _item(fields, name.strip().lower(), value.strip() if sep else None)
    fault = Fault(**fields, text="; ".join(items))  # type: ignore[arg-type]
    if not items or fault.answers_instead and fault.rewrites_body or (
            fault.timeout_ms is not None and fault.status is not None):
        raise InvalidFault("Give one effect: a status, a timeout, bad-signature or "
                           "malformed-body (latency may go with any).", rule="fault.effect")
    return fault


def counter_key(fault: Fault, *, method: str, path: str, rule_id: str | None = None) -> str:
    """Where ``fail-first`` counts: the rule, the ``key=``, or this request's method, path and
    fault (hashed: a path may carry a PIN)."""
    if rule_id is not None:
        return f"rule:{rule_id}"
    if fault.key is not None:
        return f"key:{fault.key}"
    digest = hashlib.sha256(f"{method} {path} {fault.text}".encode()).hexdigest()[:40]
    return f"request:{digest}"


def count_request(session: Session, *, client_id: str, key: str, now: datetime) -> int:
    """Add one to the counter (created at 1) in one statement; the new count."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(FaultCounter).values(client_id=client_id, key=key, count=1,
                                                    updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[FaultCounter.client_id, FaultCounter.key],
        set_={"count": FaultCounter.count + 1, "updated_at": now},
    ).returning(FaultCounter.count)
    count = int(session.execute(statement).scalar_one())
    if count == 1:  # a new counter: the client may hold at most MAX_COUNTERS
        _forget_least_recent(session, client_id, keep=key)
    return count


def _forget_least_recent(session: Session, client_id: str, *, keep: str) -> None:
    """Delete the client's counters beyond :data:`MAX_COUNTERS`, the least recently counted
    first (never ``keep``, the one just made): each ``key=`` (or path) makes a row, and without a
    bound a loop of requests with new keys -- by anyone holding the public demo client's
    credentials -- would grow the table without end. A forgotten counter starts again at 0."""
    mine = (FaultCounter.client_id == client_id) & (FaultCounter.key != keep)
    kept = (select(FaultCounter.key).where(mine)
            .order_by(FaultCounter.updated_at.desc(), FaultCounter.key)
            .limit(MAX_COUNTERS - 1))
    session.execute(delete(FaultCounter).where(mine, FaultCounter.key.not_in(kept)))


# --- rules ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    fault: str
    method: str | None = None
    path: str | None = None


def add_rule(session: Session, client_id: str, spec: RuleSpec, *, now: datetime) -> FaultRule:
    parse(spec.fault)
    count = len(list(session.scalars(select(FaultRule.id).where(FaultRule.client_id == client_id))))
    if count >= MAX_RULES:
        raise InvalidFault(f"A client has at most {MAX_RULES} rules.", rule="rules.count")
    rule = FaultRule(id="fr_" + secrets.token_hex(8), client_id=client_id, fault=spec.fault,
                     method=spec.method.upper() if spec.method else None, path=spec.path,
                     created_at=now)
    session.add(rule)
    session.flush()
    return rule


def rules_of(session: Session, client_id: str) -> list[FaultRule]:
    return list(session.scalars(select(FaultRule).where(FaultRule.client_id == client_id)
                                .order_by(FaultRule.created_at, FaultRule.id)))


def all_rules(session: Session) -> list[FaultRule]:
    return list(session.scalars(select(FaultRule).order_by(FaultRule.created_at, FaultRule.id)))


def delete_rule(session: Session, client_id: str, rule_id: str) -> None:
    rule = session.get(FaultRule, rule_id)
    if rule is None or rule.client_id != client_id:
        raise FaultRuleNotFound()
    session.delete(rule)
    session.execute(delete(FaultCounter).where(FaultCounter.client_id == client_id,
                                               FaultCounter.key == f"rule:{rule_id}"))
    session.flush()


def clear(session: Session, client_id: str) -> int:
    """Delete the client's rules and reset its counters; how many rules there were."""
    removed = session.execute(delete(FaultRule).where(FaultRule.client_id == client_id))
    session.execute(delete(FaultCounter).where(FaultCounter.client_id == client_id))
    session.flush()
    return int(getattr(removed, "rowcount", 0) or 0)


def matches(rule: FaultRule, *, method: str, path: str) -> bool:
    """A rule's ``method`` is exact; its ``path`` a route template (``/v1/citizens/{pin}``: each
    ``{name}`` matches one path segment), an exact path, or a prefix ending in ``*``."""
    if rule.method and rule.method != method:
        return False
    if not rule.path:
        return True
    if rule.path.endswith("*"):
        return path.startswith(rule.path[:-1])
    return _template(rule.path).fullmatch(path) is not None


def _template(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^/{}]+\})", path)
    return re.compile("".join("[^/]+" if part.startswith("{") else re.escape(part)
                              for part in parts))


def kind(text: str) -> str:
    """A fault's effect without its numbers (a metric label): ``status=503``, ``timeout``, ..."""
    fault = parse(text)
    if fault.status is not None:
        return f"status={fault.status}"
    for name in ("timeout_ms", "bad_signature", "malformed_body"):
        if getattr(fault, name):
            return name.removesuffix("_ms").replace("_", "-")
    return "latency"
