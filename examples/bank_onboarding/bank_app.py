"""A bank's account opening on VNeID and the chip card: the e-service prototype under test.

The applicant signs in with VNeID (authorization code + PKCE, LoA2), the phone reads the card's
chip by NFC and the bank has the read verified (``POST /v1/cards/verify``), and the residence the
applicant declares is checked against the population database
(``GET /v1/citizens/{pin}/residence``). It talks to one issuer URL, as it would in production;
the tests point it at a sandbox tenant (``<base>/t/<id>``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

RETRIED = (429, 503, 504)


@dataclass(frozen=True)
class Settings:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    retries: int = 2
    max_retry_wait: float = 2.0
    timeout: float = 5.0


class Decision(StrEnum):
    APPROVED = "approved"
    REVIEW = "review"
    REJECTED = "rejected"


class OnboardingError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LoginRejected(OnboardingError):
    """The applicant could not be signed in (the reason is the OAuth error or the check)."""


class ServiceUnavailable(OnboardingError):
    """The identity service did not answer in time, even after the retries."""


@dataclass(frozen=True)
class Identity:
    pin: str
    full_name: str
    birth_date: str
    acr: str


@dataclass(frozen=True)
class ChipCheck:
    verdict: str
    reasons: tuple[str, ...]
    warnings: tuple[str, ...]
    pin: str | None


@dataclass(frozen=True)
class ResidenceCheck:
    province_code: str | None
    confirmed: bool


@dataclass(frozen=True)
class Application:
    identity: Identity
    chip: ChipCheck
    residence: ResidenceCheck
    decision: Decision
    reasons: tuple[str, ...]


@dataclass
class _Pending:
    verifier: str
    nonce: str


@dataclass
class Onboarding:
    settings: Settings
    http: httpx.Client = field(default_factory=lambda: httpx.Client())
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _discovery: dict[str, Any] | None = None

    # --- login ------------------------------------------------------------------------------------

    def begin(self) -> str:
        """The authorization URL to send the applicant's browser to."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self._pending[state] = _Pending(verifier, nonce)
        query = {"client_id": self.settings.client_id, "response_type": "code",
                 "scope": "openid profile vneid.identity", "acr_values": "LoA2",
                 "redirect_uri": self.settings.redirect_uri, "state": state, "nonce": nonce,
                 "code_challenge": challenge.rstrip(b"=").decode(),
                 "code_challenge_method": "S256"}
        return f"{self._endpoint('authorization_endpoint')}?{urlencode(query)}"

    def complete_login(self, callback_url: str) -> Identity:
        """The browser came back to the redirect URI: exchange the code, check the ID token."""
        params = {k: v[0] for k, v in parse_qs(urlsplit(callback_url).query).items()}
        pending = self._pending.pop(params.get("state", ""), None)
        if pending is None:
            raise LoginRejected("unknown_state")
        if "error" in params:
            raise LoginRejected(params["error"])
        answer = self._send("POST", self._endpoint("token_endpoint"), auth=self._auth(), data={
            "grant_type": "authorization_code", "code": params.get("code", ""),
            "redirect_uri": self.settings.redirect_uri, "code_verifier": pending.verifier})
        if answer.status_code != 200:
            raise LoginRejected(answer.json().get("error", "token_error"))
        claims = self._id_token_claims(answer.json()["id_token"], pending.nonce)
        if claims.get("acr") != "LoA2":
            raise LoginRejected("acr_too_low")
        return self._identity(answer.json()["access_token"], claims["acr"])

    def _id_token_claims(self, id_token: str, nonce: str) -> dict[str, Any]:
        keys = KeySet.import_key_set(self._send("GET", self._endpoint("jwks_uri")).json())
        try:
            claims = dict(jwt.decode(id_token, keys, algorithms=["ES256", "RS256"]).claims)
        except (JoseError, ValueError) as error:
            raise LoginRejected("id_token_signature") from error
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if claims.get("iss") != self.settings.issuer or self.settings.client_id not in audiences:
            raise LoginRejected("id_token_audience")
        if claims.get("nonce") != nonce:
            raise LoginRejected("id_token_nonce")
        return claims

    def _identity(self, access_token: str, acr: str) -> Identity:
        info = self._send("GET", self._endpoint("userinfo_endpoint"),
                          headers={"Authorization": f"Bearer {access_token}"}).json()
        return Identity(pin=info["SoDinhDanh"], full_name=info["HoVaTen"],
                        birth_date=info["birthdate"], acr=acr)

    # --- chip and residence -----------------------------------------------------------------------

    def check_chip(self, chip_read: Mapping[str, Any]) -> ChipCheck:
        """``chip_read``: what the phone read (files in base64, the active-authentication
        exchange), as ``POST /v1/cards/verify`` takes it."""
        answer = self._api("POST", "/v1/cards/verify", "card.verify", json=dict(chip_read))
        if answer.status_code != 200:
            raise OnboardingError(f"chip_check_http_{answer.status_code}")
        got = answer.json()
        return ChipCheck(verdict=got["verdict"], reasons=tuple(got["reasons"]),
                         warnings=tuple(got["warnings"]), pin=got.get("pin"))

    def check_residence(self, identity: Identity, declared_province: str) -> ResidenceCheck:
        answer = self._api("GET", f"/v1/citizens/{identity.pin}/residence", "citizen.residence")
        if answer.status_code != 200:
            raise OnboardingError(f"residence_http_{answer.status_code}")
        permanent = answer.json().get("permanent_residence") or {}
        code = permanent.get("province_code")
        return ResidenceCheck(province_code=code, confirmed=code == declared_province)

    # --- the decision -----------------------------------------------------------------------------

    def apply(self, callback_url: str, chip_read: Mapping[str, Any],
              declared_province: str) -> Application:
        identity = self.complete_login(callback_url)
        chip = self.check_chip(chip_read)
        residence = self.check_residence(identity, declared_province)
        decision, reasons = decide(identity, chip, residence)
        return Application(identity, chip, residence, decision, reasons)

    # --- HTTP -------------------------------------------------------------------------------------

    def _endpoint(self, name: str) -> str:
        if self._discovery is None:
            url = f"{self.settings.issuer}/.well-known/openid-configuration"
            self._discovery = self._send("GET", url).json()
        return str(self._discovery[name])

    def _auth(self) -> tuple[str, str]:
        return (self.settings.client_id, self.settings.client_secret)

    def _api(self, method: str, path: str, scope: str, **kwargs: Any) -> httpx.Response:
        answer = self._send("POST", self._endpoint("token_endpoint"), auth=self._auth(),
                            data={"grant_type": "client_credentials", "scope": scope})
        if answer.status_code != 200:
            raise OnboardingError(f"token_http_{answer.status_code}")
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        return self._send(method, f"{self.settings.issuer}{path}", headers=headers, **kwargs)

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One call, retried on 429/503/504 (honouring Retry-After, up to a cap)."""
        for attempt in range(self.settings.retries + 1):
            try:
                answer = self.http.request(method, url, timeout=self.settings.timeout, **kwargs)
            except httpx.TimeoutException as error:
                raise ServiceUnavailable("timeout") from error
            if answer.status_code not in RETRIED:
                return answer
            if attempt < self.settings.retries:
                time.sleep(min(float(answer.headers.get("retry-after", 1)),
                               self.settings.max_retry_wait))
        raise ServiceUnavailable(f"http_{answer.status_code}")


def decide(identity: Identity, chip: ChipCheck,
           residence: ResidenceCheck) -> tuple[Decision, tuple[str, ...]]:
    """Rejected when the chip fails or is someone else's; a human looks when the residence is
    not confirmed or the chip warns (moved since the card was issued); else approved."""
    if chip.verdict != "pass":
        return Decision.REJECTED, chip.reasons
    if chip.pin != identity.pin:
        return Decision.REJECTED, ("chip_of_another_person",)
    review = (*chip.warnings, *(() if residence.confirmed else ("residence_not_confirmed",)))
    return (Decision.REVIEW, review) if review else (Decision.APPROVED, ())
