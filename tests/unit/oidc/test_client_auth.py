"""Client authentication (RFC 6749 §2.3, RFC 7521 §4.2, RFC 7523 §3, OIDC Core §9)."""

import base64
from datetime import timedelta
from urllib.parse import quote_plus

import pytest
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, OctKey, RSAKey

from app.oidc.client_auth import (
    CLIENT_ASSERTION_TYPE,
    ClientCredentials,
    authenticate_client,
    hash_client_secret,
    new_client_secret,
    parse_client_credentials,
    verify_client_secret,
)
from app.oidc.clients import ClientView
from app.oidc.errors import InvalidClient, InvalidRequest
from app.oidc.keys import import_public_jwks

from .support import ISSUER, T0, forge, forge_hs256

TOKEN_ENDPOINT = f"{ISSUER}/oauth2/token"
SECRET = "s3cr3t-" + "x" * 40
IAT = int(T0.timestamp())
CLIENT_KEY = ECKey.generate_key("P-256", parameters={"alg": "ES256"}, auto_kid=True)
OTHER_KEY = ECKey.generate_key("P-256", auto_kid=True)
RSA_CLIENT_KEY = RSAKey.generate_key(2048, auto_kid=True)
JWKS = {"keys": [CLIENT_KEY.as_dict(private=False), RSA_CLIENT_KEY.as_dict(private=False)]}

SECRET_CLIENT = ClientView(client_id="rp:1", secret_hash=hash_client_secret(SECRET))
POST_CLIENT = ClientView(
    client_id="rp:1",
    secret_hash=hash_client_secret(SECRET),
    token_endpoint_auth_method="client_secret_post",
)
JWT_CLIENT = ClientView(
    client_id="agency-7", token_endpoint_auth_method="private_key_jwt", jwks=JWKS
)
PUBLIC_CLIENT = ClientView(client_id="app", token_endpoint_auth_method="none")


def _basic(client_id, secret):
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _assertion(key=CLIENT_KEY, alg="ES256", header=None, **changes):
    claims = {
        "iss": "agency-7",
        "sub": "agency-7",
        "aud": ISSUER,
        "jti": "a-1",
        "iat": IAT,
        "exp": IAT + 60,
        **changes,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": key.kid, **(header or {})}, claims, key, algorithms=[alg])


def _jwt_form(assertion):
    return {"client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion}


def _authenticate(credentials, client):
    return authenticate_client(
        credentials, client=client, issuer=ISSUER, token_endpoint=TOKEN_ENDPOINT, now=T0
    )


# --- parsing -------------------------------------------------------------------------------------


def test_basic_credentials_are_form_decoded_after_base64():
    secret = "a+b c:d%"
    credentials = parse_client_credentials(authorization=_basic("rp:1", secret), form={})
    assert (credentials.client_id, credentials.secret, credentials.method) == (
        "rp:1",
        secret,
        "client_secret_basic",
    )
    assert credentials.used_authorization_header


def test_basic_plus_sign_in_encoded_form_is_a_space():
    raw = base64.b64encode(b"my+client:pa+ss").decode()
    credentials = parse_client_credentials(authorization=f"basic {raw}", form={})
    assert (credentials.client_id, credentials.secret) == ("my client", "pa ss")


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"rp:").decode(),
        "Basic " + base64.b64encode(b":secret").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
        "Bearer abc",
    ],
)
def test_malformed_authorization_header_is_invalid_client(authorization):
    with pytest.raises(InvalidClient):
        parse_client_credentials(authorization=authorization, form={})


@pytest.mark.parametrize(
    ("authorization", "form"),
    [
        (_basic("rp:1", SECRET), {"client_id": "rp:1", "client_secret": SECRET}),
        (_basic("rp:1", SECRET), _jwt_form("x.y.z")),
        (None, {"client_id": "rp:1", "client_secret": SECRET, **_jwt_form("x.y.z")}),
    ],
    ids=["basic_and_post", "basic_and_jwt", "post_and_jwt"],
)
def test_more_than_one_method_is_invalid_request(authorization, form):
    with pytest.raises(InvalidRequest, match="exactly one"):
        parse_client_credentials(authorization=authorization, form=form)


