"""``dancu audit verify``: check the audit trail's hash chain."""

from __future__ import annotations

import typer

from app.cli.base import cli, fail, out, settings_from

audit_cli = typer.Typer(help="The audit trail of data disclosures.", no_args_is_help=True)
cli.add_typer(audit_cli, name="audit")


@audit_cli.command("verify")
def verify(database_url: str | None = typer.Option(None, "--database-url",
                                                   help="DANCU_DATABASE_URL")) -> None:
    """Walk the chain from the first record; exit 1 naming the first record that does not verify."""
    from app.db import Database
    from app.services.sharing import audit

    database = Database.connect(settings_from(database_url=database_url).database_url)
    try:
        with database.read() as session:
            report = audit.verify_chain(session)
            head = audit.head(session)
    finally:
        database.dispose()
    if not report.ok:
        fail(f"audit chain broken at record {report.broken_at}: {report.reason} "
             f"({report.checked} records verified before it)")
    out.print(f"audit chain intact: {report.checked} records; head {head.seq} {head.hash}",
              highlight=False, soft_wrap=True)
