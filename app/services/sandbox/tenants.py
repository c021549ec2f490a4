"""Isolated tenants: a copy of the whole sandbox per test run, made from a seed, reset in one call.

A tenant is its own database beside the deployment's: a SQLite file in ``<db>.tenants/`` next to
the main file, or a PostgreSQL database ``<main>_<tenant id>`` on the same server. It is a copy of
the template of its ``seed`` and ``size`` (:mod:`app.services.sandbox.tenant_templates`: migrated,
populated, cards, accounts and personas; made by the first tenant of the pair), given its own
secrets (signing keys, the demo client, the personas' devices), so it has its own population,
clients, tokens, consents, events, fault rules and sandbox clock; its own issuer
(``<issuer>/t/<id>``) and secret (:func:`tenant_settings`), so a token of one tenant is refused in
every other and in the deployment. A tenant belongs to the client that made it; the demo client,
whose credentials are public, may not own one. The registry (``sandbox_tenant``) lives in the
main database; ``generation`` grows at each reset so every process drops what it built from the
previous database. Requests reach a tenant through :mod:`app.edge.tenants`.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.db import Database
from app.errors import Conflict, Forbidden, NotFound
from app.models.sandbox import Tenant
from app.services.kit import secret
from app.services.sandbox.tenant_templates import create_database, drop_database  # noqa: F401  (tenants.drop_database: the interface)
from app.settings import Settings

log = logging.getLogger("dancu.tenants")
TENANT_HEADER = "X-Sandbox-Tenant"
TENANT_COOKIE = "dancu_tenant"
PATH_PREFIX = "/t/"  # /t/<id>/... is the tenant's, like X-Sandbox-Tenant: <id>
MAX_TENANTS = 20  # per deployment: each is a database
_ID = re.compile(r"t[0-9a-f]{16}")
CREATING, READY, FAILED = "creating", "ready", "failed"


class TenantNotFound(NotFound):
    code, title = "tenant-not-found", "No such tenant"


class TenantBusy(Conflict):
    code, title = "tenant-busy", "The tenant is being created or reset"


class OwnClientRequired(Forbidden):
    code, title = ("own-client-required",
                   "This needs a client of your own, not the shared demo client")


class TenantLimit(Conflict):
    code, title = "tenant-limit", "This deployment has as many tenants as it allows"


class TenantOwnerLimit(Conflict):
    code, title = "tenant-owner-limit", "This client owns as many tenants as a client may"


def valid_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


def new_id() -> str:
    return "t" + secrets.token_hex(8)


# --- where a tenant's database lives --------------------------------------------------------------


def database_url(main_url: str, tenant_id: str) -> str:
    if not valid_id(tenant_id):
        raise TenantNotFound()
    url = make_url(main_url)
    if url.drivername.startswith("sqlite"):
        main = Path(url.database or "dancu.db")
        folder = main.parent / f"{main.name}.tenants"
        return str(url.set(database=str(folder / f"{tenant_id}.db")))
    name = f"{url.database or 'dancu'}"[: 63 - len(tenant_id) - 1]
    return url.set(database=f"{name}_{tenant_id}").render_as_string(hide_password=False)


def issuer(settings: Settings, tenant_id: str) -> str:
    """The tenant's own issuer: its requests are also served under this path."""
    return f"{settings.issuer_url}{PATH_PREFIX}{tenant_id}"


def tenant_settings(settings: Settings, tenant: Tenant) -> Settings:
    """The tenant's settings: its database, seed, issuer and its own deployment secret (derived
    from the deployment's and the tenant id), so its signing keys, pairwise subjects and device
    tokens are its own even when its seed is the deployment's."""
    own_secret = secret.derive(settings, f"tenant/{tenant.id}").hex()
    return settings.model_copy(update={
        "database_url": database_url(settings.database_url, tenant.id), "seed": tenant.seed,
        "population_size": tenant.size, "auto_seed": True, "delivery_worker": False,
        "issuer": issuer(settings, tenant.id), "secret_key": SecretStr(own_secret)})


