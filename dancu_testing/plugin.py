"""The pytest plugin of dancu-sandbox (entry point ``pytest11``: ``dancu``; docs/testing.md).

pytest loads it in every run of every project that has dancu-sandbox installed, so this module
imports only pytest and the standard library: the server and HTTP kit load inside the fixtures,
when a test asks for one. Fixture names start with ``dancu_`` or name a sandbox capability
(``persona``, ``oidc_login``, ``read_chip``, ``sandbox_clock``, ``fault``); a project's own
fixture of the same name wins over the plugin's, as pytest's scoping does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from dancu_testing import kit

_SERVER = pytest.StashKey["Any"]()
_LOG_OFFSET = pytest.StashKey[int]()
_OPTIONS = {  # ini name: (environment variable, default, help)
    "dancu_tenant_size": ("DANCU_TEST_TENANT_SIZE", "2000", "people in each test's tenant"),
    "dancu_tenant_seed": ("DANCU_TEST_TENANT_SEED", "", "the tenants' seed (default: the "
                                                        "deployment's)"),
    "dancu_population": ("DANCU_TEST_POPULATION_SIZE", "100", "people in the deployment the "
                                                              "plugin starts (tests use tenants)"),
    "dancu_ready_timeout": ("DANCU_TEST_READY_TIMEOUT", "180", "seconds to wait for /readyz"),
    "dancu_database_server": ("DANCU_TEST_SERVER_DATABASE_URL", "", "a PostgreSQL server "
                              "(SQLAlchemy URL) for the throw-away database (default: SQLite)"),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    for name, (env, default, text) in _OPTIONS.items():
        parser.addini(name, f"dancu: {text} (environment: {env})", default=default)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "dancu_client(scopes=..., purposes=..., **registration): how the test's "
                   "dancu_client is registered")
    config.addinivalue_line(
        "markers", "dancu_tenant(size=..., seed=...): the test's tenant")


def _option(config: pytest.Config, name: str) -> str:
    env = _OPTIONS[name][0]
    return os.environ.get(env) or str(config.getini(name))


# --- the deployment -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dancu_server(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[kit.Sandbox]:
    """The sandbox under test: ``dancu serve`` started for the session (a throw-away SQLite
    database), or the deployment at ``DANCU_TEST_BASE_URL``."""
    from dancu_testing import kit, server

    config = request.config
    seed = _option(config, "dancu_tenant_seed")
    size = int(_option(config, "dancu_tenant_size"))
    demo = kit.Credentials(os.environ.get("DANCU_TEST_DEMO_CLIENT_ID", "demo"),
                           os.environ.get("DANCU_TEST_DEMO_CLIENT_SECRET",
                                          "demo-secret-for-the-sandbox-only"))
    shared = os.environ.get("DANCU_TEST_BASE_URL")
    local = None
    if shared:
        owner_id = os.environ.get("DANCU_TEST_CLIENT_ID")
        owner = owner_id and kit.Credentials(owner_id, os.environ.get("DANCU_TEST_CLIENT_SECRET"))
        sandbox = kit.Sandbox(base_url=shared, admin_token=os.environ.get("DANCU_TEST_ADMIN_TOKEN"),
                              demo=demo, owner=owner or None)
    else:
        local = server.start(tmp_path_factory.mktemp("dancu-server"),
                             population=int(_option(config, "dancu_population")),
                             ready_timeout=float(_option(config, "dancu_ready_timeout")),
                             database_server=_option(config, "dancu_database_server"),
                             extra_env={"DANCU_DEMO_CLIENT_ID": demo.client_id,
                                        "DANCU_DEMO_CLIENT_SECRET": demo.client_secret or ""})
        config.stash[_SERVER] = local
        sandbox = kit.Sandbox(base_url=local.base_url, admin_token=local.admin_token, demo=demo,
                              log_path=str(local.log_path))
    sandbox.tenant_seed, sandbox.tenant_size = (int(seed) if seed else None), size
    try:
        yield sandbox
    finally:
        sandbox.close()
        if local is not None:
            local.stop()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _mark_log(item)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    _mark_log(item)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    _mark_log(item)


def _mark_log(item: pytest.Item) -> None:
    """Where the server's log stood when this phase began (0 before the server started, so a
    failing first setup shows the start-up)."""
    local = item.config.stash.get(_SERVER, None)
    item.stash[_LOG_OFFSET] = local.log_size() if local is not None else 0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing test that used the plugin's server shows the log lines written meanwhile."""
    report = yield
    local = item.config.stash.get(_SERVER, None)
    if report.failed and local is not None and "dancu_server" in getattr(item, "fixturenames", ()):
        report.sections.append(("dancu serve log", local.log_tail(item.stash.get(_LOG_OFFSET, 0))))
    return report


