"""Personal-data protection on the citizen's side (Law 91/2025/QH15, Decree 356/2025/NĐ-CP): the
consent a client needs, and the citizen's view of who accessed their data.

Data basis of a client (``client.data_basis``):

* ``statutory_task`` -- a state agency processing under its statutory task (Law 91 Art. 19): no
  consent needed (the default: the population database's own users);
* ``consent`` -- a bank, a telecom, an e-commerce platform: every disclosure about a citizen needs
  that citizen's consent in force for the client and the request's purpose (``X-Purpose``),
  covering the scope the request uses. Without it the request is refused (403
  ``consent-required``) and the refusal is audited, so the citizen sees the attempt too.

The access history is the audit trail (hash-chained, append-only) read by PIN, under every number
the citizen had (a re-established PIN keeps its old records). ``audit_record`` has no index on the
PIN on purpose (it would slow every disclosure, see ``app.models.audit``), so a history read walks
the trail from the newest record: fine for a sandbox, and it never slows the data-sharing API.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Forbidden, Unauthorized, ValidationFailed, named
from app.models.account import Account
from app.models.audit import AuditRecord
from app.models.client import Client
from app.models.consent import Consent
from app.models.oidc import IssuedAccessToken
from app.models.population import PinHistory
from app.oidc import errors as oauth
from app.oidc.claims import VNEID_DATA_SHARING, VNEID_DOCUMENTS, VNEID_HISTORY, VNEID_IDENTITY
from app.pin import mask
from app.services.kit.keys import KeyStore, aware
from app.services.sharing import audit
from app.services.sharing import consent as consents
from app.services.sharing.scopes import DOCUMENT_SCOPES, RECORD_SCOPES
from app.services.storage.runtime import Runtime
from app.services.vneid import accounts, userinfo
from app.services.vneid.credentials import card_ground
from app.services.vneid.provider import LOGIN_PURPOSE
from app.settings import Settings

CONSENT = "consent"
STATUTORY_TASK = "statutory_task"


class ConsentRequired(Forbidden):
    code, title = ("consent-required",
                   "The citizen has not consented to this client receiving this data for this "
                   "purpose")


@dataclass(frozen=True)
class Asker:
    """A consent-based caller and its request (what the audit record of a refusal names)."""

    client_id: str
    purpose: str
    request_id: str
    action: str


def current_pin(session: Session, pin: str) -> str:
    """``pin``, or the PIN that replaced it (consents move with the person)."""
    newer = session.scalar(select(PinHistory.new_pin).where(PinHistory.old_pin == pin))
    return newer or pin


def consented_scopes(session: Session, *, pin: str, client_id: str, purpose: str,
                     now: datetime) -> frozenset[str]:
    found = consents.in_force(session, pin=current_pin(session, pin), client_id=client_id,
                              purpose=purpose, now=now)
    return frozenset(found.scopes) if found is not None else frozenset()


def _covered(runtime: Runtime, asker: Asker, pins: Sequence[str | None], needed: frozenset[str],
             now: datetime) -> list[frozenset[str]]:
    with runtime.database.read() as session:
        return [needed if pin is None else needed & consented_scopes(
            session, pin=pin, client_id=asker.client_id, purpose=asker.purpose, now=now)
            for pin in pins]


async def require_consent(runtime: Runtime, asker: Asker, pins: Sequence[str | None],
                          needed: Iterable[str], *, now: datetime,
                          every: bool = False) -> list[frozenset[str]]:
    """Per PIN, the ``needed`` scopes the citizen's consent covers (``None``: no citizen to ask,
    e.g. an invalid PIN in a batch); 403 ``consent-required`` when one covers none of them
    (``every``: when one does not cover them all, for an answer that cannot be cut, a card)."""
    wanted = frozenset(needed)
    covered = await runtime.run_blocking(lambda: _covered(runtime, asker, pins, wanted, now))
    missing = [i for i, scopes in enumerate(covered)
               if not scopes or (every and scopes != wanted)]
    if missing:
        await refuse(runtime, asker, [pins[i] for i in missing], now=now,
                     missing_items=missing if len(pins) > 1 else None)
    return covered


async def refuse(runtime: Runtime, asker: Asker, pins: Sequence[str | None], *, now: datetime,
                 missing_items: list[int] | None = None) -> NoReturn:
    """Audit the refused attempt (the citizen sees it in their history), then 403."""
    entries = [audit.AuditEntry(client_id=asker.client_id, purpose=asker.purpose,
                                action=asker.action, pin=pin, fields=(),
                                result="consent_required", request_id=asker.request_id)
               for pin in pins]
    await runtime.audit.append(entries, now=now)
    raise ConsentRequired(**({"missing_items": missing_items} if missing_items else {}))


# --- the citizen's history ------------------------------------------------------------------------


def numbers_of(session: Session, pin: str) -> list[str]:
    """The citizen's PIN and every PIN of theirs that was cancelled and re-established."""
    older = session.scalars(select(PinHistory.old_pin).where(PinHistory.new_pin == pin))
    return [pin, *sorted(older)]


