"""Route a request to its tenant: ``X-Sandbox-Tenant: <id>``, the path prefix ``/t/<id>`` (the
tenant's issuer: a browser's login entered there stays under it, :func:`paths_kept`) or the
console's ``dancu_tenant`` cookie sends it to a complete app built on the tenant's database,
cached per process.

Every tenant request reads the registry row (is it ready, which generation) and polls the
tenant's stored clock, so a reset or a clock change made through another process applies at once.
The tenant apps have their own edge (faults, body limit, input guard) and the routes; the request
id, logs, metrics and recent-request list stay the deployment's (its edge wraps the dispatch).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from starlette.types import Receive, Scope, Send

from app.db import Database
from app.edge.faults import send_error
from app.errors import DomainError
from app.models.sandbox import Tenant
from app.services.kit import shared_clock
from app.services.sandbox import tenants

log = logging.getLogger("dancu.tenants")
MAX_CACHED = 8
# Served by the deployment itself, whatever tenant the request names.
DEPLOYMENT_PATHS = ("/v1/sandbox/tenants", "/metrics", "/healthz", "/readyz", "/static/",
                    "/console/tenant", "/openapi.json", "/docs", "/redoc")


@dataclass
class _Built:
    generation: int
    app: Any
    database: Database
    sync: shared_clock.ClockSync


class TenantApps:
    """The tenant apps this process built (least recently used dropped past :data:`MAX_CACHED`)."""

    def __init__(self) -> None:
        self._apps: OrderedDict[str, _Built] = OrderedDict()
        self._lock = threading.Lock()

    def forget(self, tenant_id: str) -> None:
        """Drop the tenant's app (before its database is dropped or reset): its back-channel
        logouts still queued are recorded as not made, those under way finished (at most one
        delivery's deadline), its delivery threads stopped, then its connections closed -- no
        delivery writes to the database afterwards."""
        with self._lock:
            built = self._apps.pop(tenant_id, None)
        if built is not None:
            _retire(built, patience=0)

    def stop_deliveries(self) -> None:
        """The deployment's shutdown: every tenant app's logouts get the shutdown's patience,
        all at once (not one tenant after another); :meth:`forget_all` then drops them."""
        with self._lock:
            built = list(self._apps.values())
        stopping = [threading.Thread(target=_stop_deliveries, args=(one,), daemon=True,
                                     name="dancu-tenant-stop") for one in built]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()

    def forget_all(self) -> None:
        for tenant_id in list(self._apps):
            self.forget(tenant_id)

    def app_for(self, host: Any, tenant: Tenant) -> _Built:
        """The app of ``tenant``'s current generation (built now if needed), its clock polled."""
        with self._lock:
            built = self._apps.get(tenant.id)
            if built is not None and built.generation == tenant.generation:
                self._apps.move_to_end(tenant.id)
            else:
                built = None
        if built is None:
            self.forget(tenant.id)
            built = _build(host, tenant)
            with self._lock:
                self._apps[tenant.id] = built
                evicted = []
                while len(self._apps) > MAX_CACHED:
                    evicted.append(self._apps.popitem(last=False)[1])
            for dropped in evicted:  # the tenant lives on: its queued logouts are still sent
                threading.Thread(target=_retire, args=(dropped,), daemon=True,
                                 name="dancu-tenant-evict").start()
        built.sync.poll(built.database)
        return built


def _stop_deliveries(built: _Built, patience: float | None = None) -> None:
    from app.services.vneid import backchannel

    backchannel.dispatcher(built.app).close(
        backchannel.STOP_PATIENCE_SECONDS if patience is None else patience)


def _retire(built: _Built, patience: float | None = None) -> None:
    """Stop a tenant app's delivery threads (``patience``: how long its queued logouts may
    still go on; the shutdown's by default), then close its database's connections."""
    _stop_deliveries(built, patience)
    built.database.dispose()


def _build(host: Any, tenant: Tenant) -> _Built:
    create_app = host.state.app_factory  # app.main.create_app, handed in (no import cycle)
    settings = tenants.tenant_settings(host.state.settings, tenant)
    # Never creating its file: a write after the tenant was dropped fails instead of leaving
    # an empty database at its path.
    database = Database.connect(settings.database_url, existing=True)
    app = create_app(settings, database=database, migrate_on_start=False, tenant=tenant.id)
    app.state.sandbox_sleep = getattr(host.state, "sandbox_sleep", None)
    app.state.host_app = host
    app.state.clock_sync = sync = shared_clock.ClockSync(app.state.clock)
    return _Built(tenant.generation, app, database, sync)


def tenant_apps(host: Any) -> TenantApps:
    found = getattr(host.state, "tenant_apps", None)
    if found is None:
        found = host.state.tenant_apps = TenantApps()
    return found


def requested_tenant(scope: Scope) -> str | None:
    cookie = None
    for name, value in scope.get("headers", ()):
        if name == b"x-sandbox-tenant":  # empty: no tenant (a collection's unset variable)
            return value.decode("latin-1").strip() or None
        if name == b"cookie":
            cookie = value.decode("latin-1")
    if cookie:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie)
        except Exception:  # a malformed Cookie header names no tenant
            return None
        if tenants.TENANT_COOKIE in jar:
            return jar[tenants.TENANT_COOKIE].value
    return None


