"""Fast start: the command line loads only what a command uses when it runs, a restart on a
current database runs no migration, and what the CLI repeats to stay light agrees with its source.
(No timing here: bench/startup.py measures the times.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app import migrations

HEAVY = ("sqlalchemy", "fastapi", "pydantic", "pydantic_settings", "alembic", "numpy",
         "httpx", "psycopg", "rich.console", "app.services.vneid.accounts", "app.db", "seed")
LOADED = """
import json, sys
sys.argv = ["dancu", *sys.argv[1:]]
from app.cli import app
if len(sys.argv) > 1:
    try:
        app()
    except SystemExit:
        pass
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(*args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", LOADED, *args], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[1])
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_loading_the_command_line_imports_no_web_database_or_generator_package() -> None:
    loaded = _modules_after()  # every command registered, none run
    assert not {name for name in loaded if name.split(".")[0] in HEAVY or name in HEAVY}


@pytest.mark.parametrize("command", [("--help",), ("serve", "--help"), ("seed", "--help"),
                                     ("sandbox", "tenants", "create", "--help")])
def test_help_loads_no_database_or_application_module(command: tuple[str, ...]) -> None:
    loaded = _modules_after(*command)
    assert not {name for name in loaded
                if name.split(".")[0] in ("sqlalchemy", "fastapi", "alembic", "numpy", "seed")}
    assert not {name for name in loaded if name.startswith(("app.services.vneid.accounts.",
                                                             "app.db", "app.main"))}


def test_what_the_command_line_repeats_agrees_with_its_source() -> None:
    from app.cli.chip import VPCD_PORT
    from app.cli.events import KIND_NAMES
    from app.icao.vpcd import PORT
    from app.services.events.kinds import KINDS

    assert KIND_NAMES == tuple(KINDS)
    assert VPCD_PORT == PORT


def test_the_head_read_from_the_migration_files_is_alembics() -> None:
    assert migrations._head_from_files() == migrations._alembic_head()


def test_a_database_at_the_head_is_not_migrated_again_and_one_behind_is_seen_behind(
        tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert migrations.current_revision(engine) is None
    assert migrations.upgrade_unless_current(engine) is True
    assert migrations.is_current(engine)
    assert migrations.upgrade_unless_current(engine) is False
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    assert not migrations.is_current(engine)
    engine.dispose()


def test_a_restart_loads_no_template_engine_or_image_library_before_a_request_needs_them(
) -> None:
    """The server's app (app.asgi) renders pages with jinja2, draws QR codes with segno and faces
    with Pillow: each is loaded by the first page or image, not by every restart."""
    done = subprocess.run(
        [sys.executable, "-c",
         "import json, sys, app.asgi; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "DANCU_DATABASE_URL": "sqlite://"})
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "app.main" in loaded
    assert not {name for name in loaded if name.split(".")[0] in ("jinja2", "segno", "PIL")}


def test_a_restart_imports_no_router_but_the_probes_and_the_hot_routes_before_a_request(
) -> None:
    """The routers of app.main.ROUTERS are imported by the first request under their paths
    (app.routers.lazy); at start only what answers at once: the probes, the hot routes (the
    login flow's endpoints and the lookup) and the edge."""
    done = subprocess.run(
        [sys.executable, "-c",
         "import json, sys, app.asgi; from app.main import ROUTERS; "
         "print(json.dumps([sorted(sys.modules), sorted({m for m, _, _ in ROUTERS})]))"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "DANCU_DATABASE_URL": "sqlite://"})
    loaded, lazy = json.loads(done.stdout.strip().splitlines()[-1])
    served_by_hot_routes = {"app.routers.token", "app.routers.oauth", "app.routers.citizens"}
    assert len(lazy) > 10
    assert set(loaded) & set(lazy) <= served_by_hot_routes
    assert "httpx" not in loaded  # the first outbound fetch or webhook delivery loads it
