"""The web console in a real browser (Debian's Chromium, headless, via Playwright) against a real
server process of its own (one worker, so the recent-request list is the one it shows): sign in
with the admin token, search the population, open a persona's page with its card images, browse
the personas and the recent requests. Each main page is screenshotted and the image checked: the
expected size, not blank, the expected text on the page (tests/e2e/screenshots/, not committed).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.settings import Settings
from tests.e2e.conftest import Server, uvicorn_server
from tests.system_tools import require_tool

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
# One folder per database: the SQLite and PostgreSQL runs of .ci/run take theirs side by side.
SHOTS = Path(__file__).parent / "screenshots" / (
    "postgresql" if os.environ.get("DANCU_TEST_DATABASE_URL") else "sqlite")
VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture(scope="module", autouse=True)
def chromium() -> str:
    """First: a missing Chromium skips (or under CI fails) before any server starts."""
    return require_tool("chromium", debian="chromium")


@pytest.fixture(scope="module")
def one_worker(client: TestClient, settings: Settings) -> Iterator[Server]:
    with uvicorn_server(settings, workers=1, log_name="console-server",
                        DANCU_DELIVERY_WORKER="false") as base:
        yield Server(base, {"Authorization": f"Bearer {settings.admin_token}"})


@pytest.fixture(scope="module")
def page(one_worker: Server, settings: Settings, chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=VIEWPORT)
        tab = context.new_page()
        yield tab
        context.close()
        browser.close()


@pytest.fixture(scope="module")
def persona(one_worker: Server) -> dict[str, Any]:
    listed = httpx.get(f"{one_worker.base}/v1/sandbox/personas", headers=one_worker.admin)
    return next(p for p in listed.json()["personas"] if p["key"] == "valid-adult-level2")


def shoot(page: Any, name: str) -> Image.Image:
    """Screenshot the page; check the PNG is the viewport's width, tall enough and not blank."""
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    image = Image.open(path).convert("RGB")
    assert image.width == VIEWPORT["width"]
    assert image.height >= 300
    colours = image.resize((128, 96)).getcolors(maxcolors=128 * 96) or []
    assert len(colours) > 8, f"{name}: the screenshot is (nearly) blank"
    white = max((count for count, rgb in colours if min(rgb) > 245), default=0)
    assert white < 0.97 * 128 * 96, f"{name}: the screenshot is almost all white"
    return image


def test_console_needs_the_admin_token(page: Any, one_worker: Server) -> None:
    page.goto(f"{one_worker.base}/console")
    assert page.url.endswith("/console/login")
    page.fill("#token", "not-the-token")
    page.click("button[type=submit]")
    assert "not the admin token" in page.inner_text("[role=alert]")
    shoot(page, "login")


def test_sign_in_and_search_the_population(page: Any, one_worker: Server, settings: Settings,
                                           persona: dict[str, Any]) -> None:
    page.goto(f"{one_worker.base}/console/login")
    page.fill("#token", settings.admin_token)
    page.click("button[type=submit]")
    assert page.url.rstrip("/").endswith("/console")
    surname = persona["full_name"].split()[0]
    page.fill("#q", surname)
    page.click("form[role=search] button")
    rows = page.locator("#results tbody tr")
    assert rows.count() > 0
    assert surname in rows.first.inner_text()
    shoot(page, "search")


def test_a_citizen_page_shows_record_family_cards_account_and_history(
        page: Any, one_worker: Server, persona: dict[str, Any]) -> None:
    page.goto(f"{one_worker.base}/console?q={persona['pin']}")
    assert page.url.endswith(f"/console/citizens/{persona['pin']}")
    assert page.inner_text("#name") == persona["full_name"]
    for section in ("#record", "#family", "#cards", "#vneid", "#consents", "#history"):
        assert page.locator(section).is_visible()
    assert "active" in page.inner_text("#vneid")
    for side in ("front", "back"):
        image = page.locator(f"#cards img[src$='{side}.svg']")
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.inner_text("#qr").startswith(persona["pin"])
    assert "console" in page.inner_text("#history")  # this very view is audited
    shot = shoot(page, "citizen")
    assert shot.height > 900  # the whole page, cards included


def test_the_persona_page_lists_every_persona_with_its_outcomes(
        page: Any, one_worker: Server) -> None:
    page.goto(f"{one_worker.base}/console/personas")
    text = page.inner_text("#personas")
    for key in ("valid-adult-level2", "card-lost", "cloned-chip", "pin-reestablished"):
        assert key in text
    assert "db.card_status:card_lost" in text
    assert "`" not in text, "plain words, not Markdown code spans"
    shoot(page, "personas")


def test_recent_requests_show_route_templates_statuses_and_no_personal_data(
        page: Any, one_worker: Server, persona: dict[str, Any]) -> None:
    httpx.get(f"{one_worker.base}/v1/citizens/{persona['pin']}")  # a refused call (no token)
    page.goto(f"{one_worker.base}/console/requests")
    table = page.inner_text("#requests")
    assert "/v1/citizens/{pin}" in table
    assert "401" in table
    assert "/console/citizens/{pin}" in table
    assert persona["pin"] not in table
    shoot(page, "requests")
