"""The OpenID Foundation's FAPI 2.0 Security Profile (Final) authorization-server plan
(``fapi2-security-profile-final-test-plan``, conformance suite ``FAPI2SPFinalTestPlan``), variant
plain_fapi + openid_connect + private_key_jwt + DPoP + unsigned requests + plain responses: one
test per applicable module, named after it, sending what the module sends. Modules not applicable
or not passing are listed with the reason in docs/vneid.md ("FAPI 2.0 conformance")."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from app.clock import SandboxClock
from app.settings import Settings
from tests.api.oidc_support import *  # noqa: F403
from tests.api.oidc_support import (
    DEMO_REDIRECT,
    JSON,
    FapiClient,
    browser,
    client_assertion,
    dpop_proof,
    fapi_authorize,
    fapi_push,
    fapi_request,
    fapi_token,
    jwt_claims,
    query_of,
    register_fapi_client,
)

CLIENT_KEY = ECKey.generate_key("P-256", auto_kid=True)
SECOND_KEY = ECKey.generate_key("P-256", auto_kid=True)
DPOP_KEY = ECKey.generate_key("P-256")
OTHER_DPOP_KEY = ECKey.generate_key("P-256")


@pytest.fixture(scope="module")
def fapi(client: TestClient, admin: dict[str, str]) -> FapiClient:
    return register_fapi_client(client, admin, CLIENT_KEY)


@pytest.fixture(scope="module")
def second(client: TestClient, admin: dict[str, str]) -> FapiClient:
    return register_fapi_client(client, admin, SECOND_KEY, name="Bank FAPI 2")


class Flow:
    """One run of the suite's happy path, stepwise, so a module can change one step."""

    def __init__(self, app: FastAPI, client: TestClient, settings: Settings, agent: TestClient,
                 fapi: FapiClient, citizen: str) -> None:
        self.app, self.client, self.settings, self.agent = app, client, settings, agent
        self.fapi, self.citizen = fapi, citizen
        self.token_url = settings.issuer_url + "/oauth2/token"
        self.par_url = settings.issuer_url + "/oauth2/par"
        self.userinfo_url = settings.issuer_url + "/oauth2/userinfo"

    def proof(self, url: str, *, method: str = "POST", key: Any = DPOP_KEY,
              **changes: Any) -> str:
        return dpop_proof(self.app, method, url, key=key, **changes)

    def push(self, *, dpop: str | None = None, **changes: str | None) -> tuple[Any, str]:
        params, verifier = fapi_request(**changes)
        return fapi_push(self.client, self.app, self.settings, self.fapi, params,
                         dpop=dpop), verifier

    def code(self, *, dpop: str | None = None, **changes: str | None) -> tuple[str, str]:
        """PAR then the authorization endpoint: (code, PKCE verifier)."""
        pushed, verifier = self.push(dpop=dpop, **changes)
        assert pushed.status_code == 201, pushed.text
        answer = fapi_authorize(self.agent, self.fapi, pushed.json()["request_uri"], self.citizen)
        result = query_of(answer.headers["location"])
        assert "code" in result, result
        assert result["iss"] == self.settings.issuer_url
        return result["code"], verifier

    def redeem(self, code: str, verifier: str | None, *, dpop: str | None = "make",
               fapi: FapiClient | None = None) -> Any:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": DEMO_REDIRECT}
        if verifier is not None:
            form["code_verifier"] = verifier
        if dpop == "make":
            dpop = self.proof(self.token_url)
        return fapi_token(self.agent, self.app, self.settings, fapi or self.fapi, form, dpop=dpop)

    def tokens(self, **changes: str | None) -> dict[str, Any]:
        code, verifier = self.code(**changes)
        answer = self.redeem(code, verifier)
        assert answer.status_code == 200, answer.text
        assert answer.json()["token_type"] == "DPoP"
        return dict(answer.json())

    def resource(self, token: str, *, scheme: str = "DPoP", dpop: str | None = "make",
                 **proof_changes: Any) -> Any:
        if dpop == "make":
            dpop = self.proof(self.userinfo_url, method="GET", token=token, **proof_changes)
        headers = {**JSON, "Authorization": f"{scheme} {token}",
                   **({"DPoP": dpop} if dpop else {})}
        return self.agent.get("/oauth2/userinfo", headers=headers)