def test_body_client_id_must_agree_with_basic_credentials():
    assert (
        parse_client_credentials(
            authorization=_basic("rp:1", SECRET), form={"client_id": "rp:1"}
        ).client_id
        == "rp:1"
    )
    with pytest.raises(InvalidClient):
        parse_client_credentials(authorization=_basic("rp:1", SECRET), form={"client_id": "rp:2"})


def test_post_and_none_methods_are_recognised():
    post = parse_client_credentials(
        authorization=None, form={"client_id": "rp:1", "client_secret": SECRET}
    )
    public = parse_client_credentials(authorization=None, form={"client_id": "app"})
    assert (post.method, post.secret, public.method, public.secret) == (
        "client_secret_post",
        SECRET,
        "none",
        None,
    )


def test_no_client_identification_at_all_is_invalid_client():
    with pytest.raises(InvalidClient):
        parse_client_credentials(authorization=None, form={"grant_type": "authorization_code"})


def test_assertion_client_id_comes_from_its_sub():
    credentials = parse_client_credentials(authorization=None, form=_jwt_form(_assertion()))
    assert (credentials.client_id, credentials.method) == ("agency-7", "private_key_jwt")


@pytest.mark.parametrize(
    "form",
    [
        {"client_assertion_type": "urn:other", "client_assertion": "a.b.c"},
        {"client_assertion_type": CLIENT_ASSERTION_TYPE},
        {"client_assertion": "a.b.c"},
        _jwt_form("not-a-jwt"),
        _jwt_form(forge({"alg": "ES256"}, b"[1]")),
    ],
    ids=["wrong_type", "missing_assertion", "missing_type", "garbage", "payload_not_object"],
)
def test_bad_assertion_parameters_are_invalid_client(form):
    with pytest.raises(InvalidClient):
        parse_client_credentials(authorization=None, form=form)


def test_assertion_for_another_client_than_the_body_client_id_is_invalid_client():
    with pytest.raises(InvalidClient):
        parse_client_credentials(
            authorization=None, form={"client_id": "rp:1", **_jwt_form(_assertion())}
        )


# --- secrets -------------------------------------------------------------------------------------


def test_generated_secrets_are_long_and_hash_with_a_format_prefix():
    secret = new_client_secret()
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    stored = hash_client_secret(secret)
    assert stored.startswith("sha256$")
    assert secret not in stored
    assert verify_client_secret(secret, stored)
    assert not verify_client_secret(secret + "x", stored)


def test_short_human_chosen_secret_is_never_stored():
    with pytest.raises(ValueError, match="generated"):
        hash_client_secret("password123")


def test_unknown_client_secret_check_fails():
    assert not verify_client_secret(SECRET, None)


@pytest.mark.parametrize(
    ("authorization", "form", "client"),
    [
        (_basic("rp:1", SECRET), {}, SECRET_CLIENT),
        (None, {"client_id": "rp:1", "client_secret": SECRET}, POST_CLIENT),
        (None, {"client_id": "app"}, PUBLIC_CLIENT),
    ],
    ids=["basic", "post", "public"],
)
def test_registered_method_with_right_credentials_authenticates(authorization, form, client):
    credentials = parse_client_credentials(authorization=authorization, form=form)
    assert _authenticate(credentials, client).client_id == client.client_id


@pytest.mark.parametrize(
    ("authorization", "form", "client"),
    [
        (_basic("rp:1", "wrong-" + "x" * 40), {}, SECRET_CLIENT),
        (_basic("rp:1", SECRET), {}, None),
        (None, {"client_id": "rp:1"}, SECRET_CLIENT),
        (None, {"client_id": "agency-7"}, JWT_CLIENT),
    ],
    ids=[
        "wrong_secret",
        "unknown_client",
        "no_secret",
        "no_assertion",
    ],
)
def test_wrong_or_unregistered_credentials_are_invalid_client(authorization, form, client):
    credentials = parse_client_credentials(authorization=authorization, form=form)
    with pytest.raises(InvalidClient) as caught:
        _authenticate(credentials, client)
    assert caught.value.description == "Client authentication failed."


