"""The UserInfo endpoint (OIDC Core §5.3): claims by scope for a valid, unrevoked access token.

The token must be one of ours for the userinfo audience (RFC 9068: ``typ`` ``at+jwt``, signature,
``iss``, ``aud``, ``exp``), issued to a relying party for a citizen (never a client-credentials
token), carry ``openid``, still be recorded unrevoked, and its account must still be able to log
in. Any failure is ``invalid_token`` (or ``insufficient_scope``) with the RFC 6750 challenge.

Claims come from the population record and the account (``app.oidc.claims``): the registered phone
of the account (verified: it received the login codes), the population record's e-mail, and the
current residence (current, else temporary, else permanent) as the OIDC ``address``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from app.db import Database, driver_transaction
from app.matching import CLAN_LAST_ETHNICITIES
from app.models.account import Account
from app.models.client import Client
from app.models.oidc import IssuedAccessToken
from app.models.population import Citizen, Residence
from app.oidc import claims_request
from app.oidc import dpop as dpop_rules
from app.oidc import errors as oauth
from app.oidc.claims import (
    OPENID,
    ClaimSource,
    PostalAddress,
    document_kinds,
    userinfo_claims,
)
from app.oidc.jwt_policy import TokenRejected, header_of
from app.oidc.tokens import AccessTokenClaims, issue_userinfo_response, verify_access_token
from app.prepared import Prepared
from app.services.kit.keys import KeyStore
from app.services.population.reference import Reference, cached_reference, reference
from app.services.sharing.tokens import api_audience
from app.services.vneid import accounts
from app.services.vneid.credentials import LATEST_CARD_COLUMNS, card_ground_in
from app.services.vneid.provider import userinfo_audience
from app.settings import Settings

RESIDENCE_PREFERENCE = ("current", "temporary", "permanent")


@contextmanager
def read_connection(database: Database) -> Iterator[Connection]:
    """A reading connection (the read engine: a plain ``BEGIN`` on SQLite), rolled back after.
    SQLite reads run on the event loop, on its thread's kept reader (no pool checkout)."""
    if not database.is_sqlite:
        with database.reader.kw["bind"].connect() as conn:
            yield conn
        return
    conn = database.reading_connection()
    with driver_transaction(conn, "BEGIN", commit=False):  # no SQLAlchemy transaction objects
        yield conn


def verify(token: str, *, keys: KeyStore, settings: Settings, now: datetime) -> AccessTokenClaims:
    """A relying party's access token for userinfo, else ``invalid_token``."""
    header = header_of(token)  # read once: for the key ring and for the verification
    try:
        claims = verify_access_token(token, keys=keys.ring_for_header(header),
                                     issuer=settings.issuer_url,
                                     audience=userinfo_audience(settings), now=now, header=header)
    except TokenRejected:
        if _is_client_credentials(token, keys=keys, settings=settings, now=now):
            raise oauth.InvalidToken(NOT_A_USERS_TOKEN) from None
        raise oauth.InvalidToken() from None
    if claims.content.is_client_credentials:
        raise oauth.InvalidToken(NOT_A_USERS_TOKEN)
    return claims


NOT_A_USERS_TOKEN = ("This is a client-credentials token, not a user's token: userinfo answers "
                     "for the token a relying party received when a citizen signed in.")


def _is_client_credentials(token: str, *, keys: KeyStore, settings: Settings,
                           now: datetime) -> bool:
    """A valid data-API token (issued to the client itself, for ``/v1``)."""
    try:
        claims = verify_access_token(token, keys=keys.ring_for(token), issuer=settings.issuer_url,
                                     audience=api_audience(settings), now=now)
    except TokenRejected:
        return False
    return claims.content.is_client_credentials


