"""Tenant templates: the seed's part of a tenant generated once, then copied for every tenant and
every reset of the same seed and size.

A tenant's database is two layers. The seed's layer (migrations, the population, the cards and
their test PKI, the generated VNeID accounts, the personas) is public test data: it depends only on
the seed, the size, the generator and the schema, and the day (accounts open "until today"). The
secret layer (signing keys, the demo client, the personas' bound-device tokens: everything derived
from the tenant's own secret) is made afresh in each copy: the template's personas are bound with a
throw-away secret and :func:`app.services.vneid.account_generation.rebind_persona_devices` binds
them again with the tenant's, then the ordinary start-up steps (:func:`app.bootstrap.bootstrap`)
make the keys and the demo client. No two tenants share a secret even when they share a template.

A template is a database beside the tenants: a SQLite file in ``<db>.tenants/templates/``, or a
PostgreSQL database ``<main>_tpl_<version>_<pair>`` copied with ``CREATE DATABASE ... TEMPLATE``.
``<version>`` digests the generator's version, its code and data, the schema's head revision and
the day, so a new generator (or tomorrow) never serves a stale template: the first tenant after
the change makes a new one and the templates of other versions are dropped. A template is built
under a temporary name and published by a rename, so two processes making the same one at once
both end with one good template.

At most ``settings.tenant_templates_kept`` templates are kept (``DANCU_TENANT_TEMPLATES_KEPT``):
making one more drops the least recently used (its file or database). Otherwise a client creating
and deleting tenants of ever new seeds left a template behind each time (tens of MB, or a
PostgreSQL database) until the day changed. A template's last use is the wall-clock time (not the
sandbox clock, which tenants move at will) of its making or of its last copy: the file's
modification time on SQLite, the database's comment on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from app.db import Database
from app.settings import Settings

log = logging.getLogger("dancu.tenants")
_PREFIX = "tpl_"
_DIGEST_SUFFIXES = (".py", ".json", ".csv", ".txt", ".tsv")
_PUBLISHED = re.compile(r"[0-9a-f]{8}_[0-9a-f]{8}")  # <version>_<pair>: not one being built


@lru_cache(maxsize=1)
def _code_digest() -> str:
    """The generator's code and reference data (``seed/``, the account generator), so an edit
    without a version bump still makes a new template."""
    import seed
    from app.services.cards import failure_cards
    from app.services.vneid import account_generation

    digest = hashlib.sha256()
    root = Path(seed.__file__).parent
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in _DIGEST_SUFFIXES)
    accounts = Path(account_generation.__file__)  # with the rules and writer beside it
    for path in [*files, accounts, accounts.with_name("account_rules.py"),
                 accounts.with_name("account_bulk.py"), Path(failure_cards.__file__)]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def version(*, today: date, settings: Settings) -> str:
    """What a template was made by and for: generator version, code, schema head, the day and
    the settings the seed's layer reads."""
    from app import migrations
    from seed.populate import GENERATOR_VERSION

    parts = (GENERATOR_VERSION, _code_digest(), migrations.head_revision() or "", today.isoformat(),
             str(settings.sandbox), settings.pki_key_type)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:8]


def name(*, seed: int, size: int, version_tag: str) -> str:
    pair = hashlib.sha256(f"{seed}/{size}".encode()).hexdigest()[:8]
    return f"{_PREFIX}{version_tag}_{pair}"


# --- where templates live -------------------------------------------------------------------------


def _sqlite_folder(main_url: str) -> Path:
    main = Path(make_url(main_url).database or "dancu.db")
    return main.parent / f"{main.name}.tenants" / "templates"


def _pg_database(main_url: str, template: str) -> str:
    # 63 bytes at most: 32 of the main name, "_", the template's 21 and "_b" + 6 hex while built
    main = make_url(main_url).database or "dancu"
    return f"{main[:32]}_{template}"


def url_of(main_url: str, template: str) -> str:
    url = make_url(main_url)
    if url.drivername.startswith("sqlite"):
        return str(url.set(database=str(_sqlite_folder(main_url) / f"{template}.db")))
    return url.set(database=_pg_database(main_url, template)).render_as_string(
        hide_password=False)


def _admin(url: str):  # type: ignore[no-untyped-def]
    import psycopg

    dsn = make_url(url).set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)
    return psycopg.connect(dsn, autocommit=True)


def exists(url: str) -> bool:
    if url.startswith("sqlite"):
        return Path(make_url(url).database or "").is_file()
    with _admin(url) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                   (make_url(url).database,)).fetchone()
    return found is not None


