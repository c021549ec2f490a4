"""The HTTP side of the test kit: typed values and the sandbox's real endpoints (tenants, clients,
personas, the login flow, the chip, the clock, fault rules), over plain httpx.

Imported only when a fixture runs (``dancu_testing.plugin`` keeps pytest's start-up light).
Everything here is what any HTTP client can do; docs/testing.md gives the same calls for curl and
Node.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

TENANT_HEADER = "X-Sandbox-Tenant"
LOGIN_HEADER = "X-Sandbox-Login"
FAULT_HEADER = "X-Sandbox-Fault"
#: Registered for every client the kit makes; nothing needs to listen there (the kit reads the
#: redirect's Location instead of following it).
REDIRECT_URI = "http://127.0.0.1:8765/callback"
DEFAULT_SCOPES = ("citizen.basic", "citizen.identity", "citizen.residence", "citizen.verify",
                  "card.read", "card.verify", "openid", "profile", "vneid.identity")
LOGIN_SCOPE = "openid profile vneid.identity"
TIMEOUT = httpx.Timeout(60.0, connect=5.0)
OWNER_TOKEN_REUSE_S = 60.0


class SandboxError(RuntimeError):
    """A sandbox control call failed (its status and problem are in the message)."""


class LoginFailed(Exception):
    """The login did not give a code: the redirect's ``error`` (``access_denied``,
    ``unmet_authentication_requirements``, ...) or, for a page answered without a redirect (a
    fault, a refused request), ``http_<status>``."""

    def __init__(self, error: str, description: str | None = None, *, status: int) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error, self.description, self.status = error, description, status


def _checked(response: httpx.Response, *expected: int) -> httpx.Response:
    if response.status_code not in (expected or (200,)):
        detail = response.text[:500]
        raise SandboxError(f"{response.request.method} {response.request.url.path} answered "
                           f"{response.status_code}: {detail}")
    return response


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str | None


@dataclass
class Sandbox:
    """A running deployment: one ``dancu serve`` the plugin started, or a shared one
    (``DANCU_TEST_BASE_URL``). ``owner`` is the sandbox client that owns the tenants."""

    base_url: str
    admin_token: str | None
    demo: Credentials
    owner: Credentials | None = None
    tenant_seed: int | None = None
    tenant_size: int = 2000
    log_path: str | None = None
    http: httpx.Client = field(init=False, repr=False)
    _owner_token: tuple[str, float] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        # No cookie jar: a console's dancu_tenant cookie would send the kit's deployment calls
        # (tenants, tokens) to that tenant (a login entering at /t/<id>/ sets none).
        self.http = httpx.Client(base_url=self.base_url, timeout=TIMEOUT, cookies=_no_cookies())

    def admin_headers(self) -> dict[str, str]:
        if not self.admin_token:
            raise SandboxError("this needs the deployment's admin token (DANCU_TEST_ADMIN_TOKEN)")
        return {"Authorization": f"Bearer {self.admin_token}"}

    def ensure_owner(self) -> Credentials:
        """The tenants' owner: given, or a sandbox client registered once with the admin token
        (the demo client may not own tenants)."""
        if self.owner is None:
            self.owner = register_client(self.http, self.admin_headers(), name="dancu pytest",
                                         scopes=("citizen.basic",), purposes=("testing",))
        return self.owner

    def owner_headers(self) -> dict[str, str]:
        """The owner's token, kept for a minute (tokens live ten; only the admin moves the
        deployment's clock, and a suite that does can call ``forget_owner_token``)."""
        now = time.monotonic()
        if self._owner_token is None or now - self._owner_token[1] > OWNER_TOKEN_REUSE_S:
            self._owner_token = (client_token(self.http, self.ensure_owner()), now)
        return {"Authorization": f"Bearer {self._owner_token[0]}"}

    def forget_owner_token(self) -> None:
        self._owner_token = None

    def create_tenant(self, *, seed: int | None = None, size: int | None = None) -> Tenant:
        body: dict[str, Any] = {"size": size or self.tenant_size}
        if seed is not None or self.tenant_seed is not None:
            body["seed"] = self.tenant_seed if seed is None else seed
        made = _checked(self.http.post("/v1/sandbox/tenants", json=body,
                                       headers=self.owner_headers()), 201).json()
        return Tenant(sandbox=self, id=made["id"], seed=made["seed"], size=made["size"])

    def delete_tenant(self, tenant_id: str) -> None:
        _checked(self.http.delete(f"/v1/sandbox/tenants/{tenant_id}",
                                  headers=self.owner_headers()), 204, 404)

    def close(self) -> None:
        self.http.close()


