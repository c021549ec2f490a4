"""The ``dancu`` command-line application object and shared helpers."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from app.settings import Settings, SettingsError, load_settings

cli = typer.Typer(
    name="dancu",
    help="dancu-sandbox: a simulated Vietnamese national citizen-identity service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console()


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error and exit non-zero."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_from(**overrides: object) -> Settings:
    """Settings from the environment plus command-line overrides; a bad one is a one-line error."""
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        fail(str(exc), 2)