@pytest.mark.parametrize(
    ("authorization", "form", "client", "description"),
    [
        (None, {"client_id": "rp:1", "client_secret": SECRET}, SECRET_CLIENT,
         "The client is registered for client_secret_basic; the secret was sent by "
         "client_secret_post."),
        (_basic("rp:1", SECRET), {}, POST_CLIENT,
         "The client is registered for client_secret_post; the secret was sent by "
         "client_secret_basic."),
        (None, {"client_id": "rp:1", "client_secret": "wrong-" + "x" * 40}, SECRET_CLIENT,
         "Client authentication failed."),
    ],
    ids=["post_for_basic_client", "basic_for_post_client", "wrong_secret_by_another_method"],
)
def test_a_right_secret_sent_by_another_method_names_the_registered_method(
        authorization, form, client, description):
    credentials = parse_client_credentials(authorization=authorization, form=form)
    with pytest.raises(InvalidClient) as caught:
        _authenticate(credentials, client)
    assert caught.value.description == description


# --- private_key_jwt -----------------------------------------------------------------------------


def _jwt_auth(assertion, client=JWT_CLIENT):
    return _authenticate(
        parse_client_credentials(authorization=None, form=_jwt_form(assertion)), client
    )


@pytest.mark.parametrize(
    "assertion",
    [
        _assertion(),
        _assertion(aud=TOKEN_ENDPOINT),
        _assertion(key=RSA_CLIENT_KEY, alg="PS256"),
        _assertion(header={"typ": "JWT"}),
        _assertion(header={"typ": "client-authentication+jwt"}),
        _assertion(nbf=IAT + 8),
        _assertion(exp=IAT + 600),
        _assertion(key=RSA_CLIENT_KEY, alg="RS256"),
        _assertion(aud=[ISSUER]),
        _assertion(aud=["https://other.example", TOKEN_ENDPOINT]),
        _assertion(exp=IAT + 3600),
        _assertion(exp=IAT + 3900, iat=None),
    ],
    ids=[
        "aud_issuer",
        "aud_token_endpoint",
        "ps256",
        "typ_jwt",
        "typ_client_authentication",
        "nbf_8s_ahead",
        "exp_10_min",
        "rs256",
        "aud_array_with_issuer",
        "aud_array_with_token_endpoint",
        "exp_one_hour_ahead_authlib_default",
        "exp_3900_s_ahead_without_iat",
    ],
)
def test_valid_client_assertion_authenticates_and_returns_jti_for_replay_check(assertion):
    result = _jwt_auth(assertion)
    assert (result.client_id, result.method, result.assertion_jti) == (
        "agency-7",
        "private_key_jwt",
        "a-1",
    )
    assert result.assertion_expires_at is not None


NO_KID_CLAIMS = {"iss": "agency-7", "sub": "agency-7", "aud": ISSUER, "jti": "j", "exp": IAT + 60}
SECOND_RSA_KEY = RSAKey.generate_key(2048, auto_kid=True)


@pytest.mark.parametrize(
    ("key", "alg"),
    [(CLIENT_KEY, "ES256"), (RSA_CLIENT_KEY, "RS256"), (RSA_CLIENT_KEY, "PS256"),
     (SECOND_RSA_KEY, "RS256")],
)
def test_assertion_without_kid_is_verified_with_the_client_keys_of_its_alg(key, alg):
    """Authlib's PrivateKeyJWT sends no kid unless told; the keys that fit the alg are tried."""
    several = ClientView(client_id="agency-7", token_endpoint_auth_method="private_key_jwt",
                         jwks={"keys": [*JWKS["keys"], SECOND_RSA_KEY.as_dict(private=False)]})
    token = jwt.encode({"alg": alg}, NO_KID_CLAIMS, key, algorithms=[alg])
    assert _jwt_auth(token, several).assertion_jti == "j"


@pytest.mark.parametrize(("key", "alg"), [(OTHER_KEY, "ES256"),
                                          (RSAKey.generate_key(2048), "RS256")])
def test_assertion_without_kid_signed_by_an_unregistered_key_is_refused(key, alg):
    with pytest.raises(InvalidClient):
        _jwt_auth(jwt.encode({"alg": alg}, NO_KID_CLAIMS, key, algorithms=[alg]))


