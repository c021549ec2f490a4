"""``dancu chip serve PIN``: the card's chip in a virtual PC/SC reader (vsmartcard's vpcd), so
any PC/SC application reads it over APDUs as it would a card on an NFC reader (docs/cards.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.base import cli, fail, out, settings_from
from app.cli.clients import DatabaseOption, writing

chip_cli = typer.Typer(help="The chip over APDUs.", no_args_is_help=True)
cli.add_typer(chip_cli, name="chip")
Sequence = Annotated[int | None, typer.Option(help="A card other than the latest.")]
Host = Annotated[str, typer.Option(help="Where vpcd (pcscd's virtual reader) listens.")]
Port = Annotated[int, typer.Option(help="vpcd's port (the vpcd driver's default).")]
VPCD_PORT = 35963  # app.icao.vpcd.PORT (a test compares), without loading the chip emulator


@chip_cli.command("serve")
def serve(pin: str, sequence: Sequence = None, host: Host = "127.0.0.1", port: Port = VPCD_PORT,
          database_url: str | None = DatabaseOption) -> None:
    """Put the card in the virtual reader until Ctrl-C (pcscd with vsmartcard-vpcd running)."""
    from app.db import Database
    from app.icao import vpcd
    from app.services.cards import issuance as cards
    from app.services.cards.chip_apdu import ATR, profile_of
    from app.services.cards.pki import card_pki
    from app.services.population.citizens import checked_pin
    from app.services.sandbox.clock import stored_now

    settings = settings_from(database_url=database_url)
    database = Database.connect(settings.database_url)
    try:
        pki = card_pki(database, seed=settings.seed, key_type=settings.pki_key_type,
                       now=stored_now(database))
    finally:
        database.dispose()
    with writing(database_url) as session:
        card = cards.find_card(session, checked_pin(pin), sequence)
        profile = profile_of(session, card, seed=settings.seed, pki=pki)
    try:
        connection = vpcd.connect(host, port)
    except OSError as error:
        fail(f"no virtual reader at {host}:{port} ({error.strerror or type(error).__name__}); "
             "start pcscd with vsmartcard-vpcd installed")
    out.print(f"card {card.sequence} of {card.pin} is in the virtual reader ({host}:{port}); "
              "Ctrl-C takes it out", highlight=False)
    card_in_reader = vpcd.VirtualCard(profile, ATR)
    try:
        vpcd.serve(card_in_reader, connection)
    except KeyboardInterrupt:
        pass
    finally:
        connection.close()
    out.print(f"card out of the reader after {card_in_reader.exchanged} APDUs", highlight=False)