_GRANT = Prepared(
    select(IssuedAccessToken.revoked_at, IssuedAccessToken.claims, Account.state, Account.phone,
           Client.userinfo_signed_response_alg, Client.require_dpop_nonce,
           Client.security_profile, Citizen.pin,
           Citizen.surname, Citizen.middle_name, Citizen.given_name, Citizen.birth_date,
           Citizen.birth_date_precision, Citizen.sex, Citizen.email, Citizen.status,
           Citizen.status_date, Citizen.ethnicity_code, *LATEST_CARD_COLUMNS)
    .join(Account, Account.id == IssuedAccessToken.account_id)
    .join(Citizen, Citizen.pin == Account.pin)
    .join(Client, Client.client_id == IssuedAccessToken.client_id)
    .where(IssuedAccessToken.jti == bindparam("jti")))  # one round trip for the three
_RESIDENCES = Prepared(
    select(Residence.kind, Residence.commune_code, Residence.address_line)
    .where(Residence.pin == bindparam("pin"), Residence.deregistered_on.is_(None))
    .order_by(Residence.registered_on))


_ACCOUNT_CITIZEN = Prepared(
    select(Account.phone, Citizen.pin, Citizen.surname, Citizen.middle_name, Citizen.given_name,
           Citizen.birth_date, Citizen.birth_date_precision, Citizen.sex, Citizen.email,
           Citizen.ethnicity_code)
    .join(Citizen, Citizen.pin == Account.pin)
    .where(Account.pin == bindparam("pin")))


def account_claim_source(conn: Connection, pin: str) -> ClaimSource | None:
    """The claims of the citizen with an account, for an ID token that asks for some."""
    found = _ACCOUNT_CITIZEN.first(conn, {"pin": pin})
    return None if found is None else claim_source(conn, found)


def _load_reference(conn: Connection) -> Reference:
    with Session(conn.engine) as session:  # once per process: the names are then cached
        return reference(session)


def _address(conn: Connection, pin: str) -> PostalAddress | None:
    rows = _RESIDENCES.all(conn, {"pin": pin})
    residences = {r.kind: r for r in rows}  # the latest registration of each kind wins
    row = next((residences[k] for k in RESIDENCE_PREFERENCE if k in residences), None)
    if row is None:
        return None
    ref = cached_reference(conn.engine.url) or _load_reference(conn)
    commune = ref.commune(row.commune_code)
    province = ref.province(commune.province_code) if commune else None
    parts = [row.address_line, commune.name if commune else None,
             province.name if province else None]
    return PostalAddress(formatted=", ".join(p for p in parts if p),
                         street_address=row.address_line,
                         locality=commune.name if commune else None,
                         region=province.name if province else None)


def _documents(conn: Connection, row: Any, kinds: tuple[str, ...],
               now: datetime | None) -> dict[str, list[dict[str, Any]]] | None:
    """The documents the document scopes' claims need, JSON-ready (only when asked for)."""
    if not kinds or now is None:
        return None
    from app.services.documents import integrated as documents

    ref = cached_reference(conn.engine.url) or _load_reference(conn)
    with Session(bind=conn) as session:
        found = documents.documents_of(session, ref, row, now=now, kinds=kinds)
    return json.loads(to_json(found))


def claim_source(conn: Connection, row: Any, *, kinds: tuple[str, ...] = (),
                 now: datetime | None = None) -> ClaimSource:
    """From a row with the citizen's columns and the account's ``phone`` (and, for document
    ``kinds``, the citizen's documents on ``now``)."""
    return ClaimSource(documents=_documents(conn, row, kinds, now),
        pin=row.pin, surname=row.surname, middle_name=row.middle_name,
        given_name=row.given_name, birth_date=row.birth_date,
        birth_date_precision=row.birth_date_precision, sex=row.sex,
        email=row.email, email_verified=False, phone=row.phone, phone_verified=True,
        address=_address(conn, row.pin), clan_last=row.ethnicity_code in CLAN_LAST_ETHNICITIES)


@dataclass(frozen=True)
class SignedUserinfo:
    """The claims as a JWT (``application/jwt``), for a client that registered
    ``userinfo_signed_response_alg``."""

    jwt: str


