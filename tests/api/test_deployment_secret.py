"""Every secret of a deployment depends on its deployment secret (``DANCU_SECRET_KEY``, or a random
one stored on first start), never on the public seed alone: nobody rebuilds the signing key from
the seed, two deployments with the same seed and different secrets share no key and no pairwise
subject, and the stored secret survives a restart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from app.db import Database
from app.main import create_app
from app.models.signing_key import DeploymentSecret
from app.models.signing_key import SigningKey as StoredKey
from app.oidc import keys as oidc_keys
from app.oidc.claims import pairwise_subject
from app.services.kit import keys
from app.services.vneid import account_generation
from app.services.vneid.provider import pairwise_secret
from app.settings import Settings
from tests.api.population_support import fresh_database  # noqa: F401  (fixture)
from tests.conftest import TEST_SEED

PIN = "001090012345"
SECTOR = "rp.example.vn"


def _attacker_kids(seed: int) -> set[str]:
    """What anyone could derive from the seed alone with the published constants."""
    return keys.seed_derived_kids(seed, generations=5)


def _published(client: TestClient) -> set[str]:
    return {key["kid"] for key in client.get("/.well-known/jwks.json").json()["keys"]}


def _deployment(settings: Settings, secret: str | None) -> Settings:
    """Settings of another deployment: the same seed, no population."""
    return settings.model_copy(update={
        "auto_seed": False, "secret_key": SecretStr(secret) if secret else None})


def _start(database: Database, settings: Settings) -> tuple[set[str], Settings]:
    """Start a server process on ``database``: the kids it publishes and its settings."""
    app = create_app(settings, database=database, migrate_on_start=False)
    with TestClient(app) as client:
        return _published(client), app.state.settings


def test_the_seed_alone_does_not_give_the_published_signing_key(client: TestClient) -> None:
    published = _published(client)
    assert published
    assert not published & _attacker_kids(TEST_SEED)


def test_two_deployments_with_one_seed_and_different_secrets_share_no_key_and_no_subject(
        fresh_database: Callable[..., Database], settings: Settings) -> None:  # noqa: F811
    first = _start(fresh_database(), _deployment(settings, "first-partner-secret"))
    second = _start(fresh_database(), _deployment(settings, "second-partner-sec"))
    assert first[0]
    assert second[0]
    assert not first[0] & second[0]
    subjects = {pairwise_subject(PIN, sector_identifier=SECTOR, secret=pairwise_secret(s))
                for _, s in (first, second)}
    assert len(subjects) == 2


def test_a_deployment_without_secret_key_makes_a_random_one_that_survives_a_restart(
        fresh_database: Callable[..., Database], settings: Settings) -> None:  # noqa: F811
    database = fresh_database()
    unpinned = _deployment(settings, None)
    kids, first = _start(database, unpinned)
    again, second = _start(database, unpinned)
    assert kids == again
    assert first.secret_key is not None
    assert second.secret_key is not None
    assert first.secret_key.get_secret_value() == second.secret_key.get_secret_value()
    assert pairwise_secret(first) == pairwise_secret(second)
    assert account_generation.persona_device_token(first, "citizen-l2") == \
        account_generation.persona_device_token(second, "citizen-l2")
    with database.read() as session:
        assert session.scalar(select(DeploymentSecret.id)) == 1
    other, _ = _start(fresh_database(), unpinned)  # another database: another random secret
    assert not kids & other
    assert not kids & _attacker_kids(settings.seed)


def test_a_signing_key_an_earlier_version_derived_from_the_seed_is_withdrawn_at_start(
        fresh_database: Callable[..., Database], settings: Settings) -> None:  # noqa: F811
    database, now = fresh_database(), datetime.now(UTC)
    legacy = oidc_keys.derive_ec_key(keys.seed_material(settings.seed), label=keys.KEY_LABEL,
                                     generation=1, active_from=now)
    with database.write() as session:
        session.add(StoredKey(kid=legacy.kid, alg="ES256", created_at=now,
                              private_pem=oidc_keys.private_pem(legacy)))
    published, _ = _start(database, _deployment(settings, "after-the-upgrade"))
    assert legacy.kid not in published
    assert any(published)


def _persona_tokens(settings: Settings) -> dict[str, Any]:
    return {key: account_generation.persona_device_token(settings, key)
            for key in account_generation.PERSONA_KEYS}


def test_persona_device_tokens_depend_on_the_secret(settings: Settings) -> None:
    other = settings.model_copy(update={"secret_key": SecretStr("another-deployment-secret")})
    mine, theirs = _persona_tokens(settings), _persona_tokens(other)
    assert not set(mine.values()) & set(theirs.values())
