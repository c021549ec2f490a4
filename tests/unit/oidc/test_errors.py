"""RFC 6749 §5.2 / RFC 6750 §3 / OIDC Core §3.1.2.6 error family."""

import pytest

from app.oidc import errors as e

EXPECTED = [
    ("invalid_request", 400),
    ("invalid_client", 401),
    ("invalid_grant", 400),
    ("unauthorized_client", 400),
    ("unsupported_grant_type", 400),
    ("invalid_scope", 400),
    ("access_denied", 403),
    ("unsupported_response_type", 400),
    ("server_error", 500),
    ("temporarily_unavailable", 503),
    ("interaction_required", 400),
    ("login_required", 400),
    ("account_selection_required", 400),
    ("consent_required", 400),
    ("invalid_request_uri", 400),
    ("invalid_request_object", 400),
    ("request_not_supported", 400),
    ("request_uri_not_supported", 400),
    ("registration_not_supported", 400),
    ("unmet_authentication_requirements", 400),
    ("invalid_token", 401),
    ("insufficient_scope", 403),
    ("unsupported_token_type", 400),
]


@pytest.mark.parametrize(("code", "status"), EXPECTED)
def test_every_registered_error_code_has_a_class_and_status(code, status):
    cls = e.ERROR_CLASSES[code]
    error = cls()
    assert (error.error, error.status) == (code, status)
    assert error.as_dict() == {"error": code, "error_description": error.description}


@pytest.mark.parametrize(
    "text", ['say "hi"', "back\\slash", "line\nbreak", "tab\tchar", "Tiếng Việt"]
)
def test_error_description_outside_rfc6749_charset_is_refused(text):
    with pytest.raises(ValueError, match="printable ASCII"):
        e.InvalidRequest(text)


def test_empty_description_is_omitted_from_body():
    assert e.InvalidGrant("").as_dict() == {"error": "invalid_grant"}


def test_token_error_response_is_not_cached():
    response = e.token_error_response(e.InvalidGrant())
    assert response.status == 400
    assert response.headers["Cache-Control"] == "no-store"
    assert response.body["error"] == "invalid_grant"


def test_invalid_client_after_basic_auth_carries_basic_challenge():
    response = e.token_error_response(e.InvalidClient(), basic_realm="dancu")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="dancu"'


def test_invalid_client_without_basic_auth_has_no_challenge():
    assert "WWW-Authenticate" not in e.token_error_response(e.InvalidClient()).headers


@pytest.mark.parametrize(
    ("error", "status", "challenge"),
    [
        (None, 401, 'Bearer realm="dancu"'),
        (
            e.InvalidToken("The access token expired."),
            401,
            'Bearer realm="dancu", error="invalid_token", '
            'error_description="The access token expired."',
        ),
        (e.InvalidRequest(""), 400, 'Bearer realm="dancu", error="invalid_request"'),
    ],
)
def test_bearer_error_response_follows_rfc6750_section_3(error, status, challenge):
    response = e.bearer_error_response(error, realm="dancu")
    assert response.status == status
    assert response.headers["WWW-Authenticate"] == challenge


def test_insufficient_scope_challenge_names_the_needed_scope():
    response = e.bearer_error_response(
        e.InsufficientScope(""), realm="dancu", scope=("openid", "profile")
    )
    assert response.status == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="dancu", error="insufficient_scope", scope="openid profile"'
    )


def test_bearer_response_refuses_non_bearer_error_codes():
    with pytest.raises(ValueError, match="RFC 6750"):
        e.bearer_error_response(e.InvalidGrant(), realm="dancu")


def test_realm_cannot_inject_header_syntax():
    with pytest.raises(ValueError, match="auth-param"):
        e.bearer_challenge(realm='x", error="forged')