def copy(template_url: str, target_url: str) -> None:
    """Make ``target_url`` (replacing whatever database was there) a copy of the template."""
    if template_url.startswith("sqlite"):
        drop_database(target_url)
        target = Path(make_url(target_url).database or "")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(make_url(template_url).database or "", target)
        return
    source, new = make_url(template_url).database, make_url(target_url).database
    with _admin(target_url) as connection:  # one connection for all: each costs a fork
        old = _set_aside(connection, target_url)
        connection.execute(f'CREATE DATABASE "{new}" TEMPLATE "{source}"')
    if old is not None:  # a reset: the old copy goes after the answer (a drop took 0.6-2 s)
        threading.Thread(target=_drop_quietly, args=(target_url, old), daemon=True,
                         name="dancu-tenant-drop").start()


def _set_aside(connection: Any, url: str) -> str | None:
    """Rename the database of ``url`` out of the way; None when there is none. When a session
    still uses it (another worker's pool), it is dropped here instead, its sessions ended."""
    import psycopg

    name = str(make_url(url).database)
    if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() \
            is None:
        return None
    aside = f"{name[:54]}_x{secrets.token_hex(3)}"
    try:
        connection.execute(f'ALTER DATABASE "{name}" RENAME TO "{aside}"')
    except psycopg.errors.ObjectInUse:
        drop_database(url)
        return None
    return aside


def _drop_quietly(url: str, name: str) -> None:
    try:
        drop_database(make_url(url).set(database=name).render_as_string(
            hide_password=False))
    except Exception:  # a leftover costs disk only: deleting the tenant drops it too
        log.warning("a replaced tenant database could not be dropped")


# --- making one -----------------------------------------------------------------------------------


def ensure(main_url: str, *, settings: Settings, now: datetime,
           progress: Callable[[int, int], None] | None = None) -> str:
    """The URL of the template for a tenant's settings (its seed and size) today, generated now
    if there is none."""
    from app.services.cards.issuance import local_date

    tag = version(today=local_date(now), settings=settings)
    url = url_of(main_url, name(seed=settings.seed, size=settings.population_size,
                                version_tag=tag))
    if exists(url):
        _mark_used(url)
        return url
    _build_and_publish(url, settings=settings, now=now, progress=progress)
    _mark_used(url)
    _drop_other_versions(main_url, keep=tag)
    _drop_least_recently_used(main_url, keep=settings.tenant_templates_kept, current=url)
    return url


# --- which ones are kept --------------------------------------------------------------------------


def _mark_used(url: str) -> None:
    """Note now as the template's last use (a cache's bookkeeping: wall-clock time)."""
    stamp = time.time_ns()
    if url.startswith("sqlite"):
        path = make_url(url).database or ""
        try:
            os.utime(path, ns=(stamp, stamp))
        except FileNotFoundError:  # dropped by another process meanwhile: made again when needed
            pass
        return
    with _admin(url) as connection:
        connection.execute(f'COMMENT ON DATABASE "{make_url(url).database}" IS '
                           f"'dancu template used {stamp}'")


def last_used(main_url: str) -> dict[str, int]:
    """Every published template of this deployment with its last use (ns since the epoch; 0 when
    unknown), the ones being built left out."""
    url = make_url(main_url)
    if url.drivername.startswith("sqlite"):
        found: dict[str, int] = {}
        for path in _sqlite_folder(main_url).glob(f"{_PREFIX}*.db"):
            if not _PUBLISHED.fullmatch(path.stem[len(_PREFIX):]):  # being built
                continue
            try:
                found[str(url.set(database=str(path)))] = path.stat().st_mtime_ns
            except FileNotFoundError:
                continue
        return found
    prefix = _pg_database(main_url, _PREFIX)
    with _admin(main_url) as connection:
        rows = connection.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE starts_with(datname, %s)", (prefix,)).fetchall()
    stamps: dict[str, int] = {}
    for name, comment in rows:
        if not _PUBLISHED.fullmatch(name[len(prefix):]):  # being built (``_building_url``)
            continue
        tail = str(comment or "").rsplit(" ", 1)[-1]
        stamps[url.set(database=name).render_as_string(hide_password=False)] = \
            int(tail) if tail.isdigit() else 0
    return stamps


def _drop_least_recently_used(main_url: str, *, keep: int, current: str) -> None:
    """Drop the least recently used templates past ``keep`` (never ``current``)."""
    stamps = last_used(main_url)
    others = sorted((url for url in stamps if url != current),
                    key=lambda url: (stamps[url], url), reverse=True)
    for url in others[max(keep - 1, 0):]:
        log.info("tenant template dropped (least recently used of more than %d)", keep)
        drop(url)


