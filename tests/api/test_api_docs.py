"""The API docs (/docs, /redoc) work offline: every script, stylesheet and icon they load
comes from the service itself."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.docs_assets import expected_type, references


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_loads_every_asset_from_the_service(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    refs = references(response.text)
    assert any(ref.endswith(".js") for ref in refs)
    assert any(ref.endswith(".png") for ref in refs), "the favicon"
    for ref in refs:
        assert not urlsplit(ref).netloc, f"{ref} points at another host"
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        assert expected_type(ref) in asset.headers["content-type"], ref


def test_docs_page_has_no_external_url_at_all(client: TestClient) -> None:
    """Not only tags: an inline font or CDN link would break the page offline too."""
    for page in ("/docs", "/redoc"):
        text = client.get(page).text
        assert "https://" not in text
        assert "http://" not in text.replace("http://testserver", "")


def test_swagger_ui_oauth2_redirect_page_is_served(client: TestClient) -> None:
    response = client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert "oauth2" in response.text


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_tell_the_browser_to_load_nothing_from_another_host(
        client: TestClient, page: str) -> None:
    policy = client.get(page).headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert "http" not in policy
