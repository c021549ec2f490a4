"""``/console``: a small server-rendered web console for people who would rather look than read.

Signed in with the admin token (a form): each sign-in opens a server-side session
(``app.services.sandbox.console``: a random cookie value, 8 hours of sandbox time, ended by signing
out; the cookie is ``HttpOnly``, ``SameSite=Strict``, and ``Secure`` over https).
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
from app.routers.html import PAGE_HEADERS, secure_cookies, templates
from app.security import checked_secret, request_id, runtime
from app.services.kit.throttle import TooManyFailures
from app.services.population.citizens import checked_pin
from app.services.sandbox import console, personas, recorded_requests, tenants

router = APIRouter(prefix="/console", include_in_schema=False)
_PIN_LIKE = 12


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    tenant = getattr(request.app.state, "tenant", None)
    response = templates().TemplateResponse(
        request, f"console/{template}",
        {"tenant": tenant, "sandbox": request.app.state.settings.sandbox, **context},
        status_code=status)
    response.headers.update(PAGE_HEADERS)
    return response


def _signed_in(request: Request) -> bool:
    """A live console session (a database read: sync routes run it in their worker thread)."""
    with runtime(request).database.read() as session:
        return console.signed_in(session, request.cookies.get(console.COOKIE),
                                 request.app.state.settings.admin_token,
                                 now=request.app.state.clock.now())


async def _signed_in_async(request: Request) -> bool:
    return await runtime(request).run_in_thread(lambda: _signed_in(request))


def _to_login() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


def _secure(request: Request) -> bool:
    """``Secure`` when the request came over https or the issuer is https; on plain
    ``http://127.0.0.1`` a browser would not send a ``Secure`` cookie back."""
    return request.url.scheme == "https" or secure_cookies(request.app.state.settings)


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    return _page(request, "login.html", error=None)


@router.post("/login")
def login(request: Request, token: Annotated[str, Form(max_length=500)]) -> Response:
    expected = request.app.state.settings.admin_token
    right = console.token_matches(token, expected)
    try:
        accepted = checked_secret(request, matches=right)  # guesses throttled per source
    except TooManyFailures as locked:
        page = _page(request, "login.html", status=429, error="Too many wrong tokens: wait.")
        page.headers.update(locked.headers)
        return page
    if not accepted:
        return _page(request, "login.html", status=401, error="That is not the admin token.")
    with runtime(request).database.write() as session:
        console.sign_out(session, request.cookies.get(console.COOKIE),
                         now=request.app.state.clock.now())
        cookie = console.sign_in(session, expected, now=request.app.state.clock.now())
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(console.COOKIE, cookie, httponly=True, samesite="strict", path="/",
                        secure=_secure(request),
                        max_age=int(console.SESSION_TTL.total_seconds()))
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    with runtime(request).database.write() as session:
        console.sign_out(session, request.cookies.get(console.COOKIE),
                         now=request.app.state.clock.now())
    response = _to_login()
    response.delete_cookie(console.COOKIE, path="/", httponly=True, samesite="strict",
                           secure=_secure(request))
    return response


@router.get("")
async def home(request: Request, q: Annotated[str | None, Query(max_length=100)] = None
               ) -> Response:
    if not await _signed_in_async(request):
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
    if not await _signed_in_async(request):
        return _to_login()
    page = await console.citizen_page(runtime(request), checked_pin(pin),
                                      request_id=request_id(request),
                                      now=request.app.state.clock.now())
    if page is None:
        raise NotFound("No citizen has this number.")
    return _page(request, "citizen.html", page=page, record=page.record)


@router.get("/citizens/{pin}/card/{side}.svg")
async def card_image(request: Request, pin: str, side: str) -> Response:
    if not await _signed_in_async(request):
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
    return _page(request, "requests.html", requests=recorded_requests.recent(request.app))


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
