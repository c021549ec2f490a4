"""Server-rendered pages of the provider (login, consent, logout, errors): Jinja2 templates in
Vietnamese and English, cookies and the security headers every page carries.

Headers: a strict Content-Security-Policy (own scripts and styles only, QR images as data URIs, no
framing), ``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer`` (a code or interaction id
never leaks through a Referer, RFC 9700 §4.2), ``Cache-Control: no-store``. No ``form-action``
directive: browsers apply it to the redirect after a form, and ours go to relying parties.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.settings import Settings

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
MESSAGES: dict[str, dict[str, str]] = json.loads(
    (TEMPLATE_DIR / "messages.json").read_text("utf-8"))
LANGUAGES = tuple((code, MESSAGES[code]["lang_name"]) for code in ("vi", "en"))
COOKIE_PATH = "/oauth2"
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@cache
def templates() -> Jinja2Templates:
    """The pages' Jinja2 environment, built by the first page served: a restart does not load
    the template engine before a request needs it (issue 20, fast start)."""
    from fastapi.templating import Jinja2Templates

    return Jinja2Templates(directory=TEMPLATE_DIR)


def language(value: str | None, default: str = "vi") -> str:
    return value if value in MESSAGES else default


def text(lang: str, key: str) -> str:
    return MESSAGES[language(lang)].get(key, key)


def base_path(request: Request) -> str:
    """What the browser's paths have before this app's own: ``/t/<id>`` when it entered a tenant
    by the tenant's issuer path (the edge strips it, ``app.edge.tenants.path_tenant``), else
    nothing. The pages' forms and links start with it, so the login stays in the tenant without
    a cookie naming the tenant."""
    tenant = getattr(request.app.state, "tenant", None)
    root = str(request.scope.get("root_path", ""))
    return root if tenant and root.endswith(f"/t/{tenant}") else ""


def render(request: Request, template: str, *, lang: str, status: int = 200,
           page: str | None = None, **context: Any) -> HTMLResponse:
    """A page in ``lang``; the language links point at ``page`` (default: this path); ``base``
    (:func:`base_path`) goes before every path of the service's own the page names."""
    base = base_path(request)
    target = base + (page or request.url.path)
    links = {code: f"{target}?{urlencode({'lang': code})}" for code, _ in LANGUAGES}
    response = templates().TemplateResponse(
        request, template, {"lang": lang, "t": MESSAGES[lang], "languages": LANGUAGES,
                            "lang_links": links, "base": base, **context}, status_code=status)
    response.headers.update(PAGE_HEADERS)
    return response


def error_page(request: Request, *, lang: str, message: str, status: int = 400,
               error_code: str | None = None, description: str | None = None) -> HTMLResponse:
    return render(request, "error.html", lang=lang, status=status, message=message,
                  error_code=error_code, description=description)


def secure_cookies(settings: Settings) -> bool:
    return settings.issuer_url.startswith("https://")


def set_cookie(response: HTMLResponse | RedirectResponse, name: str, value: str, *,
               settings: Settings, max_age: int) -> None:
    """HttpOnly, SameSite=Lax, Secure when the issuer is https, scoped to ``/oauth2``."""
    response.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, httponly=True,
                        samesite="lax", secure=secure_cookies(settings))


def clear_cookie(response: HTMLResponse | RedirectResponse, name: str, *,
                 settings: Settings) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="lax",
                           secure=secure_cookies(settings))


def see_other(location: str) -> RedirectResponse:
    """303 (never 307 after a form with credentials, RFC 9700 §4.12)."""
    return RedirectResponse(location, status_code=303,
                            headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})
