"""The ``dancu`` command-line application object and shared helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from app.settings import Settings

cli = typer.Typer(
    name="dancu",
    help="dancu-sandbox: a simulated Vietnamese national citizen-identity service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class _LazyConsole:
    """A rich console made at its first use: ``dancu --help`` never imports rich's console.
    Commands import what they use when they run, so every ``--help`` stays quick."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


# soft_wrap: a line piped to a file or a program is never cut or wrapped at 80 columns.
console: Console = _LazyConsole(stderr=True, soft_wrap=True)  # type: ignore[assignment]
out: Console = _LazyConsole(soft_wrap=True)  # type: ignore[assignment]


def print_table(table: Table) -> None:
    """A rich table on a terminal. Piped or redirected, plain tab-separated lines that no width
    cuts: the title as a ``# `` line, the header line (when the table has one), one line per row."""
    if out.is_terminal:
        out.print(table)
        return
    if table.title:
        typer.echo(f"# {_plain(table.title)}")
    if table.show_header:
        typer.echo("\t".join(_plain(column.header) for column in table.columns))
    for row in zip(*(column.cells for column in table.columns), strict=True):
        typer.echo("\t".join(_plain(cell) for cell in row))


def _plain(cell: object) -> str:
    from rich.text import Text

    text = cell.plain if isinstance(cell, Text) else str(cell)
    return " ".join(text.split("\t")).replace("\n", " ")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error and exit non-zero."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_from(**overrides: object) -> Settings:
    """Settings from the environment plus command-line overrides; a bad one is a one-line error."""
    from app.settings import SettingsError, load_settings

    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        fail(str(exc), 2)
