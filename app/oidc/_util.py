"""Small helpers shared by the OIDC modules: NumericDate conversion and base64url."""

from __future__ import annotations

import base64
from datetime import UTC, datetime


def epoch_seconds(moment: datetime) -> int:
    """RFC 7519 §2 NumericDate (whole seconds) for an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return int(moment.timestamp())


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def b64url(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
