"""Authorization request validation and authorization responses.

Sources: OIDC Core §3.1.2.1 (request), §3.1.2.5-6 (responses, errors), RFC 6749 §3.1 (unknown
parameters ignored, empty = omitted, no repeats), §3.1.2 (redirect URI), §4.1.2 / §4.1.2.1
(response and errors), RFC 7636 (PKCE), RFC 9207 (``iss`` in every response), RFC 9700 §2.1
(exact redirect URI match, PKCE required, code flow only).

Two kinds of failure:

* :class:`AuthorizationRejected` -- the client or the redirect URI cannot be trusted (unknown or
  repeated ``client_id``, missing / repeated / unregistered ``redirect_uri``). The server MUST NOT
  redirect; it shows an error page (RFC 6749 §4.1.2.1, RFC 9700 §4.11: no open redirector).
* :class:`AuthorizationErrorRedirect` -- everything else: the error goes back to the client's
  redirect URI with ``error``, ``error_description``, ``state`` and ``iss``.

Decisions (each allowed by the specs; see the tests):

* ``response_type=code`` only (missing -> ``invalid_request``; other ->
  ``unsupported_response_type``);
  ``response_mode`` absent or ``query``.
* ``scope`` must contain ``openid``; other scopes are narrowed silently to those the provider
  supports and the client may hold (``openid`` is implied for every code-flow client);
  ``offline_access`` is kept only with ``prompt=consent`` and a client allowed refresh tokens
  (OIDC Core §11).
* PKCE S256 (:mod:`app.oidc.pkce`) is mandatory unless the client's policy says otherwise
  (``require_pkce`` false: a confidential client registered e.g. for OpenID certification); a
  challenge that is sent is always checked, and remembered with the code.
* ``prompt`` values: none, login, consent, select_account; unknown values, or ``none`` with another
  value, are ``invalid_request`` (OIDC Core §3.1.2.1).
* ``max_age``: a non-negative integer of at most 10 digits.
* ``acr_values`` is a voluntary request (OIDC Core §5.5.1.1): values other than LoA1/LoA2 are
  ignored; whether the account can meet them is decided in :mod:`app.oidc.interaction`.
* ``ui_locales``: the first supported language (vi, en; region subtags ignored), default vi.
* ``request`` (a signed request object, RFC 9101) and a pushed request's ``request_uri``
  (RFC 9126) are resolved first (:func:`resolve_request`, :mod:`app.oidc.request_objects`): their
  parameters are the request. Another ``request_uri`` -> ``request_uri_not_supported``,
  ``registration`` -> ``registration_not_supported`` (never silently ignored).
* ``claims`` (OIDC Core §5.5): :mod:`app.oidc.claims_request`; its scopes join those the citizen
  consents to, its ``acr`` values join ``acr_values``.
* ``display``, ``claims_locales`` and unknown parameters are ignored.
* ``nonce`` is optional in the code flow, at most 512 characters; ``login_hint`` over 256
  characters is dropped (it is only a hint).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from app.oidc import pkce
from app.oidc.claims import OFFLINE_ACCESS, OPENID, SUPPORTED_SCOPES
from app.oidc.claims_request import ClaimsRequest, parse_claims
from app.oidc.clients import (
    AUTHORIZATION_CODE,
    REFRESH_TOKEN,
    ClientView,
    is_registered_redirect_uri,
)
from app.oidc.errors import (
    InvalidClient,
    InvalidRequest,
    InvalidRequestObject,
    InvalidRequestUri,
    InvalidScope,
    OAuthError,
    RegistrationNotSupported,
    RequestNotSupported,
    RequestUriNotSupported,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from app.oidc.request_objects import (
    is_pushed_request_uri,
    outer_client_id,
    pushed_parameters,
    request_object_parameters,
)
from app.oidc.scopes import narrow, parse_scope

ACR_VALUES_SUPPORTED = ("LoA1", "LoA2")
UI_LOCALES_SUPPORTED = ("vi", "en")
PROMPT_VALUES = ("none", "login", "consent", "select_account")
MAX_NONCE_LENGTH = 512
MAX_LOGIN_HINT_LENGTH = 256

_KNOWN_PARAMETERS = frozenset(
    {
        "client_id",
        "redirect_uri",
        "response_type",
        "response_mode",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "max_age",
        "acr_values",
        "ui_locales",
        "login_hint",
        "id_token_hint",
        "request",
        "request_uri",
        "registration",
        "claims",
        "display",
        "dpop_jkt",
    }
)
_UNSUPPORTED = (
    ("request", RequestNotSupported),  # only a request object inside a request object
    ("request_uri", RequestUriNotSupported),
    ("registration", RegistrationNotSupported),
)
_MAX_AGE = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True)
class AuthorizationRequest:
    """A validated authorization request, ready for login/consent and then a code."""

    client_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    code_challenge: str | None
    received_at: datetime
    state: str | None = None
    nonce: str | None = None
    code_challenge_method: str = pkce.S256
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None
    acr_values: tuple[str, ...] = ()
    ui_locale: str = "vi"
    login_hint: str | None = None
    id_token_hint: str | None = None
    claims: ClaimsRequest | None = None
    dpop_jkt: str | None = None  # RFC 9449 §10: the code is bound to this DPoP key
    pushed_uri_hash: str | None = None  # the pushed request it came from, spent with the code

    @property
    def consent_scopes(self) -> tuple[str, ...]:
        """What the citizen consents to: the scopes, and those of the claims asked for alone."""
        extra = self.claims.scopes if self.claims is not None else ()
        return tuple(dict.fromkeys((*self.scope, *extra)))


class AuthorizationRejected(Exception):
    """The request cannot be answered by redirect: render an error page with ``error``."""

    def __init__(self, error: OAuthError) -> None:
        super().__init__(error.error)
        self.error = error


class AuthorizationErrorRedirect(Exception):
    """The request failed; send the user agent to :attr:`location` (RFC 6749 §4.1.2.1, RFC 9207)."""

    def __init__(
        self, error: OAuthError, *, redirect_uri: str, state: str | None, issuer: str
    ) -> None:
        super().__init__(error.error)
        self.error = error
        self.location = error_redirect_url(redirect_uri, error, state=state, issuer=issuer)


Params = Mapping[str, list[str]]


def collect_params(pairs: Iterable[tuple[str, str]]) -> Params:
    """Group query/form pairs by name; empty values count as omitted (RFC 6749 §3.1)."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        if value != "":
            grouped.setdefault(name, []).append(value)
    return grouped


