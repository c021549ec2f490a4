"""The assets (script src, stylesheet and icon href) the API docs pages reference.

Standard library only: ``.ci/fresh_install.sh`` runs this file with the interpreter of a fresh
``pip install .`` (no test extra) to prove the installed package serves its docs offline:
``python tests/docs_assets.py http://127.0.0.1:8000`` exits 1 naming what failed."""

from __future__ import annotations

import sys
import urllib.request
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

PAGES = ("/docs", "/redoc")
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.found.append(value)


def references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.found


def expected_type(url: str) -> str:
    path = urlsplit(url).path
    return next(kind for suffix, kind in CONTENT_TYPES.items() if path.endswith(suffix))


def problems(base: str) -> list[str]:
    """What is wrong with the docs pages at ``base`` and their assets (empty when all is well)."""
    found = []
    for page in PAGES:
        with urllib.request.urlopen(base + page, timeout=10) as response:
            refs = references(response.read().decode())
        if len([ref for ref in refs if ref.endswith(".js")]) != 1:
            found.append(f"{page}: expected one script, got {refs}")
        for ref in refs:
            url = urljoin(base + page, ref)
            if urlsplit(url).netloc != urlsplit(base).netloc:
                found.append(f"{page}: {ref} is not served by the service")
                continue
            with urllib.request.urlopen(url, timeout=10) as response:
                kind = response.headers.get("content-type", "")
                if response.status != 200 or expected_type(url) not in kind:
                    found.append(f"{page}: {ref} answered {response.status} {kind}")
    return found


if __name__ == "__main__":
    failed = problems(sys.argv[1].rstrip("/"))
    print("\n".join(failed) or "docs assets: all served by the service")
    sys.exit(1 if failed else 0)