def _no_cookies() -> CookieJar:
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def register_client(http: httpx.Client, headers: Mapping[str, str], *, name: str,
                    scopes: Iterable[str], purposes: Iterable[str], sandbox: bool = True,
                    **extra: Any) -> Credentials:
    body = {"name": name, "scopes": list(scopes), "purposes": list(purposes), "sandbox": sandbox,
            **extra}
    made = _checked(http.post("/v1/admin/clients", json=body, headers=dict(headers)), 201).json()
    return Credentials(made["client_id"], made["client_secret"])


def client_token(http: httpx.Client, credentials: Credentials, scope: str | None = None,
                 headers: Mapping[str, str] | None = None) -> str:
    """A client-credentials access token (always a new one: moving the clock expires old ones)."""
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    answer = http.post("/oauth2/token", data=form, headers=dict(headers or {}),
                       auth=(credentials.client_id, credentials.client_secret or ""))
    return str(_checked(answer).json()["access_token"])


@dataclass
class Tenant:
    """A fresh, isolated copy of the sandbox. Reach it through ``issuer`` (its endpoints are
    under ``/t/<id>/``) or with ``headers`` (``X-Sandbox-Tenant``) on the deployment's URLs."""

    sandbox: Sandbox = field(repr=False)
    id: str
    seed: int
    size: int
    _personas: dict[str, Persona] | None = field(default=None, repr=False)

    @property
    def issuer(self) -> str:
        return f"{self.sandbox.base_url}/t/{self.id}"

    @property
    def headers(self) -> dict[str, str]:
        return {TENANT_HEADER: self.id}

    @property
    def demo(self) -> Credentials:
        """The tenant's demo client (a sandbox client with every non-admin scope)."""
        return self.sandbox.demo

    def http(self, **kwargs: Any) -> httpx.Client:
        """A new httpx client on the tenant's issuer (close it, or use it in ``with``)."""
        return httpx.Client(base_url=self.issuer, timeout=kwargs.pop("timeout", TIMEOUT),
                            **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to the tenant through the session's connection pool."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.sandbox.http.request(method, path, headers=headers, **kwargs)

    def control_headers(self) -> dict[str, str]:
        """Who reads personas and moves the clock: the admin token, else the demo client."""
        if self.sandbox.admin_token:
            return self.sandbox.admin_headers()
        token = client_token(self.sandbox.http, self.demo, headers=self.headers)
        return {"Authorization": f"Bearer {token}"}

    def register_client(self, *, scopes: Iterable[str] = DEFAULT_SCOPES,
                        purposes: Iterable[str] = ("account-opening",), name: str = "test client",
                        **extra: Any) -> DancuClient:
        """A client registered in this tenant (sandbox: true, client credentials and the
        authorization code flow, redirect URI ``REDIRECT_URI``); ``extra`` is passed on."""
        scopes = tuple(scopes)
        spec = {"grant_types": ["client_credentials", "authorization_code", "refresh_token"],
                "redirect_uris": [REDIRECT_URI], **extra}
        made = register_client(self.sandbox.http, {**self.sandbox.admin_headers(), **self.headers},
                               name=name, scopes=scopes, purposes=purposes, **spec)
        return DancuClient(tenant=self, client_id=made.client_id,
                           client_secret=made.client_secret, scopes=scopes,
                           redirect_uri=spec["redirect_uris"][0])

    def personas(self) -> dict[str, Persona]:
        if self._personas is None:
            answer = _checked(self.request("GET", "/v1/sandbox/personas",
                                           headers=self.control_headers())).json()
            self._personas = {item["key"]: Persona.of(item) for item in answer["personas"]}
        return self._personas

    def persona(self, key: str) -> Persona:
        found = self.personas().get(key)
        if found is None:
            raise LookupError(f"tenant {self.id} ({self.size} people) has no persona {key!r}; "
                              f"it has: {', '.join(sorted(self.personas()))}")
        return found


@dataclass
class DancuClient:
    """A client registered in a tenant, with its secret."""

    tenant: Tenant = field(repr=False)
    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]
    redirect_uri: str

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.client_id, self.client_secret)

    @property
    def auth(self) -> tuple[str, str]:
        """For httpx's ``auth=`` (HTTP Basic, client_secret_basic)."""
        return (self.client_id, self.client_secret or "")

    def token(self, scope: str | None = None) -> str:
        """A new client-credentials access token (default: every data scope of the client)."""
        return client_token(self.tenant.sandbox.http, self.credentials, scope, self.tenant.headers)

    def headers(self, scope: str | None = None) -> dict[str, str]:
        """``Authorization`` with a new token, and the tenant header."""
        return {"Authorization": f"Bearer {self.token(scope)}", **self.tenant.headers}


