"""Authorization request validation (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 9700, RFC 9207).

Test names quote the OpenID conformance module they port where there is one.
"""

import dataclasses
from urllib.parse import parse_qs, urlsplit

import pytest

from app.oidc.authorize import (
    AuthorizationErrorRedirect,
    AuthorizationRejected,
    requested_client_id,
    success_redirect_url,
    validate_authorization_request,
)
from app.oidc.clients import ClientView
from app.oidc.errors import InvalidClient, InvalidRequest

from .support import ISSUER, T0

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
REDIRECT = "https://rp.example/cb"
CLIENT = ClientView(
    client_id="rp-1",
    redirect_uris=(REDIRECT, "https://rp.example/cb?tenant=7"),
    scopes=frozenset({"openid", "profile", "vneid.identity", "offline_access"}),
    grant_types=frozenset({"authorization_code", "refresh_token"}),
)
BASE = {
    "client_id": "rp-1",
    "redirect_uri": REDIRECT,
    "response_type": "code",
    "scope": "openid profile",
    "state": "af0ifjsldkj",
    "nonce": "n-0S6_WzA2Mj",
    "code_challenge": CHALLENGE,
    "code_challenge_method": "S256",
}


def _pairs(extra=(), **changes):
    merged = {**BASE, **changes}
    return [(name, value) for name, value in merged.items() if value is not None] + list(extra)


def _validate(pairs, client=CLIENT):
    return validate_authorization_request(pairs, client=client, issuer=ISSUER, now=T0)


def _redirect_error(pairs, client=CLIENT):
    with pytest.raises(AuthorizationErrorRedirect) as caught:
        _validate(pairs, client)
    location = caught.value.location
    return caught.value.error.error, location, parse_qs(urlsplit(location).query)


def test_oidcc_server_happy_path_is_validated():
    request = _validate(_pairs())
    assert (request.client_id, request.redirect_uri, request.scope) == (
        "rp-1",
        REDIRECT,
        ("openid", "profile"),
    )
    assert (request.state, request.nonce, request.code_challenge) == (
        "af0ifjsldkj",
        "n-0S6_WzA2Mj",
        CHALLENGE,
    )
    assert (request.received_at, request.ui_locale, request.prompt, request.max_age) == (
        T0,
        "vi",
        frozenset(),
        None,
    )


def test_oidcc_alternate_happy_flow_parameter_and_scope_order_do_not_matter():
    reordered = list(reversed(_pairs(scope="profile openid")))
    assert _validate(reordered).scope == ("profile", "openid")
    assert _validate(reordered).code_challenge == _validate(_pairs()).code_challenge


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow():
    assert _validate(_pairs(nonce=None)).nonce is None


@pytest.mark.parametrize(
    "extra",
    [
        [("extra", "foobar")],
        [("extra", "a"), ("extra", "b")],
        [("display", "page")],
        [("display", "popup")],
        [("claims_locales", "se")],
        [("claims", '{"userinfo":{"name":{"essential":true}}}')],
        [("login_hint", "buffy@id.dancu.sandbox")],
        [("acr_values", "LoA1 LoA2")],
        [("ui_locales", "se")],
    ],
)
def test_unknown_or_ignored_parameters_do_not_cause_errors(extra):
    assert _validate(_pairs(extra)).client_id == "rp-1"


def test_state_is_passed_through_verbatim_even_when_long():
    state = "x&y=z é " * 300
    request = _validate(_pairs(state=state))
    assert request.state == state
    assert parse_qs(urlsplit(success_redirect_url(request, code="c", issuer=ISSUER)).query)[
        "state"
    ] == [state]


def test_empty_parameter_values_count_as_omitted():
    request = _validate(_pairs(state="", nonce="", extra=[("nonce", "n-1")]))
    assert (request.state, request.nonce) == (None, "n-1")


def test_scopes_are_narrowed_to_supported_and_allowed_ones():
    assert _validate(_pairs(scope="openid email profile unknown")).scope == ("openid", "profile")


def test_openid_is_implied_for_a_code_flow_client():
    client = ClientView(client_id="rp-1", redirect_uris=(REDIRECT,), scopes=frozenset({"profile"}))
    assert _validate(_pairs(), client).scope == ("openid", "profile")


