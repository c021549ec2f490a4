"""The login flow's common requests answered as bytes: the headless authorization request
(``GET``, no cookie), the token request (a form body) and userinfo (``GET``, no query).

Each ``fast_*`` function reads the scope's headers once and its query or form itself (as
Starlette's ``Request`` would: the first of a repeated header, latin-1; the query by
``parse_qsl``), calls the same use case as the route (:mod:`app.routers.oauth`,
:mod:`app.routers.token`) and renders the common answer -- a 303 with the login session's cookie,
a token or the userinfo claims as JSON -- to exactly the status, headers and body that Starlette's
``RedirectResponse`` or ``JSONResponse`` would have (``tests/api/test_express_login.py``). Any
other answer (error pages, errors, signed userinfo, cookies that would need quoting) is the
route's own ``Response``; any other request (``None``) is left to the route itself, which then
parses the request as before (a body read here is cached by the ``Request``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import Response

from app.oidc import dpop
from app.oidc import errors as oauth
from app.routers import html
from app.routers import oauth as oauth_routes
from app.routers import token as token_routes
from app.services.sharing import tokens
from app.services.vneid import authorize as oidc_authorize
from app.services.vneid import sessions

Raw = tuple[int, list[tuple[bytes, bytes]], bytes]
Answer = Response | Raw
Fast = Callable[[Request], Awaitable[Answer | None]]

_JSON_TYPE = (b"content-type", b"application/json")
_SEE_OTHER = (
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"content-length", b"0"),
)
# RedirectResponse's quoting of the location
_LOCATION_SAFE = ":/%#?=@[]!$&'()*+,;"
# a cookie value http.cookies would write as it is (no quoting)
_PLAIN_COOKIE = re.compile(r"[A-Za-z0-9_-]+")


class Headers:
    """The request headers the login endpoints read, in one pass over the scope."""

    __slots__ = ("authorization", "content_type", "cookie", "dpop", "sandbox_login")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.authorization = self.content_type = self.sandbox_login = None
        self.cookie = False
        self.dpop: list[str] = []
        for name, value in raw:
            if name == b"authorization":
                if self.authorization is None:
                    self.authorization = value.decode("latin-1")
            elif name == b"content-type":
                if self.content_type is None:
                    self.content_type = value.decode("latin-1")
            elif name == b"dpop":
                self.dpop.append(value.decode("latin-1"))
            elif name == b"x-sandbox-login":
                if self.sandbox_login is None:
                    self.sandbox_login = value.decode("latin-1")
            elif name == b"cookie":
                self.cookie = True


def _json(body: Any, headers: dict[str, str]) -> Raw:
    """What ``JSONResponse(body, headers=headers)`` sends."""
    rendered = json.dumps(
        body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")
    raw = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
    ]
    raw.append((b"content-length", str(len(rendered)).encode("latin-1")))
    raw.append(_JSON_TYPE)
    return 200, raw, rendered


def _session_cookie(value: str, *, secure: bool) -> bytes:
    """What ``html.set_cookie`` writes for the login session (a plain value)."""
    cookie = (
        f"{sessions.SESSION_COOKIE}={value}; HttpOnly; Max-Age={oauth_routes.SESSION_MAX_AGE}"
        f"; Path={html.COOKIE_PATH}; SameSite=lax"
    )
    return (cookie + "; Secure" if secure else cookie).encode("latin-1")


async def fast_authorize(request: Request) -> Answer | None:
    if request.scope["method"] != "GET":
        return None
    headers = Headers(request.scope["headers"])
    if headers.cookie:
        return None
    pairs = parse_qsl(request.scope["query_string"].decode("latin-1"), keep_blank_values=True)
    outcome, cookies = await oauth_routes.authorized(
        request, pairs, browser=None, session=None, sandbox_pin=headers.sandbox_login
    )
    if (
        isinstance(outcome, oidc_authorize.ErrorPage)
        or oauth_routes.starts_interaction(outcome, had_browser=False)
        or (outcome.session_cookie and not _PLAIN_COOKIE.fullmatch(outcome.session_cookie))
    ):
        return oauth_routes.authorize_response(request, pairs, outcome, cookies, had_browser=False)
    location = quote(outcome.location, safe=_LOCATION_SAFE).encode("latin-1")
    raw = [*_SEE_OTHER, (b"location", location)]
    if outcome.session_cookie:
        secure = html.secure_cookies(request.app.state.settings)
        raw.append((b"set-cookie", _session_cookie(outcome.session_cookie, secure=secure)))
    return 303, raw, b""


async def fast_token(request: Request) -> Answer | None:
    headers = Headers(request.scope["headers"])
    media = (headers.content_type or "").split(";")[0].strip().lower()
    if media != token_routes.FORM_MEDIA_TYPE:
        return None
    try:
        params = token_routes.parameters(await request.body())
    except (UnicodeDecodeError, oauth.OAuthError):
        return None
    asked = tokens.TokenRequest(params, headers.authorization, dpop.request_header(headers.dpop))
    outcome, answer_headers = await token_routes.exchange(request, asked)
    if isinstance(outcome, Response):
        return outcome
    return _json(outcome, answer_headers)


async def fast_userinfo(request: Request) -> Answer | None:
    scope = request.scope
    if scope["method"] != "GET" or scope["query_string"]:
        return None
    headers = Headers(scope["headers"])
    presented = oauth_routes.dpop_presentation(headers.authorization, headers.dpop, "GET")
    answer = await oauth_routes.userinfo_answer(
        request, [], in_query=False, authorization=headers.authorization, presented=presented
    )
    if isinstance(answer, Response):
        return answer
    return _json(answer[0], answer[1])


FAST: dict[str, Fast] = {
    "/oauth2/authorize": fast_authorize,
    "/oauth2/token": fast_token,
    "/oauth2/userinfo": fast_userinfo,
}