@dataclass(frozen=True)
class PersonaCard:
    sequence: int
    status: str
    expiry_date: date | None
    mrz: tuple[str, ...]
    access_key: str


@dataclass(frozen=True)
class PersonaAccount:
    state: str
    level: int
    password: str
    passcode: str
    device_token: str | None


@dataclass(frozen=True)
class Persona:
    """A test citizen of the tenant (docs/personas.md), with the secrets each channel takes."""

    key: str
    pin: str
    current_pin: str
    full_name: str | None
    birth_date: date | None
    sex: str | None
    status: str | None
    card: PersonaCard | None
    account: PersonaAccount | None
    fault: str | None
    expected: Mapping[str, Mapping[str, Any]]

    @property
    def access_key(self) -> str:
        """``X-Chip-Access-Key`` of the persona's card (from its MRZ)."""
        if self.card is None:
            raise LookupError(f"persona {self.key} has no card")
        return self.card.access_key

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> Persona:
        card, account = item.get("card"), item.get("vneid")
        return cls(
            key=item["key"], pin=item["pin"], current_pin=item["current_pin"],
            full_name=item.get("full_name"), birth_date=_date(item.get("birth_date")),
            sex=item.get("sex"), status=item.get("status"), fault=item.get("fault"),
            expected=item.get("expected") or {},
            card=card and PersonaCard(sequence=card["sequence"], status=card["status"],
                                      expiry_date=_date(card.get("expiry_date")),
                                      mrz=tuple(card["mrz"]), access_key=card["access_key"]),
            account=account and PersonaAccount(
                state=account["state"], level=account["level"], password=account["password"],
                passcode=account["passcode"], device_token=account.get("device_token")))


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


