"""Examples for every operation of the OpenAPI document, and the error answer every route has.

Runs after :mod:`app.openapi` has completed the error responses. For each request body and
response that has no example of its own it takes the schema's ``examples`` (the pydantic models
declare them) or, failing that, builds one from the schema: field names the sandbox knows (a
persona's PIN, a Vietnamese name, a date) and the types, enums, bounds and formats of the others.
Error responses get a problem (or RFC 6749 error) example of their status. Every operation also
documents ``default``: any route may answer a problem, and ``X-Sandbox-Fault`` can make any route
answer 429, 500, 503 or 504 (docs/sandbox.md).

The collection export (``dancu export-collection``) is built from these examples.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from app.schemas.examples import EXAMPLES

PROBLEM = "https://dancu.sandbox/problems/"
PROBLEM_MEDIA = "application/problem+json"
OAUTH_JSON_PATHS = {"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/oauth2/userinfo"}
MAX_DEPTH = 6
# What the sandbox answers a field of this name with: the persona valid-adult-level2 of the default
# deployment (seed 6, 10,000 people), the pin-reestablished persona's old and new PIN, the birth
# example's parents (app/schemas/examples.json, refreshed by `dancu export-collection
# --refresh-examples`; tests/test_docs_collection.py checks it is in step with the population).
KNOWN: dict[str, Any] = {
    **{name: EXAMPLES[name] for name in (
        "pin", "current_pin", "new_pin", "old_pin", "full_name", "surname", "middle_name",
        "given_name", "birth_date", "sex", "commune_code", "old_id_number", "phone", "email")},
    "mother_pin": EXAMPLES["birth_mother_pin"], "father_pin": EXAMPLES["birth_father_pin"],
    "client_id": "demo",
    "client_secret": "demo-secret-for-the-sandbox-only", "purpose": "kyc",
    "scope": "citizen.basic citizen.verify",
    "province_code": "001", "registration_province": "001",
    "redirect_uri": "http://127.0.0.1:8765/callback", "url": "https://rp.example/hooks/dancu",
    "challenge": "0011223344556677", "passcode": "123456", "password": "Vneid@2025",
    "request_id": "5df8ced08f6346a2938b208539c62c7c", "kid": "k1",
    "access_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJkZW1vIn0.c2lnbmF0dXJl",
    "id_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJwYWlyd2lzZSJ9.c2lnbmF0dXJl",
    "token_type": "Bearer", "expires_in": 600, "tenant": None, "fault": "status=503",
}
STATUS_PROBLEMS = {
    400: ("bad-request", "Bad request"), 401: ("invalid-token",
                                              "The access token is missing, invalid or expired"),
    403: ("insufficient-scope", "The access token does not carry the scope this request needs"),
    404: ("not-found", "Not found"), 405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"), 413: ("payload-too-large", "The request body is too large"),
    422: ("validation-error", "The request is not valid"),
    429: ("rate-limited", "Too many requests"), 500: ("internal-error", "Internal server error"),
    503: ("service-unavailable", "Service unavailable"), 504: ("timeout",
                                                               "The request timed out"),
}
TEXT_EXAMPLES = {
    "image/svg+xml": "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"856\" height=\"540\">"
                     "…</svg>",
    "application/x-pem-file": "-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----\n",
    "text/html": "<!doctype html><html lang=\"vi\">…</html>",
    "text/plain": "ok",
}


def install(app: FastAPI) -> None:
    """Wrap ``app.openapi`` (already completed by :mod:`app.openapi`) to add the examples."""
    generate: Callable[[], dict[str, Any]] = app.openapi
    done = {"ready": False}

    def openapi() -> dict[str, Any]:
        document = generate()
        if not done["ready"]:
            add_examples(document)
            done["ready"] = True
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def add_examples(document: dict[str, Any]) -> dict[str, Any]:
    resolver = _Resolver(document)
    document.setdefault("components", {}).setdefault("schemas", {})
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            _operation(path, operation, resolver)
    return document


def _operation(path: str, operation: dict[str, Any], resolver: _Resolver) -> None:
    body = operation.get("requestBody")
    if body:
        for media in body.get("content", {}).values():
            _fill(media, resolver)
    responses = operation.setdefault("responses", {})
    responses.setdefault("default", {
        "description": "Any route may answer a problem: an unexpected failure, or the fault a "
                       "sandbox client asked for with X-Sandbox-Fault (429, 500, 503, 504)",
        "content": {PROBLEM_MEDIA: {"schema": {"$ref": "#/components/schemas/Problem"}}}})
    for code, response in responses.items():
        status = 500 if code == "default" else int(code) if code.isdigit() else 200
        for media_type, media in (response.get("content") or {}).items():
            if status >= 400:
                _error_example(media, media_type, status, path)
            else:
                _fill(media, resolver, media_type=media_type)


def _error_example(media: dict[str, Any], media_type: str, status: int, path: str) -> None:
    if "example" in media or "examples" in media:
        return
    if media_type == "application/json" and path in OAUTH_JSON_PATHS:
        media["example"] = {"error": "invalid_request" if status == 400 else "invalid_client",
                            "error_description": "Why the request was refused."}
        return
    code, title = STATUS_PROBLEMS.get(status, ("http-error", "HTTP error"))
    media["example"] = {"type": PROBLEM + code, "title": title, "status": status,
                        "instance": path}


def _fill(media: dict[str, Any], resolver: _Resolver, *, media_type: str = "") -> None:
    if "example" in media or "examples" in media:
        return
    if media_type in TEXT_EXAMPLES or media_type.startswith(("image/", "text/")):
        media["example"] = TEXT_EXAMPLES.get(media_type, "…")
        return
    if media_type and not media_type.endswith("json"):
        media["example"] = "(binary)"
        return
    schema = media.get("schema") or {}
    media["example"] = resolver.example(schema)


class _Resolver:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def _deref(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.document
            for part in schema["$ref"].lstrip("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def example(self, schema: dict[str, Any], name: str = "", depth: int = 0) -> Any:
        schema = self._deref(schema)
        for key in ("examples", "example", "const", "default"):
            if key in schema and schema[key] is not None:
                value = schema[key]
                given = copy.deepcopy(value[0] if key == "examples" and isinstance(value, list)
                                      and value else value)
                return self._completed(schema, given, name, depth)
        if "enum" in schema:
            return KNOWN[name] if KNOWN.get(name) in schema["enum"] else schema["enum"][0]
        if name in KNOWN:
            return KNOWN[name]
        for combinator in ("anyOf", "oneOf", "allOf"):
            if combinator in schema:
                options = [s for s in schema[combinator] if self._deref(s).get("type") != "null"]
                return self.example(options[0], name, depth) if options else None
        return self._typed(schema, name, depth)

    def _completed(self, schema: dict[str, Any], given: Any, name: str, depth: int) -> Any:
        """A model's own example, with each required member it left out filled in (pydantic drops
        ``None`` values from declared examples), at every level."""
        schema = self._object_schema(schema)
        if isinstance(given, list) and schema.get("type") == "array":
            return [self._completed(schema.get("items", {}), item, name, depth + 1)
                    for item in given]
        if not isinstance(given, dict) or "properties" not in schema or depth > MAX_DEPTH:
            return given
        properties = schema["properties"]
        done = {key: self._completed(properties[key], value, key, depth + 1)
                if key in properties else value for key, value in given.items()}
        missing = [key for key in schema.get("required", []) if key not in done]
        return {**{key: self.example(properties[key], key, depth + 1) for key in missing
                   if key in properties}, **done}

    def _object_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        schema = self._deref(schema)
        for combinator in ("anyOf", "oneOf"):
            options = [self._deref(s) for s in schema.get(combinator, [])
                       if self._deref(s).get("type") != "null"]
            if options:
                return options[0]
        return schema

    def _typed(self, schema: dict[str, Any], name: str, depth: int) -> Any:
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            if depth >= MAX_DEPTH:
                return {}
            properties = schema.get("properties", {})
            wanted = schema.get("required") or list(properties)
            return {key: self.example(properties[key], key, depth + 1) for key in wanted
                    if key in properties}
        if kind == "array":
            item = self.example(schema.get("items", {}), name.rstrip("s"), depth + 1)
            return [] if item is None or depth >= MAX_DEPTH else [item]
        if kind == "integer":
            return int(schema.get("minimum", schema.get("exclusiveMinimum", 0)) or 1)
        if kind == "number":
            return float(schema.get("minimum", 1.0) or 1.0)
        if kind == "boolean":
            return True
        if kind == "string":
            return _string(schema, name)
        return None


def _string(schema: dict[str, Any], name: str) -> str:
    formats = {"date": "2026-11-25", "date-time": "2026-11-25T09:00:00Z", "email":
               "someone@example.vn", "uri": "https://rp.example/", "uuid":
               "5df8ced0-8f63-46a2-938b-208539c62c7c"}
    if schema.get("format") in formats:
        return formats[str(schema["format"])]
    if name.endswith("_at") or name in ("at", "now"):
        return formats["date-time"]
    if name.endswith(("_date", "_on")):
        return formats["date"]
    if name.endswith("_pin"):
        return str(KNOWN["pin"])
    text = name.replace("_", " ") if name else "text"
    return text[: schema.get("maxLength", len(text))] or "x"
