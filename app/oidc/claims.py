"""Scope -> claims mapping, and the pairwise ``sub`` (OIDC Core §5.1, §5.4, §8.1).

==================  =========================================================================
scope               claims released (UserInfo; the ID token carries only ``sub`` + auth data)
==================  =========================================================================
``openid``          ``sub`` -- pairwise pseudonym, never the PIN
``profile``         ``name``, ``family_name``, ``given_name``, ``middle_name``, ``birthdate``,
                    ``gender``
``email``           ``email``, ``email_verified``
``phone``           ``phone_number`` (E.164), ``phone_number_verified``
``address``         ``address`` (``formatted``, ``street_address``, ``locality``, ``region``,
                    ``country``)
``vneid.identity``  ``SoDinhDanh`` (12-digit PIN), ``HoVaTen`` (full name),
                    ``NgayThangNamSinh`` (``yyyymmdd``), ``GioiTinh`` (``Nam``/``Nữ``),
                    ``LoaiTaiKhoan`` (1 = citizen) -- the claim names VNeID relying parties use
``offline_access``  no claims (refresh tokens, OIDC Core §11)
==================  =========================================================================

Integrated-document scopes (docs/documents.md), one claim each: ``vneid.health_insurance`` ->
``health_insurance`` (card number, benefit level, registered facility, validity, status);
``vneid.driving_licence`` -> ``driving_licences`` (number, class, validity, points, status);
``vneid.vehicle_registration`` -> ``vehicle_registrations`` (plate, kind, brand, status);
``vneid.tax`` -> ``tax_id`` (the PIN since 2025-07-01, the 10-digit code before);
``vneid.social_insurance`` -> ``social_insurance`` (book number, scheme, months, status).
The document claims are JSON objects (a list for licences and vehicles); a citizen without the
document gets no claim. Vaccination records are health data
and have no claim.

Four scopes release no claims but authorise something else (docs/life-events.md): with
``vneid.history`` the access token lets the citizen read who accessed their data and manage their
data-sharing consents (``/v1/me``); with ``vneid.documents`` it reads the citizen's integrated
documents (``/v1/me/documents``, docs/documents.md); approving ``vneid.data_sharing`` records the
citizen's consent to the client looking them up in the population database for its purpose. With
``vneid.judicial_record`` the access token lets the e-service request criminal-record
certificates for the citizen, follow the requests it made and fetch their issued certificate No. 1
(``/v1/me/judicial-records``, docs/documents.md); the citizen's requests in VNeID or through
another e-service are not its to see.

Decisions:

* The PIN is released only under ``vneid.identity`` (as ``SoDinhDanh``), a scope the registry must
  allow for the client and the citizen must consent to. ``preferred_username`` is never emitted:
  VNeID's Keycloak sets it to the PIN, which would leak the PIN through ``profile``.
* Sensitive data (Law 91/2025, Decree 356/2025: ethnicity, religion, blood group, biometrics, card
  images, location) is never emitted whatever the scope: :class:`ClaimSource` has no field for it,
  and :data:`NEVER_RELEASED_CLAIMS` lists names that must never appear.
* Names are emitted in Unicode NFC. ``birthdate`` follows OIDC Core §5.1: ``YYYY-MM-DD`` when the
  day is known, else ``YYYY``; ``NgayThangNamSinh`` uses ``00`` for unknown month/day (as cards do).
* Unknown scopes release nothing (OIDC Core §3.1.2.1: ignore scope values not understood).
* Pairwise ``sub`` (§8.1): ``BASE64URL(HMAC-SHA256(secret, sector_identifier || 0x00 || PIN))`` --
  stable per (sector, citizen), unlinkable across sectors, not reversible without the secret.
  The sector is the client's ``sector_identifier`` or, when it has none, its ``client_id``.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from app.oidc._util import b64url

OPENID = "openid"
PROFILE = "profile"
EMAIL = "email"
PHONE = "phone"
ADDRESS = "address"
VNEID_IDENTITY = "vneid.identity"
OFFLINE_ACCESS = "offline_access"
VNEID_HISTORY = "vneid.history"
VNEID_DATA_SHARING = "vneid.data_sharing"
VNEID_DOCUMENTS = "vneid.documents"
#: document scope -> (claim, document kind, one document or a list)
DOCUMENT_CLAIMS: Mapping[str, tuple[str, str, bool]] = {
    "vneid.health_insurance": ("health_insurance", "health_insurance", False),
    "vneid.driving_licence": ("driving_licences", "driving_licence", True),
    "vneid.vehicle_registration": ("vehicle_registrations", "vehicle_registration", True),
    "vneid.tax": ("tax_id", "tax_registration", False),
    "vneid.social_insurance": ("social_insurance", "social_insurance", False),
}
VNEID_JUDICIAL_RECORD = "vneid.judicial_record"

SCOPE_CLAIMS: Mapping[str, tuple[str, ...]] = {
    OPENID: ("sub",),
    PROFILE: ("name", "family_name", "given_name", "middle_name", "birthdate", "gender"),
    EMAIL: ("email", "email_verified"),
    PHONE: ("phone_number", "phone_number_verified"),
    ADDRESS: ("address",),
    VNEID_IDENTITY: ("SoDinhDanh", "HoVaTen", "NgayThangNamSinh", "GioiTinh", "LoaiTaiKhoan"),
    OFFLINE_ACCESS: (),
    VNEID_HISTORY: (),
    VNEID_DATA_SHARING: (),
    VNEID_DOCUMENTS: (),
    **{scope: (claim,) for scope, (claim, _, _) in DOCUMENT_CLAIMS.items()},
    VNEID_JUDICIAL_RECORD: (),
}
SUPPORTED_SCOPES: tuple[str, ...] = tuple(SCOPE_CLAIMS)
#: claims_supported for discovery: the scope claims plus those of the ID token.
CLAIMS_SUPPORTED: tuple[str, ...] = (
    *dict.fromkeys(name for names in SCOPE_CLAIMS.values() for name in names),
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "at_hash",
)
#: Sensitive-data claim names (and ``preferred_username``, the PIN at VNeID): never in any response.
NEVER_RELEASED_CLAIMS = frozenset(
    {
        "ethnicity",
        "DanToc",
        "religion",
        "TonGiao",
        "blood_group",
        "NhomMau",
        "face",
        "picture",
        "fingerprint",
        "biometrics",
        "card_image",
        "location",
        "preferred_username",
    }
)
MIN_PAIRWISE_SECRET_BYTES = 32
ACCOUNT_TYPE_CITIZEN = 1

_GENDER = {"M": "male", "F": "female"}
_GIOI_TINH = {"M": "Nam", "F": "Nữ"}


@dataclass(frozen=True)
class PostalAddress:
    """OIDC Core §5.1.1; ``locality`` is the commune/ward, ``region`` the province."""

    formatted: str
    street_address: str | None = None
    locality: str | None = None
    region: str | None = None
    country: str = "Việt Nam"


@dataclass(frozen=True)
class ClaimSource:
    """What the account store gives the claims mapper; deliberately no sensitive fields."""

    pin: str
    surname: str
    middle_name: str
    given_name: str
    birth_date: date
    sex: Literal["M", "F"]
    birth_date_precision: Literal["day", "month", "year"] = "day"
    email: str | None = None
    email_verified: bool = False
    phone: str | None = None
    phone_verified: bool = False
    address: PostalAddress | None = None
    account_type: int = ACCOUNT_TYPE_CITIZEN
    # kind -> the citizen's documents of that kind, JSON-ready (read only for document scopes)
    documents: Mapping[str, list[dict[str, Any]]] | None = None
    clan_last: bool = False  # the name is written given name first, clan last ("Y Moan Êban")

    @property
    def full_name(self) -> str:
        """``name`` / ``HoVaTen``: in written order; ``family_name`` stays the surname (clan)."""
        parts = ((self.middle_name, self.given_name, self.surname) if self.clan_last
                 else (self.surname, self.middle_name, self.given_name))
        return _nfc(" ".join(part.strip() for part in parts if part.strip()))


def pairwise_subject(pin: str, *, sector_identifier: str, secret: bytes) -> str:
    """The pairwise ``sub`` for a citizen at a sector (OIDC Core §8.1); 43 base64url characters."""
    if len(secret) < MIN_PAIRWISE_SECRET_BYTES:
        raise ValueError(f"pairwise secret must be at least {MIN_PAIRWISE_SECRET_BYTES} bytes")
    if not sector_identifier or "\x00" in sector_identifier:
        raise ValueError("sector identifier must be a non-empty string without NUL")
    message = sector_identifier.encode() + b"\x00" + pin.encode()
    return b64url(hmac.new(secret, message, hashlib.sha256).digest())


def claim_names(scopes: Iterable[str]) -> tuple[str, ...]:
    """Claim names released for ``scopes`` (unknown scopes contribute nothing)."""
    names = (name for scope in scopes for name in SCOPE_CLAIMS.get(scope, ()))
    return tuple(dict.fromkeys(names))


def userinfo_claims(source: ClaimSource, *, scopes: Iterable[str], subject: str,
                    claims: Iterable[str] = ()) -> dict[str, Any]:
    """The UserInfo response (OIDC Core §5.3.2) for ``scopes`` and the individual ``claims``
    asked for with the ``claims`` parameter (§5.5); absent values are omitted."""
    values = _all_claims(source)
    released: dict[str, Any] = {"sub": subject}
    for name in dict.fromkeys((*claim_names(scopes), *claims)):
        if name != "sub" and values.get(name) not in (None, ""):
            released[name] = values[name]
    return released


def _all_claims(source: ClaimSource) -> dict[str, Any]:
    return {
        "name": source.full_name,
        "family_name": _nfc(source.surname),
        "given_name": _nfc(source.given_name),
        "middle_name": _nfc(source.middle_name.strip()),
        "birthdate": _birthdate(source),
        "gender": _GENDER[source.sex],
        "email": source.email,
        "email_verified": source.email_verified if source.email else None,
        "phone_number": _e164(source.phone) if source.phone else None,
        "phone_number_verified": source.phone_verified if source.phone else None,
        "address": _address(source.address) if source.address else None,
        "SoDinhDanh": source.pin,
        "HoVaTen": source.full_name,
        "NgayThangNamSinh": _ngay_thang_nam_sinh(source),
        "GioiTinh": _GIOI_TINH[source.sex],
        "LoaiTaiKhoan": source.account_type,
        **_document_claims(source.documents or {}),
    }


def document_kinds(scopes: Iterable[str]) -> tuple[str, ...]:
    """The document kinds the claims of ``scopes`` need (none: no document is read)."""
    return tuple(DOCUMENT_CLAIMS[s][1] for s in scopes if s in DOCUMENT_CLAIMS)


def _document_claims(documents: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    for claim, kind, many in DOCUMENT_CLAIMS.values():
        found = documents.get(kind) or []
        if found:
            claims[claim] = found if many else found[0]
    if "tax_id" in claims:
        claims["tax_id"] = claims["tax_id"]["tax_id"]
    return claims


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _birthdate(source: ClaimSource) -> str:
    if source.birth_date_precision == "day":
        return source.birth_date.isoformat()
    return f"{source.birth_date.year:04d}"


def _ngay_thang_nam_sinh(source: ClaimSource) -> str:
    day = source.birth_date
    month = day.month if source.birth_date_precision != "year" else 0
    dom = day.day if source.birth_date_precision == "day" else 0
    return f"{day.year:04d}{month:02d}{dom:02d}"


def _e164(phone: str) -> str:
    """Vietnamese national format ``0xxxxxxxxx`` -> ``+84xxxxxxxxx``; other values unchanged."""
    digits = phone.replace(" ", "")
    if len(digits) == 10 and digits.startswith("0") and digits.isdigit():
        return "+84" + digits[1:]
    return digits


def _address(address: PostalAddress) -> dict[str, str]:
    fields = {
        "formatted": address.formatted,
        "street_address": address.street_address,
        "locality": address.locality,
        "region": address.region,
        "country": address.country,
    }
    return {name: _nfc(value) for name, value in fields.items() if value}
