"""``dancu sandbox personas|clock|tenants`` and ``dancu export-collection``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.base import cli, console, fail, out, print_table, settings_from

if TYPE_CHECKING:
    from app.db import Database
    from app.settings import Settings

sandbox_cli = typer.Typer(help="Sandbox controls: personas, the clock, tenants.",
                          no_args_is_help=True)
cli.add_typer(sandbox_cli, name="sandbox")
clock_cli = typer.Typer(help="The stored sandbox clock (every server process follows it).",
                        no_args_is_help=True)
sandbox_cli.add_typer(clock_cli, name="clock")
tenants_cli = typer.Typer(help="Isolated tenants (each a database of its own).",
                          no_args_is_help=True)
sandbox_cli.add_typer(tenants_cli, name="tenants")
DatabaseOption = typer.Option(None, "--database-url", help="DANCU_DATABASE_URL")


def _database(database_url: str | None) -> tuple[Database, Settings]:
    from app.db import Database

    settings = settings_from(database_url=database_url)
    return Database.connect(settings.database_url), settings


@sandbox_cli.command("personas")
def list_personas(as_json: Annotated[bool, typer.Option("--json", help="The fixture JSON.")] =
                  False, database_url: str | None = DatabaseOption) -> None:
    """The persona catalogue: PIN, name and the outcome on each channel."""
    from rich.table import Table

    from app.services.kit import secret
    from app.services.sandbox import clock as sandbox_clock
    from app.services.sandbox import personas

    database, settings = _database(database_url)
    try:
        with database.write() as session:
            now = sandbox_clock.session_now(session)
            listed = personas.catalogue(session, now=now, settings=secret.with_secret(
                session, settings, now=now))
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps({"tenant": None, "personas": listed}, default=str,
                              ensure_ascii=False, indent=2))
        return
    table = Table("persona", "PIN", "name", "lookup", "verification", "chip", "login")
    for persona in listed:
        table.add_row(persona["key"], persona["pin"], persona["full_name"], *(
            personas.outcome_text(c, persona["expected"][c])
            for c in ("lookup", "verification", "chip", "login")))
    print_table(table)


# --- the clock ------------------------------------------------------------------------------------


def _change_clock(database_url: str | None, change: str, value: object = None) -> None:
    from app.clock import SandboxClock
    from app.errors import DomainError
    from app.services.kit import shared_clock
    from app.services.sandbox import clock as sandbox_clock

    database, _ = _database(database_url)
    try:
        clock = SandboxClock()
        with database.read() as session:
            state = shared_clock.load(session)
            if state is not None:
                shared_clock.apply(clock, state)
        if change == "freeze":
            sandbox_clock.freeze(database, clock, value)  # type: ignore[arg-type]
        elif change == "advance":
            sandbox_clock.advance(database, clock, value)  # type: ignore[arg-type]
        elif change == "reset":
            sandbox_clock.reset(database, clock)
        out.print(f"sandbox clock: {clock.now().isoformat()}"
                  f"{' (frozen)' if clock.state()[1] else ''}", highlight=False)
    except DomainError as error:
        fail(error.title)
    finally:
        database.dispose()


@clock_cli.command("show")
def show_clock(database_url: str | None = DatabaseOption) -> None:
    """Print the stored clock's now."""
    _change_clock(database_url, "show")


@clock_cli.command("freeze")
def freeze_clock(at: Annotated[datetime | None, typer.Option(help="ISO instant (UTC).")] = None,
                 database_url: str | None = DatabaseOption) -> None:
    """Stop the clock (at --at, default now)."""
    _change_clock(database_url, "freeze", at.replace(tzinfo=at.tzinfo or UTC) if at else None)


@clock_cli.command("advance")
def advance_clock(days: Annotated[int, typer.Option()] = 0,
                  seconds: Annotated[int, typer.Option()] = 0,
                  database_url: str | None = DatabaseOption) -> None:
    """Move the clock by --days and --seconds."""
    _change_clock(database_url, "advance", timedelta(days=days, seconds=seconds))


@clock_cli.command("reset")
def reset_clock(database_url: str | None = DatabaseOption) -> None:
    """Back to real time."""
    _change_clock(database_url, "reset")


# --- tenants --------------------------------------------------------------------------------------


@tenants_cli.command("list")
def list_tenants(database_url: str | None = DatabaseOption) -> None:
    from rich.table import Table

    from app.services.sandbox import tenants

    database, _ = _database(database_url)
    try:
        with database.read() as session:
            rows = [tenants.view(t) for t in tenants.listed(session, owner=None)]
    finally:
        database.dispose()
    table = Table("id", "seed", "size", "status", "generation", "owner")
    for row in rows:
        table.add_row(row["id"], str(row["seed"]), str(row["size"]), row["status"],
                      str(row["generation"]), row["owner"])
    print_table(table)