def test_assertion_naming_the_endpoint_it_is_sent_to_authenticates_there_only():
    introspection = f"{ISSUER}/oauth2/introspect"
    credentials = parse_client_credentials(
        authorization=None, form=_jwt_form(_assertion(aud=introspection)))
    found = authenticate_client(credentials, client=JWT_CLIENT, issuer=ISSUER,
                                token_endpoint=TOKEN_ENDPOINT, endpoint=introspection, now=T0)
    assert found.client_id == "agency-7"
    with pytest.raises(InvalidClient):
        _authenticate(credentials, JWT_CLIENT)


ASSERTION_ATTACKS = [
    ("aud_array_without_us", lambda: _assertion(aud=["https://other.example"])),
    ("aud_array_not_strings", lambda: _assertion(aud=[ISSUER, 7])),
    ("aud_object", lambda: _assertion(aud={"aud": ISSUER})),
    ("aud_other_server", lambda: _assertion(aud="https://other.example")),
    ("aud_par_endpoint", lambda: _assertion(aud=f"{ISSUER}/oauth2/par")),
    ("iss_differs_from_sub", lambda: _assertion(iss="rp:1")),
    ("sub_missing", lambda: _assertion(sub=None, iss="agency-7")),
    ("exp_5_min_in_past", lambda: _assertion(exp=IAT - 300)),
    ("exp_missing", lambda: _assertion(exp=None)),
    ("exp_3901_s_ahead", lambda: _assertion(exp=IAT + 3901 + 30, iat=None)),
    ("exp_3901_s_after_iat", lambda: _assertion(iat=IAT - 20, exp=IAT + 3881)),
    ("jti_missing", lambda: _assertion(jti=None)),
    ("nbf_61s_ahead", lambda: _assertion(nbf=IAT + 61)),
    ("rs384_not_allowed", lambda: _assertion(key=RSA_CLIENT_KEY, alg="RS384")),
    ("signed_by_unregistered_key", lambda: _assertion(key=OTHER_KEY)),
    (
        "unregistered_key_with_registered_kid",
        lambda: forge(
            {"alg": "ES256", "kid": CLIENT_KEY.kid},
            {"iss": "agency-7", "sub": "agency-7", "aud": ISSUER, "jti": "j", "exp": IAT + 60},
            private_key=OTHER_KEY.private_key,
        ),
    ),
    (
        "hs256_with_secret",
        lambda: forge_hs256(
            {"alg": "HS256", "kid": CLIENT_KEY.kid},
            {"iss": "agency-7", "sub": "agency-7", "aud": ISSUER, "jti": "j", "exp": IAT + 60},
            SECRET.encode(),
        ),
    ),
    (
        "alg_none",
        lambda: forge(
            {"alg": "none"},
            {"iss": "agency-7", "sub": "agency-7", "aud": ISSUER, "jti": "j", "exp": IAT + 60},
        ),
    ),
    ("typ_access_token", lambda: _assertion(header={"typ": "at+jwt"})),
    ("typ_dpop", lambda: _assertion(header={"typ": "dpop+jwt"})),
    (
        "embedded_jwk",
        lambda: _assertion(key=OTHER_KEY, header={"jwk": OTHER_KEY.as_dict(private=False)}),
    ),
]


@pytest.mark.parametrize(
    "build", [a[1] for a in ASSERTION_ATTACKS], ids=[a[0] for a in ASSERTION_ATTACKS]
)
def test_bad_client_assertion_is_invalid_client(build):
    with pytest.raises(InvalidClient):
        _jwt_auth(build())


def test_assertion_for_client_registered_with_secret_is_refused():
    with pytest.raises(InvalidClient):
        _jwt_auth(
            _assertion(),
            client=ClientView(client_id="agency-7", secret_hash=hash_client_secret(SECRET)),
        )


# --- registered JWK Sets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "jwks",
    [
        {"keys": []},
        {},
        {"keys": [CLIENT_KEY.as_dict(private=True)]},
        {"keys": [OctKey.generate_key(256).as_dict(private=True)]},
        {"keys": [ECKey.generate_key("P-384").as_dict(private=False)]},
        {"keys": [{**CLIENT_KEY.as_dict(private=False), "use": "enc"}]},
    ],
    ids=["empty", "no_keys_member", "private_ec", "symmetric", "p384", "encryption_key"],
)
def test_registered_jwks_must_be_public_signature_keys(jwks):
    with pytest.raises(ValueError, match="JWK|keys|P-256|private|only|signatures"):
        import_public_jwks(jwks)


