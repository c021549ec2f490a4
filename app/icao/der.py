"""The verifier's quick reading of the DER layouts this sandbox's chips carry, with asn1crypto's own
DER parser (``asn1crypto.parser``: the tag and length decoding is asn1crypto's, not the project's).

asn1crypto's typed classes (``cms.ContentInfo`` and the rest) build an object for every field they
walk past, ~3-5 us each: parsing one chip read's SOD, DG13 and DG14 that way built ~130 of them
and was a fifth of a verification's CPU (bench/RESULTS.md, "Cheaper chip verification"). The
modules that parse those files (``signed_data``, ``sod``, ``dg13``, ``dg14``) first try a reading
of *one exact layout* with :func:`elements`: every element's identifier octet checked against the
one expected, definite lengths only, no trailing data, no field left over. Anything else -- an
optional field present, an unknown OID, another string type, a BER encoding, a length that does
not add up -- raises :class:`Unexpected`, and the module then parses the file as it always did,
with the typed classes, which decide whether it is valid and which error it is. So the quick
reading accepts a subset of what the typed parse accepts, and gives the same values for it
(``tests/unit/icao/test_der_layouts.py`` compares the two on genuine files and on thousands of
altered ones).
"""

from __future__ import annotations

from asn1crypto import parser

# Identifier octets (class, constructed bit and tag number < 31 in one octet).
INTEGER, OCTET_STRING, NULL, OID = 0x02, 0x04, 0x05, 0x06
UTF8_STRING, PRINTABLE_STRING, UTC_TIME, GENERALIZED_TIME = 0x0C, 0x13, 0x17, 0x18
SEQUENCE, SET = 0x30, 0x31
CONTEXT_0, CONTEXT_1 = 0xA0, 0xA1  # [0] and [1], constructed
CONTEXT_0_PRIMITIVE = 0x80


class Unexpected(Exception):
    """The input is not in the one layout the quick reading knows: the typed parse decides."""


Element = tuple[int, bytes, bytes]
"""(identifier octet, header, contents)."""


def elements(data: bytes) -> list[Element]:
    """The elements concatenated in ``data``, in order; raises :class:`Unexpected` (or the
    parser's ``ValueError``) unless each is a definite-length element with a one-octet
    identifier and together they cover ``data`` exactly."""
    if not isinstance(data, bytes):
        raise TypeError("DER must be bytes")
    found: list[Element] = []
    offset, size = 0, len(data)
    while offset < size:
        (_, _, tag, header, contents, trailer), offset = _parse(data, size, offset)
        if trailer or tag >= 31:
            raise Unexpected("indefinite length or multi-octet tag")
        found.append((header[0], header, contents))
    return found


# asn1crypto's own element decoder, from a position: what ``parser.parse(data[offset:])`` calls,
# without copying the rest of ``data`` for every element (a SOD's ~25 elements each copied what
# followed them: ~20 us of a SOD's ~100 us reading) and without its type check, made once above.
# It has kept this signature since asn1crypto 0.22 (2017); tests/unit/icao/test_der_layouts.py
# checks the quick reading against the typed parse on every altered and truncated file.
_parse = parser._parse


def expect(element: Element, identifier: int) -> bytes:
    """The contents of ``element``, which must have ``identifier``."""
    if element[0] != identifier:
        raise Unexpected(f"identifier {element[0]:#x}, expected {identifier:#x}")
    return element[2]


def only(data: bytes, identifier: int) -> bytes:
    """The contents of the single element that ``data`` must be, with ``identifier``."""
    found = elements(data)
    if len(found) != 1:
        raise Unexpected("not exactly one element")
    return expect(found[0], identifier)


def layout(data: bytes, *identifiers: int) -> list[bytes]:
    """The contents of the elements of ``data``, which must have exactly these identifiers
    (what :func:`elements` and :func:`expect` would check, element by element: a DG13 field or
    a hash entry is a pair, read ~30,000 times a second)."""
    if not isinstance(data, bytes):
        raise TypeError("DER must be bytes")
    found: list[bytes] = []
    offset, size = 0, len(data)
    for identifier in identifiers:
        if offset >= size:
            raise Unexpected("another number of elements")
        (_, _, tag, header, contents, trailer), offset = _parse(data, size, offset)
        if trailer or tag >= 31:
            raise Unexpected("indefinite length or multi-octet tag")
        if header[0] != identifier:
            raise Unexpected(f"identifier {header[0]:#x}, expected {identifier:#x}")
        found.append(contents)
    if offset != size:
        raise Unexpected("another number of elements")
    return found


def encoded(element: Element) -> bytes:
    """The whole encoding of ``element`` (header and contents)."""
    return element[1] + element[2]


def integer(contents: bytes) -> int:
    """An INTEGER's value, as asn1crypto's ``Integer.native`` reads it (two's complement)."""
    return int.from_bytes(contents, "big", signed=True)
