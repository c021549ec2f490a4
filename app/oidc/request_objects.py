"""Request objects (RFC 9101 JAR, OIDC Core §6.1) and pushed authorization requests (RFC 9126).

A **request object** is a JWT the client signs with a key of its registered JWK Set (RS256, PS256
or ES256; never ``none``, never a MAC): ``iss`` = the client, ``aud`` = the issuer, ``exp``
required and at most :data:`MAX_REQUEST_OBJECT_LIFETIME` ahead, ``typ`` absent, ``JWT`` or
``oauth-authz-req+jwt``. Its claims are the request: the parameters outside it are ignored except
``client_id``, which must equal the object's (RFC 9101 §5, §6.3). A failure is
``invalid_request_object``.

A **pushed request** (PAR) is stored by the provider and named by a ``request_uri``
``urn:ietf:params:oauth:request_uri:<256 random bits>`` valid :data:`PAR_LIFETIME`; at the
authorization endpoint it stands for the parameters that were pushed (``client_id`` must match).
It may be used again until it expires (RFC 9126 §4 allows it; a login may need the browser to come
back). Any other ``request_uri`` is ``request_uri_not_supported`` (no fetching of request objects).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from app.oidc._util import epoch_seconds
from app.oidc.client_auth import CLIENT_ASSERTION_ALGORITHMS
from app.oidc.clients import ClientView
from app.oidc.errors import InvalidRequestObject
from app.oidc.jwt_policy import TokenRejected, verify_jwt
from app.oidc.keys import import_public_jwks

REQUEST_OBJECT_TYPS = (None, "JWT", "oauth-authz-req+jwt")
REQUEST_OBJECT_ALGORITHMS = CLIENT_ASSERTION_ALGORITHMS
MAX_REQUEST_OBJECT_LIFETIME = timedelta(minutes=60)
PAR_URN = "urn:ietf:params:oauth:request_uri:"
PAR_LIFETIME = timedelta(seconds=60)
_NOT_PARAMETERS = frozenset({"iss", "aud", "exp", "iat", "nbf", "jti", "request", "request_uri"})


def new_request_uri() -> str:
    return PAR_URN + secrets.token_urlsafe(32)


def is_pushed_request_uri(value: str) -> bool:
    return value.startswith(PAR_URN) and len(value) > len(PAR_URN)


def _as_parameter(value: Any) -> str:
    """A claim as the parameter's string form (``claims`` is an object, ``max_age`` a number)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def request_object_parameters(
    token: str, *, client: ClientView, issuer: str, now: datetime
) -> list[tuple[str, str]]:
    """The parameters a signed request object carries, checked as the module docstring says."""
    try:
        verified = verify_jwt(token, keys=import_public_jwks(client.jwks or {}),
                              algorithms=REQUEST_OBJECT_ALGORITHMS, typ=REQUEST_OBJECT_TYPS,
                              issuer=client.client_id, audience=issuer,
                              required=("iss", "aud", "exp"), now=now, require_kid=False)
    except (TokenRejected, ValueError):
        raise InvalidRequestObject(
            "The request object is not signed by a registered key of the client, or its "
            "iss, aud or exp is wrong.") from None
    claims = verified.claims
    if claims["exp"] > epoch_seconds(now + MAX_REQUEST_OBJECT_LIFETIME):
        raise InvalidRequestObject("The request object lives too long.")
    if claims.get("client_id", client.client_id) != client.client_id:
        raise InvalidRequestObject("The request object names another client.")
    pairs = [(name, _as_parameter(value)) for name, value in claims.items()
             if name not in _NOT_PARAMETERS and value is not None]
    return [("client_id", client.client_id),
            *((name, value) for name, value in pairs if name != "client_id")]


def outer_client_id(pairs: Sequence[tuple[str, str]]) -> str | None:
    values = [value for name, value in pairs if name == "client_id" and value]
    return values[0] if len(values) == 1 else None


def pushed_parameters(stored: Mapping[str, Any] | None, *, client_id: str | None,
                      now: datetime) -> list[tuple[str, str]] | None:
    """The pushed request's parameters if ``stored`` (the record of the ``request_uri``: its
    ``client_id``, ``pairs`` and ``expires_at``) is usable by ``client_id`` at ``now``."""
    if stored is None or stored["client_id"] != client_id or now >= stored["expires_at"]:
        return None
    return [(str(name), str(value)) for name, value in stored["pairs"]]