@pytest.fixture
def flow(app: FastAPI, client: TestClient, settings: Settings, agent: TestClient,
         fapi: FapiClient, citizen: str) -> Flow:
    return Flow(app, client, settings, agent, fapi, citizen)


def _refused(answer: Any, *errors: str, status: tuple[int, ...] = (400, 401)) -> None:
    assert answer.status_code in status, answer.text
    assert answer.json()["error"] in errors, answer.text


# --- well-behaved clients ----------------------------------------------------------------------


def test_fapi2_security_profile_final_discovery_end_point_verification(
        client: TestClient, settings: Settings) -> None:
    metadata = client.get("/.well-known/openid-configuration").json()
    assert metadata["issuer"] == settings.issuer_url
    assert "code" in metadata["response_types_supported"]
    assert metadata["pushed_authorization_request_endpoint"].startswith(settings.issuer_url)
    assert isinstance(metadata["require_pushed_authorization_requests"], bool)
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    assert {"ES256", "PS256"} <= set(metadata["token_endpoint_auth_signing_alg_values_supported"])
    assert {"ES256", "PS256"} <= set(metadata["dpop_signing_alg_values_supported"])
    assert "S256" in metadata["code_challenge_methods_supported"]
    assert "openid" in metadata["scopes_supported"]
    assert metadata["subject_types_supported"]
    assert metadata["authorization_endpoint"].startswith("https://") or \
        settings.issuer_url.startswith("http://")  # the test issuer is a loopback http one