def _single(params: Params, name: str) -> str | None:
    values = params.get(name, [])
    if len(values) > 1:
        raise InvalidRequest(f"The {name} parameter was sent more than once.")
    return values[0] if values else None


def requested_client_id(pairs: Iterable[tuple[str, str]]) -> str:
    """The ``client_id`` to look up before validation; refuses missing or repeated values."""
    try:
        client_id = _single(collect_params(pairs), "client_id")
    except InvalidRequest as error:
        raise AuthorizationRejected(error) from None
    if client_id is None:
        raise AuthorizationRejected(InvalidRequest("The client_id parameter is required."))
    return client_id


def _trusted_redirect_uri(params: Params, client: ClientView | None) -> tuple[ClientView, str]:
    try:
        client_id = _single(params, "client_id")
        redirect_uri = _single(params, "redirect_uri")
    except InvalidRequest as error:
        raise AuthorizationRejected(error) from None
    if client is None or client.client_id != client_id:
        raise AuthorizationRejected(InvalidClient("Unknown client."))
    if redirect_uri is None or not is_registered_redirect_uri(client, redirect_uri):
        raise AuthorizationRejected(
            InvalidRequest("The redirect_uri is missing or not registered.")
        )
    return client, redirect_uri


def resolve_request(
    pairs: Sequence[tuple[str, str]], *, client: ClientView | None, issuer: str, now: datetime,
    pushed: Mapping[str, Any] | None = None, pushing: bool = False,
) -> list[tuple[str, str]]:
    """The request's parameters: those of its signed request object (``request``) or of its
    pushed request (``request_uri``, whose stored record is ``pushed``), else ``pairs``. An
    unusable object is redirected as ``invalid_request_object`` when the outer ``redirect_uri``
    is registered, else shown on an error page; an unknown or expired pushed request is
    ``invalid_request_uri`` on an error page (its redirect URI is unknown). A client that must
    use PAR (``require_pushed_authorization_requests``) is refused anything else, except at the
    pushed-request endpoint itself (``pushing``)."""
    params = collect_params(pairs)
    if client is not None and client.require_pushed_authorization_requests and \
            not pushing and not _pushed(params):
        raise AuthorizationRejected(InvalidRequest(
            "This client must push its authorization requests (PAR, RFC 9126)."))
    if client is None or ("request" not in params and not _pushed(params)):
        return list(pairs)
    if "request" in params and "request_uri" in params:
        raise AuthorizationRejected(InvalidRequest("Send request or request_uri, not both."))
    if "request_uri" in params:
        found = pushed_parameters(pushed, client_id=outer_client_id(pairs), now=now)
        if found is None:
            raise AuthorizationRejected(InvalidRequestUri(
                "The request_uri is unknown, expired or of another client."))
        return found
    try:
        return request_object_parameters(_single_or_rejected(params, "request"), client=client,
                                         issuer=issuer, now=now)
    except InvalidRequestObject as error:
        _, redirect_uri = _trusted_redirect_uri(params, client)
        state = params.get("state", [None])[0]
        raise AuthorizationErrorRedirect(error, redirect_uri=redirect_uri, state=state,
                                         issuer=issuer) from None


