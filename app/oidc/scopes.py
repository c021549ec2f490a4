"""Scope syntax and narrowing (RFC 6749 §3.3).

``scope = scope-token *( SP scope-token )``, ``scope-token = 1*( %x21 / %x23-5B / %x5D-7E )``; the
order does not matter and duplicates carry no meaning, so values are kept in first-seen order
without repeats (conformance ``oidcc-alternate-happy-flow``).

>>> parse_scope("profile openid  profile")
('profile', 'openid')
>>> narrow(("openid", "profile", "email"), allowed={"openid", "email"})
('openid', 'email')
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from app.oidc.errors import InvalidScope

_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def parse_scope(value: str | None) -> tuple[str, ...]:
    """Split a scope parameter; raises ``invalid_scope`` on characters outside the ABNF."""
    tokens = (value or "").split(" ")
    if any(token and not _SCOPE_TOKEN.fullmatch(token) for token in tokens):
        raise InvalidScope("The scope parameter contains invalid characters.")
    return tuple(dict.fromkeys(token for token in tokens if token))


def format_scope(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


def narrow(requested: Iterable[str], *, allowed: Collection[str]) -> tuple[str, ...]:
    """The requested scopes the client may have, in request order (RFC 6749 §3.3: the server may
    grant less than asked and then says so in the token response)."""
    return tuple(scope for scope in requested if scope in allowed)


def require_subset(requested: Iterable[str], *, granted: Collection[str]) -> tuple[str, ...]:
    """RFC 6749 §6: a refresh request may not ask for more than the original grant."""
    wanted = tuple(requested)
    if not set(wanted) <= set(granted):
        raise InvalidScope("The requested scope exceeds the original grant.")
    return wanted
