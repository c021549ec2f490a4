"""Opaque keyset cursors: ``?cursor=`` carries the last key of the previous page."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TypeVar

from app.errors import ValidationFailed

MAX_CURSOR_LENGTH = 200
K = TypeVar("K", str, int)


class InvalidCursor(ValidationFailed):
    code, title = "invalid-cursor", "The pagination cursor is not valid"


def encode_cursor(kind: str, key: str | int) -> str:
    raw = json.dumps([kind, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, *, kind: str, key_type: type[K]) -> K:
    """The key inside a cursor made by :func:`encode_cursor` for ``kind``; else 422."""
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        padded = cursor + "=" * (-len(cursor) % 4)
        found_kind, key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise InvalidCursor() from None
    if found_kind != kind or type(key) is not key_type:
        raise InvalidCursor()
    if isinstance(key, int) and not 0 <= key < 2**63:  # beyond a BIGINT: PostgreSQL would fail
        raise InvalidCursor()
    return key