@pytest.mark.parametrize(
    ("prompt", "grant_types", "kept"),
    [
        ("consent", {"authorization_code", "refresh_token"}, True),
        (None, {"authorization_code", "refresh_token"}, False),
        ("consent", {"authorization_code"}, False),
    ],
)
def test_offline_access_needs_prompt_consent_and_refresh_grant(prompt, grant_types, kept):
    client = ClientView(
        client_id="rp-1",
        redirect_uris=(REDIRECT,),
        scopes=CLIENT.scopes,
        grant_types=frozenset(grant_types),
    )
    request = _validate(_pairs(scope="openid offline_access", prompt=prompt), client)
    assert ("offline_access" in request.scope) is kept


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("LoA2 LoA1", ("LoA2", "LoA1")),
        ("urn:other LoA2", ("LoA2",)),
        ("urn:other", ()),
        ("LoA1 LoA1", ("LoA1",)),
    ],
)
def test_acr_values_keep_supported_levels_in_preference_order(value, expected):
    assert _validate(_pairs(acr_values=value)).acr_values == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("en-US vi", "en"), ("fr vi-VN", "vi"), ("se", "vi"), ("EN", "en")]
)
def test_ui_locale_is_the_first_supported_language(value, expected):
    assert _validate(_pairs(ui_locales=value)).ui_locale == expected


@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("15000", 15000), ("0000000001", 1)])
def test_max_age_is_parsed(value, expected):
    assert _validate(_pairs(max_age=value)).max_age == expected


def test_overlong_login_hint_is_dropped_not_rejected():
    assert _validate(_pairs(login_hint="x" * 257)).login_hint is None


def test_fapi_64_and_384_character_nonces_are_accepted():
    assert len(_validate(_pairs(nonce="n" * 384)).nonce) == 384


def test_prompt_values_are_parsed():
    assert _validate(_pairs(prompt="login consent")).prompt == {"login", "consent"}


# --- errors that must NOT redirect (RFC 6749 §4.1.2.1, RFC 9700 §4.11) ---------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        None,
        "https://rp.example/cb/",
        "https://rp.example/cb?x=1",
        "https://rp.evil/cb",
        "https://rp.example/cb#f",
    ],
)
def test_oidcc_ensure_registered_redirect_uri_errors_are_not_redirected(redirect_uri):
    with pytest.raises(AuthorizationRejected) as caught:
        _validate(_pairs(redirect_uri=redirect_uri, response_type="token"))
    assert isinstance(caught.value.error, InvalidRequest)


def test_oidcc_ensure_redirect_uri_in_authorization_request_even_with_one_registered():
    client = ClientView(client_id="rp-1", redirect_uris=(REDIRECT,), scopes=CLIENT.scopes)
    with pytest.raises(AuthorizationRejected):
        _validate(_pairs(redirect_uri=None), client)


def test_unknown_client_is_not_redirected():
    with pytest.raises(AuthorizationRejected) as caught:
        _validate(_pairs(), client=None)
    assert isinstance(caught.value.error, InvalidClient)


def test_client_view_for_another_client_id_is_refused():
    with pytest.raises(AuthorizationRejected):
        _validate(_pairs(client_id="rp-2"))


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_repeated_client_id_or_redirect_uri_is_not_redirected(name):
    with pytest.raises(AuthorizationRejected):
        _validate(_pairs(extra=[(name, BASE[name])]))


@pytest.mark.parametrize(
    "pairs", [[], [("client_id", "a"), ("client_id", "b")], [("client_id", "")]]
)
def test_requested_client_id_must_be_present_once(pairs):
    with pytest.raises(AuthorizationRejected):
        requested_client_id(pairs)


def test_requested_client_id_is_read_before_lookup():
    assert requested_client_id(_pairs()) == "rp-1"


# --- errors redirected back with error, error_description, state and iss -------------------------