# --- per test -------------------------------------------------------------------------------------


@pytest.fixture
def dancu_tenant(request: pytest.FixtureRequest, dancu_server: kit.Sandbox) -> Iterator[kit.Tenant]:
    """A fresh tenant for this test (``@pytest.mark.dancu_tenant(size=, seed=)``), deleted after."""
    marker = request.node.get_closest_marker("dancu_tenant")
    tenant = dancu_server.create_tenant(**(marker.kwargs if marker else {}))
    try:
        yield tenant
    finally:
        dancu_server.delete_tenant(tenant.id)


@pytest.fixture
def dancu_client_factory(dancu_tenant: kit.Tenant) -> Callable[..., kit.DancuClient]:
    """Register clients in the test's tenant: ``dancu_client_factory(scopes=[...], ...)``."""
    return dancu_tenant.register_client


@pytest.fixture
def dancu_client(request: pytest.FixtureRequest,
                 dancu_client_factory: Callable[..., kit.DancuClient]) -> kit.DancuClient:
    """A client registered in the test's tenant; ``@pytest.mark.dancu_client(scopes=[...])``
    chooses its registration (default: the data, card and sign-in scopes)."""
    marker = request.node.get_closest_marker("dancu_client")
    return dancu_client_factory(**(marker.kwargs if marker else {}))


@pytest.fixture
def persona(dancu_tenant: kit.Tenant) -> Callable[[str], kit.Persona]:
    """``persona("valid-adult-level2")``: the tenant's persona, PIN, card key and secrets."""
    return dancu_tenant.persona


@pytest.fixture
def oidc_login(dancu_tenant: kit.Tenant) -> kit.Login:
    """``oidc_login(client, persona, acr="LoA2")``: tokens through authorization code + PKCE."""
    from dancu_testing import kit

    return kit.Login(dancu_tenant)


@pytest.fixture
def read_chip(dancu_tenant: kit.Tenant) -> kit.ChipReader:
    """``read_chip(persona)``: the chip's files and an active authentication."""
    from dancu_testing import kit

    return kit.ChipReader(dancu_tenant)


@pytest.fixture
def sandbox_clock(dancu_tenant: kit.Tenant) -> Iterator[kit.SandboxClock]:
    """The tenant's clock: ``freeze(at)``, ``advance(days=, seconds=)``, ``unfreeze()``,
    ``reset()``; put back to real time after the test."""
    from dancu_testing import kit

    clock = kit.SandboxClock(dancu_tenant)
    yield clock
    if clock.moved:
        clock.reset()


@pytest.fixture
def fault(request: pytest.FixtureRequest, dancu_tenant: kit.Tenant) -> Iterator[kit.Faults]:
    """``fault("status=503", path="/oauth2/token")``: a fault rule for this test only (default
    client: the test's ``dancu_client``), deleted after it."""
    from dancu_testing import kit

    rules = kit.Faults(dancu_tenant, lambda: request.getfixturevalue("dancu_client"))
    yield rules
    rules.remove_all()
