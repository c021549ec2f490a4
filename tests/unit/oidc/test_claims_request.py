"""The ``claims`` request parameter (OIDC Core §5.5): what is honoured, what is refused."""

import json

import pytest

from app.oidc.claims_request import ClaimsRequest, from_json, parse_claims
from app.oidc.errors import InvalidRequest

ALL = ("openid", "profile", "email", "phone", "address", "vneid.identity")


def _parse(document, allowed=ALL):
    return parse_claims(json.dumps(document), allowed_scopes=allowed)


@pytest.mark.parametrize(("document", "userinfo", "id_token"), [
    ({"userinfo": {"name": {"essential": True}}}, ("name",), ()),
    ({"id_token": {"email": None, "birthdate": {}}}, (), ("email", "birthdate")),
    ({"userinfo": {"phone_number": {"essential": False}, "gender": {"x1": "y"}}},
     ("phone_number", "gender"), ()),
    ({"userinfo": {"unknown_claim": None}}, (), ()),  # not understood: ignored
    ({"id_token": {"auth_time": {"essential": True}, "sub": None}}, (), ()),  # token's own claims
    ({"userinfo": {"name": None}, "other_member": {"x": 1}}, ("name",), ()),
    ({}, (), ()),
])
def test_claims_parameter_names_the_claims_released_per_target(document, userinfo, id_token):
    request = _parse(document)
    assert (request.userinfo, request.id_token) == (userinfo, id_token)


def test_claims_outside_the_clients_scopes_are_ignored():
    request = _parse({"userinfo": {"SoDinhDanh": None, "name": None}},
                     allowed=("openid", "profile"))
    assert request.userinfo == ("name",)


def test_claims_scopes_are_what_consent_must_cover():
    request = _parse({"userinfo": {"name": None}, "id_token": {"email": None, "HoVaTen": None}})
    assert request.scopes == ("profile", "email", "vneid.identity")


def test_acr_values_asked_in_the_id_token_are_read_like_acr_values():
    request = _parse({"id_token": {"acr": {"essential": True, "values": ["LoA2", "x"]}}})
    assert request.acr_values == ("LoA2", "x")
    assert _parse({"id_token": {"acr": {"value": "LoA1"}}}).acr_values == ("LoA1",)


@pytest.mark.parametrize("value", [
    "not json", "[]", '"text"', '{"userinfo": []}', '{"id_token": "name"}',
    '{"userinfo": {"name": true}}', '{"userinfo": {"name": {"essential": "yes"}}}',
    '{"id_token": {"acr": {"values": "LoA2"}}}', json.dumps({"userinfo": {"n" * 5000: None}}),
])
def test_malformed_claims_parameter_is_invalid_request(value):
    with pytest.raises(InvalidRequest):
        parse_claims(value, allowed_scopes=ALL)


def test_absent_claims_parameter_is_none():
    assert parse_claims(None, allowed_scopes=ALL) is None


def test_stored_claims_request_reads_back():
    request = ClaimsRequest(userinfo=("name",), id_token=("email",))
    assert from_json(request.to_json()) == request
    assert from_json(None) is None
