"""``dancu accounts ...``: VNeID accounts (create, activate, upgrade, lock, unlock, close, show) and
the test personas."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from app.cli.base import cli, fail, out, print_table, settings_from
from app.services.vneid.lock_reasons import CLOSE_REASONS, LOCK_REASONS, MANUAL_LOCK_REASONS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.models.account import Account

accounts_cli = typer.Typer(help="VNeID accounts and test personas.", no_args_is_help=True)
cli.add_typer(accounts_cli, name="accounts")
DatabaseOption = typer.Option(None, "--database-url", help="DANCU_DATABASE_URL")
_ACTOR = "admin"


@contextmanager
def _session(database_url: str | None) -> Iterator[Session]:
    """One committed unit of work (the login sessions of an account it locked or closed end with
    it, :func:`app.cli.clients.writing`); domain and database errors become one-line failures."""
    from app.cli.clients import writing

    with writing(database_url) as session:
        yield session


def _show(account: Account) -> None:
    reasons = f" ({', '.join(account.lock_reasons)})" if account.lock_reasons else ""
    closed = f" ({account.closed_reason})" if account.closed_reason else ""
    out.print(f"{account.pin}: {account.state}{reasons}{closed}, level {account.level}",
              highlight=False)


def _change(pin: str, database_url: str | None,
            action: Callable[[Session, Account], Any]) -> None:
    from app.services.population.citizens import checked_pin
    from app.services.vneid import accounts

    with _session(database_url) as session:
        account = accounts.get(session, checked_pin(pin))
        action(session, account)
        _show(account)


@accounts_cli.command("create")
def create(pin: str, level: int = typer.Option(1, min=1, max=2, help="1 or 2."),
           password: str | None = typer.Option(None, help="8-20 chars: upper, lower, digit, "
                                               "special (default: none)."),
           passcode: str | None = typer.Option(None, help="6 digits."),
           pending: bool = typer.Option(False, help="Leave it pending verification."),
           database_url: str | None = DatabaseOption) -> None:
    """Open an account for a citizen."""
    from app.services.population.citizens import checked_pin
    from app.services.sandbox.clock import session_now
    from app.services.vneid import accounts

    with _session(database_url) as session:
        spec = accounts.NewAccount(pin=checked_pin(pin), level=level, password=password,
                                   passcode=passcode, activate=not pending)
        _show(accounts.create(session, spec, now=session_now(session), actor=_ACTOR))


@accounts_cli.command("show")
def show(pin: str, database_url: str | None = DatabaseOption) -> None:
    """Print the account's state and its event log."""
    from app.services.population.citizens import checked_pin
    from app.services.vneid import accounts

    with _session(database_url) as session:
        account = accounts.get(session, checked_pin(pin))
        _show(account)
        for event in accounts.events(session, account):
            out.print(f"  {event.at:%Y-%m-%d %H:%M} {event.kind} {event.reason or ''} "
                      f"by {event.actor} -> {event.state}/{event.level}", highlight=False)


@accounts_cli.command("activate")
def activate(pin: str, database_url: str | None = DatabaseOption) -> None:
    """pending -> active."""
    from app.services.sandbox.clock import session_now
    from app.services.vneid import accounts

    _change(pin, database_url, lambda s, a: accounts.activate(s, a, now=session_now(s),
                                                             actor=_ACTOR))


@accounts_cli.command("upgrade")
def upgrade(pin: str, database_url: str | None = DatabaseOption) -> None:
    """Level 1 -> level 2."""
    from app.services.sandbox.clock import session_now
    from app.services.vneid import accounts

    _change(pin, database_url, lambda s, a: accounts.upgrade(s, a, now=session_now(s),
                                                            actor=_ACTOR))


@accounts_cli.command("lock")
def lock(pin: str, reason: str = typer.Option(..., help=", ".join(LOCK_REASONS)),
         database_url: str | None = DatabaseOption) -> None:
    """Add a lock ground."""
    from app.services.sandbox.clock import session_now
    from app.services.vneid import accounts

    if reason not in LOCK_REASONS:
        fail(f"--reason must be one of {', '.join(LOCK_REASONS)}")
    _change(pin, database_url, lambda s, a: accounts.lock(s, a, reason=reason, now=session_now(s),
                                                         actor=_ACTOR))


@accounts_cli.command("unlock")
def unlock(pin: str, reason: str | None = typer.Option(None, help="Default: every manual ground."),
           database_url: str | None = DatabaseOption) -> None:
    """Lift a lock ground."""
    from app.services.sandbox.clock import session_now
    from app.services.vneid import accounts

    reasons = (reason,) if reason else MANUAL_LOCK_REASONS
    _change(pin, database_url, lambda s, a: accounts.unlock(s, a, now=session_now(s), actor=_ACTOR,
                                                           reasons=reasons))


@accounts_cli.command("close")
def close(pin: str, reason: str = typer.Option(..., help=", ".join(CLOSE_REASONS)),
          database_url: str | None = DatabaseOption) -> None:
    """Close the account for good."""
    from app.services.sandbox.clock import session_now
    from app.services.vneid import accounts

    if reason not in CLOSE_REASONS:
        fail(f"--reason must be one of {', '.join(CLOSE_REASONS)}")
    _change(pin, database_url, lambda s, a: accounts.close(s, a, reason=reason, now=session_now(s),
                                                          actor=_ACTOR))


@accounts_cli.command("personas")
def personas(database_url: str | None = DatabaseOption) -> None:
    """List the test personas with their sandbox secrets."""
    from rich.table import Table

    from app.services.kit import secret
    from app.services.sandbox.clock import session_now
    from app.services.vneid import account_generation

    settings = settings_from(database_url=database_url)
    with _session(database_url) as session:
        settings = secret.with_secret(session, settings, now=session_now(session))
        rows = account_generation.persona_details(session, settings=settings)
    table = Table("persona", "PIN", "name", "state", "level", "device token")
    for row in rows:
        state = row["state"] + (f" ({', '.join(row['lock_reasons'])})" if row["lock_reasons"]
                                else "")
        table.add_row(row["key"], row["pin"], row["full_name"], state, str(row["level"]),
                      row["device_token"] or "")
    print_table(table)
    if not settings.sandbox:
        return
    out.print(f"password: {account_generation.SANDBOX_PASSWORD}  passcode: "
              f"{account_generation.SANDBOX_PASSCODE} (every persona and generated account)",
              highlight=False)
