"""OAuth 2.0 / OpenID Connect protocol errors.

One class per registered error code. Each carries the code (``error``), the HTTP status it maps to
when answered directly (``status``) and a fixed, human-readable ``description``.

Sources:

* RFC 6749 §4.1.2.1 (authorization endpoint) and §5.2 (token endpoint): invalid_request,
  invalid_client, invalid_grant, unauthorized_client, unsupported_grant_type, invalid_scope,
  access_denied, unsupported_response_type, server_error, temporarily_unavailable.
* RFC 6750 §3.1 (protected resources): invalid_request, invalid_token, insufficient_scope.
* OIDC Core §3.1.2.6: interaction_required, login_required, account_selection_required,
  consent_required, invalid_request_uri, invalid_request_object, request_not_supported,
  request_uri_not_supported, registration_not_supported.
* OpenID Connect Core Unmet Authentication Requirements 1.0: unmet_authentication_requirements.
* RFC 7009 §2.2.1: unsupported_token_type.
* RFC 7591 §3.2.2: invalid_redirect_uri, invalid_client_metadata.
* RFC 8628 §3.5: slow_down (here: 429 with ``Retry-After`` from the token endpoint).

Descriptions are fixed strings chosen by the server, never the caller's input (CONTRIBUTING:
no personal data in errors). RFC 6749 §5.2 limits ``error_description`` to %x20-21 / %x23-5B /
%x5D-7E, i.e. printable ASCII without ``"`` and ``\\``; the constructor enforces it, which also
keeps the value safe inside a ``WWW-Authenticate`` quoted-string (RFC 6750 §3).

Authorization-endpoint errors are not answered with ``status``: they are redirected to the client
(see ``app.oidc.authorize``) unless the redirect URI itself cannot be trusted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

# RFC 6749 §5.2 / Appendix A.7: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E )
_DESCRIPTION_CHARS = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


class OAuthError(Exception):
    """Base of the family; subclasses fix ``error``, ``status`` and the default description."""

    error: ClassVar[str] = "server_error"
    status: ClassVar[int] = 500
    default_description: ClassVar[str] = "The server encountered an unexpected condition."

    def __init__(self, description: str | None = None) -> None:
        text = self.default_description if description is None else description
        if not _DESCRIPTION_CHARS.fullmatch(text):
            raise ValueError("error_description must be printable ASCII without quote or backslash")
        super().__init__(f"{self.error}: {text}")
        self.description = text

    def as_dict(self) -> dict[str, str]:
        """The RFC 6749 §5.2 JSON body (``error_description`` omitted when empty)."""
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


class InvalidRequest(OAuthError):
    error = "invalid_request"
    status = 400
    default_description = "The request is missing a parameter or is otherwise malformed."


class InvalidClient(OAuthError):
    error = "invalid_client"
    status = 401
    default_description = "Client authentication failed."


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    status = 400
    default_description = "The grant is invalid, expired, revoked or was issued to another client."


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    status = 400
    default_description = "The client is not authorized to use this grant or response type."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    status = 400
    default_description = "The grant type is not supported."


class InvalidScope(OAuthError):
    error = "invalid_scope"
    status = 400
    default_description = "The requested scope is invalid, unknown or exceeds what was granted."


class AccessDenied(OAuthError):
    error = "access_denied"
    status = 403
    default_description = "The resource owner or the server denied the request."


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"
    status = 400
    default_description = "Only response_type=code is supported."


class ServerError(OAuthError):
    error = "server_error"
    status = 500


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503
    default_description = "The server is temporarily unable to handle the request."


class InteractionRequired(OAuthError):
    error = "interaction_required"
    status = 400
    default_description = "User interaction is required but prompt=none was requested."


class LoginRequired(OAuthError):
    error = "login_required"
    status = 400
    default_description = "The user must authenticate but prompt=none was requested."


class AccountSelectionRequired(OAuthError):
    error = "account_selection_required"
    status = 400
    default_description = "The user must select an account but prompt=none was requested."


class ConsentRequired(OAuthError):
    error = "consent_required"
    status = 400
    default_description = "The user must consent but prompt=none was requested."


class InvalidRequestUri(OAuthError):
    error = "invalid_request_uri"
    status = 400
    default_description = "The request_uri is invalid."


class InvalidRequestObject(OAuthError):
    error = "invalid_request_object"
    status = 400
    default_description = "The request object is invalid."


class RequestNotSupported(OAuthError):
    error = "request_not_supported"
    status = 400
    default_description = "The request parameter is not supported."


class RequestUriNotSupported(OAuthError):
    error = "request_uri_not_supported"
    status = 400
    default_description = "The request_uri parameter is not supported."


class RegistrationNotSupported(OAuthError):
    error = "registration_not_supported"
    status = 400
    default_description = "The registration parameter is not supported."


class InvalidRedirectUri(OAuthError):
    """RFC 7591 §3.2.2: a registered redirect URI is not acceptable."""

    error = "invalid_redirect_uri"
    status = 400
    default_description = "A redirect URI is not acceptable."


class InvalidClientMetadata(OAuthError):
    """RFC 7591 §3.2.2: a metadata field is invalid or its value is not supported."""

    error = "invalid_client_metadata"
    status = 400
    default_description = "The client metadata is invalid."


class UnmetAuthenticationRequirements(OAuthError):
    error = "unmet_authentication_requirements"
    status = 400
    default_description = "The account cannot meet the requested authentication level."


class InvalidToken(OAuthError):
    error = "invalid_token"
    status = 401
    default_description = "The access token is invalid, expired or revoked."


class InsufficientScope(OAuthError):
    error = "insufficient_scope"
    status = 403
    default_description = "The access token does not carry the scope this request needs."


class UnsupportedTokenType(OAuthError):
    error = "unsupported_token_type"
    status = 400
    default_description = "Revocation of this token type is not supported."


class SlowDown(OAuthError):
    """RFC 8628 §3.5's code, answered here with 429 and ``Retry-After`` by the token endpoint to a
    source or client locked out after too many failures, or over its quota."""

    error = "slow_down"
    status = 429
    default_description = "Too many requests or failed attempts; retry after Retry-After seconds."

    def __init__(self, description: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(description)
        self.retry_after = retry_after


def _all_error_classes() -> dict[str, type[OAuthError]]:
    classes: list[type[OAuthError]] = [OAuthError, *OAuthError.__subclasses__()]
    return {cls.error: cls for cls in classes}


#: error code -> class, for renderers and documentation.
ERROR_CLASSES: Mapping[str, type[OAuthError]] = _all_error_classes()

_BEARER_ERRORS = (InvalidRequest, InvalidToken, InsufficientScope)
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class ErrorResponse:
    """What an endpoint sends back: status, JSON body and headers."""

    status: int
    body: Mapping[str, str]
    headers: Mapping[str, str] = field(default_factory=dict)


def _quoted(value: str) -> str:
    if not _DESCRIPTION_CHARS.fullmatch(value):
        raise ValueError("auth-param values must be printable ASCII without quote or backslash")
    return f'"{value}"'


def basic_challenge(*, realm: str) -> str:
    """``WWW-Authenticate`` value for a failed ``client_secret_basic`` (RFC 6749 §5.2, RFC 7617)."""
    return f"Basic realm={_quoted(realm)}"


def token_error_response(error: OAuthError, *, basic_realm: str | None = None) -> ErrorResponse:
    """RFC 6749 §5.2 token-endpoint error.

    Pass ``basic_realm`` when the client tried the ``Authorization`` header: an ``invalid_client``
    answer then MUST be a 401 with a ``Basic`` challenge. Other ``invalid_client`` answers use 401
    too (the RFC allows it) so clients see one status for every authentication failure.
    """
    headers = dict(_NO_STORE)
    if isinstance(error, InvalidClient) and basic_realm is not None:
        headers["WWW-Authenticate"] = basic_challenge(realm=basic_realm)
    if isinstance(error, SlowDown):
        headers["Retry-After"] = str(error.retry_after)
    return ErrorResponse(status=error.status, body=error.as_dict(), headers=headers)


def bearer_challenge(
    error: OAuthError | None = None, *, realm: str, scope: Sequence[str] = ()
) -> str:
    """``WWW-Authenticate: Bearer ...`` value (RFC 6750 §3).

    With no ``error`` (the request carried no token) only the realm is sent, as §3.1 asks.
    """
    params = [f"realm={_quoted(realm)}"]
    if error is not None:
        params.append(f"error={_quoted(error.error)}")
        if error.description:
            params.append(f"error_description={_quoted(error.description)}")
    if scope:
        params.append(f"scope={_quoted(' '.join(scope))}")
    return "Bearer " + ", ".join(params)


def bearer_error_response(
    error: OAuthError | None, *, realm: str, scope: Sequence[str] = ()
) -> ErrorResponse:
    """A protected-resource error: 400/401/403 and a ``WWW-Authenticate`` challenge (RFC 6750 §3.1).

    ``error=None`` means the request had no credentials at all: 401 with a bare challenge.
    """
    if error is not None and not isinstance(error, _BEARER_ERRORS):
        raise ValueError(f"{error.error} is not a bearer-token error (RFC 6750 §3.1)")
    headers = {"WWW-Authenticate": bearer_challenge(error, realm=realm, scope=scope)}
    if error is None:
        return ErrorResponse(status=401, body={}, headers=headers)
    return ErrorResponse(status=error.status, body=error.as_dict(), headers=headers)
