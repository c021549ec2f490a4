"""An HTTP collection generated from the OpenAPI document: ``.http`` files (the format of the
VS Code REST Client and the JetBrains HTTP client, one file per tag) or a Postman v2.1 collection.

Every operation becomes one request with the document's example body; path parameters and
credentials are variables (``{{base}}``, ``{{token}}``, ``{{admin_token}}``, ``{{pin}}``, ...)
set once at the top, with the default deployment's values. ``dancu export-collection`` writes
them; docs/collection/ holds the generated files, kept in step with the document by a test.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

VARIABLES: dict[str, str] = {
    "base": "http://127.0.0.1:8000",
    "admin_token": "admin-secret",
    "client_id": "demo",
    "client_secret": "demo-secret-for-the-sandbox-only",
    "token": "paste the access_token of POST /oauth2/token here",
    "pin": "001186185248",
    "tenant": "",
}
BASIC_PATHS = ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke")
PATH_DEFAULTS = {"side": "front", "format": "pem", "action": "lock", "alg": "ES256"}
_PARAM = re.compile(r"\{([^{}]+)\}")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "other"


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method.upper(), operation)
            for path, item in document.get("paths", {}).items()
            for method, operation in item.items()]


def _tag(operation: dict[str, Any]) -> str:
    return str((operation.get("tags") or ["other"])[0])


def _credentials(path: str, operation: dict[str, Any]) -> dict[str, str]:
    if path in BASIC_PATHS:
        return {"Authorization": "Basic {{basic}}"}
    if not operation.get("security"):
        return {}
    if path.startswith("/v1/admin"):
        return {"Authorization": "Bearer {{admin_token}}"}
    return {"Authorization": "Bearer {{token}}"}


def _body(operation: dict[str, Any]) -> tuple[str, Any] | None:
    content = (operation.get("requestBody") or {}).get("content", {})
    for media_type, media in content.items():
        if "example" in media:
            return media_type, media["example"]
        if media.get("examples"):
            return media_type, next(iter(media["examples"].values())).get("value")
    return None


def _query(operation: dict[str, Any]) -> str:
    pairs = []
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter.get("required"):
            example = parameter.get("example", (parameter.get("schema") or {}).get("default", ""))
            pairs.append(f"{parameter['name']}={example}")
    return "?" + "&".join(pairs) if pairs else ""


def _url(path: str, operation: dict[str, Any]) -> str:
    def variable(match: re.Match[str]) -> str:
        name = match[1]
        return PATH_DEFAULTS.get(name, "{{" + name + "}}")

    return "{{base}}" + _PARAM.sub(variable, path) + _query(operation)


def _path_variables(document: dict[str, Any]) -> dict[str, str]:
    names = {name for path, _, _ in _operations(document) for name in _PARAM.findall(path)}
    extra = dict.fromkeys(sorted(names - set(VARIABLES) - set(PATH_DEFAULTS)), "")
    basic = base64.b64encode(f"{VARIABLES['client_id']}:{VARIABLES['client_secret']}".encode())
    return {**VARIABLES, **extra, "basic": basic.decode()}


def _encoded(media_type: str, value: Any) -> str:
    if media_type.endswith("json"):
        return json.dumps(value, ensure_ascii=False, indent=2)
    if isinstance(value, dict):
        return "&".join(f"{k}={v}" for k, v in value.items())
    return str(value)


# --- .http files ----------------------------------------------------------------------------------


def _http_request(path: str, method: str, operation: dict[str, Any]) -> str:
    lines = [f"### {operation.get('summary') or method + ' ' + path}",
             f"# @name {operation.get('operationId', _slug(method + path))}",
             f"{method} {_url(path, operation)}",
             "X-Sandbox-Tenant: {{tenant}}"]
    lines += [f"{name}: {value}" for name, value in _credentials(path, operation).items()]
    body = _body(operation)
    if body is not None:
        media_type, value = body
        lines += [f"Content-Type: {media_type}", "", _encoded(media_type, value)]
    return "\n".join(lines) + "\n"


def http_files(document: dict[str, Any]) -> dict[str, str]:
    """File name -> content: one ``.http`` file per tag, the variables at the top of each."""
    header = "".join(f"@{name} = {value}\n"
                     for name, value in _path_variables(document).items()) + "\n"
    grouped: dict[str, list[str]] = {}
    for path, method, operation in _operations(document):
        grouped.setdefault(_tag(operation), []).append(_http_request(path, method, operation))
    return {f"{_slug(tag)}.http": header + "\n".join(requests)
            for tag, requests in sorted(grouped.items())}


# --- Postman --------------------------------------------------------------------------------------


def _postman_item(path: str, method: str, operation: dict[str, Any]) -> dict[str, Any]:
    headers = [{"key": "X-Sandbox-Tenant", "value": "{{tenant}}", "disabled": True}]
    headers += [{"key": k, "value": v} for k, v in _credentials(path, operation).items()]
    request: dict[str, Any] = {"method": method, "header": headers,
                               "url": {"raw": _url(path, operation)},
                               "description": operation.get("description") or ""}
    body = _body(operation)
    if body is not None:
        media_type, value = body
        headers.append({"key": "Content-Type", "value": media_type})
        request["body"] = {"mode": "raw", "raw": _encoded(media_type, value)}
    return {"name": operation.get("summary") or f"{method} {path}", "request": request}


def postman(document: dict[str, Any]) -> dict[str, Any]:
    """A Postman collection (schema v2.1.0), a folder per tag."""
    folders: dict[str, list[dict[str, Any]]] = {}
    for path, method, operation in _operations(document):
        folders.setdefault(_tag(operation), []).append(_postman_item(path, method, operation))
    info = document.get("info", {})
    return {
        "info": {"name": f"{info.get('title', 'dancu-sandbox')} {info.get('version', '')}".strip(),
                 "schema": "https://schema.getpostman.com/json/collection/v2.1.0/"
                           "collection.json"},
        "variable": [{"key": k, "value": v} for k, v in _path_variables(document).items()],
        "item": [{"name": tag, "item": items} for tag, items in sorted(folders.items())],
    }


def files(document: dict[str, Any], kind: str) -> dict[str, str]:
    """What ``dancu export-collection --format kind`` writes: file name -> content."""
    if kind == "postman":
        text = json.dumps(postman(document), ensure_ascii=False, indent=2) + "\n"
        return {"dancu.postman_collection.json": text}
    return http_files(document)
