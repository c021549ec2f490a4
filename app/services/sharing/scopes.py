"""Data-sharing scopes: each one is a purpose-bound set of fields or one capability.

The table is documented in ``docs/scopes.md`` (keep both in step). A lookup response carries the
union of the fields of the caller's scopes plus :data:`ALWAYS_FIELDS`, never anything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.oidc import claims
from app.oidc.errors import InvalidScope

# Every lookup answers with the PIN asked about and the record's status (alive, deceased, missing):
# a deceased or missing citizen is reported as such, never hidden.
ALWAYS_FIELDS: tuple[str, ...] = ("pin", "status")


@dataclass(frozen=True, slots=True)
class Scope:
    name: str
    description: str
    fields: tuple[str, ...] = ()
    sandbox_only: bool = False  # only sandbox clients may hold it
    admin_only: bool = False  # never granted by default (not in the demo client)
    needs_legal_basis: bool = False  # the client must have a recorded legal basis


CATALOGUE: tuple[Scope, ...] = (
    Scope(
        "citizen.basic",
        "Identity core: name, date of birth, sex, nationality, date of death.",
        (
            "full_name",
            "surname",
            "middle_name",
            "given_name",
            "birth_date",
            "birth_date_precision",
            "sex",
            "nationality",
            "status_date",
        ),
    ),
    Scope(
        "citizen.identity",
        "Civil-status details: other names, place of birth and of birth "
        "registration, place of origin, old 9-digit CMND number, identifying marks.",
        (
            "other_names",
            "place_of_birth",
            "birth_registration_place",
            "place_of_origin",
            "old_id_number",
            "identifying_marks",
        ),
    ),
    Scope(
        "citizen.residence",
        "Permanent, temporary and current residence, household; "
        "also GET /v1/citizens/{pin}/residence.",
        ("permanent_residence", "temporary_residence", "current_residence", "household"),
    ),
    Scope(
        "citizen.family",
        "Marital status, parents, spouse, children, legal representative.",
        ("marital_status", "father", "mother", "spouse", "children", "legal_representative"),
    ),
    Scope("citizen.contact", "Mobile number and e-mail address.", ("phone", "email")),
    Scope(
        "citizen.sensitive",
        "Ethnicity, religion, blood group (sensitive data: Law 91/2025, "
        "Decree 356/2025); only for a client with a recorded legal basis.",
        ("ethnicity", "religion", "blood_group"),
        needs_legal_basis=True,
    ),
    Scope(
        "citizen.verify",
        "Verification without disclosure: POST /v1/citizens/verify and "
        "/v1/citizens/verify/batch answer match / no-match per claimed attribute.",
    ),
    Scope("citizen.resolve", "Old 9-digit CMND number to PIN: POST /v1/citizens/resolve-cmnd."),
    Scope(
        "citizen.search",
        "Search synthetic test data: GET /v1/citizens (sandbox clients only).",
        sandbox_only=True,
    ),
    Scope(
        "card.read",
        "Chip identity cards: GET /v1/cards/{pin} (printed fields, MRZ, QR payload, status, "
        "history) and the card images.",
    ),
    Scope(
        "card.verify",
        "Verify a chip read (SOD, data groups, active authentication) against the test PKI and "
        "the population database: POST /v1/cards/verify.",
    ),
    Scope(
        "events.read",
        "Life-event feed: GET /v1/events and webhook subscriptions /v1/subscriptions; payloads "
        "carry only the fields of the client's record scopes (docs/life-events.md).",
    ),
    Scope(
        "events.write",
        "Record life events (birth, death, residence, marriage, divorce, name, card, PIN "
        "re-establishment): POST /v1/life-events/* (sandbox clients only).",
        sandbox_only=True,
    ),
    Scope(
        "document.health_insurance",
        "Health-insurance card (BHYT): GET /v1/citizens/{pin}/documents/health_insurance and the "
        "hospital's check POST /v1/sectors/health/insurance-check (docs/documents.md).",
    ),
    Scope(
        "document.driving_licence",
        "Driving licences (class, validity, points, status): "
        "GET /v1/citizens/{pin}/documents/driving_licence.",
    ),
    Scope(
        "document.vehicle_registration",
        "Vehicle registrations (plate, kind, brand): "
        "GET /v1/citizens/{pin}/documents/vehicle_registration.",
    ),
    Scope(
        "document.tax_registration",
        "Tax identification number and registration: "
        "GET /v1/citizens/{pin}/documents/tax_registration.",
    ),
    Scope(
        "document.social_insurance",
        "Social-insurance book (number, scheme, contribution months, status): "
        "GET /v1/citizens/{pin}/documents/social_insurance.",
    ),
    Scope(
        "document.vaccination",
        "Vaccination records (health data: Decree 13/2023, Law 91/2025): "
        "GET /v1/citizens/{pin}/documents/vaccination; only for a client with a recorded legal "
        "basis.",
        needs_legal_basis=True,
    ),
    Scope(
        "sector.telecom",
        "A telecom's subscriber check: POST /v1/sectors/telecom/subscriber-check (PIN, name and "
        "birth date match, never the values).",
    ),
    Scope(
        "sector.bank",
        "A bank's customer check: POST /v1/sectors/bank/customer-check (identity match, record "
        "status, a valid chip card).",
    ),
    Scope(
        "audit.all",
        "Read every client's audit trail (oversight); a client always reads its own.",
        admin_only=True,
    ),
)

SCOPES: dict[str, Scope] = {scope.name: scope for scope in CATALOGUE}
RECORD_SCOPES: tuple[str, ...] = tuple(scope.name for scope in CATALOGUE if scope.fields)
DOCUMENT_SCOPES: tuple[str, ...] = tuple(scope.name for scope in CATALOGUE
                                         if scope.name.startswith("document."))
NON_ADMIN_SCOPES: tuple[str, ...] = tuple(scope.name for scope in CATALOGUE if not scope.admin_only)
# OpenID Connect sign-in scopes (docs/vneid.md): a login client registers those it may request, the
# citizen consents at login; they are never data-API scopes of a client-credentials token.
LOGIN_SCOPES: tuple[str, ...] = claims.SUPPORTED_SCOPES


def disclosed_fields(scopes: Iterable[str]) -> frozenset[str]:
    """The record fields a caller holding ``scopes`` may receive from a lookup."""
    fields = set(ALWAYS_FIELDS)
    for name in scopes:
        scope = SCOPES.get(name)
        if scope is not None:
            fields.update(scope.fields)
    return frozenset(fields)


def refusal(name: str, *, sandbox: bool, has_legal_basis: bool) -> str | None:
    """Why ``name`` cannot be granted to such a client, or ``None`` when it can."""
    if name in LOGIN_SCOPES:
        return None
    scope = SCOPES.get(name)
    if scope is None:
        return "unknown scope"
    if scope.sandbox_only and not sandbox:
        return "only sandbox clients may hold this scope"
    if scope.needs_legal_basis and not has_legal_basis:
        return "this scope needs a recorded legal basis"
    return None


NAMED_SCOPE_MAX = 64  # longer scope tokens are not echoed in an error description


def client_credentials_scopes(requested: tuple[str, ...], *,
                              registered: tuple[str, ...]) -> tuple[str, ...]:
    """The scopes of a client-credentials token: those asked for (all registered ones when none
    is asked for); ``invalid_scope`` naming the first one the client may not have."""
    refused = next((name for name in requested if name not in registered), None)
    if refused is not None:
        raise InvalidScope(_why_refused(refused))
    return requested or registered


def _why_refused(name: str) -> str:
    if len(name) > NAMED_SCOPE_MAX:
        return "A requested scope is unknown or not registered for this client."
    if name in LOGIN_SCOPES:
        return (f"The scope {name} is a sign-in scope; a client-credentials token carries "
                "data-API scopes only.")
    if name not in SCOPES:
        return f"The scope {name} is unknown (docs/scopes.md lists the scopes)."
    return f"The client is not registered for the scope {name}."