def _pushed(params: Params) -> bool:
    return any(is_pushed_request_uri(value) for value in params.get("request_uri", []))


def _single_or_rejected(params: Params, name: str) -> str:
    try:
        return _single(params, name) or ""
    except InvalidRequest as error:
        raise AuthorizationRejected(error) from None


def validate_authorization_request(
    pairs: Sequence[tuple[str, str]], *, client: ClientView | None, issuer: str, now: datetime
) -> AuthorizationRequest:
    """Validate the request ``pairs`` (query or form, in order, repeats kept) for ``client``.

    ``client`` is the registry's view of the ``client_id`` the request names (see
    :func:`requested_client_id`), or ``None`` when it is unknown.
    """
    params = collect_params(pairs)
    client, redirect_uri = _trusted_redirect_uri(params, client)
    state_values = params.get("state", [])
    state = state_values[0] if len(state_values) == 1 else None
    try:
        return _validate(params, client=client, redirect_uri=redirect_uri, now=now)
    except OAuthError as error:
        raise AuthorizationErrorRedirect(
            error, redirect_uri=redirect_uri, state=state, issuer=issuer
        ) from None


def _validate(
    params: Params, *, client: ClientView, redirect_uri: str, now: datetime
) -> AuthorizationRequest:
    for name, error in _UNSUPPORTED:
        if name in params:
            raise error()
    for name in _KNOWN_PARAMETERS & params.keys():
        _single(params, name)
    _check_response_type(params, client)
    prompt = _prompt(_single(params, "prompt"))
    claims = parse_claims(_single(params, "claims"), allowed_scopes=_allowed_scopes(client))
    return AuthorizationRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scope=_scope(_single(params, "scope"), client, prompt),
        code_challenge=_code_challenge(params, client),
        received_at=now,
        state=_single(params, "state"),
        nonce=_nonce(_single(params, "nonce")),
        dpop_jkt=_dpop_jkt(_single(params, "dpop_jkt")),
        prompt=prompt,
        max_age=_max_age(_single(params, "max_age")),
        acr_values=_acr_values(_single(params, "acr_values"), claims),
        ui_locale=_ui_locale(_single(params, "ui_locales")),
        login_hint=_login_hint(_single(params, "login_hint")),
        id_token_hint=_single(params, "id_token_hint"),
        claims=claims,
    )


_JKT = re.compile(r"[A-Za-z0-9_-]{43}")  # an RFC 7638 SHA-256 thumbprint, base64url