def path_tenant(scope: Scope) -> tuple[str, Scope] | None:
    """``/t/<id>/rest``: the tenant id and the scope of ``/rest`` (``root_path`` keeps the
    prefix), so the tenant's issuer ``<issuer>/t/<id>`` serves its discovery and endpoints."""
    path = scope.get("path", "")
    if not path.startswith(tenants.PATH_PREFIX):
        return None
    tenant_id, _, rest = path[len(tenants.PATH_PREFIX):].partition("/")
    prefix = tenants.PATH_PREFIX + tenant_id
    raw = scope.get("raw_path") or path.encode()
    inner = {**scope, "path": "/" + rest, "raw_path": raw[len(prefix.encode()):] or b"/",
             "root_path": scope.get("root_path", "") + prefix}
    return tenant_id, inner


_COOKIE_PATH = re.compile(rb"(;\s*path=)(/oauth2)(?=;|$)", re.IGNORECASE)


def paths_kept(send: Send, scope: Scope, tenant_id: str) -> Send:
    """Under ``/t/<id>/`` the tenant's app sees its paths without the prefix; put it back where
    the answer sends the browser or the client, so that it stays in the tenant instead of landing
    in the deployment:

    * the router's trailing-slash redirect (307/308 to the same path with or without the ``/``);
    * a redirect to one of the login pages (``Location: /oauth2/...``: the login, one-time code
      and consent pages, the account pages);
    * the login pages' cookies (``Path=/oauth2`` becomes ``Path=/t/<id>/oauth2``), which the
      browser then sends to the prefixed pages only.

    The pages' own forms and links carry the prefix (``app.routers.html.base_path``). So a browser
    that enters a tenant by its issuer path needs no cookie naming the tenant: a cross-site link
    to ``/t/<id>/oauth2/authorize`` used to set ``dancu_tenant`` (``Path=/``) and send that
    browser's later requests to the deployment into the linked tenant."""
    prefix = tenants.PATH_PREFIX + tenant_id
    inner = scope["path"]
    slash_twins = {inner.rstrip("/"), inner + "/"} - {inner}
    cookie_path = rb"\g<1>" + prefix.encode() + rb"\g<2>"

    def located(value: bytes, status: int) -> bytes:
        parts = urlsplit(value.decode("latin-1"))
        own_page = not (parts.scheme or parts.netloc) and parts.path.startswith("/oauth2/")
        if (status in (307, 308) and parts.path in slash_twins) or \
                (status in (302, 303) and own_page):  # never a client's redirect URI
            return parts._replace(path=prefix + parts.path).geturl().encode("latin-1")
        return value

    async def sending(message: Any) -> None:
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = []
            for name, value in message.get("headers", []):
                if name == b"location" and 300 <= status < 400:
                    value = located(value, status)
                elif name == b"set-cookie":
                    value = _COOKIE_PATH.sub(cookie_path, value)
                headers.append((name, value))
            message = {**message, "headers": headers}
        await send(message)

    return sending


def tenant_of(scope: Scope, *, named: bool) -> tuple[str | None, Scope]:
    """The tenant a request names (``None``: the deployment's) and the scope the tenant's app
    answers. ``named``: the request has an ``X-Sandbox-Tenant`` or a cookie header (the edge saw
    them; without either only the path can name a tenant)."""
    path = scope["path"]
    tenant_id: str | None = None
    if path.startswith(tenants.PATH_PREFIX):
        tenant_id, scope = path_tenant(scope)  # type: ignore[misc]
    elif named:
        tenant_id = requested_tenant(scope)
    if tenant_id is None or scope["path"].startswith(DEPLOYMENT_PATHS):
        return None, scope
    return tenant_id, scope


async def serve(tenant_id: str, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer through the tenant's app (its own edge: faults, body limit, input guard), or the
    tenant problem (unknown, busy)."""
    host = scope["app"]
    try:
        built = await _resolve(host, tenant_id)
    except DomainError as refused:
        await send_error(send, refused, scope)
        return
    scope.setdefault("state", {})["tenant"] = tenant_id
    await built.app(scope, receive, send)


async def _resolve(host: Any, tenant_id: str) -> _Built:
    from starlette.requests import Request

    from app.security import runtime

    if not host.state.settings.sandbox or not tenants.valid_id(tenant_id):
        raise tenants.TenantNotFound()
    shared = runtime(Request({"type": "http", "app": host, "headers": []}))

    def resolve() -> _Built:
        with shared.database.read() as session:
            tenant = session.get(Tenant, tenant_id)
            if tenant is not None:
                session.expunge(tenant)
        if tenant is None:
            tenant_apps(host).forget(tenant_id)
            raise tenants.TenantNotFound()
        if tenant.status != tenants.READY:
            raise tenants.TenantBusy(tenant_status=tenant.status)
        return tenant_apps(host).app_for(host, tenant)

    return await shared.run_in_thread(resolve)


__all__ = ["TenantApps", "path_tenant", "paths_kept", "requested_tenant", "serve", "tenant_apps",
           "tenant_of"]
