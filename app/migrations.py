"""Apply and inspect the alembic migrations from code (``dancu serve`` migrates on start).

A start on a database already at the head must not pay for alembic (about a second of imports
and parsing every migration on a quiet machine): :func:`is_current` reads the head from the
migration files' ``revision``/``down_revision`` lines and the database's ``alembic_version`` row
with one query; alembic is loaded only to migrate, or when the files are not a single chain.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

_REVISION = re.compile(r"^revision(?:\s*:\s*str)?\s*=\s*[\"']([^\"']+)[\"']\s*$", re.M)
_DOWN_REVISION = re.compile(
    r"^down_revision(?:\s*:[^=]+)?\s*=\s*(?:[\"']([^\"']+)[\"']|(None))\s*$", re.M)


def _script_location() -> Path:
    # Editable installs and source checkouts keep alembic/ beside app/; the Docker image runs
    # from its source directory.
    for candidate in (Path(__file__).resolve().parents[1] / "alembic", Path.cwd() / "alembic"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("the alembic/ migrations directory was not found")


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def upgrade_unless_current(engine: Engine) -> bool:
    """Migrate only a database behind the head (a restart then costs one query); True when it
    migrated."""
    if is_current(engine):
        return False
    upgrade(engine)
    return True


@lru_cache(maxsize=1)  # the migration files do not change under a running process
def head_revision() -> str | None:
    return _head_from_files() or _alembic_head()


def _head_from_files() -> str | None:
    """The one revision no other names as its ``down_revision``; None when the files are not
    one plain chain (a merge, a branch, another layout): alembic decides then."""
    revisions, parents = set(), set()
    for path in (_script_location() / "versions").glob("*.py"):
        source = path.read_text("utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        if down.group(1):
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _alembic_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's revision (None when it was never migrated)."""
    with engine.connect() as connection:
        if not engine.dialect.has_table(connection, "alembic_version"):
            return None
        try:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        except SQLAlchemyError:
            return _alembic_current(engine)
    if len(rows) > 1:  # several heads: alembic's own answer
        return _alembic_current(engine)
    return str(rows[0][0]) if rows else None


def _alembic_current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
