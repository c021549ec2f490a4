"""Errors raised by the pure ICAO 9303 library.

Every error carries a stable ``code`` (for example ``mrz.check_digit`` or ``tlv.truncated``) so
services can map it to a problem type without parsing messages. Messages never contain personal data
or the caller's input: they name the field or structure that failed, not its value.
"""

from __future__ import annotations


class IcaoError(ValueError):
    """Base class; ``code`` is stable and documented in the raising module."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class MrzError(IcaoError):
    """A TD1 machine readable zone cannot be built or does not validate (``mrz.*`` codes)."""


class ChipFormatError(IcaoError):
    """Chip bytes are not a well-formed LDS / ASN.1 structure (``tlv.*``, ``lds.*``, ``sod.*``)."""


class UnsupportedAlgorithmError(IcaoError):
    """A hash, signature algorithm or key type this library does not implement (``algorithm.*``)."""


class SignatureError(IcaoError):
    """A signature (active authentication, master list) does not verify (``signature.*``)."""