@dataclass(frozen=True)
class DpopPresentation:
    """How the token came: under the ``DPoP`` scheme or not, and the request's DPoP proof."""

    scheme_is_dpop: bool = False
    proof: str | None = None
    method: str = "GET"


def check_sender(claims: AccessTokenClaims, token: str, presented: DpopPresentation, *,
                 url: str, now: datetime, nonce_key: bytes | None = None,
                 algorithms: tuple[str, ...] = dpop_rules.DPOP_ALGORITHMS,
                 ) -> dpop_rules.DpopProof | None:
    """RFC 9449 §7: a DPoP-bound token only with the ``DPoP`` scheme and a proof by its key for
    this request (``url``; ``ath`` included; the server nonce under ``nonce_key`` when required);
    an unbound token never under the ``DPoP`` scheme. Returns the proof, for its replay record;
    raises ``invalid_token``, ``invalid_dpop_proof`` or ``use_dpop_nonce``."""
    bound = claims.content.jkt
    if bound is None:
        if presented.scheme_is_dpop:
            raise oauth.InvalidToken("This access token is not DPoP-bound: send it as Bearer.")
        return None
    if not presented.scheme_is_dpop:
        raise dpop_rules.BoundTokenAsBearer()
    if presented.proof is None:
        raise dpop_rules.InvalidDpopProof("A DPoP-bound access token needs a DPoP proof.")
    proof = dpop_rules.verify_proof(presented.proof, method=presented.method, url=url, now=now,
                                    access_token=token, nonce_key=nonce_key,
                                    algorithms=algorithms)
    if proof.jkt != bound:
        raise dpop_rules.InvalidDpopProof("The DPoP proof is not signed by the token's key.")
    return proof


@dataclass(frozen=True)
class Claims:
    """Userinfo's answer: the claims (or their signed form), and the DPoP proof that came with a
    bound token, for its replay record (a write the caller makes)."""

    body: dict[str, Any] | SignedUserinfo
    proof: dpop_rules.DpopProof | None = None


def userinfo(conn: Connection, token: str, *, keys: KeyStore, settings: Settings,
             now: datetime,
             dpop: DpopPresentation = DpopPresentation(),
             nonce_key: Callable[[bool], bytes | None] = lambda _: None) -> Claims:
    """The claims for ``token``, read on a plain connection (no ORM session: a hot path); signed
    with the client's ``userinfo_signed_response_alg`` when it registered one. ``nonce_key``:
    given whether the client requires DPoP nonces, the nonce key if nonces are required."""
    claims = verify(token, keys=keys, settings=settings, now=now)
    if claims.content.jkt is None:  # a Bearer token: the DPoP rules cost one check
        check_sender(claims, token, dpop, url="", now=now)
    if OPENID not in claims.content.scope:
        raise oauth.InsufficientScope()
    found = _GRANT.first(conn, {"jti": claims.jti})
    if found is None or found.revoked_at is not None or found.state != accounts.ACTIVE \
            or card_ground_in(found, now) is not None:  # expired by the clock too
        raise oauth.InvalidToken()
    proof = None if claims.content.jkt is None else check_sender(
        claims, token, dpop, url=userinfo_audience(settings), now=now,
        nonce_key=nonce_key(found.require_dpop_nonce),
        algorithms=dpop_rules.algorithms_for(found.security_profile))
    asked = claims_request.from_json(found.claims)
    source = claim_source(conn, found, kinds=document_kinds(claims.content.scope), now=now)
    released = userinfo_claims(source, scopes=claims.content.scope,
                               subject=claims.content.subject,
                               claims=asked.userinfo if asked is not None else ())
    if found.userinfo_signed_response_alg is None:
        return Claims(released, proof)
    key = keys.ring().signing_key(found.userinfo_signed_response_alg, now=now)
    return Claims(SignedUserinfo(issue_userinfo_response(
        released, client_id=claims.content.client_id, key=key, issuer=settings.issuer_url,
        now=now)), proof)
