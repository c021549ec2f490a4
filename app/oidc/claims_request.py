"""The ``claims`` request parameter (OIDC Core §5.5): single claims for userinfo and the ID token.

``claims={"userinfo": {"name": {"essential": true}}, "id_token": {"email": null,
"acr": {"essential": true, "values": ["LoA2"]}}}``

Decisions (each allowed by §5.5):

* The value must be a JSON object; its members ``userinfo`` and ``id_token`` (others are ignored,
  §5.5: "any members used that are not understood MUST be ignored") must be objects whose values
  are ``null`` or objects; ``essential`` a boolean, ``values`` an array. Anything else is
  ``invalid_request``.
* A claim is honoured only when it belongs to a scope the client may hold
  (:data:`app.oidc.claims.SCOPE_CLAIMS`); others are ignored (§5.5.1: the OP need not release a
  claim, even an essential one). Its scope is then part of what the citizen consents to
  (:attr:`ClaimsRequest.scopes`), but only the named claim is released, not the scope's others.
* ``userinfo`` claims are returned by the UserInfo endpoint; ``id_token`` claims are added to the
  ID token (the only way personal data reaches an ID token here).
* ``acr`` in ``id_token`` with ``values`` (§5.5.1.1) is read like ``acr_values``: the values join
  those of ``acr_values`` (values other than LoA1/LoA2 are ignored, as there); an account that
  cannot meet any of them gets ``unmet_authentication_requirements``, as with ``acr_values``.
  ``auth_time`` is always in the ID token. ``value`` / ``values`` of other claims are
  informational and ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.oidc.claims import SCOPE_CLAIMS
from app.oidc.errors import InvalidRequest

USERINFO = "userinfo"
ID_TOKEN = "id_token"
MAX_CLAIMS_LENGTH = 4096
_TOKEN_CLAIMS = frozenset({"acr", "auth_time", "sub", "iss", "aud", "exp", "iat", "nonce", "amr",
                           "azp", "sid", "at_hash"})


@dataclass(frozen=True)
class ClaimsRequest:
    """The honoured part of a ``claims`` parameter: claim names per target, and the ``acr``
    values asked for in the ID token (with whether they are essential)."""

    userinfo: tuple[str, ...] = ()
    id_token: tuple[str, ...] = ()
    acr_values: tuple[str, ...] = ()

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes the requested claims belong to (what consent must cover)."""
        return tuple(dict.fromkeys(scope_of(name) for name in (*self.userinfo, *self.id_token)))

    def to_json(self) -> dict[str, Any]:
        return {USERINFO: list(self.userinfo), ID_TOKEN: list(self.id_token)}


def scope_of(claim: str) -> str:
    """The scope that releases ``claim`` (the claims of :func:`parse_claims` all have one)."""
    return next(scope for scope, names in SCOPE_CLAIMS.items() if claim in names)


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"The claims parameter's {what} must be a JSON object.")
    return value


def _member(name: str, body: Any) -> Mapping[str, Any]:
    if body is None:
        return {}
    spec = _object(body, "claim requests")
    if not isinstance(spec.get("essential", False), bool):
        raise InvalidRequest("essential in the claims parameter must be true or false.")
    if not isinstance(spec.get("values", []), list):
        raise InvalidRequest("values in the claims parameter must be an array.")
    return spec


def _honoured(requests: Mapping[str, Any], allowed_scopes: Iterable[str]) -> tuple[str, ...]:
    allowed = {name for scope in allowed_scopes for name in SCOPE_CLAIMS.get(scope, ())}
    return tuple(name for name in requests if name in allowed and name not in _TOKEN_CLAIMS)


def parse_claims(value: str | None, *, allowed_scopes: Iterable[str]) -> ClaimsRequest | None:
    """The ``claims`` parameter's value, checked; ``None`` when absent. ``allowed_scopes``: the
    scopes the client may hold (a claim outside them is ignored)."""
    if value is None:
        return None
    if len(value) > MAX_CLAIMS_LENGTH:
        raise InvalidRequest("The claims parameter is too long.")
    try:
        document = _object(json.loads(value), "value")
    except ValueError:
        raise InvalidRequest("The claims parameter must be JSON.") from None
    targets = {target: dict(_object(document.get(target, {}), target))
               for target in (USERINFO, ID_TOKEN)}
    specs = {target: {name: _member(name, body) for name, body in members.items()}
             for target, members in targets.items()}
    allowed = tuple(allowed_scopes)
    acr = specs[ID_TOKEN].get("acr", {})
    acr_values = tuple(str(v) for v in [*acr.get("values", []), acr.get("value")] if v is not None)
    return ClaimsRequest(userinfo=_honoured(specs[USERINFO], allowed),
                         id_token=_honoured(specs[ID_TOKEN], allowed),
                         acr_values=acr_values)


def from_json(data: Mapping[str, Any] | None) -> ClaimsRequest | None:
    """What :meth:`ClaimsRequest.to_json` stored (with a code, a token)."""
    if not data:
        return None
    return ClaimsRequest(userinfo=tuple(data.get(USERINFO, ())),
                         id_token=tuple(data.get(ID_TOKEN, ())))
