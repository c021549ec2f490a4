"""Shared request-field types: text a caller claims, checked without ever echoing it."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_CLAIM_LENGTH = 200


class TextRuleError(ValueError):
    """A claimed text breaks a rule; ``rule`` names it, the message never repeats the input."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def _checked_text(value: str) -> str:
    if any(unicodedata.category(ch) == "Cs" for ch in value):
        raise TextRuleError("text.surrogate", "Text must be valid Unicode (no lone surrogates).")
    if any(unicodedata.category(ch) == "Cc" and not ch.isspace() for ch in value):
        raise TextRuleError("text.control_character", "Text must not contain control characters.")
    if len(unicodedata.normalize("NFC", value)) > MAX_CLAIM_LENGTH:
        raise TextRuleError(
            "text.length", f"Text is limited to {MAX_CLAIM_LENGTH} characters (NFC)."
        )
    return value


# Length is checked after NFC (the NFD form of a Vietnamese name is longer); the raw bound only
# stops absurd inputs early.
ClaimText = Annotated[str, Field(max_length=4 * MAX_CLAIM_LENGTH), AfterValidator(_checked_text)]


def _assume_utc(value: datetime) -> datetime:
    # SQLite gives stored instants back without their zone; they were stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_assume_utc)]
