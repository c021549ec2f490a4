"""Privacy of the logs: after everything else has run (``tests/conftest.py`` orders this module
last), every log the session produced -- the in-process service's records, the servers and CLI
commands the tests started (end-to-end, load, crash) -- is scanned for personal data and
credentials in clear: a valid PIN, a citizen's full name, a JWT, the admin token, a client secret.
A masked PIN (``0790****5440``) is fine. Run alone, the module scans whatever logs exist."""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy import select

from app import pin as pin_rules
from app.db import Database
from app.models.population import Citizen
from app.settings import Settings
from tests.reliability.support import record

PIN_LIKE = re.compile(r"(?<![\w*])\d{12}(?![\w*])")
JWT_LIKE = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*")
SECRET_FIELD = re.compile(r"client_secret[\"'=: ]+[\w-]{12,}")


def _log_text() -> tuple[list[Path], str]:
    directory = Path(os.environ["DANCU_TEST_LOG_DIR"])
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return files, "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


def _full_names(database: Database) -> set[str]:
    with database.read() as session:
        rows = session.execute(select(Citizen.surname, Citizen.middle_name, Citizen.given_name))
        return {" ".join(part for part in row if part) for row in rows}


def test_no_pin_name_token_or_secret_appears_in_any_log(database: Database,
                                                        settings: Settings) -> None:
    files, text = _log_text()
    names = _full_names(database)
    leaks = {
        "PINs": sorted({m for m in PIN_LIKE.findall(text) if pin_rules.is_valid(m)}),
        "names": sorted(name for name in names if name in text),
        "JWTs": JWT_LIKE.findall(text),
        "secrets": [s for s in (settings.admin_token, settings.demo_client_secret) if s in text]
        + SECRET_FIELD.findall(text),
    }
    record("privacy", "log files", len(files))
    record("privacy", "log lines scanned", text.count("\n") + 1 if text else 0)
    record("privacy", "citizen names searched", len(names))
    record("privacy", "leaks found", sum(len(found) for found in leaks.values()))
    assert files, "no log was written: the session's logging is not configured"
    # Masked before reporting: the report itself must not become a leak.
    assert {kind: [pin_rules.mask(x) if kind == "PINs" else x[:6] + "..." for x in found]
            for kind, found in leaks.items() if found} == {}
