"""Shared values for the pure OIDC tests: a fixed clock, the issuer and the provider keys."""

from datetime import timedelta

import pytest

from app.oidc.keys import KeyRing, SigningKey, derive_ec_key, generate_rsa_key

from .support import SEED, T0


@pytest.fixture(scope="session")
def ec_key() -> SigningKey:
    return derive_ec_key(SEED, label="oidc", generation=1, active_from=T0 - timedelta(days=1))


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return generate_rsa_key(active_from=T0 - timedelta(days=1))


@pytest.fixture(scope="session")
def ring(ec_key: SigningKey, rsa_key: SigningKey) -> KeyRing:
    return KeyRing((ec_key, rsa_key))
