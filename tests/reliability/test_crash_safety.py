"""Crash safety with real processes killed by SIGKILL (nothing of theirs runs after the signal):

- ``dancu seed`` killed after its 2nd loaded batch leaves an empty database (the population
  engineer's ``tests/test_seed_cli.py`` kills it after the first batch and during a replacement);
- ``dancu simulate`` (a batch of life events, one transaction per simulated day) killed mid-way
  keeps whole days only, exactly the days an uninterrupted run makes, and the stored sandbox
  clock stands at the last kept day, so a new run goes on from there instead of repeating them;
- the audit hash chain survives a server killed under traffic and restarted, and
  ``dancu audit verify`` then names a record edited in the database.
"""

from __future__ import annotations

import signal
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from app.db import Database
from app.models.events import LifeEvent
from app.services.kit import shared_clock
from app.services.kit.keys import aware
from seed.populate import is_populated, populate
from tests.api.population_support import fresh_database
from tests.reliability.processes import DANCU, ROOT, dancu, environment, log_dir, start_server
from tests.reliability.support import record

__all__ = ["fresh_database"]
TALLY: Counter[str] = Counter()
SIMULATED_PEOPLE = 10_000
SIMULATED_DAYS = 120


@pytest.fixture(scope="module", autouse=True)
def figures() -> Iterator[None]:
    yield
    record("crash safety", "processes killed", TALLY["killed"])
    record("crash safety", "partial states found", TALLY["partial"])


def _kill_after(args: list[str], marker: str, count: int, database_url: str) -> None:
    """Start a real ``dancu`` command, SIGKILL it once ``marker`` has begun ``count`` lines."""
    with open(log_dir() / "cli.log", "ab") as log:
        process = subprocess.Popen([DANCU, *args, "--database-url", database_url], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   env=environment(database_url))
        assert process.stdout is not None
        seen = 0
        for line in process.stdout:
            log.write(line)
            seen += line.decode("utf-8", "replace").startswith(marker)
            if seen == count:
                break
        else:
            pytest.fail(f"dancu {args[0]} ended before {count} x {marker!r} ({process.wait()})")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        process.stdout.close()
    TALLY["killed"] += 1


@pytest.mark.parametrize("batches", [2])
def test_a_seed_killed_after_some_batches_leaves_an_empty_database(
        fresh_database: Callable[..., Database], batches: int) -> None:
    database = fresh_database()
    # ``dancu seed`` prints its progress lines on stderr (merged here).
    _kill_after(["seed", "--size", "500000", "--seed", "8"], "loaded ", batches, database.url)
    TALLY["partial"] += is_populated(database)
    assert not is_populated(database)


def _events(database: Database) -> list[tuple[Any, ...]]:
    with database.read() as session:
        rows = session.execute(select(LifeEvent.occurred_on, LifeEvent.type, LifeEvent.pin)
                               .where(LifeEvent.recorded_by == "simulation"))
        return sorted(tuple(row) for row in rows)


def _stored_clock_date(database: Database) -> date | None:
    with database.read() as session:
        state = shared_clock.load(session)
    if state is None:
        return None
    from app.clock import SandboxClock
    from app.services.events.life_events import local_date

    clock = SandboxClock()
    clock.restore(offset=timedelta(microseconds=state.offset_us),
                  frozen_at=aware(state.frozen_at))
    return local_date(clock.now())


def _frozen_start(database: Database, start: str) -> None:
    """Both runs start from the same frozen instant, so their days (and draws) are the same."""
    from datetime import datetime

    from app.clock import SandboxClock

    clock = SandboxClock()
    clock.freeze(datetime.fromisoformat(start))
    with database.write() as session:
        shared_clock.save(session, clock)


def test_a_simulation_killed_mid_way_keeps_whole_days_and_its_clock(
        fresh_database: Callable[..., Database]) -> None:
    killed, reference = fresh_database(), fresh_database()
    for database in (killed, reference):
        populate(database, size=SIMULATED_PEOPLE, seed=6)
        _frozen_start(database, "2026-01-01T03:00:00+00:00")
    # The CLI prints a line every 30 simulated days when it is not on a terminal.
    _kill_after(["simulate", "--days", str(SIMULATED_DAYS), "--seed", "6"], "day ", 1,
                killed.url)
    kept = _events(killed)
    assert kept, "the killed run kept no day at all: kill it later"
    last_day = max(day for day, _, _ in kept)
    done = (last_day - date(2026, 1, 1)).days
    result = dancu("simulate", "--days", str(done), "--seed", "6", database_url=reference.url)
    assert result.returncode == 0, result.stderr
    expected = _events(reference)
    TALLY["partial"] += kept != expected
    assert kept == expected  # no day half-kept, none missing
    assert _stored_clock_date(killed) is not None
    assert _stored_clock_date(killed) >= last_day  # a new run starts after the kept days


def _audited_traffic(base: str, settings_pin: str, count: int) -> int:
    """Lookups with the demo client (each one audited); how many were answered."""
    answered = 0
    with httpx.Client(base_url=base, timeout=30) as http:
        token = http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                          auth=("demo", "demo-secret-for-the-sandbox-only")).json()["access_token"]
        for _ in range(count):
            response = http.get(f"/v1/citizens/{settings_pin}",
                                headers={"Authorization": f"Bearer {token}"})
            answered += response.status_code == 200
    return answered


def _any_pin(database: Database) -> str:
    from app.models.population import Citizen

    with database.read() as session:
        return str(session.scalar(select(Citizen.pin).where(Citizen.status == "alive")
                                  .order_by(Citizen.pin).limit(1)))


def test_the_audit_chain_survives_a_killed_server_and_detects_an_edited_row(
        fresh_database: Callable[..., Database]) -> None:
    database = fresh_database()
    env = {"DANCU_POPULATION_SIZE": "300", "DANCU_DELIVERY_WORKER": "false"}
    first = start_server(database.url, name="audit-crash", **env)
    pin = _any_pin(database)
    assert _audited_traffic(first.base, pin, 40) == 40
    first.kill()
    TALLY["killed"] += 1
    second = start_server(database.url, name="audit-restart", **env)
    try:
        assert _audited_traffic(second.base, pin, 40) == 40
    finally:
        second.stop()
    intact = dancu("audit", "verify", database_url=database.url)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    with database.read() as session:
        count = session.scalar(select(func.count()).select_from(text("audit_record")))
        assert count is not None
        assert count >= 40  # group commits of the killed server may be lost, never half-kept
        middle = session.scalar(text("SELECT seq FROM audit_record ORDER BY seq "
                                     "LIMIT 1 OFFSET :n"), {"n": count // 2})
    with database.write() as session:
        session.execute(text("UPDATE audit_record SET purpose = 'edited' WHERE seq = :s"),
                        {"s": middle})
    broken = dancu("audit", "verify", database_url=database.url)
    TALLY["partial"] += broken.returncode == 0
    assert broken.returncode == 1
    assert f"record {middle}" in broken.stdout + broken.stderr
