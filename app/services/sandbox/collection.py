"""An HTTP collection generated from the OpenAPI document: ``.http`` files (the format of the
VS Code REST Client and the JetBrains HTTP client, one file per tag) or a Postman v2.1 collection.

Every operation becomes one request with the document's example body and the status it answers
(``# expect: 200``; a Postman test script) when the collection runs top to bottom against a
default deployment (seed 6, 10,000 people): ``tests/test_docs_collection.py`` runs every request
and checks it. Path parameters and credentials are variables (``{{base}}``, ``{{token}}``,
``{{admin_token}}``, ``{{pin}}``, ...) set once at the top, with the default deployment's values
(``{{pin}}`` is the persona ``valid-adult-level2``; the population-dependent ones come from
app/schemas/examples.json, ``dancu export-collection --refresh-examples``); ``{{token}}`` comes
from the sign-in request that opens every file. ``dancu export-collection`` writes them;
docs/collection/ holds the generated files, kept in step with the document by a test.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from app.schemas.examples import EXAMPLES

VARIABLES: dict[str, str] = {
    "base": "http://127.0.0.1:8000",
    "admin_token": "admin-secret",
    "client_id": "demo",
    "client_secret": "demo-secret-for-the-sandbox-only",
    "token": "{{client_token.response.body.$.access_token}}",
    # The persona valid-adult-level2 of the default deployment (seed 6, 10,000 people) and the
    # key its card's chip opens with; the account the admin account requests act on: the one
    # their file's first request opens (so that locking and closing it leaves the personas as
    # they are). From app/schemas/examples.json (`dancu export-collection --refresh-examples`).
    "pin": EXAMPLES["pin"],
    "access_key": EXAMPLES["access_key"],
    "account_pin": EXAMPLES["account_pin"],
    "tenant": "",
    # Ids made by a request earlier in the same file (REST Client request variables).
    "new_client_id": "{{add_client_v1_admin_clients_post.response.body.$.client_id}}",
    "subscription_id": "{{create_v1_subscriptions_post.response.body.$.id}}",
    "rule_id": "{{add_fault_v1_sandbox_faults_post.response.body.$.id}}",
    "tenant_id": "{{create_tenant_v1_sandbox_tenants_post.response.body.$.id}}",
    "consent_id": "{{give_consent_v1_me_data_consents_post.response.body.$.id}}",
    "session_id": "{{open_session_v1_cards__pin__chip_sessions_post.response.body.$.session_id}}",
    # The persona judicial-record-rejected's request: the personas' requests are the first four.
    "request_id": "2",
}
# Body members that name an id made earlier in the file: the example's value gives way to it.
BODY_VARIABLES = ("session_id",)
# Path parameters whose variable has another name (``client_id`` is the demo client's).
PATH_ALIASES = {"client_id": "new_client_id"}
# The admin token: admin routes, moving the deployment's clock (everyone's), tenants (the demo
# client, whose credentials are public, owns none; a team's own sandbox client would) and
# forcing the deployment's persona requests for criminal-record certificates (a client forces
# only those its e-service submitted), life events (the demo client records them only in a
# tenant) and fault rules (the demo client, shared by everyone, sets none in the deployment).
ADMIN_PATHS = ("/v1/admin", "/v1/sandbox/clock/", "/v1/sandbox/tenants",
               "/v1/sandbox/judicial-records/", "/v1/life-events/", "/v1/sandbox/faults")
BASIC_PATHS = ("/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/oauth2/par")
# RS256: rotating the demo client's ES256 key while the clock runs a day ahead (after
# /v1/admin/simulate) would leave no key valid once the clock is reset.
PATH_DEFAULTS = {"side": "front", "format": "pem", "action": "lock", "alg": "RS256",
                 "kind": "health_insurance", "sid": "no-such-session"}
_PARAM = re.compile(r"\{([^{}]+)\}")
TOKEN_REQUEST = "client_token"
# What a request answers, as given, when the collection runs top to bottom against a default
# deployment, where that is not the operation's first documented success (operationId -> status).
EXPECTED: dict[str, int] = {
    # The account the file opens is active and level 2 already; the consent id is another file's.
    "activate_v1_admin_accounts__pin__activate_post": 409,
    "upgrade_v1_admin_accounts__pin__upgrade_post": 409,
    "bind_device_v1_admin_accounts__pin__device_post": 409,
    "withdraw_consent_v1_admin_consents__consent_id__withdraw_post": 422,
    "change_card_v1_admin_cards__pin___action__post": 422,  # "reason" must be a reason code
    # The citizen's own routes take a citizen's token (a login's), not the demo client's.
    "access_history_api_v1_me_access_history_get": 401,
    "my_consents_v1_me_data_consents_get": 401,
    "give_consent_v1_me_data_consents_post": 401,
    "withdraw_consent_v1_me_data_consents__consent_id__withdraw_post": 401,
    "my_consents_v1_me_consents_get": 401,  # the app's bound-device token
    "my_documents_v1_me_documents_get": 401,  # a level-2 citizen's device or vneid.documents
    "withdraw_my_consent_v1_me_consents__consent_id__withdraw_post": 422,
    "my_sessions_v1_me_sessions_get": 401,  # the app's bound-device token
    "revoke_my_session_v1_me_sessions__sid__revoke_post": 401,
    "revoke_my_sessions_v1_me_sessions_revoke_post": 401,
    # Nobody has logged in to the account the file opens: no session to end.
    "revoke_session_v1_admin_accounts__pin__sessions__sid__revoke_post": 404,
    # The criminal-record service takes a citizen's token (scope vneid.judicial_record); the
    # request forced is the rejected persona's, final already (judicial-request-final).
    "prefill_v1_me_judicial_records_prefill_get": 401,
    "my_requests_v1_me_judicial_records_get": 401,
    "submit_v1_me_judicial_records_post": 401,
    "one_request_v1_me_judicial_records__request_id__get": 401,
    "certificate_v1_me_judicial_records__request_id__certificate_get": 401,
    "advance_v1_sandbox_judicial_records__request_id__advance_post": 409,
    # A new subscription has had no delivery yet; the example's event type is a placeholder.
    "update_v1_subscriptions__subscription_id__patch": 422,
    "deliveries_v1_subscriptions__subscription_id__deliveries_get": 404,
    "replay_one_v1_subscriptions__subscription_id__deliveries__delivery_id__replay_post": 404,
    "replay_failed_v1_subscriptions__subscription_id__replay_post": 404,
    # The login flow needs a registered redirect URI, PKCE and a browser (docs/vneid.md shows it
    # with curl); userinfo a user's token, introspection and revocation a token to name.
    "authorize_get": 400, "authorize_post": 400, "userinfo_get": 401, "userinfo_post": 401,
    "introspect_oauth2_introspect_post": 400, "revoke_oauth2_revoke_post": 400,
    "pushed_authorization_request_oauth2_par_post": 400,  # the request's parameters are missing
    # Dynamic registration is open in a sandbox and reads its JSON metadata itself (no body here:
    # 400 invalid_client_metadata; docs/vneid.md registers a client with curl); its management
    # takes the registration access token of a dynamically registered client.
    "register_client_oauth2_register_post": 400,
    "read_registration_oauth2_register__client_id__get": 401,
    "update_registration_oauth2_register__client_id__put": 401,
    "delete_registration_oauth2_register__client_id__delete": 401,
    # A QR handle comes from a login page shown in a browser.
    "qr_status_oauth2_qr__handle__get": 404, "qr_approve_oauth2_qr__handle__approve_post": 404,
    "qr_deny_oauth2_qr__handle__deny_post": 404,
    "sandbox_qr_approve_v1_sandbox_qr__handle__approve_post": 404,
    # The rule was cleared by the request before; the tenant deleted by the request before.
    "delete_fault_v1_sandbox_faults__rule_id__delete": 404,
    "reset_tenant_v1_sandbox_tenants__tenant_id__reset_post": 404,
}


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
    chip = {"X-Chip-Access-Key": "{{access_key}}"} if "/chip" in path else {}
    if not operation.get("security") and not chip:
        return {}
    if path.startswith(ADMIN_PATHS):
        return {"Authorization": "Bearer {{admin_token}}"}
    return {"Authorization": "Bearer {{token}}", **chip}


def expected_status(operation: dict[str, Any]) -> int:
    """The status the request answers as given (see :data:`EXPECTED`)."""
    if operation.get("operationId") in EXPECTED:
        return EXPECTED[operation["operationId"]]
    codes = sorted(int(code) for code in operation.get("responses", {}) if code.isdigit())
    return next((code for code in codes if 200 <= code < 400), codes[0] if codes else 200)


def _body(operation: dict[str, Any]) -> tuple[str, Any] | None:
    content = (operation.get("requestBody") or {}).get("content", {})
    for media_type, media in content.items():
        if "example" in media:
            return media_type, _with_variables(media["example"])
        if media.get("examples"):
            return media_type, _with_variables(
                next(iter(media["examples"].values())).get("value"))
    return None


def _with_variables(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return {key: "{{" + key + "}}" if key in BODY_VARIABLES else item
            for key, item in value.items()}


def _query(operation: dict[str, Any]) -> str:
    pairs = []
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter.get("required"):
            example = parameter.get("example", (parameter.get("schema") or {}).get("default", ""))
            pairs.append(f"{parameter['name']}={example}")
    return "?" + "&".join(pairs) if pairs else ""


def _url(path: str, operation: dict[str, Any]) -> str:
    aliases = {**PATH_ALIASES, **({"pin": "account_pin"}
                                  if path.startswith("/v1/admin/accounts/") else {})}

    def variable(match: re.Match[str]) -> str:
        name = aliases.get(match[1], match[1])
        return PATH_DEFAULTS.get(name, "{{" + name + "}}")

    return "{{base}}" + _PARAM.sub(variable, path) + _query(operation)


def _path_variables(document: dict[str, Any]) -> dict[str, str]:
    names = {PATH_ALIASES.get(name, name)
             for path, _, _ in _operations(document) for name in _PARAM.findall(path)}
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


SIGN_IN = (f"### Sign in as the demo client (client credentials): the {{{{token}}}} of this file\n"
           f"# @name {TOKEN_REQUEST}\n# expect: 200\nPOST {{{{base}}}}/oauth2/token\n"
           "Authorization: Basic {{basic}}\nContent-Type: application/x-www-form-urlencoded\n\n"
           "grant_type=client_credentials\n")


def _http_request(path: str, method: str, operation: dict[str, Any]) -> str:
    lines = [f"### {operation.get('summary') or method + ' ' + path}",
             f"# @name {operation.get('operationId', _slug(method + path))}",
             f"# expect: {expected_status(operation)}",
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
    return {f"{_slug(tag)}.http": header + "\n".join([SIGN_IN, *requests])
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
    return {"name": operation.get("summary") or f"{method} {path}", "request": request,
            "event": [_test_script(expected_status(operation))]}


def _test_script(status: int, *extra: str) -> dict[str, Any]:
    return {"listen": "test", "script": {"type": "text/javascript", "exec": [
        f'pm.test("answers {status}", () => pm.response.to.have.status({status}));', *extra]}}


def _sign_in() -> dict[str, Any]:
    """The first request: the demo client's token, kept as {{token}} for the others."""
    return {"name": "Sign in as the demo client (client credentials)", "request": {
        "method": "POST", "url": {"raw": "{{base}}/oauth2/token"},
        "header": [{"key": "Authorization", "value": "Basic {{basic}}"},
                   {"key": "Content-Type", "value": "application/x-www-form-urlencoded"}],
        "body": {"mode": "raw", "raw": "grant_type=client_credentials"}, "description": ""},
        "event": [_test_script(200, 'pm.collectionVariables.set("token", '
                                    'pm.response.json().access_token);')]}


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
        "variable": [{"key": k, "value": "" if k == "token" else v}
                     for k, v in _path_variables(document).items()],
        "item": [_sign_in(), *({"name": tag, "item": items}
                               for tag, items in sorted(folders.items()))],
    }


def files(document: dict[str, Any], kind: str) -> dict[str, str]:
    """What ``dancu export-collection --format kind`` writes: file name -> content."""
    if kind == "postman":
        text = json.dumps(postman(document), ensure_ascii=False, indent=2) + "\n"
        return {"dancu.postman_collection.json": text}
    return http_files(document)
