"""The interactive API docs (Swagger UI at /docs, ReDoc at /redoc) with their JavaScript, CSS
and favicon served by the service itself, so they work on a machine without Internet access.

The assets are the copies the ``fastapi-offline`` package ships (Swagger UI: Apache-2.0, ReDoc:
MIT, FastAPI's favicon: MIT; see that package's licence file)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/static/docs"
# The pages load nothing from another host: ReDoc's bundle shows its vendor's logo from a CDN
# (and hides it when it does not load); the browser is told not to try.
POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline' blob:; "
          "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
          "worker-src 'self' blob:; connect-src 'self'")
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))

router = APIRouter(include_in_schema=False)


def _self_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = POLICY
    return page


def _asset(request: Request, name: str) -> str:
    return f"{request.scope.get('root_path', '')}{ASSETS_URL}/{name}"


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    return _self_only(get_swagger_ui_html(
        openapi_url=f"{request.scope.get('root_path', '')}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
        swagger_js_url=_asset(request, "swagger-ui-bundle.js"),
        swagger_css_url=_asset(request, "swagger-ui.css"),
        swagger_favicon_url=_asset(request, "favicon.png"),
        swagger_ui_parameters=app.swagger_ui_parameters,
    ))


@router.get("/docs/oauth2-redirect")
def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    return _self_only(get_redoc_html(
        openapi_url=f"{request.scope.get('root_path', '')}{app.openapi_url}",
        title=f"{app.title} - ReDoc",
        redoc_js_url=_asset(request, "redoc.standalone.js"),
        redoc_favicon_url=_asset(request, "favicon.png"),
        with_google_fonts=False,
    ))


def install(app: FastAPI) -> None:
    """Mount the assets before ``/static`` (the first matching mount answers)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    app.include_router(router)
