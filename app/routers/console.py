"""``/console``: a small server-rendered web console for people who would rather look than read.

Signed in with the admin token (a form; the cookie holds a MAC under the token, never the token).
Pages: search the population, one citizen (record, household, family, cards with their images,
VNeID account, consents, access history), the persona catalogue, the recent requests, and a
tenant switch (the ``dancu_tenant`` cookie sends the console and the browser's other requests to
that tenant). Every citizen read is audited under the client id ``console``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from app.errors import NotFound
from app.routers.html import PAGE_HEADERS, TEMPLATES
from app.security import checked_secret, request_id, runtime
from app.services import console, personas, sandbox_requests, tenants
from app.services.citizens import checked_pin
from app.services.throttle import TooManyFailures

router = APIRouter(prefix="/console", include_in_schema=False)
_PIN_LIKE = 12


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    tenant = getattr(request.app.state, "tenant", None)
    response = TEMPLATES.TemplateResponse(
        request, f"console/{template}",
        {"tenant": tenant, "sandbox": request.app.state.settings.sandbox, **context},
        status_code=status)
    response.headers.update(PAGE_HEADERS)
    return response


def _signed_in(request: Request) -> bool:
    return console.signed_in(request.cookies.get(console.COOKIE),
                             request.app.state.settings.admin_token)


def _to_login() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    return _page(request, "login.html", error=None)


@router.post("/login")
def login(request: Request, token: Annotated[str, Form(max_length=500)]) -> Response:
    expected = request.app.state.settings.admin_token
    right = console.signed_in(console.session_value(token), expected)
    try:
        accepted = checked_secret(request, matches=right)  # guesses throttled per source
    except TooManyFailures as locked:
        page = _page(request, "login.html", status=429, error="Too many wrong tokens: wait.")
        page.headers.update(locked.headers)
        return page
    if not accepted:
        return _page(request, "login.html", status=401, error="That is not the admin token.")
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(console.COOKIE, console.session_value(expected), httponly=True,
                        samesite="strict", path="/")
    return response


@router.post("/logout")
def logout() -> Response:
    response = _to_login()
    response.delete_cookie(console.COOKIE, path="/")
    return response


@router.get("")
async def home(request: Request, q: Annotated[str | None, Query(max_length=100)] = None
               ) -> Response:
    if not _signed_in(request):
        return _to_login()
    query = (q or "").strip()
    if len(query) == _PIN_LIKE and query.isdigit():
        return RedirectResponse(f"/console/citizens/{query}", status_code=303)
    found = await console.search(runtime(request), query, request_id=request_id(request),
                                 now=request.app.state.clock.now()) if query else []
    return _page(request, "home.html", query=query, results=found,
                 now=request.app.state.clock.now())


@router.get("/citizens/{pin}")
async def citizen(request: Request, pin: str) -> Response:
    if not _signed_in(request):
        return _to_login()
    page = await console.citizen_page(runtime(request), checked_pin(pin),
                                      request_id=request_id(request),
                                      now=request.app.state.clock.now())
    if page is None:
        raise NotFound("No citizen has this number.")
    return _page(request, "citizen.html", page=page, record=page.record)


@router.get("/citizens/{pin}/card/{side}.svg")
async def card_image(request: Request, pin: str, side: str) -> Response:
    if not _signed_in(request):
        return _to_login()
    if side not in ("front", "back"):
        raise NotFound("A card has a front and a back.")
    image = await console.card_image(runtime(request), checked_pin(pin), side,
                                     seed=request.app.state.settings.seed,
                                     request_id=request_id(request),
                                     now=request.app.state.clock.now())
    if image is None:
        raise NotFound("No card is recorded for this number.")
    return Response(image, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@router.get("/personas")
def persona_page(request: Request) -> Response:
    if not _signed_in(request):
        return _to_login()
    settings, clock = request.app.state.settings, request.app.state.clock
    with runtime(request).database.read() as session:
        listed = personas.catalogue(session, now=clock.now(), settings=settings)
    return _page(request, "personas.html", personas=listed, describe=personas.outcome_text)


@router.get("/requests")
def request_page(request: Request) -> Response:
    if not _signed_in(request):
        return _to_login()
    return _page(request, "requests.html", requests=sandbox_requests.recent(request.app))


@router.post("/tenant")
def switch_tenant(request: Request,
                  tenant: Annotated[str, Form(max_length=40)] = "") -> Response:
    """Send the browser to a tenant (or back to the deployment with an empty value)."""
    if not _signed_in(request):
        return _to_login()
    response = RedirectResponse("/console", status_code=303)
    if tenants.valid_id(tenant.strip()):
        response.set_cookie(tenants.TENANT_COOKIE, tenant.strip(), httponly=True,
                            samesite="strict", path="/")
    else:
        response.delete_cookie(tenants.TENANT_COOKIE, path="/")
    return response
