"""Redirect-URI registration and matching rules (RFC 6749 §3.1.2, RFC 9700 §2.1, RFC 8252 §7.3)."""

import pytest

from app.oidc.clients import (
    ClientView,
    is_registered_redirect_uri,
    native_redirect_uri_problem,
    redirect_uri_matches,
    redirect_uri_problem,
)

REGISTERED = "https://rp.example/cb"


@pytest.mark.parametrize(
    "requested",
    [
        "https://rp.example/cb/",
        "https://rp.example/cb?x=1",
        "https://rp.example/CB",
        "https://RP.example/cb",
        "https://rp.example/cb#f",
        "https://rp.example.evil/cb",
        "https://rp.example/cb/../x",
        "https://rp.example/c%62",
        "https://rp.example:8443/cb",
        "http://rp.example/cb",
        "https://evil@rp.example/cb",
        "https://rp.example/cb?",
        "HTTPS://rp.example/cb",
        "https://rp.example/c\tb",
        "https://rp.example/c%09b",
        "https://rp.example/cb ",
    ],
)
def test_redirect_uri_must_match_exactly(requested):
    assert not redirect_uri_matches(requested, REGISTERED)


def test_identical_redirect_uri_matches():
    assert redirect_uri_matches(REGISTERED, REGISTERED)


@pytest.mark.parametrize(
    ("requested", "registered", "matches"),
    [
        ("http://127.0.0.1:51004/cb", "http://127.0.0.1/cb", True),
        ("http://[::1]:8080/cb", "http://[::1]:1234/cb", True),
        ("http://127.0.0.1:51004/other", "http://127.0.0.1/cb", False),
        ("http://127.0.0.1:51004/cb?x=1", "http://127.0.0.1/cb", False),
        ("http://127.0.0.1:99999/cb", "http://127.0.0.1/cb", False),
        ("http://u@127.0.0.1:8/cb", "http://127.0.0.1/cb", False),
        ("http://localhost:51004/cb", "http://localhost/cb", False),
        ("https://127.0.0.1:51004/cb", "https://127.0.0.1/cb", False),
        ("http://127.0.0.1:51004", "http://127.0.0.1", True),
        ("http://127.0.0.1:51004/cb?", "http://127.0.0.1/cb", False),
        ("http://127.0.0.1/cb?", "http://127.0.0.1/cb", False),
        ("HTTP://127.0.0.1:51004/cb", "http://127.0.0.1/cb", False),
        ("Http://127.0.0.1/cb", "http://127.0.0.1/cb", False),
        ("http://127.0.0.1:51004/c\tb", "http://127.0.0.1/cb", False),
        ("http://127.0.0.1:51004/c%62", "http://127.0.0.1/cb", False),
        ("http://127.0.0.1:51004/CB", "http://127.0.0.1/cb", False),
        ("http://127.0.0.1:51004/cb#f", "http://127.0.0.1/cb", False),
        ("http://127.0.0.1.evil/cb", "http://127.0.0.1/cb", False),
        ("http://127.0.0.1:80@evil/cb", "http://127.0.0.1/cb", False),
        ("http://127.0.0.1:0/cb", "http://127.0.0.1/cb", False),
        ("http://127.0.0.1:/cb", "http://127.0.0.1/cb", False),
        ("http://[::1]:8080/cb", "http://127.0.0.1/cb", False),
        ("http://[0:0::1]:8080/cb", "http://[::1]/cb", False),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:8080/cb/", False),
        ("http://localhost/cb", "http://localhost/cb", True),
    ],
)
def test_any_port_is_allowed_only_for_http_loopback_ip_literals(requested, registered, matches):
    assert redirect_uri_matches(requested, registered) is matches


@pytest.mark.parametrize(
    ("uri", "sandbox", "problem"),
    [
        ("https://rp.example/cb", False, None),
        ("https://rp.example/cb?tenant=1", False, None),
        ("http://127.0.0.1/cb", False, None),
        ("http://localhost:3000/cb", True, None),
        ("http://localhost:3000/cb", False, "https"),
        ("http://rp.example/cb", True, "https"),
        ("https://rp.example/cb#frag", False, "fragment"),
        ("https://user@rp.example/cb", False, "user information"),
        ("https://*.rp.example/cb", False, "wildcard"),
        ("/cb", False, "absolute"),
        ("com.example.app:/cb", False, "absolute"),
    ],
)
def test_redirect_uri_registration_rules(uri, sandbox, problem):
    found = redirect_uri_problem(uri, sandbox=sandbox)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize(
    "change",
    [
        {"token_endpoint_auth_method": "tls_client_auth"},
        {"id_token_signed_response_alg": "HS256"},
        {"grant_types": frozenset({"password"})},
    ],
)
def test_client_view_refuses_unsupported_settings(change):
    with pytest.raises(ValueError, match="unknown|must be"):
        ClientView(client_id="rp", **change)


def test_sector_defaults_to_client_id():
    assert ClientView(client_id="rp").sector == "rp"
    assert ClientView(client_id="rp", sector_identifier="rp.example").sector == "rp.example"
    assert ClientView(client_id="rp", token_endpoint_auth_method="none").is_public


@pytest.mark.parametrize(
    ("application_type", "requested", "registered"),
    [
        ("native", "http://127.0.0.1:51004/cb", True),
        ("native", "http://127.0.0.1/cb", True),
        ("web", "http://127.0.0.1:51004/cb", False),
        ("web", "http://127.0.0.1/cb", True),
    ],
)
def test_loopback_port_rule_applies_only_to_native_clients(application_type, requested,
                                                           registered):
    client = ClientView(client_id="rp", redirect_uris=("http://127.0.0.1/cb",),
                        application_type=application_type)
    assert is_registered_redirect_uri(client, requested) is registered


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"token_endpoint_auth_method": "none", "require_pkce": False}, "PKCE"),
        ({"application_type": "desktop"}, "web or native"),
    ],
)
def test_client_view_refuses_an_impossible_policy(change, message):
    with pytest.raises(ValueError, match=message):
        ClientView(client_id="rp", **change)


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("com.example.app:/oauth2redirect", None),
        ("vn.gov.dichvucong.app:/cb", None),
        ("https://rp.example/cb", None),
        ("http://127.0.0.1/cb", None),
        ("myapp:/cb", "absolute"),  # no dot: any app could claim it
        ("com.example.app://host/cb", "reverse domain-name"),
        ("com.example.app:", "reverse domain-name"),
        ("com.example.app:/cb#x", "fragment"),
        ("http://rp.example/cb", "https"),
    ],
)
def test_a_native_client_may_register_a_private_use_scheme(uri, problem):
    found = native_redirect_uri_problem(uri, sandbox=False)
    assert (found is None) if problem is None else (problem in found)


def test_a_web_client_may_not_register_a_private_use_scheme():
    assert redirect_uri_problem("com.example.app:/cb", sandbox=False) is not None
