"""``dancu cards ...``: issue, renew, report lost, revoke, hold and release chip cards; show a
card; list the persona cards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.base import cli, out, print_table, settings_from
from app.cli.clients import DatabaseOption, writing

if TYPE_CHECKING:
    from datetime import datetime

    from app.models.card import Card

cards_cli = typer.Typer(help="Chip identity cards.", no_args_is_help=True)
cli.add_typer(cards_cli, name="cards")
Reason = Annotated[str | None, typer.Option(help="Why (recorded in the card's history).")]


def _show(card: Card, now: datetime) -> None:
    from app.services.cards.issuance import effective_status, local_date

    expiry = card.expiry_date.isoformat() if card.expiry_date else "no expiry"
    status = effective_status(card, local_date(now))
    out.print(f"{card.pin} card {card.sequence} ({card.generation}): {status}, issued "
              f"{card.issue_date.isoformat()}, expires {expiry}", highlight=False)


def _new_card(pin: str, reason: str | None, database_url: str | None, *, renew: bool) -> None:
    from app.db import Database
    from app.services.cards import issuance as cards
    from app.services.cards.issuance import Change
    from app.services.cards.pki import card_pki
    from app.services.population.citizens import checked_pin
    from app.services.sandbox.clock import stored_now

    settings = settings_from(database_url=database_url)
    database = Database.connect(settings.database_url)
    try:
        now = stored_now(database)
        pki = card_pki(database, seed=settings.seed, key_type=settings.pki_key_type, now=now)
    finally:
        database.dispose()
    with writing(database_url) as session:
        change = Change(now=now, actor="cli", reason=reason)
        action = cards.renew if renew else cards.issue
        _show(action(session, checked_pin(pin), change=change, pki=pki), now)


@cards_cli.command("issue")
def issue(pin: str, reason: Reason = "first_issue",
          database_url: str | None = DatabaseOption) -> None:
    """Issue a card (first issue, or after a loss, revocation or expiry)."""
    _new_card(pin, reason, database_url, renew=False)


@cards_cli.command("renew")
def renew(pin: str, reason: Reason = "on_request",
          database_url: str | None = DatabaseOption) -> None:
    """Renew (cấp đổi): the active or expired card is replaced by a new one."""
    _new_card(pin, reason, database_url, renew=True)


def _status_change(pin: str, reason: str | None, database_url: str | None, action: str) -> None:
    from app.services.cards import issuance as cards
    from app.services.cards.issuance import Change
    from app.services.population.citizens import checked_pin
    from app.services.sandbox.clock import session_now

    handlers = {"lost": cards.report_lost, "revoke": cards.revoke, "hold": cards.hold,
                "release": cards.release}
    with writing(database_url) as session:
        now = session_now(session)
        change = Change(now=now, actor="cli", reason=reason)
        _show(handlers[action](session, checked_pin(pin), change=change), now)


@cards_cli.command("lost")
def lost(pin: str, database_url: str | None = DatabaseOption) -> None:
    """Report the card lost (its chip keeps answering; verifiers see card_lost)."""
    _status_change(pin, "reported_lost", database_url, "lost")


@cards_cli.command("revoke")
def revoke(pin: str, reason: Reason = "authority",
           database_url: str | None = DatabaseOption) -> None:
    """Revoke the card (locks the holder's VNeID account)."""
    _status_change(pin, reason, database_url, "revoke")


@cards_cli.command("hold")
def hold(pin: str, reason: Reason = "authority",
         database_url: str | None = DatabaseOption) -> None:
    """Hold the card (locks the holder's VNeID account until released)."""
    _status_change(pin, reason, database_url, "hold")


@cards_cli.command("release")
def release(pin: str, database_url: str | None = DatabaseOption) -> None:
    """Release a held card."""
    _status_change(pin, "released", database_url, "release")


@cards_cli.command("show")
def show(pin: str, database_url: str | None = DatabaseOption) -> None:
    """The citizen's cards, latest first."""
    from app.services.cards import issuance as cards
    from app.services.population.citizens import checked_pin
    from app.services.sandbox.clock import session_now

    with writing(database_url) as session:
        now = session_now(session)
        found = cards.cards_of(session, checked_pin(pin))
        if not found:  # exit 1 with the reason, as every other command taking a PIN does
            raise cards.CardNotFound()
        for card in found:
            _show(card, now)


@cards_cli.command("personas")
def personas(database_url: str | None = DatabaseOption) -> None:
    """The test cards that fail on purpose, with their MRZ access keys."""
    from rich.table import Table

    from app.services.cards import access as cards_access
    from app.services.sandbox.clock import session_now

    with writing(database_url) as session:
        rows = cards_access.personas(session, now=session_now(session))
    table = Table("persona", "PIN", "status", "X-Chip-Access-Key", "must fail with")
    for row in rows:
        failing = ", ".join(f"{f['code']}:{f['reason']}" for f in row["expected"]["failing"])
        table.add_row(row["key"], row["pin"], row["status"], row["access_key"], failing)
    print_table(table)
