"""``dancu``: each command group lives in its own module and registers on ``cli``."""

from app.cli import (  # noqa: F401  (registers commands)
    accounts,
    audit,
    cards,
    chip,
    clients,
    events,
    population,
    sandbox,
    server,
)
from app.cli.base import cli

app = cli

__all__ = ["app", "cli"]