def test_fapi2_security_profile_final_happy_flow(flow: Flow) -> None:
    tokens = flow.tokens()
    assert jwt_claims(tokens["access_token"])["cnf"] == {"jkt": DPOP_KEY.thumbprint()}
    assert jwt_claims(tokens["id_token"])["aud"] == flow.fapi.client_id
    answer = flow.resource(tokens["access_token"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["sub"] == jwt_claims(tokens["id_token"])["sub"]


def test_fapi2_security_profile_final_ensure_authorization_request_without_state_success(
        flow: Flow) -> None:
    flow.tokens(state=None)


def test_fapi2_security_profile_final_ensure_authorization_request_without_nonce_success(
        flow: Flow) -> None:
    assert "nonce" not in jwt_claims(flow.tokens(nonce=None)["id_token"])


def test_fapi2_security_profile_final_ensure_authorization_request_with_64_char_nonce_success(
        flow: Flow) -> None:
    assert jwt_claims(flow.tokens(nonce="n" * 64)["id_token"])["nonce"] == "n" * 64


def test_fapi2_security_profile_final_ensure_other_scope_order_succeeds(flow: Flow) -> None:
    assert set(flow.tokens(scope="profile openid")["scope"].split()) == {"openid", "profile"}


def test_fapi2_security_profile_final_test_claims_parameter_identity_claims(
        flow: Flow) -> None:
    claims = '{"id_token": {"name": {"essential": true}}}'
    assert "name" in jwt_claims(flow.tokens(claims=claims)["id_token"])


def test_fapi2_security_profile_final_access_token_type_header_case_sensitivity(
        flow: Flow) -> None:
    token = flow.tokens()["access_token"]
    assert flow.resource(token, scheme="dPoP").status_code == 200  # RFC 9110 §11.1


def test_fapi2_security_profile_final_ensure_authorization_request_with_long_nonce(
        flow: Flow) -> None:
    """A 384-character nonce: returned as sent, or invalid_request at PAR."""
    pushed, _ = flow.push(nonce="n" * 384)
    if pushed.status_code != 201:
        _refused(pushed, "invalid_request", status=(400,))
        return
    assert jwt_claims(flow.tokens(nonce="n" * 384)["id_token"])["nonce"] == "n" * 384


def test_fapi2_security_profile_final_ensure_authorization_request_with_long_state(
        flow: Flow) -> None:
    pushed, _ = flow.push(state="s" * 384)
    if pushed.status_code != 201:
        _refused(pushed, "invalid_request", status=(400,))
        return
    answer = fapi_authorize(flow.agent, flow.fapi, pushed.json()["request_uri"], flow.citizen)
    assert query_of(answer.headers["location"])["state"] == "s" * 384


# --- DPoP ----------------------------------------------------------------------------------------


def test_fapi2_security_profile_final_check_dpop_proof_nbf_exp(flow: Flow) -> None:
    now = int(flow.app.state.clock.now().timestamp())
    code, verifier = flow.code()
    answer = flow.redeem(code, verifier, dpop=flow.proof(flow.token_url, nbf=now, exp=now + 300))
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    assert flow.resource(token, nbf=now, exp=now + 300).status_code == 200


@pytest.mark.parametrize("shift", [-10, 10], ids=["before", "after"])
def test_fapi2_security_profile_final_ensure_dpop_proof_with_iat_10_seconds_succeeds(
        flow: Flow, shift: int) -> None:
    """Both modules (…WithIat10SecondsBeforeSucceeds, …AfterSucceeds): at PAR (code binding),
    the token endpoint and the resource."""
    iat = int(flow.app.state.clock.now().timestamp()) + shift
    code, verifier = flow.code(dpop=flow.proof(flow.par_url, iat=iat))
    answer = flow.redeem(code, verifier, dpop=flow.proof(flow.token_url, iat=iat))
    assert answer.status_code == 200, answer.text
    assert flow.resource(answer.json()["access_token"], iat=iat).status_code == 200


def test_fapi2_security_profile_final_ensure_mismatched_dpop_jkt_fails(flow: Flow) -> None:
    pushed, _ = flow.push(dpop=flow.proof(flow.par_url), dpop_jkt=OTHER_DPOP_KEY.thumbprint())
    _refused(pushed, "invalid_request", "invalid_dpop_proof", status=(400,))


def test_fapi2_security_profile_final_ensure_token_endpoint_fails_with_mismatched_dpop_proof_jkt(
        flow: Flow) -> None:
    code, verifier = flow.code(dpop=flow.proof(flow.par_url))
    answer = flow.redeem(code, verifier, dpop=flow.proof(flow.token_url, key=OTHER_DPOP_KEY))
    _refused(answer, "invalid_request", "invalid_grant", "invalid_dpop_proof")


def test_fapi2_security_profile_final_ensure_token_endpoint_fails_with_mismatched_dpop_jkt(
        flow: Flow) -> None:
    code, verifier = flow.code(dpop_jkt=OTHER_DPOP_KEY.thumbprint())
    _refused(flow.redeem(code, verifier), "invalid_request", "invalid_grant", "invalid_dpop_proof")


def test_fapi2_security_profile_final_ensure_dpop_proof_at_par_endpoint_binding_success(
        flow: Flow) -> None:
    code, verifier = flow.code(dpop=flow.proof(flow.par_url))
    assert flow.redeem(code, verifier).status_code == 200


def test_fapi2_security_profile_final_ensure_dpop_auth_code_binding_success(flow: Flow) -> None:
    code, verifier = flow.code(dpop=flow.proof(flow.par_url), dpop_jkt=DPOP_KEY.thumbprint())
    assert flow.redeem(code, verifier).status_code == 200


def _ath(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


_LOOSE = JWSRegistry(strict_check_header=False)  # the suite adds header members of its own


def _signed(header: dict[str, Any], claims: dict[str, Any], key: Any = DPOP_KEY) -> str:
    return jwt.encode(header, claims, key, algorithms=[header.get("alg", "ES256")],
                      registry=_LOOSE)


def test_fapi2_security_profile_final_dpop_negative_tests(flow: Flow) -> None:
    """Each block of FAPI2SPFinalDpopNegativeTests at the resource (userinfo), in its order."""
    token = flow.tokens()["access_token"]
    url, now = flow.userinfo_url, int(flow.app.state.clock.now().timestamp())
    jwk = DPOP_KEY.as_dict(private=False)

    def claims(**changes: Any) -> dict[str, Any]:
        body = {"jti": base64.b16encode(hashlib.sha256(repr(changes).encode()).digest()[:8])
                .decode(), "htm": "GET", "htu": url, "iat": now, "ath": _ath(token)} | changes
        return {k: v for k, v in body.items() if v is not None}

    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}

    def call(dpop: str | list[str] | None, scheme: str = "DPoP") -> int:
        headers: list[tuple[str, str]] = [("Authorization", f"{scheme} {token}")]
        headers += [("DPoP", p) for p in ([dpop] if isinstance(dpop, str) else dpop or [])]
        return int(flow.agent.get("/oauth2/userinfo", headers=headers).status_code)

    good = flow.proof(url, method="GET", token=token)
    valid = _signed(header, claims(jti="fixed-jti"))
    parts = good.split(".")
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none","typ":"dpop+jwt"}').rstrip(
        b"=").decode() + "." + parts[1] + "."
    bad_signature = ".".join([parts[0], parts[1], parts[2][::-1]])
    blocks: list[tuple[str, Any, int]] = [
        ("upper-case header name", [("DPOP", flow.proof(url, method="GET", token=token))], 200),
        ("two proofs", [flow.proof(url, method="GET", token=token),
                        flow.proof(url, method="GET", token=token)], 401),
        ("not a JWT", "not-a-jwt", 401),
        ("no typ", _signed({"alg": "ES256", "jwk": jwk}, claims(case=1)), 401),
        ("no jwk", _signed({"typ": "dpop+jwt", "alg": "ES256"}, claims(case=2)), 401),
        ("no jti", _signed(header, claims(jti=None)), 401),
        ("no htm", _signed(header, claims(htm=None, case=3)), 401),
        ("no htu", _signed(header, claims(htu=None, case=4)), 401),
        ("no iat", _signed(header, claims(iat=None, case=5)), 401),
        ("no ath", _signed(header, claims(ath=None, case=6)), 401),
        ("bad typ", _signed({**header, "typ": "JWT"}, claims(case=7)), 401),
        ("alg none", unsigned, 401),
        ("bad signature", bad_signature, 401),
        ("private jwk", _signed({**header, "jwk": DPOP_KEY.as_dict(private=True)},
                                claims(case=8)), 401),
        ("htm PUT", _signed(header, claims(htm="PUT")), 401),
        ("htu with query and fragment", _signed(header, claims(htu=url + "?a=b#c")), 200),
        ("htu another URL", _signed(header, claims(htu=url + "x")), 401),
        ("iat an hour ahead", _signed(header, claims(iat=now + 3600)), 401),
        ("iat an hour ago", _signed(header, claims(iat=now - 3600)), 401),
        ("first use of a jti", valid, 200),
        ("second use of that jti", valid, 401),
        ("wrong ath", _signed(header, claims(ath=_ath("other"))), 401),
        ("other key", _signed({**header, "jwk": OTHER_DPOP_KEY.as_dict(private=False)},
                              claims(case=9), OTHER_DPOP_KEY), 401),
        ("extra claims", _signed({**header, "extra": 1}, claims(extra="x")), 200),
        ("upper-case scheme and host", _signed(header, claims(htu=url.upper().replace(
            "/OAUTH2/USERINFO", "/oauth2/userinfo"))), 200),
        ("no proof", None, 401),
    ]
    for name, dpop, expected in blocks:
        if isinstance(dpop, list) and dpop and isinstance(dpop[0], tuple):
            headers = [("Authorization", f"DPoP {token}"), *dpop]
            status = flow.agent.get("/oauth2/userinfo", headers=headers).status_code
        else:
            status = call(dpop)
        assert status == expected, name
    assert call(None, scheme="Bearer") == 401  # no proof, and the scheme changed to Bearer
    assert call(flow.proof(url, method="GET", token=token)) == 200  # a correct proof still works


def test_fapi2_security_profile_final_dpop_negative_tests_rs256_block(flow: Flow) -> None:
    """The module's block for an RSA DPoP key: a proof signed RS256 fails (FAPI 2.0 §5.4), at
    the token endpoint and at the resource; PS256 with the same key works."""
    rsa = RSAKey.generate_key(2048)

    def rs256(url: str, method: str, **extra: Any) -> str:
        now = int(flow.app.state.clock.now().timestamp())
        claims = {"jti": secrets.token_hex(8), "htm": method, "htu": url, "iat": now, **extra}
        return jwt.encode({"typ": "dpop+jwt", "alg": "RS256", "jwk": rsa.as_dict(private=False)},
                          claims, rsa, algorithms=["RS256"])

    code, verifier = flow.code()
    _refused(flow.redeem(code, verifier, dpop=rs256(flow.token_url, "POST")),
             "invalid_dpop_proof", status=(400,))
    code, verifier = flow.code()
    answer = flow.redeem(code, verifier, dpop=flow.proof(flow.token_url, key=rsa))  # PS256
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    refused = flow.resource(token, dpop=rs256(flow.userinfo_url, "GET", ath=_ath(token)))
    assert refused.status_code == 401
    assert flow.resource(token, key=rsa).status_code == 200


# --- the authorization request -----------------------------------------------------------------


def test_fapi2_security_profile_final_ensure_registered_redirect_uri(flow: Flow) -> None:
    pushed, _ = flow.push(redirect_uri="https://attacker.example/callback")
    _refused(pushed, "invalid_request", "invalid_redirect_uri", status=(400,))


def test_fapi2_security_profile_final_tolerate_unregistered_redirect_uri(flow: Flow) -> None:
    """RFC 9126 §2.4 lets the server accept it; this one refuses, as the module allows."""
    pushed, _ = flow.push(redirect_uri=DEMO_REDIRECT + "/unregistered")
    _refused(pushed, "invalid_request", "invalid_request_object", "invalid_redirect_uri",
             status=(400,))


def test_fapi2_security_profile_final_ensure_unsigned_authorization_request_without_using_par_fails(
        flow: Flow) -> None:
    params, _ = fapi_request()
    answer = flow.agent.get("/oauth2/authorize", headers={"X-Sandbox-Login": flow.citizen},
                            params={"client_id": flow.fapi.client_id, **params})
    assert answer.status_code == 400
    assert "code=" not in answer.headers.get("location", "")


def test_fapi2_security_profile_final_ensure_redirect_uri_in_authorization_request(
        flow: Flow) -> None:
    pushed, _ = flow.push(redirect_uri=None)
    _refused(pushed, "invalid_request", status=(400,))


@pytest.mark.parametrize("response_type", ["code id_token", "token"],
                         ids=["code_id_token", "token"])
def test_fapi2_security_profile_final_ensure_response_type_fails(
        flow: Flow, response_type: str) -> None:
    """…EnsureResponseTypeCodeIdTokenFails and …EnsureResponseTypeTokenFails."""
    pushed, _ = flow.push(response_type=response_type)
    _refused(pushed, "invalid_request", "unsupported_response_type", "unauthorized_client",
             status=(400,))


# --- the token endpoint --------------------------------------------------------------------------


def test_fapi2_security_profile_final_ensure_client_id_in_token_endpoint(
        flow: Flow, second: FapiClient) -> None:
    code, verifier = flow.code()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": DEMO_REDIRECT,
            "code_verifier": verifier, "client_id": second.client_id}
    answer = fapi_token(flow.agent, flow.app, flow.settings, flow.fapi, form,
                        dpop=flow.proof(flow.token_url))
    _refused(answer, "invalid_client", "invalid_grant")


