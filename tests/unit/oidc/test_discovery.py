"""Discovery metadata (OIDC Discovery §3, RFC 8414 §2).

Ports the checks of conformance module oidcc-discovery-endpoint-verification.
"""

import pytest

from app.oidc.discovery import Endpoints, openid_configuration

from .support import ISSUER

DOC = openid_configuration(issuer=ISSUER)

EXPECTED = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/oauth2/authorize",
    "token_endpoint": f"{ISSUER}/oauth2/token",
    "userinfo_endpoint": f"{ISSUER}/oauth2/userinfo",
    "jwks_uri": f"{ISSUER}/.well-known/jwks.json",
    "introspection_endpoint": f"{ISSUER}/oauth2/introspect",
    "revocation_endpoint": f"{ISSUER}/oauth2/revoke",
    "end_session_endpoint": f"{ISSUER}/oauth2/logout",
    "response_types_supported": ["code"],
    "response_modes_supported": ["query"],
    "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
    "subject_types_supported": ["pairwise"],
    "id_token_signing_alg_values_supported": ["ES256", "RS256"],
    "token_endpoint_auth_methods_supported": [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "none",
    ],
    "introspection_endpoint_auth_methods_supported": [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
    ],
    "revocation_endpoint_auth_methods_supported": [
        "client_secret_basic",
        "client_secret_post",
        "client_secret_jwt",
        "private_key_jwt",
        "none",
    ],
    "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256", "HS256"],
    "introspection_endpoint_auth_signing_alg_values_supported": [
        "RS256", "PS256", "ES256", "HS256"],
    "revocation_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256", "HS256"],
    "code_challenge_methods_supported": ["S256"],
    "acr_values_supported": ["LoA1", "LoA2"],
    "ui_locales_supported": ["vi", "en"],
    "prompt_values_supported": ["none", "login", "consent", "select_account"],
    "claims_parameter_supported": True,
    "request_parameter_supported": True,
    "request_uri_parameter_supported": False,
    "authorization_response_iss_parameter_supported": True,
}


@pytest.mark.parametrize(("name", "value"), EXPECTED.items())
def test_metadata_member(name, value):
    assert DOC[name] == value


def test_scopes_include_openid_and_the_vneid_scope():
    assert {
        "openid",
        "profile",
        "email",
        "phone",
        "address",
        "vneid.identity",
        "offline_access",
    } <= set(DOC["scopes_supported"])


def test_claims_supported_lists_vneid_claims_but_no_sensitive_ones():
    assert {"sub", "SoDinhDanh", "HoVaTen", "NgayThangNamSinh", "acr", "auth_time"} <= set(
        DOC["claims_supported"]
    )
    assert not {"ethnicity", "religion", "preferred_username"} & set(DOC["claims_supported"])


def test_plain_pkce_and_none_alg_are_never_advertised():
    assert "plain" not in DOC["code_challenge_methods_supported"]
    assert "none" not in DOC["id_token_signing_alg_values_supported"]


def test_backchannel_logout_is_advertised_only_when_enabled():
    assert "backchannel_logout_supported" not in DOC
    assert (
        openid_configuration(issuer=ISSUER, backchannel_logout=True)[
            "backchannel_logout_session_supported"
        ]
        is True
    )


def test_endpoint_paths_can_be_absolute_and_trailing_slash_is_handled():
    doc = openid_configuration(
        issuer=ISSUER + "/", endpoints=Endpoints(token="https://mtls.dancu.sandbox/token")
    )
    assert doc["issuer"] == ISSUER + "/"
    assert doc["token_endpoint"] == "https://mtls.dancu.sandbox/token"
    assert doc["authorization_endpoint"] == f"{ISSUER}/oauth2/authorize"


@pytest.mark.parametrize(
    "issuer", ["http://localhost:8000", "http://127.0.0.1:8000", "https://id.example/tenant"]
)
def test_https_or_loopback_issuers_are_accepted(issuer):
    assert openid_configuration(issuer=issuer)["issuer"] == issuer


@pytest.mark.parametrize(
    "issuer",
    [
        "http://id.example",
        "https://id.example?x=1",
        "https://id.example#f",
        "id.example",
        "https://",
    ],
)
def test_issuer_must_be_https_without_query_or_fragment(issuer):
    with pytest.raises(ValueError, match="issuer"):
        openid_configuration(issuer=issuer)


def test_data_sharing_scopes_can_be_listed_after_the_oidc_ones():
    doc = openid_configuration(issuer=ISSUER, extra_scopes=("citizen.basic", "openid"))
    assert doc["scopes_supported"][-1] == "citizen.basic"
    assert doc["scopes_supported"].count("openid") == 1


def test_rfc8414_metadata_keeps_only_the_members_rfc8414_defines():
    from app.oidc.discovery import RFC8414_FIELDS, authorization_server_metadata

    oauth = authorization_server_metadata(DOC)
    assert oauth["issuer"] == ISSUER
    assert set(oauth) == set(RFC8414_FIELDS) & set(DOC)
    assert "userinfo_endpoint" not in oauth