def _building_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        path = Path(parsed.database or "")
        return str(parsed.set(database=str(path.with_name(
            f"{path.stem}.building-{secrets.token_hex(3)}.db"))))
    return parsed.set(database=f"{parsed.database}_b{secrets.token_hex(3)}").render_as_string(
        hide_password=False)


def _build_and_publish(url: str, *, settings: Settings, now: datetime,
                       progress: Callable[[int, int], None] | None) -> None:
    building = _building_url(url)
    drop_database(building)
    create_database(building)
    # A secret of its own, never kept: what the personas derive from it is rebound in each copy.
    own = settings.model_copy(update={"database_url": building,
                                      "secret_key": SecretStr(secrets.token_hex(32))})
    try:
        _generate(own, now=now, progress=progress)
        _publish(building, url)
    except BaseException:
        drop_database(building)
        raise
    log.info("tenant template made for %d people", settings.population_size)


def _generate(settings: Settings, *, now: datetime,
              progress: Callable[[int, int], None] | None) -> None:
    """The seed's layer (see the module docstring)."""
    from app import migrations
    from app.services.sandbox import personas
    from app.services.vneid import account_generation
    from seed.cards import ensure_cards
    from seed.populate import populate

    url, seed = settings.database_url, settings.seed
    database = Database.connect(url)
    try:
        migrations.upgrade(database.engine)
        populate(database, size=settings.population_size, seed=seed, now=now, progress=progress)
        ensure_cards(database, seed=seed, now=now)
        account_generation.seed_accounts(database, seed=seed, now=now, sandbox=settings.sandbox)
        if settings.sandbox:  # tenants exist only in a sandbox; the personas, as bootstrap makes
            with database.write() as session:
                account_generation.ensure_personas(session, settings=settings, now=now)
            with database.write() as session:
                personas.ensure_personas(session, personas.context(database, settings, now=now))
    finally:
        database.dispose()
    if url.startswith("sqlite"):  # one self-contained file to copy: no WAL beside it
        import sqlite3

        with closing(sqlite3.connect(make_url(url).database or "")) as connection:
            connection.execute("PRAGMA journal_mode=DELETE")  # checkpoints, removes the WAL


def _publish(building: str, url: str) -> None:
    if url.startswith("sqlite"):
        os.replace(make_url(building).database or "", make_url(url).database or "")
        return
    import psycopg

    old, new = make_url(building).database, make_url(url).database
    with _admin(url) as connection:
        try:
            connection.execute(f'ALTER DATABASE "{old}" RENAME TO "{new}"')
        except psycopg.errors.DuplicateDatabase:  # another process published it first
            drop_database(building)


def _drop_other_versions(main_url: str, *, keep: str) -> None:
    """Templates of another generator, schema or day: no tenant will be copied from them again."""
    for url in listed(main_url):
        if f"{_PREFIX}{keep}_" not in Path(make_url(url).database or "").name:
            drop(url)


def listed(main_url: str) -> list[str]:
    """Every template of this deployment (those being built included)."""
    url = make_url(main_url)
    if url.drivername.startswith("sqlite"):
        folder = _sqlite_folder(main_url)
        return [str(url.set(database=str(path))) for path in sorted(folder.glob(f"{_PREFIX}*.db"))]
    prefix = _pg_database(main_url, _PREFIX)
    with _admin(main_url) as connection:
        rows = connection.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
                                  (prefix,)).fetchall()
    return [url.set(database=row[0]).render_as_string(hide_password=False) for row in rows]


def drop(url: str) -> None:
    drop_database(url)


__all__ = ["copy", "drop", "ensure", "exists", "listed", "name", "url_of", "version"]


# --- databases (a tenant's and a template's) ------------------------------------------------------


def _admin_dsn(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    dsn = parsed.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)
    return dsn, str(parsed.database)


def create_database(url: str) -> None:
    if url.startswith("sqlite"):
        Path(make_url(url).database or "").parent.mkdir(parents=True, exist_ok=True)
        return
    import psycopg

    dsn, name = _admin_dsn(url)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(make_url(url).database or "")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    dsn, name = _admin_dsn(url)
    with psycopg.connect(dsn, autocommit=True) as connection:
        # with the copies a reset set aside and has not dropped yet (tenant_templates.copy)
        aside = connection.execute("SELECT datname FROM pg_database WHERE starts_with(datname, "
                                   "%s)", (f"{name[:54]}_x",)).fetchall()
        for database in [name, *(row[0] for row in aside)]:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