def test_fapi2_security_profile_final_ensure_holder_of_key_required(flow: Flow) -> None:
    code, verifier = flow.code()
    _refused(flow.redeem(code, verifier, dpop=None), "invalid_dpop_proof", "invalid_request")


def test_fapi2_security_profile_final_ensure_authorization_code_is_bound_to_client(
        flow: Flow, second: FapiClient) -> None:
    code, verifier = flow.code()
    _refused(flow.redeem(code, verifier, fapi=second), "invalid_grant")


def test_fapi2_security_profile_final_attempt_reuse_authorization_code_after_one_second(
        flow: Flow, clock: SandboxClock) -> None:
    code, verifier = flow.code()
    first = flow.redeem(code, verifier)
    assert first.status_code == 200
    clock.advance(timedelta(seconds=1))
    _refused(flow.redeem(code, verifier), "invalid_grant")
    # RFC 6749 §4.1.2: the tokens of the reused code are revoked
    assert flow.resource(first.json()["access_token"]).status_code == 401


def test_fapi2_security_profile_final_attempt_to_use_expired_auth_code(
        flow: Flow, clock: SandboxClock) -> None:
    code, verifier = flow.code()
    clock.advance(timedelta(minutes=5))
    _refused(flow.redeem(code, verifier), "invalid_grant")


