"""The same seed gives the same people, chip cards and VNeID accounts, release after release.

Digests of every generated table, taken from the code before the seed was made faster (issue 19):
a change to how the rows are made, packed, sent from the generator worker or written must not
change a single byte of them. The salted argon2 hashes of the sandbox's shared password and
passcode differ from run to run, so they are left out; the clock is fixed. When the generator's
model changes on purpose, the digests are recomputed and the change says why.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app import migrations
from app.db import Database
from seed import loader, pipeline
from seed.populate import Extras, populate

SIZE, SEED = 2500, 7
NOW = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)
SALTED = frozenset({"password_hash", "passcode_hash"})
GOLDEN = {
    "household": "bae6f557b44ea41339d82da62520822f7d4d733c169bb80224a601a1521e5fe4",
    "citizen": "a6e5f8e7ed5381e1634eede4699baa14e8bac9d7bd0bc3dc0c812b5832422a53",
    "residence": "02b9cebc9d68f3c2300a519ac166de60d238378bc25596f7f5c3801992f9f358",
    "family_relation": "a0bffd23406dedf94dab4b207cac92ae0e2c07c097db0e5399840a39e3e455ec",
    "card": "6f48e87d3d725cb39a2defe130c014edce089beb86070f0ebf03a2dbb9d80d12",
    "card_event": "354eea31f79048397d1be902db4dc9cd3365bc442b310ce90b73617fb07ca893",
    "vneid_account": "0cb1be0b2193628c1e267c2daddb73cb800c542a7881bab578f3f0abc47a9e1f",
    "vneid_account_event": "5149d58874963e0ff603f7c970992463ec1675b83c723c2542e7391e468c2438",
}


def table_digests(database: Database) -> dict[str, str]:
    """SHA-256 of each generated table's rows in primary-key order, as SQLite stores them."""
    digests = {}
    with database.engine.connect() as connection:
        driver = connection.connection.driver_connection
        for name in (*loader.POPULATION_TABLES, *loader.EXTRA_TABLES):
            table = loader.table(name)
            columns = ", ".join(c.name for c in table.columns if c.name not in SALTED)
            order = ", ".join(c.name for c in table.primary_key.columns)
            h = hashlib.sha256()
            for row in driver.execute(f"SELECT {columns} FROM {name} ORDER BY {order}"):
                h.update(repr(row).encode())
            digests[name] = h.hexdigest()
    return digests


@pytest.mark.parametrize("worker", [False, True], ids=["in-process", "generator-worker"])
def test_the_seed_gives_the_same_tables_as_before(tmp_path: Path, worker: bool,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if worker:  # the path of a large seed: batches packed, pickled and sent through the pipe
        monkeypatch.setattr(pipeline, "IN_PROCESS_UP_TO", 0)
    database = Database.connect(f"sqlite:///{tmp_path / 'golden.db'}")
    try:
        migrations.upgrade(database.engine)
        populate(database, size=SIZE, seed=SEED, now=NOW, extras=Extras())
        assert table_digests(database) == GOLDEN
    finally:
        database.dispose()


def test_the_worker_draws_are_the_account_rules_draws() -> None:
    """The accounts' draws on arrays (seed/extras.py) equal ``account_rules.draw`` bit for
    bit."""
    from app.services.vneid.account_rules import draw
    from seed.extras import _draws

    pins = [f"{n:012d}" for n in range(1_000_000_000, 1_000_003_000)]
    assert _draws(9, "state", pins).tolist() == [draw(9, "state", pin) for pin in pins]
    assert _draws(9, "state", []).tolist() == []
