"""``dancu events ...`` (record a life event, list the feed, run a webhook delivery pass) and
``dancu simulate --days N``. The CLI reads and stores the shared sandbox clock
(:mod:`app.services.kit.shared_clock`), so its events carry the same "now" as the server's."""

from __future__ import annotations

import json
import random
import secrets
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.base import cli, console, fail, out, print_table, settings_from
from app.cli.clients import DatabaseOption, writing

if TYPE_CHECKING:
    from rich.table import Table

    from app.clock import SandboxClock
    from app.db import Database
    from app.services.events import simulation
    from app.settings import Settings

# app.services.events.kinds.KINDS' names (a test compares), without loading the services
KIND_NAMES = ("births", "deaths", "residence-changes", "marriages", "divorces", "name-changes",
              "card-changes", "pin-reestablishments")

events_cli = typer.Typer(help="Life events, the event feed and webhook deliveries.",
                         no_args_is_help=True)
cli.add_typer(events_cli, name="events")


def _clock(database: Database) -> SandboxClock:
    """The shared sandbox clock as stored (real time when nothing was stored)."""
    from app.clock import SandboxClock
    from app.services.kit import shared_clock

    clock = SandboxClock()
    shared_clock.ClockSync(clock).poll(database)
    return clock


def _body(kind: str, text: str | None) -> object:
    from pydantic import ValidationError

    from app.services.events.kinds import KINDS

    if kind not in KINDS:
        fail(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    raw = text if text is not None else sys.stdin.read()
    try:
        return KINDS[kind].model.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as error:
        problems = error.errors() if isinstance(error, ValidationError) else []
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in problems) or "JSON"
        fail(f"invalid {kind} request ({fields})")


@events_cli.command("record")
def record(kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(KIND_NAMES)}")],
           body: Annotated[str | None, typer.Argument(help="JSON request (default: stdin)")] = None,
           idempotency_key: Annotated[str | None, typer.Option(help="Idempotency-Key")] = None,
           database_url: str | None = DatabaseOption) -> None:
    """Record a life event with the API's request body (docs/life-events.md)."""
    from app.db import Database
    from app.services.events import life_events
    from app.services.events.kinds import KINDS

    request = _body(kind, body)
    settings = settings_from(database_url=database_url)
    database = Database.connect(settings.database_url)
    try:
        now = _clock(database).now()
    finally:
        database.dispose()
    tools = life_events.Tools(rng=random.Random(secrets.randbits(64)),
                              pki=lambda: _pki(settings, now))
    with writing(database_url) as session:
        result = life_events.record(session, kind, request,  # type: ignore[arg-type]
                                    handler=KINDS[kind].handler, now=now, actor="cli",
                                    tools=tools, idempotency_key=idempotency_key)
    out.print_json(json.dumps(result.body, ensure_ascii=False))


def _pki(settings: Settings, now: object):  # type: ignore[no-untyped-def]
    from app.db import Database
    from app.services.cards.pki import card_pki

    database = Database.connect(settings.database_url)
    try:
        return card_pki(database, seed=settings.seed, key_type=settings.pki_key_type,
                        now=now)  # type: ignore[arg-type]
    finally:
        database.dispose()


@events_cli.command("list")
def list_events(after: Annotated[int, typer.Option(help="Events after this id")] = 0,
                limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
                database_url: str | None = DatabaseOption) -> None:
    """The feed from --after, oldest first (every field: this is the operator's view)."""
    from rich.table import Table
    from sqlalchemy.exc import SQLAlchemyError

    from app.db import Database
    from app.services.events import feed as events

    database = Database.connect(settings_from(database_url=database_url).database_url)
    try:
        with database.read() as session:
            rows = [events.full_view(e) for e in events.page(session, after=after, limit=limit)]
    except SQLAlchemyError as error:
        fail(f"cannot read the feed: {type(error).__name__}")
    finally:
        database.dispose()
    table = Table("id", "type", "pin", "occurred on", "cause")
    for row in rows:
        table.add_row(str(row["id"]), row["type"], row["pin"], row["occurred_on"],
                      str(row["cause_id"] or ""))
    print_table(table)


@events_cli.command("deliver")
def deliver(database_url: str | None = DatabaseOption) -> None:
    """Run one webhook delivery pass now (what the server's worker does every second)."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.db import Database
    from app.services.events import webhook_sender, webhooks

    settings = settings_from(database_url=database_url)
    database = Database.connect(settings.database_url)
    try:
        report = webhooks.run_pass(database, now=_clock(database).now(),
                                   send=webhook_sender.for_settings(settings))
    except SQLAlchemyError as error:
        fail(f"delivery pass failed: {type(error).__name__}")
    finally:
        database.dispose()
    out.print(f"{report.attempted} attempted, {report.delivered} delivered, "
              f"{report.retrying} to retry, {report.failed} failed", highlight=False)


@contextmanager
def _progress(days: int) -> Iterator[Callable[[int, Counter[str]], None]]:
    """A rich progress bar with running counts on a terminal; else one line per 30 days."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    totals: Counter[str] = Counter()

    def line() -> str:
        return ", ".join(f"{name} {count}" for name, count in sorted(totals.items()) if count)

    if not console.is_terminal:
        def plain(day: int, done: Counter[str]) -> None:
            totals.update(done)
            if day % 30 == 0 or day == days:
                console.print(f"day {day}/{days}: {line()}", highlight=False)
        yield plain
        return
    columns = (TextColumn("[bold]simulating"), BarColumn(), MofNCompleteColumn(),
               TextColumn("days"), TimeElapsedColumn(), TextColumn("{task.fields[counts]}"))
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("simulating", total=days, counts="")

        def update(day: int, done: Counter[str]) -> None:
            totals.update(done)
            bar.update(task, completed=day, counts=line())
        yield update


@cli.command()
def simulate(days: Annotated[int, typer.Option(min=1, max=3660, help="Days to simulate")],
             seed_value: Annotated[int | None, typer.Option("--seed",
                                                            help="Seed (DANCU_SEED)")] = None,
             database_url: str | None = DatabaseOption) -> None:
    """Advance the shared sandbox clock by N days of births, deaths, moves, marriages, divorces
    and card renewals at national rates (docs/life-events.md)."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.db import Database
    from app.services.events import simulation
    from app.services.vneid import backchannel

    settings = settings_from(database_url=database_url, seed=seed_value)
    database = Database.connect(settings.database_url)
    try:
        clock = _clock(database)
        with _progress(days) as progress, \
                backchannel.own_logouts(database, settings, now=clock.now()) as logouts:
            report = simulation.simulate(database, days=days, seed=settings.seed, clock=clock,
                                         pki=lambda now: _pki(settings, now), logouts=logouts,
                                         progress=progress)
    except SQLAlchemyError as error:
        fail(f"simulation stopped (the days done are kept): {type(error).__name__}")
    finally:
        database.dispose()
    print_table(_report_table(report))


def _report_table(report: simulation.Report) -> Table:
    from rich.table import Table

    from app.services.events import simulation

    table = Table("event", "count", "expected", title=f"{report.days} days simulated, now "
                  f"{report.end:%Y-%m-%d} ({report.population:,} living)")
    for name in (*simulation.PER_YEAR, "card_renewals"):
        expected = report.expected.get(name)
        table.add_row(name, str(report.counts.get(name, 0)),
                      f"{expected:.1f}" if expected is not None else "")
    return table