def build(settings: Settings, tenant: Tenant, *, now: datetime,
          progress: Callable[[int, int], None] | None = None) -> None:
    """Make the tenant's database afresh: a copy of the template of its seed and size (generated
    now when there is none: ``progress(done, size)`` follows its population batches), then the
    start-up steps with the tenant's own settings (its keys, demo client and personas)."""
    from app.bootstrap import bootstrap
    from app.clock import SandboxClock
    from app.services.sandbox import tenant_templates
    from app.services.vneid import account_generation

    own = tenant_settings(settings, tenant)
    template = tenant_templates.ensure(settings.database_url, settings=own, now=now,
                                       progress=progress)
    tenant_templates.copy(template, own.database_url)
    if progress is not None:
        progress(tenant.size, tenant.size)
    database = Database.connect(own.database_url)
    try:
        with database.write() as session:
            account_generation.rebind_persona_devices(session, settings=own)
        bootstrap(database=database, settings=own, clock=SandboxClock())  # own time: real
    finally:
        database.dispose()


# --- the registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    owner: str
    seed: int
    size: int


def register(session: Session, spec: Registration, *, now: datetime,
             per_owner: int | None = None) -> Tenant:
    """A new tenant in the registry (``creating``), within the deployment's :data:`MAX_TENANTS`
    and, unless ``per_owner`` is None (the admin), the owner's ``per_owner``: one organisation
    cannot take every slot of a shared deployment."""
    if (session.scalar(select(func.count()).select_from(Tenant)) or 0) >= MAX_TENANTS:
        raise TenantLimit(limit=MAX_TENANTS)
    if per_owner is not None and (session.scalar(
            select(func.count()).select_from(Tenant).where(Tenant.owner == spec.owner))
            or 0) >= per_owner:
        raise TenantOwnerLimit(
            "Delete one of this client's tenants first (DELETE /v1/sandbox/tenants/{id}).",
            limit=per_owner)
    tenant = Tenant(id=new_id(), seed=spec.seed, size=spec.size, owner=spec.owner,
                    status=CREATING, generation=1, created_at=now, updated_at=now)
    session.add(tenant)
    session.flush()
    return tenant


def find(session: Session, tenant_id: str, *, owner: str | None) -> Tenant:
    """The tenant (``owner`` None: the admin, who sees every tenant)."""
    tenant = session.get(Tenant, tenant_id) if valid_id(tenant_id) else None
    if tenant is None or (owner is not None and tenant.owner != owner):
        raise TenantNotFound()
    return tenant


def listed(session: Session, *, owner: str | None) -> list[Tenant]:
    query = select(Tenant).order_by(Tenant.created_at, Tenant.id)
    if owner is not None:
        query = query.where(Tenant.owner == owner)
    return list(session.scalars(query))


def begin_reset(session: Session, tenant: Tenant, *, now: datetime) -> Tenant:
    """Mark the tenant ``creating`` with a new generation, unless it is already being built."""
    changed = session.execute(
        update(Tenant).where(Tenant.id == tenant.id, Tenant.status != CREATING)
        .values(status=CREATING, generation=Tenant.generation + 1, updated_at=now)
        .execution_options(synchronize_session=False))
    if not getattr(changed, "rowcount", 0):
        raise TenantBusy()
    session.refresh(tenant)
    return tenant


def finish(session: Session, tenant_id: str, *, ok: bool, now: datetime) -> None:
    session.execute(update(Tenant).where(Tenant.id == tenant_id)
                    .values(status=READY if ok else FAILED, updated_at=now)
                    .execution_options(synchronize_session=False))


def forget(session: Session, tenant: Tenant) -> None:
    session.delete(tenant)
    session.flush()


def view(tenant: Tenant) -> dict[str, Any]:
    return {"id": tenant.id, "seed": tenant.seed, "size": tenant.size, "status": tenant.status,
            "generation": tenant.generation, "owner": tenant.owner,
            "created_at": tenant.created_at, "header": {TENANT_HEADER: tenant.id}}
