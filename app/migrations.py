"""Apply and inspect the alembic migrations from code (``dancu serve`` migrates on start)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


def _script_location() -> Path:
    # Editable installs and source checkouts keep alembic/ beside app/; the Docker image runs
    # from its source directory.
    for candidate in (Path(__file__).resolve().parents[1] / "alembic", Path.cwd() / "alembic"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("the alembic/ migrations directory was not found")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@lru_cache(maxsize=1)  # the migration files do not change under a running process
def head_revision() -> str | None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