@dataclass(frozen=True)
class Access:
    record: AuditRecord
    client_name: str | None


def history(session: Session, pins: Sequence[str], *, before_seq: int | None,
            limit: int, client_id: str | None = None) -> list[Access]:
    """Accesses to these numbers, newest first (keyset: pass the last ``seq`` as ``before_seq``);
    with ``client_id``, only that client's."""
    query = (select(AuditRecord, Client.name)
             .outerjoin(Client, Client.client_id == AuditRecord.client_id)
             .where(AuditRecord.pin.in_(list(pins)))
             .order_by(AuditRecord.seq.desc()).limit(limit))
    if client_id is not None:
        query = query.where(AuditRecord.client_id == client_id)
    if before_seq is not None:
        query = query.where(AuditRecord.seq < before_seq)
    return [Access(record, name) for record, name in session.execute(query)]


# --- consents for data sharing --------------------------------------------------------------------

CONSENTABLE_SCOPES = (*RECORD_SCOPES, "citizen.verify", *DOCUMENT_SCOPES, "sector.telecom",
                      "sector.bank")
SCREEN_CONSENT_DAYS = 365  # a consent given on the VNeID screen lasts a year unless withdrawn


class InvalidConsent(ValidationFailed):
    code, title = "invalid-consent", "The consent is not valid"


def _problems(client: Client | None, purpose: str, scopes: Sequence[str],
              expires_at: datetime | None, now: datetime) -> list[str]:
    if client is None or client.status != "active":
        return ["client_id: no active client has this id"]
    problems = [f"scopes: {named(s, i)} is not a data-sharing scope of this client"
                for i, s in enumerate(scopes)
                if s not in CONSENTABLE_SCOPES or s not in client.scopes]
    if purpose not in client.purposes:
        problems.append("purpose: not one of the client's purposes")
    if expires_at is not None and expires_at <= now:
        problems.append("expires_at: must be in the future")
    return problems


def give(session: Session, *, pin: str, client_id: str, purpose: str, scopes: Sequence[str],
         method: str, now: datetime, expires_at: datetime | None = None) -> Consent:
    """Record the citizen's consent to ``client_id`` receiving ``scopes`` for ``purpose``."""
    problems = _problems(session.get(Client, client_id), purpose, scopes, expires_at, now)
    if problems:
        raise InvalidConsent(problems=problems)
    return consents.grant(session, pin=pin, client_id=client_id, purpose=purpose, scopes=scopes,
                          method=method, now=now, expires_at=expires_at)


def sharing_consents(session: Session, pin: str) -> list[Consent]:
    """The citizen's consents other than sign-in ones, newest first."""
    return [c for c in consents.of_citizen(session, pin) if c.purpose != LOGIN_PURPOSE]


def in_force(row: Consent, now: datetime) -> bool:
    expires = aware(row.expires_at)
    return row.status == consents.GRANTED and (expires is None or expires > now)


def _from_login(session: Session, login: Consent, approved: tuple[str, ...],
                now: datetime) -> None:
    """Approving ``vneid.data_sharing`` on the VNeID consent screen is a data-sharing consent for
    the client's main purpose and its data-sharing scopes (the screen says so)."""
    if VNEID_DATA_SHARING not in approved:
        return
    client = session.get(Client, login.client_id)
    scopes = [s for s in CONSENTABLE_SCOPES if client is not None and s in client.scopes]
    if client is None or not scopes:
        return
    consents.grant(session, pin=login.pin, client_id=client.client_id,
                   purpose=client.purposes[0], scopes=scopes, method=login.method, now=now,
                   expires_at=now + timedelta(days=SCREEN_CONSENT_DAYS))


consents.on_grant(LOGIN_PURPOSE, _from_login)


# --- the citizen behind a request -----------------------------------------------------------------


