"""What the service makes sure of at start, after migrations: each step idempotent.

Several processes starting at once on one database (``dancu serve --workers 2``, or several
servers on one PostgreSQL database) take turns: :func:`startup_turn` lets one process at a time
migrate and run the steps, so the first makes the deployment secret, the population and the
signing keys, and the next find them made. Without it both found an empty database and generated
the population, and the second failed (``PopulationExists``).
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from app.clock import SandboxClock
from app.db import Database
from app.settings import Settings

if TYPE_CHECKING:
    from app.services.vneid.backchannel import Logouts

log = logging.getLogger("dancu.bootstrap")

# "dncst": the start-up turn; apart from the steps' own locks (secret, pki, sharing), which the
# steps take on other connections while the turn is held.
_STARTUP_LOCK_ID = 0x646E637374


@contextmanager
def startup_turn(database: Database) -> Iterator[None]:
    """Hold the start-up turn of ``database`` for the block: one process at a time, across every
    process on that database. PostgreSQL: ``pg_advisory_xact_lock`` in a transaction of a
    connection of its own, open for the block (a crash ends it, and the lock with it;
    docs/scale.md), exempt from ``idle_in_transaction_session_timeout``. SQLite: an exclusive
    ``flock`` on ``<db>-startup.lock`` beside the database file (released by the system when the
    process ends), as the writers' lock file of :mod:`app.services.storage.units`. An in-memory
    database has one process: no turn. A PostgreSQL server that cannot be reached gives no turn
    either: the steps then skip themselves (:func:`bootstrap`)."""
    if database.is_sqlite:
        with _file_turn(_startup_lock_path(database.url)):
            yield
        return
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    try:
        connection = database.engine.connect()
    except OperationalError:
        log.warning("database unreachable: start-up without a turn")
        yield
        return
    try:
        with connection.begin():
            # Idle while the steps run on other connections (hours for a national population):
            # a server's idle-transaction timeout would end the turn in the middle of them.
            connection.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"),
                               {"id": _STARTUP_LOCK_ID})
            yield
    finally:
        connection.close()


def _startup_lock_path(url: str) -> str | None:
    from sqlalchemy import make_url

    name = make_url(url).database
    return f"{name}-startup.lock" if name and name != ":memory:" else None


@contextmanager
def _file_turn(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits for the process whose turn it is
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def bootstrap(*, database: Database, settings: Settings, clock: SandboxClock) -> Settings:
    """Run every start-up step in order (population first: the rest refers to it); returns the
    settings carrying the deployment secret (``app.services.kit.secret``), for the app to use.

    A database that cannot be reached or is not migrated skips them all: the service still
    starts, and ``/readyz`` says what is wrong.
    """
    if not _database_ready(database):
        return settings
    from app.services.kit import secret

    settings = secret.resolved(database, settings, now=clock.now())
    _ensure_population(database=database, settings=settings, clock=clock)
    _ensure_cards(database=database, settings=settings, clock=clock)
    _ensure_sharing(database=database, settings=settings, clock=clock)
    from app.services.vneid import backchannel

    # A persona shaped again (locked, closed) ends its login sessions, as through the API.
    with backchannel.own_logouts(database, settings, now=clock.now()) as logouts:
        _ensure_accounts(database=database, settings=settings, clock=clock, logouts=logouts)
        _ensure_personas(database=database, settings=settings, clock=clock, logouts=logouts)
    return settings


def _database_ready(database: Database) -> bool:
    from sqlalchemy.exc import OperationalError

    from app import migrations

    try:
        current = migrations.is_current(database.engine)
    except OperationalError:
        log.warning("database unreachable: start-up steps skipped")
        return False
    if not current:
        log.warning("database not migrated: start-up steps skipped")
    return current


def _has_rows(database: Database, column: object) -> bool:
    """One indexed probe: a restart checks what exists without loading the generator (numpy
    and the seed pipeline are a second of imports)."""
    from sqlalchemy import select

    with database.read() as session:
        return session.scalar(select(column).limit(1)) is not None  # type: ignore[call-overload]


def _ensure_population(*, database: Database, settings: Settings, clock: SandboxClock) -> None:
    """An empty database gets the population with its chip cards and VNeID accounts, made by
    the generator with each batch as ``dancu seed`` does (the next steps find them and add the
    personas); a database populated without them gets them from the next steps."""
    if not settings.auto_seed:
        return
    from app.models.population import Citizen

    if _has_rows(database, Citizen.pin):
        return
    from seed.populate import Extras, is_populated, populate

    if is_populated(database):
        return
    log.info("empty database: generating %d people from seed %d", settings.population_size,
             settings.seed)
    populate(database, size=settings.population_size, seed=settings.seed, now=clock.now(),
             extras=Extras(sandbox=settings.sandbox))


def _ensure_cards(*, database: Database, settings: Settings, clock: SandboxClock) -> None:
    """Chip cards for the population, then the test cards that fail on purpose (before the
    VNeID accounts: who may hold one depends on holding a valid card)."""
    from app import migrations
    from app.models.card import Card

    if not settings.auto_seed or not migrations.is_current(database.engine):
        return
    if not _has_rows(database, Card.id):
        from seed.cards import ensure_cards

        ensure_cards(database, seed=settings.seed, now=clock.now())
        return
    from app.services.cards.failure_cards import ensure_personas  # the cards exist: their personas

    with database.write() as session:
        made = ensure_personas(session, seed=settings.seed, now=clock.now())
    if made:
        log.info("marked test cards: %s", ", ".join(made))


def _ensure_sharing(*, database: Database, settings: Settings, clock: SandboxClock) -> None:
    """Signing keys and, in a sandbox deployment, the demo client (data-sharing API)."""
    from app import migrations
    from app.services.sharing.setup import ensure_sharing

    if not migrations.is_current(database.engine):
        log.warning("database not migrated: signing keys and demo client not ensured")
        return
    with database.write() as session:
        ensure_sharing(session, settings=settings, now=clock.now())


def _ensure_accounts(*, database: Database, settings: Settings, clock: SandboxClock,
                     logouts: Logouts) -> None:
    """VNeID: the demo client's sign-in scopes; generated accounts and the test personas."""
    from app import migrations
    from app.services.vneid.account_generation import ensure_accounts
    from app.services.vneid.provider import ensure_demo_login_scopes

    if not migrations.is_current(database.engine):
        return
    with database.write() as session:
        ensure_demo_login_scopes(session, settings=settings)
    if settings.auto_seed:
        ensure_accounts(database, settings=settings, now=clock.now(), logouts=logouts)


def _ensure_personas(*, database: Database, settings: Settings, clock: SandboxClock,
                     logouts: Logouts) -> None:
    """The persona catalogue (after the card and account personas it builds on)."""
    from app.services.sandbox import personas

    if settings.auto_seed and settings.sandbox:  # personas log in with documented secrets
        with logouts.write(database) as session:
            made = personas.ensure_personas(session, personas.context(database, settings,
                                                                      now=clock.now()))
        if made:
            log.info("sandbox personas: %s", ", ".join(made))