def test_fapi2_security_profile_final_ensure_client_assertion_in_token_endpoint(
        flow: Flow) -> None:
    code, verifier = flow.code()
    headers = {**JSON, "DPoP": flow.proof(flow.token_url)}
    answer = flow.agent.post("/oauth2/token", headers=headers, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": DEMO_REDIRECT,
        "code_verifier": verifier, "client_id": flow.fapi.client_id})
    _refused(answer, "invalid_client", "invalid_request")


@pytest.mark.parametrize(("module", "changes"), [
    ("exp_is_5_minutes_in_past", "exp"),
    ("wrong_aud", "aud"),
    ("no_sub", "sub"),
])
def test_fapi2_security_profile_final_ensure_client_assertion_fails(
        flow: Flow, module: str, changes: str) -> None:
    """…EnsureClientAssertionWithExpIs5MinutesInPastFails, …WithWrongAudFails,
    …WithNoSubFails: the token request with that assertion is invalid_client."""
    code, verifier = flow.code()
    now = int(flow.app.state.clock.now().timestamp())
    change = {"exp": {"iat": now - 360, "exp": now - 300},
              "aud": {"aud": "https://somewhere-else.example/"}, "sub": {"sub": None}}[changes]
    auth = client_assertion(flow.app, flow.fapi.client_id, CLIENT_KEY,
                            change.pop("aud", flow.settings.issuer_url), alg="ES256", **change)
    headers = {**JSON, "DPoP": flow.proof(flow.token_url)}
    answer = flow.agent.post("/oauth2/token", headers=headers, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": DEMO_REDIRECT,
        "code_verifier": verifier, **auth})
    _refused(answer, "invalid_client")