class CitizenTokenRequired(Unauthorized):
    code, title = ("citizen-token-required",
                   "A citizen's VNeID access token (scope vneid.history) or the app's device token "
                   "is required")


class HistoryScopeRequired(Forbidden):
    code, title = ("history-scope-required",
                   "The access token does not carry the vneid.history scope")


class DocumentsScopeRequired(Forbidden):
    code, title = ("documents-scope-required",
                   "The access token does not carry the vneid.documents scope")


SCOPE_REFUSALS: dict[str, type[Forbidden]] = {VNEID_HISTORY: HistoryScopeRequired,
                                              VNEID_DOCUMENTS: DocumentsScopeRequired}


def _refused() -> CitizenTokenRequired:
    error = CitizenTokenRequired()
    error.headers["WWW-Authenticate"] = 'Bearer realm="vneid", error="invalid_token"'
    return error


class CitizenInteractionRequired(Forbidden):
    code, title = ("citizen-interaction-required",
                   "Only the citizen can give consent: in the VNeID app or on the VNeID consent "
                   "page, not with a relying party's access token")


@dataclass(frozen=True)
class CitizenCaller:
    """The citizen behind a ``/v1/me`` request and how they came: ``scopes`` of a relying
    party's access token, or ``None`` for the VNeID app's device token (first party)."""

    account: Account
    scopes: frozenset[str] | None
    client_id: str | None = None  # the relying party whose access token it is

    @property
    def first_party(self) -> bool:
        return self.scopes is None

    @property
    def party(self) -> str | None:
        """Whose records this caller may see and withdraw: ``None`` (all) for the citizen's own
        app; a relying party only its own -- it must not learn which other parties hold the
        citizen's data, nor withdraw the consents they depend on."""
        return None if self.first_party else self.client_id or ""

    def shown_pin(self, pin: str) -> str:
        """A PIN as this caller may see it: whole for the citizen's own app or a token that
        carries ``vneid.identity`` (the scope that releases the PIN), masked otherwise."""
        return pin if self.scopes is None or VNEID_IDENTITY in self.scopes else mask(pin)


def _by_access_token(session: Session, token: str, *, keys: KeyStore, settings: Settings,
                     now: datetime, scope: str,
                     missing: type[Forbidden]) -> CitizenCaller | None:
    try:
        claims = userinfo.verify(token, keys=keys, settings=settings, now=now)
    except oauth.OAuthError:
        return None
    if scope not in claims.content.scope:
        raise missing(required=[scope])
    issued = session.get(IssuedAccessToken, claims.jti)
    if issued is None or issued.revoked_at is not None or issued.account_id is None:
        return None
    account = session.get(Account, issued.account_id)
    return (CitizenCaller(account, frozenset(claims.content.scope), claims.content.client_id)
            if account else None)


def _by_device(session: Session, token: str) -> CitizenCaller | None:
    account = accounts.account_for_device(session, token)
    return CitizenCaller(account, None) if account is not None else None


def citizen_caller(session: Session, token: str | None, *, keys: KeyStore, settings: Settings,
                   now: datetime, scope: str = VNEID_HISTORY,
                   missing: type[Forbidden] | None = None) -> CitizenCaller:
    """The account behind a VNeID access token with ``scope`` (from a relying party's OpenID
    flow: ``vneid.history``, ``vneid.documents`` for the documents, ``vneid.judicial_record``;
    ``missing`` is raised without it) or the app's bound-device token; it must be active, and
    its card not expired by the sandbox clock (as at login, userinfo and introspection: expiry is
    read, never written). 401 ``citizen-token-required`` otherwise."""
    found = None
    if token:
        found = (_by_access_token(session, token, keys=keys, settings=settings, now=now,
                                  scope=scope,
                                  missing=missing or SCOPE_REFUSALS.get(scope,
                                                                        HistoryScopeRequired))
                 if token.count(".") == 2 else _by_device(session, token))
    if found is None or found.account.state != accounts.ACTIVE \
            or card_ground(session, found.account.pin, now=now) is not None:
        raise _refused()
    return found


def require_first_party(caller: CitizenCaller) -> Account:
    """Giving or widening consent is the citizen's own act: only their VNeID app (device token)
    may do it through the API; a relying party's token (even with ``vneid.history``) is refused
    with 403 ``citizen-interaction-required``, or a party could grant itself consent."""
    if not caller.first_party:
        raise CitizenInteractionRequired()
    return caller.account
