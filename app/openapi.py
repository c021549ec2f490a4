"""Complete the generated OpenAPI document with the answers every route can give.

FastAPI documents what a route declares; the error handlers and middleware answer more: every
``/v1`` error is an RFC 9457 problem (``application/problem+json``, never FastAPI's default 422
body), a bearer route can refuse a token (401), a scope (403) or the quota (429), and any route
taking a body can answer 413 (too large) and 422 (not valid JSON, a duplicate member, ...).
The document says so, so clients (and the schema fuzzer) can rely on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; the `type` URIs are listed in docs/errors.md.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
OAUTH_ERROR_SCHEMA = {
    "type": "object",
    "title": "OAuthError",
    "description": "RFC 6749 §5.2 error response.",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
# Endpoints that answer in their RFC formats (RFC 6749, 6750, 7009, 7662), never problem+json.
RFC_FORMAT_PATHS = {"/oauth2/token", "/oauth2/authorize", "/oauth2/userinfo",
                    "/oauth2/introspect", "/oauth2/revoke", "/oauth2/logout", "/oauth2/par",
                    "/oauth2/register"}
# Client-authenticated RFC endpoints: 400 invalid_request, 401 invalid_client; dynamic
# registration (RFC 7591 §3.2.2, RFC 7592): 400 invalid_client_metadata, 401 invalid_token.
CLIENT_AUTH_PATHS = {"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/oauth2/par",
                     "/oauth2/register", "/oauth2/register/{client_id}"}
MEDIA_TYPES = {"/.well-known/jwks.json": "application/jwk-set+json"}
ERROR_TEXT = {
    401: "Missing, invalid or expired credentials",
    403: "The credentials do not allow this (scope, admin-only route, consent)",
    413: "Request body too large",
    422: "Invalid input: names the rule, never the value",
    429: "Over the client's quota (Retry-After)",
}


def install(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so the generated document is completed once, then cached."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["OAuthError"] = OAUTH_ERROR_SCHEMA
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            _complete_operation(path, operation)
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused not in str(document["paths"]):
            schemas.pop(unused, None)
    return document


def _complete_operation(path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for code in _answered(path, operation):
        responses.setdefault(str(code), {"description": ERROR_TEXT[code]})
    if path in MEDIA_TYPES and "200" in responses:
        responses["200"]["content"] = {MEDIA_TYPES[path]: {"schema": {"type": "object"}}}
    for code, response in responses.items():
        if code.isdigit() and int(code) >= 400 and path not in RFC_FORMAT_PATHS:
            if path.startswith(("/v1/", "/oauth2/")):
                response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
    if path in CLIENT_AUTH_PATHS:
        for code in ("400", "401"):
            responses.setdefault(code, {"description": "RFC 6749 §5.2 error"})
            responses[code]["content"] = {"application/json": {"schema": {
                "$ref": "#/components/schemas/OAuthError"}}}


def _answered(path: str, operation: dict[str, Any]) -> list[int]:
    codes: list[int] = []
    if operation.get("security"):
        codes += [401, 403, 429]
    if path.startswith(("/v1/", "/oauth2/qr/", "/oauth2/register/")) and \
            operation.get("parameters"):
        codes.append(422)  # a control character in the path: problem+json (the input guard)
    if "requestBody" in operation and path.startswith(("/v1/", "/oauth2/qr/")):
        codes += [413, 422]
    return codes
