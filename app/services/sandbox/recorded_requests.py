"""The recent requests of this server process, for the console and ``GET /v1/sandbox/requests``:
a bounded ring buffer of method, route template, status, duration, client, request id, tenant and
injected fault. Never a raw path, a query, a header or a body: nothing personal.

A client's entry is one whose request proved it is that client (``client_authenticated``): an
unauthenticated token request names any client id it likes, which the admin sees as claimed (who
tried) but which never lands in that client's own list.

Each worker process keeps its own (run one worker to see everything in one place).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

CAPACITY = 500


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ is several times slower
class Seen:
    at: datetime
    request_id: str
    method: str
    path: str
    status: int
    duration_ms: float
    client_id: str | None
    client_authenticated: bool  # False: client_id is only claimed (or None)
    tenant: str | None
    fault: str | None


class RecentRequests:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._items: deque[Seen] = deque(maxlen=capacity)

    def add(self, seen: Seen) -> None:
        self._items.append(seen)  # one bytecode under the GIL: no lock on every request's path

    def latest(self, *, client_id: str | None = None, limit: int = 200) -> list[Seen]:
        items = list(self._items)  # copied in C, under the GIL
        if client_id is not None:
            items = [item for item in items
                     if item.client_id == client_id and item.client_authenticated]
        return items[::-1][:limit]


def ring(app: Any) -> RecentRequests:
    found = getattr(app.state, "recent_requests", None)
    if found is None:
        found = app.state.recent_requests = RecentRequests()
    return found


def recent(app: Any, *, client_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The latest first; in a tenant, only the tenant's (the deployment keeps the buffer). A
    client's own (``client_id``) are only those made where it is, the deployment or one tenant:
    a client id names a client of one database only (every tenant has a ``demo``, whose
    credentials are public), and a tenant's id is its capability. Only the deployment's admin
    (no ``client_id``) sees every tenant's."""
    host = getattr(app.state, "host_app", None) or app
    tenant = getattr(app.state, "tenant", None)
    items = ring(host).latest(client_id=client_id, limit=CAPACITY)
    everywhere = tenant is None and client_id is None
    return [asdict(item) for item in items if everywhere or item.tenant == tenant][:limit]