def test_registered_rsa_key_below_2048_bits_is_refused():
    with pytest.warns(SecurityWarning):
        weak = RSAKey.generate_key(1024).as_dict(private=False)
    with pytest.warns(SecurityWarning), pytest.raises(ValueError, match="2048"):
        import_public_jwks({"keys": [weak]})


def test_registered_jwks_imports():
    assert len(import_public_jwks(JWKS).keys) == 2


def test_client_assertion_checks_lifetime_against_now():
    late = T0 + timedelta(minutes=5)
    credentials = parse_client_credentials(authorization=None, form=_jwt_form(_assertion()))
    with pytest.raises(InvalidClient):
        authenticate_client(
            credentials, client=JWT_CLIENT, issuer=ISSUER, token_endpoint=TOKEN_ENDPOINT, now=late
        )


def test_assertion_sub_must_be_the_client_even_if_iss_is():
    credentials = ClientCredentials(
        "agency-7", "private_key_jwt", assertion=_assertion(sub="someone-else")
    )
    with pytest.raises(InvalidClient):
        _authenticate(credentials, JWT_CLIENT)


# --- client_secret_jwt ---------------------------------------------------------------------------

SECRET_JWT_CLIENT = ClientView(client_id="agency-7", token_endpoint_auth_method="client_secret_jwt",
                               secret_hash=hash_client_secret(SECRET), secret=SECRET)
_HS_CLAIMS = {"iss": "agency-7", "sub": "agency-7", "aud": TOKEN_ENDPOINT, "jti": "h-1",
              "iat": IAT, "exp": IAT + 3600}


def _hs256(secret=SECRET, header=None, **changes):
    claims = {k: v for k, v in {**_HS_CLAIMS, **changes}.items() if v is not None}
    return forge_hs256({"alg": "HS256", **(header or {})}, claims, secret.encode())


def test_an_hs256_assertion_is_read_as_client_secret_jwt():
    credentials = parse_client_credentials(authorization=None, form=_jwt_form(_hs256()))
    assert credentials.method == "client_secret_jwt"
    assert credentials.client_id == "agency-7"


@pytest.mark.parametrize("changes", [{}, {"aud": ISSUER}, {"aud": [ISSUER, "x"]}, {"iat": None},
                                     {"header": {"kid": "ignored", "typ": "JWT"}}])
def test_client_secret_jwt_authenticates_with_the_clients_secret(changes):
    credentials = parse_client_credentials(authorization=None, form=_jwt_form(_hs256(**changes)))
    authenticated = _authenticate(credentials, SECRET_JWT_CLIENT)
    assert (authenticated.method, authenticated.assertion_jti) == ("client_secret_jwt", "h-1")


@pytest.mark.parametrize(("build", "client"), [
    (lambda: _hs256(secret="another-" + "y" * 40), SECRET_JWT_CLIENT),
    (lambda: _hs256(exp=IAT + 3901 + 30, iat=None), SECRET_JWT_CLIENT),
    (lambda: _hs256(aud="https://elsewhere.example"), SECRET_JWT_CLIENT),
    (lambda: _hs256(sub="someone-else"), SECRET_JWT_CLIENT),
    (lambda: _hs256(header={"typ": "at+jwt"}), SECRET_JWT_CLIENT),
    (lambda: _hs256(), ClientView(client_id="agency-7", token_endpoint_auth_method=
                                  "client_secret_jwt", secret_hash=hash_client_secret(SECRET))),
    (lambda: _hs256(), JWT_CLIENT),  # a key client: an HMAC is never accepted from it
    (lambda: _assertion(), SECRET_JWT_CLIENT),  # and a signature not from a secret client
], ids=["wrong secret", "too long", "wrong aud", "wrong sub", "access token typ",
        "secret not recoverable", "private_key_jwt client", "asymmetric for secret client"])
def test_a_bad_client_secret_jwt_assertion_is_invalid_client(build, client):
    credentials = parse_client_credentials(authorization=None, form=_jwt_form(build()))
    with pytest.raises(InvalidClient):
        _authenticate(credentials, client)
