"""``dancu``: each command group lives in its own module and registers on ``cli``."""

from app.cli import accounts, audit, cards, clients, server  # noqa: F401  (registers commands)
from app.cli.base import cli

app = cli

__all__ = ["app", "cli"]
