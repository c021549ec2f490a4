"""Token introspection responses (RFC 7662 §2.2) and the ``token_type_hint`` (§2.1, RFC 7009 §2.1).

Anything that is not a live token the caller may see is ``{"active": false}`` -- unknown, malformed,
expired, revoked, from another issuer, or belonging to another client -- with nothing saying which
(§2.2: "SHOULD NOT include any additional information about an inactive token"; §4: the answer must
not help token scanning).

Who may see a token (§4): the client it was issued to, or a resource server named in its ``aud``.
Refresh tokens are shown only to their own client. ``username`` is never returned (it would be the
citizen's PIN); ``sub`` is the pairwise subject an access token already carries, and is left out for
refresh tokens, whose record holds the internal account identifier.

Use: verify with :func:`app.oidc.tokens.inspect_access_token` (``TokenRejected`` -> pass ``None``),
look the ``jti`` up in the revocation list, then call :func:`access_token_introspection`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.oidc._util import epoch_seconds
from app.oidc.codes import RefreshTokenRecord
from app.oidc.scopes import format_scope
from app.oidc.tokens import AccessTokenClaims

INACTIVE: dict[str, Any] = {"active": False}
TOKEN_TYPE_HINTS = ("access_token", "refresh_token")


def parse_token_type_hint(value: str | None) -> str | None:
    """A supported hint, or ``None``: unknown hints are ignored and every type is searched."""
    return value if value in TOKEN_TYPE_HINTS else None


def access_token_introspection(
    claims: AccessTokenClaims | None, *, revoked: bool, requester: str, issuer: str
) -> dict[str, Any]:
    """The response for a JWT access token already checked by ``inspect_access_token``."""
    if claims is None or revoked:
        return dict(INACTIVE)
    content = claims.content
    if requester != content.client_id and requester not in content.audience:
        return dict(INACTIVE)
    response: dict[str, Any] = {
        "active": True,
        "scope": format_scope(content.scope),
        "client_id": content.client_id,
        "token_type": "DPoP" if content.jkt else "Bearer",
        "exp": epoch_seconds(claims.expires_at),
        "iat": epoch_seconds(claims.issued_at),
        "sub": content.subject,
        "aud": list(content.audience) if len(content.audience) > 1 else content.audience[0],
        "iss": issuer,
        "jti": claims.jti,
    }
    if content.jkt:  # RFC 9449 §6.2: the key the token is bound to
        response["cnf"] = {"jkt": content.jkt}
    if content.acr:
        response["acr"] = content.acr
    if content.auth_time:
        response["auth_time"] = epoch_seconds(content.auth_time)
    return response


def refresh_token_introspection(
    record: RefreshTokenRecord | None, *, requester: str, issuer: str, now: datetime
) -> dict[str, Any]:
    """The response for a refresh token looked up by its hash."""
    if record is None or record.revoked_at is not None or record.rotated_at is not None:
        return dict(INACTIVE)
    if now >= record.expires_at or now >= record.family_expires_at or requester != record.client_id:
        return dict(INACTIVE)
    return {
        "active": True,
        "scope": format_scope(record.scope),
        "client_id": record.client_id,
        "exp": epoch_seconds(record.expires_at),
        "iat": epoch_seconds(record.issued_at),
        "iss": issuer,
    }
