"""Pushed authorization requests (RFC 9126): the pushed-request endpoint stores a checked
authorization request for 60 s under a ``request_uri``; the authorization endpoint reads it back
(:func:`pushed_record`). Rules: :mod:`app.oidc.request_objects`, :mod:`app.oidc.authorize`.

A DPoP proof sent with the pushed request (RFC 9449 §10.1) binds the code to its key: it is
checked, spent like any proof, and stored as the request's ``dpop_jkt``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.orm import Session

from app.models.oidc import PushedRequest
from app.oidc import dpop
from app.oidc import errors as oauth
from app.oidc.authorize import (
    AuthorizationErrorRedirect,
    AuthorizationRejected,
    resolve_request,
    validate_authorization_request,
)
from app.oidc.codes import opaque_hash
from app.oidc.discovery import Endpoints, endpoint_url
from app.oidc.request_objects import PAR_LIFETIME, is_pushed_request_uri, new_request_uri
from app.prepared import Prepared
from app.services.kit.keys import aware
from app.services.sharing.client_auth import remember_proof
from app.services.vneid.provider import login_client
from app.settings import Settings

#: Client authentication travels with the pushed parameters; it is not part of the request.
_AUTHENTICATION = frozenset({"client_secret", "client_assertion", "client_assertion_type"})
_RECORD = Prepared(select(PushedRequest.__table__).where(
    PushedRequest.uri_hash == bindparam("uri_hash")))
_INSERT = Prepared(insert(PushedRequest.__table__))


def pushed_record(session: Session, pairs: Sequence[tuple[str, str]]) -> dict[str, Any] | None:
    """The stored pushed request a ``request_uri`` of ``pairs`` names (``None`` when there is
    none, or the URI is not ours)."""
    uris = [value for name, value in pairs if name == "request_uri" and value]
    if len(uris) != 1 or not is_pushed_request_uri(uris[0]):
        return None
    row = _RECORD.first(session.connection(), {"uri_hash": opaque_hash(uris[0])})
    if row is None:
        return None
    return {"client_id": row.client_id, "pairs": row.pairs,
            "expires_at": aware(row.expires_at) or row.expires_at}


def _dpop_binding(session: Session, params: dict[str, str], proof: str | None, *,
                  client_id: str, settings: Settings, now: datetime) -> dict[str, str]:
    """The parameters with ``dpop_jkt`` set to the proof's key (RFC 9449 §10.1)."""
    if proof is None:
        return params
    found = login_client(session, client_id, now=now)
    checked = dpop.verify_proof(proof, method="POST", now=now, url=endpoint_url(
        settings.issuer_url, Endpoints.pushed_authorization_request),
        algorithms=dpop.algorithms_for(found[1].security_profile if found else None))
    bound = dpop.check_pushed_binding(params.get("dpop_jkt"), checked)
    remember_proof(session, checked, now)
    return {**params, "dpop_jkt": bound} if bound else params


_SPEND = Prepared(delete(PushedRequest).where(PushedRequest.uri_hash == bindparam("uri_hash")))


def pushed_uri_hash(pairs: Sequence[tuple[str, str]], record: dict[str, Any] | None) -> str | None:
    """The hash naming the pushed request the parameters came from (``record`` found), if any."""
    if record is None:
        return None
    return next(opaque_hash(value) for name, value in pairs if name == "request_uri")


def spend(session: Session, uri_hash: str) -> None:
    """PAR §7.3: a ``request_uri`` is one-time use -- gone once a code was issued from it (it
    may be reloaded until then, e.g. while the user logs in)."""
    _SPEND.run(session.connection(), {"uri_hash": uri_hash})


def push(session: Session, params: dict[str, str], *, client_id: str, settings: Settings,
         now: datetime, dpop_proof: str | None = None) -> dict[str, Any]:
    """RFC 9126 §2: check the request as the authorization endpoint would, store it, and answer
    with its ``request_uri``. Errors are the authorization endpoint's, as JSON (§2.3)."""
    if "request_uri" in params:
        raise oauth.InvalidRequest("request_uri is not allowed in a pushed request.")
    params = _dpop_binding(session, params, dpop_proof, client_id=client_id, settings=settings,
                           now=now)
    pairs = [(name, value) for name, value in params.items() if name not in _AUTHENTICATION]
    if params.get("client_id", client_id) != client_id:
        raise oauth.InvalidRequest("The client_id does not match the client credentials.")
    pairs = [(name, value) for name, value in pairs if name != "client_id"]
    pairs.insert(0, ("client_id", client_id))
    found = login_client(session, client_id, now=now)
    view = found[1] if found else None
    try:
        pairs = resolve_request(pairs, client=view, issuer=settings.issuer_url, now=now,
                                pushing=True)
        validate_authorization_request(pairs, client=view, issuer=settings.issuer_url, now=now)
    except (AuthorizationRejected, AuthorizationErrorRedirect) as refused:
        raise refused.error from None
    request_uri = new_request_uri()
    session.execute(delete(PushedRequest).where(PushedRequest.expires_at < now))
    _INSERT.run(session.connection(), {"uri_hash": opaque_hash(request_uri),
                                       "client_id": client_id, "pairs": [list(p) for p in pairs],
                                       "expires_at": now + PAR_LIFETIME})
    return {"request_uri": request_uri, "expires_in": int(PAR_LIFETIME.total_seconds())}