def test_fapi2_security_profile_final_refresh_token(flow: Flow, clock: SandboxClock) -> None:
    tokens = flow.tokens(scope="openid offline_access", prompt="consent")
    refresh = tokens["refresh_token"]
    assert all(0x20 < ord(c) < 0x7F for c in refresh)  # RFC 6749 A.17
    form = {"grant_type": "refresh_token", "refresh_token": refresh}
    renewed = fapi_token(flow.agent, flow.app, flow.settings, flow.fapi, form,
                         dpop=flow.proof(flow.token_url))
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["token_type"] == "DPoP"
    assert flow.resource(renewed.json()["access_token"]).status_code == 200
    clock.advance(timedelta(seconds=30))  # the module waits, then tries the previous token
    again = fapi_token(flow.agent, flow.app, flow.settings, flow.fapi, form,
                       dpop=flow.proof(flow.token_url))
    _refused(again, "invalid_grant")  # rotated: the previous token is spent


# --- PAR -----------------------------------------------------------------------------------------


def test_fapi2_security_profile_final_par_ensure_server_accepts_reused_request_uri_before_authentication_completion(  # noqa: E501
        flow: Flow) -> None:
    pushed, verifier = flow.push()
    request_uri = pushed.json()["request_uri"]
    first = flow.agent.get("/oauth2/authorize", params={"client_id": flow.fapi.client_id,
                                                        "request_uri": request_uri})
    assert first.status_code in (200, 302, 303), first.text  # the login page, no login yet
    answer = fapi_authorize(flow.agent, flow.fapi, request_uri, flow.citizen)
    assert "code" in query_of(answer.headers["location"])


def test_fapi2_security_profile_final_par_attempt_reuse_request_uri(flow: Flow) -> None:
    """PAR §7.3: once a code was issued from it, the request_uri is refused."""
    pushed, _ = flow.push()
    request_uri = pushed.json()["request_uri"]
    assert "code" in query_of(fapi_authorize(flow.agent, flow.fapi, request_uri,
                                             flow.citizen).headers["location"])
    again = fapi_authorize(browser(flow.app), flow.fapi, request_uri, flow.citizen)
    assert "code" not in query_of(again.headers.get("location", ""))
    assert again.status_code == 400 or \
        query_of(again.headers["location"])["error"] == "invalid_request_uri"


def test_fapi2_security_profile_final_par_attempt_to_use_expired_request_uri(
        flow: Flow, clock: SandboxClock) -> None:
    pushed, _ = flow.push()
    clock.advance(timedelta(seconds=pushed.json()["expires_in"] + 1))
    answer = fapi_authorize(flow.agent, flow.fapi, pushed.json()["request_uri"], flow.citizen)
    assert "code" not in query_of(answer.headers.get("location", ""))


@pytest.mark.parametrize(("shift", "accepted"), [(8, True), (70, False)],
                         ids=["iat_nbf_8_seconds_in_the_future_is_accepted",
                              "iat_nbf_over_60_seconds_in_the_future_fails"])
def test_fapi2_security_profile_final_par_ensure_jwt_client_assertion(
        flow: Flow, shift: int, accepted: bool) -> None:
    """…PAREnsureJWTClientAssertionWithIatNbf8SecondsInTheFutureIsAccepted and
    …WithIatNbfOver60SecondsInTheFutureFails."""
    future = int(flow.app.state.clock.now().timestamp()) + shift
    params, _ = fapi_request()
    pushed = fapi_push(flow.client, flow.app, flow.settings, flow.fapi, params,
                       iat=future, nbf=future, exp=future + 60)
    if accepted:
        assert pushed.status_code == 201, pushed.text
    else:
        _refused(pushed, "invalid_client")


