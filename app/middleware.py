"""The checks the sandbox edge (:class:`app.edge.SandboxEdge`) makes of a request's input before
any route runs: control characters in the URL and in form bodies, unambiguous plain JSON bodies;
and the pieces it answers and reads bodies with (413, problems, reading and replaying a body).
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from app.errors import PROBLEM_MEDIA_TYPE, DomainError, ValidationFailed, problem_body

REQUEST_ID_HEADER = "x-request-id"
# Responses under these prefixes may carry personal data or credentials
# (RFC 6749 §5.1, ASVS 14.3.2).
NO_STORE_PREFIXES = ("/v1/", "/oauth2/")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit; FastAPI re-raises it as is."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


async def send_problem(
    send: Send, error: DomainError, extra: list[tuple[bytes, bytes]]
) -> None:
    body = problem_body(error)
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --- JSON bodies: one meaning per document --------------------------------------------------------

MAX_JSON_DEPTH = 32


class JsonBodyRejected(ValidationFailed):
    """A JSON body the API refuses before any route sees it; ``rule`` says why, never where."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(errors=[{"loc": ["body"], "rule": rule, "message": message}])


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        # Parsers disagree on which duplicate wins (first, last, error): refuse the ambiguity.
        raise JsonBodyRejected("json.duplicate_key", "An object repeats a member name.")
    return dict(pairs)


def _check_value(value: Any, depth: int = 1, *, texts: bool = True) -> None:
    if depth > MAX_JSON_DEPTH:
        raise JsonBodyRejected("json.depth", f"JSON nests deeper than {MAX_JSON_DEPTH} levels.")
    if isinstance(value, str):
        if texts:
            _check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if texts:
                _check_text(key)
            _check_value(item, depth + 1, texts=texts)
    elif isinstance(value, list):
        for item in value:
            _check_value(item, depth + 1, texts=texts)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonBodyRejected("json.surrogate", "Text must be valid Unicode.") from None
    if _CONTROL.search(text):
        raise JsonBodyRejected("json.control_character",
                               "Text must not contain control characters.")


# C0 controls but TAB, LF and CR; DEL; C1 controls (NEL U+0085 is whitespace to str.strip).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def check_json_body(body: bytes) -> None:
    """Raise :class:`JsonBodyRejected` for a body that is not one unambiguous, plain JSON text."""
    try:
        document = json.loads(body, object_pairs_hook=_reject_duplicates)
    except RecursionError:
        raise JsonBodyRejected("json.depth", f"JSON nests deeper than {MAX_JSON_DEPTH} levels.") \
            from None
    except (ValueError, UnicodeDecodeError):
        return  # not JSON at all: the route's own parser answers (422)
    # Strict JSON has no raw C0 control character in a string, so an ASCII body without escapes
    # and without DEL (a chip read: ~30 KB of base64) holds no control character and no
    # surrogate: only the depth is left to check, not every text.
    plain = body.isascii() and b"\\" not in body and b"\x7f" not in body
    _check_value(document, texts=not plain)


async def read_body(receive: Receive) -> bytes:
    """The whole request body (what a middleware reads before the route, see :func:`replay`)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the route the body a middleware has already read."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


# --- control characters in the URL and in form bodies ---------------------------------------------

# In a path or query (percent-decoded): any C0 control, DEL or C1 control. In a form body the
# same but TAB, LF and CR (a text area may send them). Raw bytes are found with bytes.translate,
# escapes by an expression on the lowered bytes: a few microseconds for an authorization
# request's query, a third to a half of what one expression for both took (measured in isolation).
_RAW_URL = bytes(range(0x20)) + b"\x7f"
_RAW_FORM = bytes(set(_RAW_URL) - set(b"\t\n\r"))
_URL_CONTROL = re.compile(rb"%(?:[01][0-9a-f]|7f|c2%[89][0-9a-f])|\xc2[\x80-\x9f]")
_FORM_CONTROL = re.compile(rb"%(?:0[0-8bcef]|1[0-9a-f]|7f|c2%[89][0-9a-f])|\xc2[\x80-\x9f]")


def _has_control(data: bytes, *, raw: bytes, encoded: re.Pattern[bytes]) -> bool:
    if len(data.translate(None, raw)) != len(data):
        return True
    if b"%" not in data and b"\xc2" not in data:
        return False
    return encoded.search(data.lower()) is not None


_ANY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # a decoded path
# Pages a browser shows (an HTML error page), and the endpoints answering RFC 6749 §5.2 JSON;
# the rest (the app's QR approval too) answer problem+json.
_OAUTH_PAGES = ("/oauth2/authorize", "/oauth2/logout", "/oauth2/login/", "/oauth2/otp/",
                "/oauth2/consent/", "/oauth2/account/")
_OAUTH_JSON = ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/oauth2/userinfo")
_CONTROL_DESCRIPTION = "The request contains control characters."


def url_has_control(scope: Scope) -> str | None:
    """``path`` or ``query`` when that part of the URL holds a control character."""
    if _ANY_CONTROL.search(scope.get("path", "")):
        return "path"
    if _has_control(scope.get("query_string", b""), raw=_RAW_URL, encoded=_URL_CONTROL):
        return "query"
    return None


def form_has_control(body: bytes) -> bool:
    """Whether a form body holds a control character other than TAB, LF and CR."""
    return _has_control(body, raw=_RAW_FORM, encoded=_FORM_CONTROL)


async def refuse_json(scope: Scope, send: Send, error: JsonBodyRejected) -> None:
    """A JSON body the guard refuses, in the endpoint's own format: RFC 7591's 400
    ``invalid_client_metadata`` at the registration endpoints, RFC 6749's 400 ``invalid_request``
    at the other OAuth endpoints (a client library reads ``error``, not a problem's ``type``),
    else the 422 problem (the sandbox's own JSON APIs under ``/oauth2/``, such as the simulated
    app's QR approval, answer problems like the rest of the API)."""
    path = scope.get("path", "")
    registration = path == "/oauth2/register" or path.startswith("/oauth2/register/")
    if registration or path in (*_OAUTH_JSON, "/oauth2/par"):
        code = "invalid_client_metadata" if registration else "invalid_request"
        message = error.extensions["errors"][0]["message"]
        body = json.dumps({"error": code, "error_description": message}).encode()
        await send({"type": "http.response.start", "status": 400, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})
        return
    await send_problem(send, error, [])


async def refuse_control(scope: Scope, receive: Receive, send: Send, part: str) -> None:
    """The endpoint's own 4xx: an HTML error page, an RFC 6749 error, or a problem (422)."""
    path = scope.get("path", "")
    if path.startswith(_OAUTH_PAGES):
        from starlette.requests import Request

        from app.routers import html

        response = html.error_page(Request(scope, receive), lang="vi",
                                   message=html.text("vi", "error_title"),
                                   error_code="invalid_request",
                                   description=_CONTROL_DESCRIPTION)
        await response(scope, receive, send)
    elif path in _OAUTH_JSON:
        body = json.dumps({"error": "invalid_request",
                           "error_description": _CONTROL_DESCRIPTION}).encode()
        await send({"type": "http.response.start", "status": 400, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})
    else:
        await send_problem(send, ValidationFailed(errors=[{
            "loc": [part], "rule": "control_character",
            "message": "Text must not contain control characters."}]), [])