@tenants_cli.command("create")
def create_tenant(size: Annotated[int, typer.Option(min=100, max=20_000)] = 2000,
                  seed: Annotated[int | None, typer.Option()] = None,
                  database_url: str | None = DatabaseOption) -> None:
    """Create a tenant (a copy of its seed and size's template, generated now by the first
    tenant of the pair); prints its id."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app.errors import DomainError
    from app.services.kit import secret
    from app.services.sandbox import clock as sandbox_clock
    from app.services.sandbox import tenants

    database, settings = _database(database_url)
    now = sandbox_clock.stored_now(database)
    settings = secret.resolved(database, settings, now=now)  # a tenant's keys derive from it
    spec = tenants.Registration(owner="admin", size=size,
                                seed=settings.seed if seed is None else seed)  # type: ignore
    try:
        with database.write() as session:
            tenant = tenants.register(session, spec, now=now)
            session.expunge(tenant)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            people = bar.add_task("people", total=size)
            tenants.build(settings, tenant, now=now,  # type: ignore[arg-type]
                          progress=lambda done, _: bar.update(
                              people, completed=done,
                              description="people" if done < size else
                              "cards, accounts, personas"))
        with database.write() as session:
            tenants.finish(session, tenant.id, ok=True, now=now)
    except DomainError as error:
        fail(error.title)
    finally:
        database.dispose()
    out.print(f"tenant: {tenant.id}  (send X-Sandbox-Tenant: {tenant.id})", highlight=False)


@tenants_cli.command("delete")
def delete_tenant(tenant_id: str, database_url: str | None = DatabaseOption) -> None:
    from app.errors import DomainError
    from app.services.sandbox import tenants

    database, settings = _database(database_url)
    try:
        with database.write() as session:
            tenants.forget(session, tenants.find(session, tenant_id, owner=None))
        tenants.drop_database(tenants.database_url(settings.database_url,  # type: ignore
                                                   tenant_id))
    except DomainError as error:
        fail(error.title)
    finally:
        database.dispose()
    out.print(f"deleted {tenant_id}", highlight=False)


# --- the HTTP collection --------------------------------------------------------------------------


def _refresh_examples(out_dir: Path) -> None:
    """Pick the examples into a scratch database, save them, then export both formats in a new
    interpreter (this one's OpenAPI document was built from the examples it started with)."""
    import subprocess
    import sys
    import tempfile

    from app.services.sandbox import examples as sandbox_examples

    with tempfile.TemporaryDirectory() as scratch:
        table = sandbox_examples.refresh(f"sqlite:///{Path(scratch) / 'dancu.db'}")
    sandbox_examples.save(table)
    out.print(f"picked {len(table)} example values", highlight=False)
    for kind in ("http", "postman"):
        subprocess.run([sys.executable, "-c", "from app.cli import app; app()",
                        "export-collection", "--format", kind, "--out", str(out_dir)], check=True)


def openapi_document() -> dict[str, object]:
    """The service's OpenAPI document (no database needed to build it)."""
    from app.main import create_app
    from app.settings import load_settings

    settings = load_settings(database_url="sqlite:///:memory:", auto_seed=False)
    return create_app(settings, migrate_on_start=False).openapi()


@cli.command("export-collection")
def export_collection(
    kind: Annotated[str, typer.Option("--format", help="http (.http files) or postman")] =
    "http",
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write to")] =
    Path("docs/collection"),
    refresh_examples: Annotated[bool, typer.Option(
        "--refresh-examples", help="Maintainers, after a population generator change: pick the "
        "example PINs, names, ... again from a fresh default deployment (seed 6, 10,000 people) "
        "into app/schemas/examples.json, then write both formats")] = False,
) -> None:
    """Write an HTTP collection of every endpoint, generated from the OpenAPI document."""
    from app.services.sandbox import collection as sandbox_collection

    if kind not in ("http", "postman"):
        fail("--format must be http or postman")
    if refresh_examples:
        _refresh_examples(out_dir)
        return
    target = out_dir / "http" if kind == "http" else out_dir
    target.mkdir(parents=True, exist_ok=True)
    written = sandbox_collection.files(openapi_document(), kind)
    for name, text in written.items():
        (target / name).write_text(text, "utf-8")
    out.print(f"wrote {len(written)} file(s) to {target}", highlight=False)