# --- the login ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    """What the token endpoint answered after the authorization code + PKCE flow; ``claims`` are
    the ID token's, its signature checked against the tenant's JWKS."""

    access_token: str
    id_token: str
    refresh_token: str | None
    token_type: str
    expires_in: int
    scope: str
    claims: Mapping[str, Any]

    @property
    def acr(self) -> str | None:
        return self.claims.get("acr")


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def approve(tenant: Tenant, authorization_url: str, persona: Persona | str) -> str:
    """The browser's part of a login: the citizen ``persona`` signs in at the sandbox
    (``X-Sandbox-Login``), and the Location the browser is sent to comes back (the client's
    redirect URI with ``code`` and ``state``, or ``error``). Raises ``LoginFailed`` when the
    sandbox answers a page instead of a redirect (a fault, a request it refuses)."""
    who = persona if isinstance(persona, str) else persona.key
    answer = tenant.sandbox.http.get(authorization_url, headers={LOGIN_HEADER: who},
                                     follow_redirects=False)
    if answer.status_code not in (302, 303) or "location" not in answer.headers:
        raise LoginFailed(f"http_{answer.status_code}", status=answer.status_code)
    return answer.headers["location"]


def oidc_login(client: DancuClient, persona: Persona | str, *, acr: str | None = "LoA2",
               scope: str = LOGIN_SCOPE) -> Tokens:
    """The authorization code flow with PKCE, as a relying party runs it."""
    tenant = client.tenant
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    query = {"client_id": client.client_id, "response_type": "code", "scope": scope,
             "redirect_uri": client.redirect_uri, "state": state, "nonce": nonce,
             "code_challenge": challenge, "code_challenge_method": "S256",
             **({"acr_values": acr} if acr else {})}
    location = approve(tenant, f"{tenant.issuer}/oauth2/authorize?{urlencode(query)}", persona)
    params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    if "error" in params:
        raise LoginFailed(params["error"], params.get("error_description"), status=303)
    if params.get("state") != state:
        raise SandboxError("the redirect's state is not the one sent")
    form = {"grant_type": "authorization_code", "code": params["code"],
            "redirect_uri": client.redirect_uri, "code_verifier": verifier}
    answer = tenant.sandbox.http.post(f"{tenant.issuer}/oauth2/token", data=form,
                                      auth=client.auth)
    if answer.status_code != 200:
        body = _json(answer)
        raise LoginFailed(body.get("error", f"http_{answer.status_code}"),
                          body.get("error_description"), status=answer.status_code)
    got = answer.json()
    claims = id_token_claims(tenant, got["id_token"], audience=client.client_id)
    if claims.get("nonce") != nonce:
        raise SandboxError("the ID token's nonce is not the one sent")
    return Tokens(access_token=got["access_token"], id_token=got["id_token"],
                  refresh_token=got.get("refresh_token"), token_type=got["token_type"],
                  expires_in=int(got["expires_in"]), scope=got.get("scope", scope), claims=claims)


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def id_token_claims(tenant: Tenant, id_token: str, *, audience: str) -> dict[str, Any]:
    """The ID token's claims once its signature (the tenant's JWKS), issuer and audience check."""
    from joserfc import jwt
    from joserfc.jwk import KeySet

    keys = KeySet.import_key_set(_checked(tenant.sandbox.http.get(
        f"{tenant.issuer}/.well-known/jwks.json")).json())
    token = jwt.decode(id_token, keys, algorithms=["ES256", "RS256"])
    claims = dict(token.claims)
    if claims.get("iss") != tenant.issuer or audience not in _audiences(claims.get("aud")):
        raise SandboxError("the ID token names another issuer or audience")
    return claims


def _audiences(aud: Any) -> list[str]:
    return [aud] if isinstance(aud, str) else list(aud or [])


# --- the chip -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChipRead:
    """The chip's files as an NFC reader gets them, and the active-authentication exchange."""

    pin: str
    files: Mapping[str, bytes]
    challenge: bytes
    response: bytes

    def verify_body(self, *, active_authentication: bool = True) -> dict[str, Any]:
        """The body of ``POST /v1/cards/verify`` for this read."""
        body: dict[str, Any] = {"files": {name: base64.b64encode(data).decode("ascii")
                                          for name, data in self.files.items()}}
        if active_authentication:
            body["active_authentication"] = {"challenge": self.challenge.hex(),
                                             "response": base64.b64encode(self.response).decode()}
        return body


def read_chip(tenant: Tenant, persona: Persona, *, client: DancuClient | None = None,
              access_key: str | None = None) -> ChipRead:
    """Read the persona's chip (its files, then an active authentication with a fresh challenge)
    with ``client``'s token (default: the tenant's demo client) and the card's access key."""
    token = client.token("card.read") if client else client_token(
        tenant.sandbox.http, tenant.demo, "card.read", tenant.headers)
    headers = {"Authorization": f"Bearer {token}",
               "X-Chip-Access-Key": access_key or persona.access_key}
    pin = persona.current_pin
    files = _checked(tenant.request("GET", f"/v1/cards/{pin}/chip", headers=headers)).json()
    challenge = secrets.token_bytes(8)
    signed = _checked(tenant.request("POST", f"/v1/cards/{pin}/chip/internal-authenticate",
                                     headers=headers, json={"challenge": challenge.hex()})).json()
    return ChipRead(pin=pin, files={k: base64.b64decode(v) for k, v in files["files"].items()},
                    challenge=challenge, response=base64.b64decode(signed["response"]))


# --- the clock ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockState:
    now: datetime
    frozen: bool
    offset_seconds: float
    version: int


