"""The examples in the module docstrings are run, so they cannot go stale."""

import doctest

import pytest

from app.oidc import keys, pkce, scopes


@pytest.mark.parametrize("module", [pkce, keys, scopes], ids=lambda m: m.__name__)
def test_docstring_examples_hold(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
