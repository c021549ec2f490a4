"""Streaming replication on one machine: what synchronous replication costs, and the standby's lag.

Builds a NEW PostgreSQL primary and its hot standby (``tests/reliability/replication.py``:
``initdb``, ``pg_basebackup -R``, other ports, a temporary directory removed afterwards; run as
root or as a user that may run ``initdb``), populates it, starts one ``dancu serve`` whose lookups
read the standby (``DANCU_READ_DATABASE_URL``) and whose writes go to the primary, then measures
in alternating rounds, the same server and the same load each time:

- lookups (``GET /v1/citizens/{pin}``: the row read on the standby, its audit record committed on
  the primary) per second, with LOOKUP_THREADS client threads;
- life events (``POST /v1/life-events/name-changes``, one transaction on the primary) per second,
  with EVENT_THREADS client threads;

under ``async`` (``synchronous_standby_names = ''``), ``on`` (commit waits until the standby has
flushed the WAL) and ``remote_apply`` (until the standby has replayed it: visible to its lookups).
The figure is each synchronous mode's median throughput over the asynchronous median of the same
run. Then, asynchronous again, under the same lookup load (as long as one mode's rounds), it
samples ``pg_stat_replication.replay_lag`` every 50 ms and, with one more thread, times how long
a life event takes to become visible on the standby after its acknowledgement (p50 / p99 / max).

    .venv/bin/python bench/replication.py [--people 10000] [--seconds 8] [--rounds 3]

Prints one JSON line per round and a summary (JSON, then markdown rows for bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import migrations
from app.db import Database
from seed.populate import populate
from tests.reliability.processes import running_server
from tests.reliability.replication import Pair, replication_pair

ADMIN = {"Authorization": "Bearer admin-secret"}
MODES = ("async", "on", "remote_apply")
LOOKUP_THREADS = 8
EVENT_THREADS = 4


def _set_mode(pair: Pair, mode: str) -> None:
    pair.synchronous(mode != "async", level=mode if mode != "async" else "on")


def _token(base: str) -> str:
    with httpx.Client(base_url=base, timeout=30) as http:
        created = http.post("/v1/admin/clients", headers=ADMIN, json={
            "name": "replication bench", "scopes": ["citizen.basic"], "purposes": ["load-test"],
            "sandbox": True, "grant_types": ["client_credentials"], "rate_limit": 10_000_000})
        assert created.status_code == 201, created.text
        auth = (created.json()["client_id"], created.json()["client_secret"])
        answer = http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=auth)
        return str(answer.json()["access_token"])


def _given(index: int) -> str:
    letters = ""
    while True:
        index, digit = divmod(index, 26)
        letters += chr(ord("a") + digit)
        if not index:
            return "Bench" + letters


def _rename(http: httpx.Client, pin: str, index: int) -> httpx.Response:
    return http.post("/v1/life-events/name-changes", headers=ADMIN, json={
        "pin": pin, "surname": "Phạm", "given_name": _given(index),
        "reason": "civil_status_decision"})


FAILED: list[int] = []  # requests that did not succeed, over the whole run (expected: none)


def _drive(threads: int, seconds: float, work: Callable[[httpx.Client, int], bool],
           base: str) -> float:
    """Requests per second that ``work`` completed with ``threads`` clients for ``seconds``."""
    done = [0] * threads
    deadline = time.monotonic() + seconds

    def run(slot: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while time.monotonic() < deadline:
                succeeded = work(http, slot)
                done[slot] += succeeded
                if not succeeded:
                    FAILED.append(1)

    started = time.monotonic()
    workers = [threading.Thread(target=run, args=(slot,)) for slot in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(done) / (time.monotonic() - started)


class LagProbe:
    """During a round: ``replay_lag`` samples, and ack-to-visible times of life events."""

    def __init__(self, pair: Pair, base: str, pin: str) -> None:
        self.pair, self.base, self.pin = pair, base, pin
        self.replay_lag: list[float] = []
        self.visible_after: list[float] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._sample),
                        threading.Thread(target=self._events)]

    def __enter__(self) -> LagProbe:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _sample(self) -> None:
        import psycopg

        with psycopg.connect(self.pair.primary.dsn("postgres"), autocommit=True) as connection:
            while not self.stop.wait(0.05):
                row = connection.execute("SELECT EXTRACT(EPOCH FROM replay_lag) FROM "
                                         "pg_stat_replication").fetchone()
                if row and row[0] is not None:
                    self.replay_lag.append(float(row[0]))

    def _events(self) -> None:
        import psycopg

        index = 10_000_000
        with psycopg.connect(self.pair.standby.dsn(), autocommit=True) as standby, \
                httpx.Client(base_url=self.base, timeout=30) as http:
            while not self.stop.is_set():
                index += 1
                if _rename(http, self.pin, index).status_code != 201:
                    continue
                acknowledged = time.monotonic()
                while standby.execute("SELECT given_name FROM citizen WHERE pin = %s",
                                      (self.pin,)).fetchone() != (_given(index),):
                    time.sleep(0.0005)
                self.visible_after.append(time.monotonic() - acknowledged)
                time.sleep(0.1)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def measure(pair: Pair, base: str, args: argparse.Namespace) -> dict[str, Any]:
    token = _token(base)
    pins = [str(row[0]) for row in pair.primary.execute(
        "SELECT pin FROM citizen WHERE status = 'alive' AND birth_date < '2000-01-01' "
        # not the sandbox personas: fault-slow, fault-unavailable, ... by design
        "AND pin NOT IN (SELECT pin FROM sandbox_persona) ORDER BY pin LIMIT 400")]
    lookup_pins, event_pins, probe_pin = pins[:300], pins[300:300 + EVENT_THREADS], pins[-1]
    bearer = {"Authorization": f"Bearer {token}"}
    counter = [0]

    def lookup(http: httpx.Client, slot: int) -> bool:
        counter[0] += 1
        return http.get(f"/v1/citizens/{lookup_pins[counter[0] % len(lookup_pins)]}",
                        headers=bearer).status_code == 200

    def event(http: httpx.Client, slot: int) -> bool:
        counter[0] += 1
        return _rename(http, event_pins[slot], counter[0]).status_code == 201

    figures: dict[str, dict[str, list[float]]] = {m: {"lookup": [], "event": []} for m in MODES}
    for round_number in range(args.rounds):
        for mode in MODES:
            _set_mode(pair, mode)
            figures[mode]["lookup"].append(_drive(LOOKUP_THREADS, args.seconds, lookup, base))
            figures[mode]["event"].append(_drive(EVENT_THREADS, args.seconds, event, base))
            print(json.dumps({"round": round_number, "mode": mode,
                              "lookups/s": round(figures[mode]["lookup"][-1], 1),
                              "life events/s": round(figures[mode]["event"][-1], 1)}),
                  flush=True)
    _set_mode(pair, "async")
    # The lag, apart from the rounds above (its probe is load of its own): asynchronous
    # replication under the lookup load, for as long as all the lookup rounds of one mode.
    with LagProbe(pair, base, probe_pin) as probe:
        _drive(LOOKUP_THREADS, args.seconds * args.rounds, lookup, base)
    return _summary(figures, [probe])


def _summary(figures: dict[str, dict[str, list[float]]], probes: list[LagProbe]) -> dict[str, Any]:
    median = {mode: {kind: statistics.median(v) for kind, v in kinds.items()}
              for mode, kinds in figures.items()}
    lags = [lag for probe in probes for lag in probe.replay_lag]
    visible = [v for probe in probes for v in probe.visible_after]
    return {
        "failed requests": len(FAILED),
        "median": {m: {k: round(v, 1) for k, v in kinds.items()} for m, kinds in median.items()},
        "ratio to async": {m: {k: round(median[m][k] / median["async"][k], 3)
                               for k in ("lookup", "event")} for m in MODES[1:]},
        "replay_lag ms (p50, p99, max; samples)": [
            round(_percentile(lags, 0.5) * 1000, 2), round(_percentile(lags, 0.99) * 1000, 2),
            round(max(lags, default=float("nan")) * 1000, 2), len(lags)],
        "life event visible on the standby after ack, ms (p50, p99, max; events)": [
            round(_percentile(visible, 0.5) * 1000, 2),
            round(_percentile(visible, 0.99) * 1000, 2),
            round(max(visible, default=float("nan")) * 1000, 2), len(visible)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with replication_pair() as pair:
        database = Database.connect(pair.primary.url())
        migrations.upgrade(database.engine)
        populate(database, size=args.people, seed=1)
        database.dispose()
        with running_server(pair.primary.url(), name="replication-bench",
                            DANCU_READ_DATABASE_URL=pair.standby.url(), DANCU_SEED="1",
                            DANCU_POPULATION_SIZE=str(args.people), DANCU_LOG_LEVEL="warning",
                            DANCU_DELIVERY_WORKER="false") as server:
            summary = measure(pair, server.base, args)
    print(json.dumps(summary, ensure_ascii=False))
    for mode, ratios in summary["ratio to async"].items():
        print(f"| synchronous_commit = {mode} | lookups {ratios['lookup']:.2f}x async "
              f"({summary['median'][mode]['lookup']} vs {summary['median']['async']['lookup']}/s) "
              f"| life events {ratios['event']:.2f}x async ({summary['median'][mode]['event']} "
              f"vs {summary['median']['async']['event']}/s) |")


if __name__ == "__main__":
    main()