class SandboxClock:
    """The tenant's sandbox clock: tokens, codes, card expiry and ages all follow it. Moving it
    expires tokens issued before (``DancuClient.token`` always takes a new one)."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.moved = False

    def _call(self, method: str, action: str = "", body: dict[str, Any] | None = None
              ) -> ClockState:
        path = f"/v1/sandbox/clock{'/' + action if action else ''}"
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        got = _checked(self.tenant.request(method, path, headers=self.tenant.control_headers(),
                                           **kwargs)).json()
        self.moved = self.moved or bool(action)
        return ClockState(now=datetime.fromisoformat(got["now"].replace("Z", "+00:00")),
                          frozen=got["frozen"], offset_seconds=got["offset_seconds"],
                          version=got["version"])

    def state(self) -> ClockState:
        return self._call("GET")

    def now(self) -> datetime:
        return self.state().now

    def freeze(self, at: datetime | str | None = None) -> ClockState:
        value = at.isoformat() if isinstance(at, datetime) else at
        return self._call("POST", "freeze", {} if value is None else {"at": value})

    def advance(self, *, days: int = 0, seconds: int = 0) -> ClockState:
        return self._call("POST", "advance", {"days": days, "seconds": seconds})

    def unfreeze(self) -> ClockState:
        return self._call("POST", "unfreeze")

    def reset(self) -> ClockState:
        return self._call("POST", "reset")


# --- faults ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultRule:
    id: str
    client_id: str
    fault: str
    method: str | None
    path: str | None


class Faults:
    """Fault rules set for one test and deleted after it (docs/sandbox.md#faults)."""

    def __init__(self, tenant: Tenant, default_client: Any) -> None:
        self.tenant, self._default_client = tenant, default_client
        self.rules: list[FaultRule] = []

    def __call__(self, fault: str, *, path: str | None = None, method: str | None = None,
                 client: DancuClient | str | None = None) -> FaultRule:
        """Every matching request of ``client`` (default: the test's ``dancu_client``) gets
        ``fault`` (``status=503``, ``latency=800ms``, ``fail-first=2; status=503``, ...)."""
        owner = client if client is not None else self._default_client()
        owner_id = owner if isinstance(owner, str) else owner.client_id
        body = {"fault": fault, "path": path, "method": method, "client_id": owner_id}
        got = _checked(self.tenant.request("POST", "/v1/sandbox/faults", json=body,
                                           headers=self.tenant.sandbox.admin_headers()),
                       201).json()
        rule = FaultRule(id=got["id"], client_id=got["client_id"], fault=got["fault"],
                         method=got["method"], path=got["path"])
        self.rules.append(rule)
        return rule

    @staticmethod
    def header(fault: str) -> dict[str, str]:
        """``X-Sandbox-Fault`` for one request of a sandbox client."""
        return {FAULT_HEADER: fault}

    def remove(self, rule: FaultRule) -> None:
        _checked(self.tenant.request("DELETE", f"/v1/sandbox/faults/{rule.id}",
                                     headers=self.tenant.sandbox.admin_headers()), 204, 404)
        self.rules = [kept for kept in self.rules if kept.id != rule.id]

    def remove_all(self) -> None:
        for rule in list(self.rules):
            self.remove(rule)


# --- what the function fixtures hand out ----------------------------------------------------------


class Login:
    """``oidc_login(client, persona, acr="LoA2")``: tokens through the real authorization code +
    PKCE flow; ``oidc_login.approve(url, persona)``: only the browser's step, for a relying party
    under test that builds its own authorization URL."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    def __call__(self, client: DancuClient, persona: Persona | str, *, acr: str | None = "LoA2",
                 scope: str = LOGIN_SCOPE) -> Tokens:
        return oidc_login(client, persona, acr=acr, scope=scope)

    def approve(self, authorization_url: str, persona: Persona | str) -> str:
        return approve(self.tenant, authorization_url, persona)


class ChipReader:
    """``read_chip(persona)``: the chip's files and an active authentication."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant

    def __call__(self, persona: Persona | str, *, client: DancuClient | None = None,
                 access_key: str | None = None) -> ChipRead:
        who = self.tenant.persona(persona) if isinstance(persona, str) else persona
        return read_chip(self.tenant, who, client=client, access_key=access_key)
