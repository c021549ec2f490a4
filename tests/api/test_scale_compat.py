"""Growing past one machine (docs/scale.md, "Compatibility with distributed engines"): the schema
and the SQL in app/, seed/ and alembic/ avoid what blocks Citus, CockroachDB or YugabyteDB, and the
few engine-specific features in use stay where they are known and documented. A static check: no
distributed engine can be installed here, so this test keeps the code from drifting away from
them instead."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import ForeignKeyConstraint, Table, UniqueConstraint

from app.models import Base

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for d in ("app", "seed", "alembic") for p in (ROOT / d).rglob("*.py"))

# Blocked by at least one engine and not needed: never anywhere.
FORBIDDEN = {
    r"CREATE\s+(OR\s+REPLACE\s+)?TRIGGER|CREATE\s+RULE": "triggers and rules",
    r"\bINHERITS\s*\(": "table inheritance",
    r"\bLISTEN\s|\bNOTIFY\s|pg_notify": "LISTEN/NOTIFY",
    r"DEFERRABLE|deferrable\s*=|initially\s*=": "deferred constraints",
    r"ExcludeConstraint|EXCLUDE\s+USING": "exclusion constraints",
    r"pg_advisory_lock\b|pg_try_advisory_lock\b|pg_advisory_unlock": "session advisory locks",
    r"\bLOCK\s+TABLE\b": "explicit table locks",
    r"CREATE\s+(TEMP|TEMPORARY)\s+TABLE": "temporary tables",
    r"\bpg_catalog\.|\bpg_class\b|\bpg_stat_": "PostgreSQL catalogs",
}
# Engine-specific, and allowed only where docs/scale.md says why.
CONFINED = {
    r"pg_advisory_xact_lock": {"app/bootstrap.py", "app/services/sharing/setup.py",
                              "app/services/cards/pki.py",
                              "app/services/kit/secret.py", "app/services/vneid/revocation.py",
                              "app/services/vneid/registration.py"},
    r"WITH \(FORCE\)": {"app/services/sandbox/tenant_templates.py"},
    r"\bTRUNCATE\b": {"seed/loader.py"},
    r"\bCOPY\b .*FROM STDIN": {"seed/loader.py", "seed/cards.py", "app/services/sharing/audit.py",
                               "app/services/vneid/account_bulk.py"},
    r"pg_get_serial_sequence|\bsetval\(": {"seed/loader.py", "seed/cards.py",
                                            "app/services/vneid/account_bulk.py"},
    r"skip_locked": {"app/services/events/webhooks.py"},
    r"REINDEX|fillfactor": {"alembic/versions/0007_population_footprint.py", "seed/loader.py",
                            "app/models/population.py"},
}

POPULATION = {"citizen", "household", "residence", "family_relation"}
# Tables distributed by PIN on Citus, co-located with ``citizen``.
BY_PIN = {"citizen", "residence", "family_relation", "card", "document_override",
          "judicial_record_request", "judicial_conviction"}
# Keys that leave out ``pin``: each one is a step of the Citus migration in docs/scale.md
# (a key that includes the distribution column). A new one must be added there, and here.
CITUS_KEY_WORK = {
    ("residence", ("id",)), ("family_relation", ("id",)),
    ("card", ("id",)), ("card", ("persona",)),
    ("document_override", ("id",)), ("judicial_record_request", ("id",)),
    ("judicial_conviction", ("id",)),
}
# Foreign keys into those tables that do not join on pin (the referring table has no pin column).
CITUS_REFERENCE_WORK = {("card_event", "card"), ("chip_session", "card")}


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _matches(pattern: str) -> set[str]:
    found = set()
    for path in SOURCES:
        if path == Path(__file__):
            continue
        if re.search(pattern, path.read_text(encoding="utf-8")):
            found.add(_relative(path))
    return found


@pytest.mark.parametrize(("pattern", "feature"), FORBIDDEN.items(), ids=FORBIDDEN.values())
def test_no_feature_that_blocks_a_distributed_engine(pattern: str, feature: str) -> None:
    assert _matches(pattern) == set(), f"{feature} block Citus, CockroachDB or YugabyteDB"


@pytest.mark.parametrize(("pattern", "allowed"), CONFINED.items(), ids=CONFINED.keys())
def test_engine_specific_sql_stays_where_it_is_documented(pattern: str,
                                                         allowed: set[str]) -> None:
    assert _matches(pattern) <= allowed


def _table(name: str) -> Table:
    return Base.metadata.tables[name]


def test_the_population_tables_have_no_foreign_keys_among_themselves() -> None:
    """Bulk-loaded and sharded by PIN: references between them are checked by the tests."""
    links = {(t, fk.column.table.name) for t in POPULATION for fk in _table(t).foreign_keys}
    assert {(a, b) for a, b in links if b in POPULATION} == set()


def test_foreign_keys_into_the_population_use_the_distribution_column_or_are_listed() -> None:
    """Citus: a foreign key between distributed tables must join co-located rows (on pin)."""
    off_pin = set()
    for table in Base.metadata.sorted_tables:
        for constraint in table.constraints:
            if (isinstance(constraint, ForeignKeyConstraint)
                    and constraint.referred_table.name in BY_PIN
                    and (table.name not in BY_PIN
                         or [c.name for c in constraint.columns] != ["pin"])):
                off_pin.add((table.name, constraint.referred_table.name))
    assert off_pin == CITUS_REFERENCE_WORK


def _keys(table: Table) -> set[tuple[str, ...]]:
    keys = {tuple(c.name for c in table.primary_key.columns)}
    keys |= {tuple(c.name for c in u.columns) for u in table.constraints
             if isinstance(u, UniqueConstraint)}
    keys |= {tuple(c.name for c in i.columns) for i in table.indexes if i.unique}
    return keys


def test_unique_keys_of_tables_sharded_by_pin_include_pin_or_are_listed() -> None:
    """Citus enforces a unique key only when it includes the distribution column."""
    without_pin = {(name, key) for name in BY_PIN for key in _keys(_table(name))
                   if "pin" not in key}
    assert without_pin == CITUS_KEY_WORK


def test_the_lookup_by_pin_is_a_single_shard_statement() -> None:
    """The hot path reads ``citizen`` by ``pin = ANY(...)`` only: routed to one shard per PIN."""
    from app.services.population import reading

    assert reading._PG_BY_PINS.endswith("FROM citizen WHERE pin = ANY(%s)")