def test_fapi2_security_profile_final_par_ensure_request_uri_is_bound_to_client(
        flow: Flow, second: FapiClient) -> None:
    pushed, _ = flow.push()
    answer = fapi_authorize(flow.agent, second, pushed.json()["request_uri"], flow.citizen)
    assert "code" not in query_of(answer.headers.get("location", ""))


def test_fapi2_security_profile_final_par_reject_request_uri_in_par_authorization_form_params(
        flow: Flow) -> None:
    pushed, _ = flow.push(request_uri="urn:ietf:params:oauth:request_uri:bad")
    _refused(pushed, "invalid_request", "invalid_request_object", "request_uri_not_supported",
             status=(400,))


def test_fapi2_security_profile_final_par_reject_invalid_http_verb(flow: Flow) -> None:
    assert flow.client.get("/oauth2/par").status_code == 405


def test_fapi2_security_profile_final_par_ensure_pkce_required(flow: Flow) -> None:
    pushed, _ = flow.push(code_challenge=None, code_challenge_method=None)
    _refused(pushed, "invalid_request", status=(400,))


def test_fapi2_security_profile_final_par_ensure_pkce_code_verifier_required(flow: Flow) -> None:
    code, _ = flow.code()
    _refused(flow.redeem(code, None), "invalid_request", "invalid_grant")


def test_fapi2_security_profile_final_par_incorrect_pkce_code_verifier_rejected(
        flow: Flow) -> None:
    code, verifier = flow.code()
    _refused(flow.redeem(code, verifier[::-1]), "invalid_request", "invalid_grant")


def test_fapi2_security_profile_final_par_ensure_plain_pkce_rejected(flow: Flow) -> None:
    pushed, _ = flow.push(code_challenge="x" * 43, code_challenge_method="plain")
    _refused(pushed, "invalid_request", status=(400,))


def test_fapi2_security_profile_final_par_without_duplicate_parameters(flow: Flow) -> None:
    """The authorization endpoint with only client_id and request_uri (RFC 9101 §5)."""
    pushed, verifier = flow.push()
    answer = fapi_authorize(flow.agent, flow.fapi, pushed.json()["request_uri"], flow.citizen)
    code = query_of(answer.headers["location"])["code"]
    assert flow.redeem(code, verifier).status_code == 200


# --- FAPI 2.0's narrower client-assertion rules -----------------------------------------------


def test_fapi2_security_profile_final_ensure_signed_client_assertion_with_rs256_fails(
        client: TestClient, admin: dict[str, str], app: FastAPI, settings: Settings) -> None:
    rsa = RSAKey.generate_key(2048, auto_kid=True)
    fapi = register_fapi_client(client, admin, rsa, alg="RS256", name="Bank FAPI RSA")
    params, _ = fapi_request()
    _refused(fapi_push(client, app, settings, fapi, params), "invalid_client")
    ps256 = FapiClient(fapi.client_id, rsa, "PS256")
    assert fapi_push(client, app, settings, ps256, params).status_code == 201


@pytest.mark.parametrize("audience", ["par", "par as array", "token endpoint"],
                         ids=["par_endpoint_as_audience_fails",
                              "par_endpoint_as_array_audience_fails",
                              "par_token_endpoint_as_audience_fails"])
def test_fapi2_security_profile_final_par_audience_fails(
        flow: Flow, audience: str) -> None:
    """…PAREndpointAsAudienceFails, …PAREndpointAsArrayAudienceFails,
    …PARTokenEndpointAsAudienceFails: only the issuer, as a string (FAPI 2.0 §5.3.2.1)."""
    aud = {"par": flow.par_url, "par as array": [flow.par_url],
           "token endpoint": flow.token_url}[audience]
    params, _ = fapi_request()
    _refused(fapi_push(flow.client, flow.app, flow.settings, flow.fapi, params, aud=aud),
             "invalid_client")
    issuer_in_array = fapi_push(flow.client, flow.app, flow.settings, flow.fapi, params,
                                aud=[flow.settings.issuer_url])
    _refused(issuer_in_array, "invalid_client")
