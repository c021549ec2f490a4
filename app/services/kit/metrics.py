"""Prometheus metrics at ``/metrics`` (``prometheus-client``).

* ``dancu_http_requests_total{method, route, status}`` and
  ``dancu_http_request_duration_seconds{method, route}``: by route template, never a raw path;
* ``dancu_tokens_issued_total{grant_type}``: successful ``POST /oauth2/token`` answers;
* ``dancu_verifications_total{kind, verdict}``: attribute verifications (``citizen``, also per
  item of a batch) and chip verifications (``chip``) by verdict;
* ``dancu_faults_injected_total{fault}``: answers a sandbox fault changed;
* ``dancu_population_people{status}``: citizens by status, read from the database when scraped
  (cached for a minute: counting a national population is not free).

Several worker processes: ``dancu serve --workers N`` points ``PROMETHEUS_MULTIPROC_DIR`` at a
fresh directory before the workers start, and the scrape then adds up every worker's counters
(prometheus-client's multiprocess mode); with one process the default registry is used.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from app.db import Database
from app.models.population import Citizen

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
POPULATION_SECONDS = 60.0
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter("dancu_http_requests", "HTTP requests answered",
                   ["method", "route", "status"])
DURATION = Histogram("dancu_http_request_duration_seconds", "Time to answer, by route template",
                     ["method", "route"], buckets=BUCKETS)
TOKENS = Counter("dancu_tokens_issued", "Tokens issued by POST /oauth2/token", ["grant_type"])
VERIFICATIONS = Counter("dancu_verifications", "Verifications answered, by verdict",
                        ["kind", "verdict"])
FAULTS = Counter("dancu_faults_injected", "Answers changed by a sandbox fault", ["fault"])


_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}
MAX_CHILDREN = 4096  # routes are templates, but a method is whatever a client sent


def observe(*, method: str, route: str, status: int, seconds: float) -> None:
    """Count one answer. The labelled children are kept per (method, route, status): finding
    them again through ``labels()`` (label checks, a lock) cost more than counting."""
    key = (method, route, status)
    children = _CHILDREN.get(key)
    if children is None:
        if len(_CHILDREN) >= MAX_CHILDREN:
            _CHILDREN.clear()
        children = _CHILDREN[key] = (REQUESTS.labels(method, route, str(status)),
                                     DURATION.labels(method, route))
    children[0].inc()
    children[1].observe(seconds)


class PopulationCollector(Collector):
    """Citizens by status, counted at most once a minute per process."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._counted: dict[str, int] = {}
        self._at = -1e9
        self._lock = threading.Lock()

    def _counts(self) -> dict[str, int]:
        with self._lock:
            if time.monotonic() - self._at > POPULATION_SECONDS:
                with self.database.read() as session:
                    rows = session.execute(select(Citizen.status, func.count())
                                           .group_by(Citizen.status)).all()
                self._counted = {str(status): int(count) for status, count in rows}
                self._at = time.monotonic()
            return dict(self._counted)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("dancu_population_people", "Citizens in the population "
                                   "database, by status", labels=["status"])
        for status, count in sorted(self._counts().items()):
            family.add_metric([status], count)
        yield family


def exposition(database: Database, collectors: dict[str, Any]) -> tuple[bytes, str]:
    """The scrape body: this process's (or every worker's) metrics and the population gauge."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        for name in ("dancu_http_requests", "dancu_http_request_duration_seconds",
                     "dancu_tokens_issued", "dancu_verifications", "dancu_faults_injected"):
            registry.register(_Forward(REGISTRY, name))
    population = collectors.get("population")
    if population is None:
        population = collectors["population"] = PopulationCollector(database)
    registry.register(population)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Forward(Collector):
    """One metric of the default registry, for a scrape registry of our own."""

    def __init__(self, source: Any, name: str) -> None:
        self.source, self.name = source, name

    def collect(self) -> Iterator[Any]:
        for family in self.source.collect():
            if family.name == self.name:
                yield family
