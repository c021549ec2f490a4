"""``dancu seed`` and ``dancu stats``: generate the synthetic population, show its distributions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.base import cli, console, fail, print_table, settings_from

if TYPE_CHECKING:
    from rich.table import Table

    from app.db import Database

DatabaseUrl = Annotated[str | None, typer.Option("--database-url", help="DANCU_DATABASE_URL")]


def _connect(url: str) -> Database:
    """A migrated database, or a one-line error when it cannot be reached."""
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    from app import migrations
    from app.db import Database

    database = Database.connect(url)
    try:
        migrations.upgrade(database.engine)
    except OperationalError:
        database.dispose()
        fail("cannot reach the database (check DANCU_DATABASE_URL)")
    except SQLAlchemyError as exc:
        database.dispose()
        fail(f"cannot migrate the database: {type(exc).__name__}")
    return database


@cli.command()
def seed(
    size: Annotated[int | None, typer.Option(help="People (DANCU_POPULATION_SIZE).")] = None,
    seed_value: Annotated[int | None, typer.Option("--seed", help="Seed (DANCU_SEED).")] = None,
    database_url: DatabaseUrl = None,
    replace: Annotated[bool, typer.Option(help="Replace an existing population.")] = False,
    population_only: Annotated[bool, typer.Option(
        "--population-only", help="People only: the first dancu serve generates their chip "
        "cards and VNeID accounts.")] = False,
) -> None:
    """Generate a deterministic synthetic population with its chip cards and VNeID accounts (all
    or nothing, in one transaction; the generator makes them with each batch of people)."""
    from sqlalchemy.exc import SQLAlchemyError

    from seed.pipeline import GeneratorFailed
    from seed.populate import Extras, PopulationExists, populate

    settings = settings_from(database_url=database_url, population_size=size, seed=seed_value)
    database = _connect(settings.database_url)
    try:
        with _progress(population_only) as report:
            summary = populate(database, size=settings.population_size, seed=settings.seed,
                               replace=replace, progress=report,
                               extras=None if population_only else Extras(settings.sandbox))
    except PopulationExists as exc:
        fail(str(exc))
    except GeneratorFailed as exc:
        fail(f"the generator failed, nothing was written: {exc}")
    except SQLAlchemyError as exc:
        fail(f"the load failed and was rolled back: {type(exc).__name__}")
    finally:
        database.dispose()
    print_table(_summary_table(summary, seed=settings.seed, extras=not population_only))


@contextmanager
def _progress(population_only: bool = True) -> Iterator[Callable[..., None]]:
    """A rich progress bar on a terminal; otherwise (logs, CI) one plain line per batch. The
    callback takes ``(done, total)`` people, or ``stage=`` the next step's name."""
    what = "people" if population_only else "people with their cards and accounts"
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    if not console.is_terminal:
        def plain(done: int = 0, total: int = 0, *, stage: str | None = None) -> None:
            console.print(f"generating {stage}" if stage else
                          f"loaded {done:,} of {total:,} {what}", highlight=False)
        yield plain
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("people"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"generating {what}", total=None)

        def update(done: int = 0, total: int = 0, *, stage: str | None = None) -> None:
            if stage:  # a step over all the people at once: the bar pulses
                bar.update(task, description=f"generating {stage}", total=None)
            else:
                bar.update(task, completed=done, total=total)
        yield update


def _summary_table(summary, *, seed: int,  # type: ignore[no-untyped-def]
                   extras: bool) -> Table:
    from rich.table import Table

    table = Table(title=f"Population generated (seed {seed})", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("people", f"{summary.people:,}")
    for name, label in (("household", "households"), ("residence", "residences"),
                        ("family_relation", "family relations")):
        table.add_row(label, f"{summary.rows.get(name, 0):,}")
    if extras:
        table.add_row("chip cards", f"{summary.rows.get('card', 0):,}")
        table.add_row("VNeID accounts", f"{summary.rows.get('vneid_account', 0):,}")
    table.add_row("time", f"{summary.seconds:.1f} s")
    table.add_row("of which indexes and keys", f"{summary.finish_seconds:.1f} s")
    table.add_row("rate", f"{summary.rate:,.0f} people/s")
    return table


@cli.command()
def stats(database_url: DatabaseUrl = None,
          top: Annotated[int, typer.Option(min=1, help="Rows in the top-N tables.")] = 15,
          timeline: Annotated[bool, typer.Option(
              help="Also print chip cards and VNeID accounts by date, scaled to the nation, "
                   "against the national milestones (docs/population.md).")] = False) -> None:
    """Print the population's distributions next to the reference shares."""
    from sqlalchemy.exc import SQLAlchemyError

    from seed.report import stats_tables
    from seed.stats import collect
    from seed.timeline import collect as collect_timeline
    from seed.timeline import timeline_table

    settings = settings_from(database_url=database_url)
    database = _connect(settings.database_url)
    try:
        with database.engine.connect() as connection:
            collected = collect(connection, top=top)
            history = collect_timeline(connection) if timeline and collected.people else None
    except SQLAlchemyError as exc:
        fail(f"cannot read the population: {type(exc).__name__}")
    finally:
        database.dispose()
    if not collected.people:
        fail("the database holds no population (run: dancu seed)")
    for table in stats_tables(collected):
        print_table(table)
    if history is not None:
        print_table(timeline_table(history))