def _dpop_jkt(value: str | None) -> str | None:
    if value is not None and not _JKT.fullmatch(value):
        raise InvalidRequest("dpop_jkt must be a JWK SHA-256 thumbprint (RFC 9449 §10).")
    return value


def _code_challenge(params: Params, client: ClientView) -> str | None:
    challenge, method = _single(params, "code_challenge"), _single(params, "code_challenge_method")
    if challenge is None and method is None and not client.require_pkce:
        return None
    return pkce.validate_challenge(challenge, method)


def _check_response_type(params: Params, client: ClientView) -> None:
    response_type = _single(params, "response_type")
    if response_type is None:
        raise InvalidRequest("The response_type parameter is required.")
    if response_type != "code":
        raise UnsupportedResponseType()
    if AUTHORIZATION_CODE not in client.grant_types:
        raise UnauthorizedClient()
    if _single(params, "response_mode") not in (None, "query"):
        raise InvalidRequest("Only response_mode=query is supported.")


def _scope(value: str | None, client: ClientView, prompt: frozenset[str]) -> tuple[str, ...]:
    requested = parse_scope(value)
    if OPENID not in requested:
        raise InvalidScope("The openid scope is required.")
    allowed = set(_allowed_scopes(client))
    if "consent" not in prompt or REFRESH_TOKEN not in client.grant_types:
        allowed.discard(OFFLINE_ACCESS)
    return narrow(requested, allowed=allowed)


def _allowed_scopes(client: ClientView) -> tuple[str, ...]:
    return tuple(scope for scope in SUPPORTED_SCOPES if scope in client.scopes or scope == OPENID)


def _prompt(value: str | None) -> frozenset[str]:
    values = frozenset((value or "").split())
    if not values <= set(PROMPT_VALUES):
        raise InvalidRequest("Unsupported prompt value.")
    if "none" in values and len(values) > 1:
        raise InvalidRequest("prompt=none cannot be combined with other values.")
    return values


def _max_age(value: str | None) -> int | None:
    if value is None:
        return None
    if not _MAX_AGE.fullmatch(value):
        raise InvalidRequest("max_age must be a non-negative integer.")
    return int(value)


def _nonce(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_NONCE_LENGTH:
        raise InvalidRequest("The nonce is too long.")
    return value


def _acr_values(value: str | None, claims: ClaimsRequest | None) -> tuple[str, ...]:
    requested = [*(value or "").split(), *(claims.acr_values if claims else ())]
    return tuple(acr for acr in dict.fromkeys(requested) if acr in ACR_VALUES_SUPPORTED)


def _ui_locale(value: str | None) -> str:
    for tag in (value or "").split():
        language = tag.split("-")[0].lower()
        if language in UI_LOCALES_SUPPORTED:
            return language
    return UI_LOCALES_SUPPORTED[0]


def _login_hint(value: str | None) -> str | None:
    return value if value is not None and len(value) <= MAX_LOGIN_HINT_LENGTH else None


def _with_query(uri: str, params: Sequence[tuple[str, str | None]]) -> str:
    """Append parameters, keeping the registered query component (RFC 6749 §3.1.2)."""
    parts = urlsplit(uri)
    extra = urlencode([(name, value) for name, value in params if value is not None])
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


def success_redirect_url(request: AuthorizationRequest, *, code: str, issuer: str) -> str:
    """``redirect_uri?code=...&state=...&iss=...`` (RFC 6749 §4.1.2, RFC 9207 §2)."""
    return _with_query(
        request.redirect_uri, [("code", code), ("state", request.state), ("iss", issuer)]
    )


def error_redirect_url(
    redirect_uri: str, error: OAuthError, *, state: str | None, issuer: str
) -> str:
    """``redirect_uri?error=...&error_description=...&state=...&iss=...``.

    RFC 6749 §4.1.2.1, RFC 9207 §2.
    """
    params = [
        ("error", error.error),
        ("error_description", error.description or None),
        ("state", state),
        ("iss", issuer),
    ]
    return _with_query(redirect_uri, params)
