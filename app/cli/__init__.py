"""``dancu``: each command group lives in its own module and registers on ``cli``."""

from app.cli import accounts, audit, cards, clients, server  # noqa: F401  (registers commands)
from app.cli import population  # noqa: F401  (registers dancu seed and dancu stats)
from app.cli import events  # noqa: F401  (registers dancu events and dancu simulate)
from app.cli import sandbox  # noqa: F401  (dancu sandbox, dancu export-collection)
from app.cli.base import cli

app = cli

__all__ = ["app", "cli"]
