"""Several server processes on one database: a key one process has just made is accepted by the
others at once (docs/scale.md, "signing keys"), wherever a token is verified."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from app.clock import system_now
from app.db import Database
from app.oidc.jwt_policy import TokenRejected
from app.oidc.tokens import IdTokenContent, issue_id_token, verify_id_token_hint
from app.services.kit import keys as key_service
from app.services.kit.keys import KeyStore
from app.settings import load_settings
from tests.api.population_support import fresh_database  # noqa: F401  (fixture)
from tests.conftest import TEST_SECRET_KEY, TEST_SEED

ISSUER = "http://127.0.0.1:8000"
KEY_SETTINGS = load_settings(seed=TEST_SEED, secret_key=TEST_SECRET_KEY)
# What may use the cached ring as it is: signing, and publishing the JWK Set.
SIGNING_USES = (".ring().signing_key(", ".ring().jwks(")


def test_an_id_token_signed_with_a_key_another_process_just_made_verifies_at_once(
        fresh_database: Callable[..., Database]) -> None:  # noqa: F811
    database, now = fresh_database(), system_now()
    with database.write() as session:
        key_service.ensure_keys(session, settings=KEY_SETTINGS, now=now)
    here, there = KeyStore(database), KeyStore(database)
    here.ring()  # this process has just loaded its ring
    with database.write() as session:  # the other process rotates
        key_service.rotate(session, "ES256", settings=KEY_SETTINGS, now=now)
    token = issue_id_token(
        IdTokenContent(subject="sub-1", client_id="rp-1", auth_time=now, acr="LoA2"),
        key=there.ring().signing_key("ES256", now=now), issuer=ISSUER, now=now,
        ttl=timedelta(minutes=5))

    with pytest.raises(TokenRejected):  # the cached ring alone does not know the new key
        verify_id_token_hint(token, keys=here.ring(), issuer=ISSUER, now=now)
    hint = verify_id_token_hint(token, keys=here.ring_for(token), issuer=ISSUER, now=now)
    assert hint.content.subject == "sub-1"


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_the_ring_for_a_malformed_token_is_the_cached_ring(
        database: Database, token: str) -> None:
    store = KeyStore(database)
    assert store.ring_for(token) is store.ring()


def test_every_verification_site_reloads_the_ring_for_an_unknown_kid() -> None:
    """A site verifying with ``.ring()`` (any use but signing and publishing) would refuse, for
    up to 5 s, tokens another process signed with a newly rotated key (seen at RP-initiated
    logout behind two workers)."""
    from pathlib import Path

    app = Path(__file__).resolve().parents[2] / "app"
    offenders = [f"{path.relative_to(app)}:{number}"
                 for path in app.rglob("*.py")
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if ".ring()" in line and not any(use in line for use in SIGNING_USES)]
    assert offenders == []


def test_a_made_up_kid_does_not_reload_the_ring(database: Database) -> None:
    store = KeyStore(database)
    cached = store.ring()
    for kid in ("no-such-key", "k" * 200_000, "../../etc/passwd"):
        assert store.ring(kid=kid) is cached

