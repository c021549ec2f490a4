"""The API docs render in a real browser that may reach nothing but the service (every request
to another host is refused): Swagger UI lists the operations at /docs, ReDoc at /redoc."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Server
from tests.system_tools import require_tool

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module", autouse=True)
def chromium() -> str:
    """First: a missing Chromium skips (or under CI fails) before any server starts."""
    return require_tool("chromium", debian="chromium")


class Offline:
    def __init__(self, page: Any, refused: list[str]) -> None:
        self.page, self.refused = page, refused


@pytest.fixture(scope="module")
def offline(server: Server, chromium: str) -> Iterator[Offline]:
    from playwright.sync_api import sync_playwright

    own = urlsplit(server.base).netloc
    refused: list[str] = []

    def only_the_service(route: Any) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.route("**/*", only_the_service)
        yield Offline(context.new_page(), refused)
        context.close()
        browser.close()


def test_swagger_ui_renders_the_operations_offline(offline: Offline, server: Server) -> None:
    offline.page.goto(f"{server.base}/docs")
    offline.page.wait_for_selector(".opblock", timeout=30_000)
    assert offline.page.locator(".opblock").count() > 20
    assert offline.refused == []


def test_redoc_renders_the_operations_offline(offline: Offline, server: Server) -> None:
    offline.page.goto(f"{server.base}/redoc")
    offline.page.wait_for_selector("[data-section-id^='operation/']", state="attached",
                                   timeout=60_000)
    assert offline.page.locator("[data-section-id^='operation/']").count() > 20
    assert offline.refused == []
