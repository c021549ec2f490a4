"""An unsupported algorithm's OID comes from the caller's chip data: an error repeats it only as
long as real OIDs are, never an OID of thousands of arcs (it would echo what it was sent)."""

from __future__ import annotations

import pytest

from app.icao.active_auth import aa_algorithm
from app.icao.algorithms import hash_name, resolve_signature_algorithm
from app.icao.errors import UnsupportedAlgorithmError

SHORT = "1.2.840.113549.2.5"  # MD5, a real OID no chip may use
LONG = "1.2." + ".".join(["123456789"] * 2000)


def _refusal(parse, oid: str) -> str:
    with pytest.raises(UnsupportedAlgorithmError) as refused:
        parse(oid)
    return str(refused.value)


PARSERS = [hash_name, aa_algorithm, resolve_signature_algorithm]


@pytest.mark.parametrize("parse", PARSERS)
def test_a_short_unsupported_oid_is_named(parse):
    assert _refusal(parse, SHORT).endswith(f" {SHORT}")


@pytest.mark.parametrize("parse", PARSERS)
def test_a_long_unsupported_oid_is_told_by_its_length_only(parse):
    message = _refusal(parse, LONG)
    assert message.endswith(f"(an OID of {len(LONG)} characters)")
    assert len(message) < 120
