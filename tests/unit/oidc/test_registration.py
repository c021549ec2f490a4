"""Dynamic registration metadata (RFC 7591 §2, OIDC Registration §2)."""

import pytest

from app.oidc.errors import InvalidClientMetadata, InvalidRedirectUri
from app.oidc.registration import DEFAULT_CLIENT_NAME, parse_metadata

CB = ["https://rp.example/cb"]
JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}]}


def test_defaults_follow_rfc_7591_and_oidc_registration():
    metadata = parse_metadata({"redirect_uris": CB})
    assert metadata.client_name == DEFAULT_CLIENT_NAME
    assert metadata.grant_types == ("authorization_code",)
    assert metadata.token_endpoint_auth_method == "client_secret_basic"
    assert metadata.id_token_signed_response_alg == "RS256"
    assert metadata.userinfo_signed_response_alg is None
    assert metadata.require_pkce is False


@pytest.mark.parametrize(("document", "field", "value"), [
    ({"token_endpoint_auth_method": "none"}, "require_pkce", True),
    ({"token_endpoint_auth_method": "none", "require_pkce": False}, "require_pkce", True),
    ({"require_pkce": True}, "require_pkce", True),
    ({"scope": "openid  email"}, "scope", ("openid", "email")),
    ({"grant_types": ["authorization_code", "refresh_token", "refresh_token"]}, "grant_types",
     ("authorization_code", "refresh_token")),
    ({"application_type": "native"}, "application_type", "native"),
    ({"userinfo_signed_response_alg": "ES256"}, "userinfo_signed_response_alg", "ES256"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": JWKS}, "jwks", JWKS),
    # a secret client's keys (for its request objects), as the conformance suite registers them
    ({"jwks": JWKS}, "jwks", JWKS),
    ({"client_name": "x" * 300}, "client_name", "x" * 120),
    ({"contacts": ["a@b.example"], "logo_uri": "https://rp.example/l.png", "unknown": 1},
     "redirect_uris", tuple(CB)),
])
def test_metadata_is_read_as_registered(document, field, value):
    assert getattr(parse_metadata({"redirect_uris": CB, **document}), field) == value


@pytest.mark.parametrize("document", [
    [], "text", {"redirect_uris": CB, "grant_types": ["client_credentials"]},
    {"redirect_uris": CB, "grant_types": ["refresh_token"]},
    {"redirect_uris": CB, "response_types": ["token"]},
    {"redirect_uris": CB, "token_endpoint_auth_method": "private_key_jwt"},
    {"redirect_uris": CB, "jwks_uri": "https://rp.example/jwks"},
    {"redirect_uris": CB, "id_token_signed_response_alg": "none"},
    {"redirect_uris": CB, "subject_type": "public"},
    {"redirect_uris": CB, "logo_uri": 5},
    {"redirect_uris": CB, "contacts": "a@b.example"},
    {"redirect_uris": [""]},
    {"redirect_uris": CB * 17},
])
def test_invalid_metadata_is_invalid_client_metadata(document):
    with pytest.raises(InvalidClientMetadata):
        parse_metadata(document)


def test_no_redirect_uri_is_invalid_redirect_uri():
    with pytest.raises(InvalidRedirectUri):
        parse_metadata({"client_name": "x"})


@pytest.mark.parametrize(("document", "says"), [
    ({"client_name": "A" * 2001}, "client_name must be a string of 1 to 2000 characters."),
    ({"client_name": ""}, "client_name must be a string of 1 to 2000 characters."),
    ({"contacts": ["a@b.example"] * 17}, "contacts must be an array of at most 16 non-empty"),
])
def test_a_refusal_says_the_bound_the_value_broke_never_the_value(document, says):
    with pytest.raises(InvalidClientMetadata) as refused:
        parse_metadata({"redirect_uris": ["https://rp.example/cb"], **document})
    assert says in refused.value.description
    assert "AAAA" not in refused.value.description