REDIRECTED_ERRORS = [
    ("oidcc_response_type_missing", {"response_type": None}, "invalid_request"),
    ("response_type_token", {"response_type": "token"}, "unsupported_response_type"),
    ("response_type_id_token", {"response_type": "id_token"}, "unsupported_response_type"),
    (
        "response_type_code_id_token",
        {"response_type": "code id_token"},
        "unsupported_response_type",
    ),
    ("response_type_code_token", {"response_type": "code token"}, "unsupported_response_type"),
    ("response_mode_fragment", {"response_mode": "fragment"}, "invalid_request"),
    ("response_mode_form_post", {"response_mode": "form_post"}, "invalid_request"),
    ("scope_missing", {"scope": None}, "invalid_scope"),
    ("scope_without_openid", {"scope": "profile"}, "invalid_scope"),
    ("scope_bad_characters", {"scope": 'openid "profile"'}, "invalid_scope"),
    ("pkce_challenge_missing", {"code_challenge": None}, "invalid_request"),
    ("pkce_plain", {"code_challenge_method": "plain"}, "invalid_request"),
    ("pkce_method_missing", {"code_challenge_method": None}, "invalid_request"),
    ("pkce_challenge_42_chars", {"code_challenge": CHALLENGE[:42]}, "invalid_request"),
    ("pkce_challenge_with_padding", {"code_challenge": CHALLENGE[:42] + "="}, "invalid_request"),
    ("prompt_none_with_login", {"prompt": "none login"}, "invalid_request"),
    ("prompt_unknown", {"prompt": "create"}, "invalid_request"),
    ("max_age_negative", {"max_age": "-1"}, "invalid_request"),
    ("max_age_decimal", {"max_age": "1.5"}, "invalid_request"),
    ("max_age_eleven_digits", {"max_age": "1" * 11}, "invalid_request"),
    ("nonce_too_long", {"nonce": "n" * 513}, "invalid_request"),
    ("request_object", {"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ("request_uri", {"request_uri": "https://rp.example/req.jwt"}, "request_uri_not_supported"),
    ("registration", {"registration": "{}"}, "registration_not_supported"),
]


@pytest.mark.parametrize(
    ("changes", "code"), [c[1:] for c in REDIRECTED_ERRORS], ids=[c[0] for c in REDIRECTED_ERRORS]
)
def test_invalid_request_is_redirected_with_error_state_and_iss(changes, code):
    error, location, query = _redirect_error(_pairs(**changes))
    assert error == code
    assert location.startswith(REDIRECT + "?")
    assert query["error"] == [code]
    assert query["state"] == ["af0ifjsldkj"]
    assert query["iss"] == [ISSUER]
    assert "code" not in query
    assert not any(ch in query["error_description"][0] for ch in "\r\n\t")


@pytest.mark.parametrize(
    "name", ["response_type", "scope", "nonce", "code_challenge", "prompt", "max_age"]
)
def test_repeated_parameter_is_invalid_request(name):
    twice = [(name, BASE[name])] if name in BASE else [(name, "1"), (name, "1")]
    error, _, query = _redirect_error(_pairs(extra=twice))
    assert error == "invalid_request"
    assert name in query["error_description"][0]


def test_repeated_state_is_not_echoed():
    error, _, query = _redirect_error(_pairs(extra=[("state", "other")]))
    assert error == "invalid_request"
    assert "state" not in query


def test_client_without_code_grant_is_unauthorized_client():
    client = ClientView(
        client_id="rp-1", redirect_uris=(REDIRECT,), grant_types=frozenset({"client_credentials"})
    )
    assert _redirect_error(_pairs(), client)[0] == "unauthorized_client"


def test_error_redirect_without_state_omits_state():
    _, _, query = _redirect_error(_pairs(state=None, response_type="token"))
    assert "state" not in query
    assert query["iss"] == [ISSUER]


def test_error_redirect_keeps_the_registered_query():
    _, location, query = _redirect_error(
        _pairs(redirect_uri="https://rp.example/cb?tenant=7", scope="profile")
    )
    assert location.startswith("https://rp.example/cb?tenant=7&")
    assert query["tenant"] == ["7"]


# --- success response ----------------------------------------------------------------------------


def test_success_redirect_carries_code_state_and_iss():
    request = _validate(_pairs(redirect_uri="https://rp.example/cb?tenant=7"))
    location = success_redirect_url(request, code="SplxlOBeZQQYbYS6WxSbIA", issuer=ISSUER)
    assert location.startswith("https://rp.example/cb?tenant=7&")
    assert parse_qs(urlsplit(location).query) == {
        "tenant": ["7"],
        "code": ["SplxlOBeZQQYbYS6WxSbIA"],
        "state": ["af0ifjsldkj"],
        "iss": [ISSUER],
    }


def test_success_redirect_without_state_has_no_state():
    request = _validate(_pairs(state=None))
    assert "state" not in parse_qs(
        urlsplit(success_redirect_url(request, code="c", issuer=ISSUER)).query
    )


NO_PKCE_CLIENT = dataclasses.replace(CLIENT, require_pkce=False)


def test_a_client_whose_policy_needs_no_pkce_may_omit_the_challenge():
    request = _validate(_pairs(code_challenge=None, code_challenge_method=None), NO_PKCE_CLIENT)
    assert request.code_challenge is None


def test_a_client_that_requires_pkce_must_send_a_challenge():
    error, _, query = _redirect_error(_pairs(code_challenge=None, code_challenge_method=None))
    assert (error, query["error_description"]) == ("invalid_request",
                                                   ["code_challenge is required (PKCE S256)."])


@pytest.mark.parametrize("changes", [{"code_challenge_method": "plain"},
                                     {"code_challenge": "short"},
                                     {"code_challenge_method": None}])
def test_a_challenge_sent_without_a_pkce_requirement_is_still_checked(changes):
    assert _redirect_error(_pairs(**changes), NO_PKCE_CLIENT)[0] == "invalid_request"


def test_a_challenge_sent_without_a_pkce_requirement_is_kept():
    assert _validate(_pairs(), NO_PKCE_CLIENT).code_challenge == CHALLENGE
