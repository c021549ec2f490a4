"""EF.SOD, the Document Security Object (ICAO Doc 9303 Part 10 §4.6.2; chip-verification spec §3).

``77 { ContentInfo(signedData) }`` whose eContentType is id-icao-mrtd-security-ldsSecurityObject
(2.23.136.1.1.1) and whose eContent is the DER of::

    LDSSecurityObject ::= SEQUENCE {
        version LDSSecurityObjectVersion,           -- v0, or v1 when ldsVersionInfo is present
        hashAlgorithm DigestAlgorithmIdentifier,
        dataGroupHashValues SEQUENCE OF DataGroupHash,
        ldsVersionInfo LDSVersionInfo OPTIONAL }  -- { ldsVersion "0107", unicodeVersion "040000" }
    DataGroupHash ::= SEQUENCE { dataGroupNumber INTEGER (1..16), dataGroupHashValue OCTET STRING }

Each hash covers a whole DG file including its outer tag and length. The CMS layer is
``signed_data``.

``parse_sod`` raises ``ChipFormatError`` (``tlv.*``, ``cms.*``, ``sod.content_type`` for any other
eContentType, ``sod.malformed`` for an unreadable LDSSecurityObject) or
``UnsupportedAlgorithmError`` (``algorithm.hash``). It does not verify anything:
``passive_auth.verify`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from asn1crypto import algos, core

from app.icao import der
from app.icao.algorithms import (
    SignatureAlgorithm,
    default_signature_algorithm,
    digest,
    dotted,
    hash_name,
    hash_oid,
)
from app.icao.errors import ChipFormatError, IcaoError, UnsupportedAlgorithmError
from app.icao.keys import KeyedCertificate
from app.icao.lds import LDS_VERSION, SOD_TAG, UNICODE_VERSION, DataGroupFiles, data_group_number
from app.icao.signed_data import SignedContent, build_signed_data, parse_signed_data
from app.icao.tlv import decode_tlv, encode_tlv

LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


class DataGroupHash(core.Sequence):
    _fields = [("data_group_number", core.Integer), ("data_group_hash_value", core.OctetString)]


class DataGroupHashValues(core.SequenceOf):
    _child_spec = DataGroupHash


class LdsVersionInfo(core.Sequence):
    _fields = [("lds_version", core.PrintableString), ("unicode_version", core.PrintableString)]


class LdsSecurityObject(core.Sequence):
    _fields = [
        ("version", core.Integer),
        ("hash_algorithm", algos.DigestAlgorithm),
        ("data_group_hash_values", DataGroupHashValues),
        ("lds_version_info", LdsVersionInfo, {"optional": True}),
    ]


@dataclass(frozen=True)
class SecurityObject:
    """The LDSSecurityObject: hash algorithm name and the hash of each data group by number."""

    hash_name: str
    hashes: Mapping[int, bytes]
    lds_version: str | None
    unicode_version: str | None


@dataclass(frozen=True)
class Sod:
    """A parsed EF.SOD: the security object and the CMS content it came from."""

    security_object: SecurityObject
    content: SignedContent


def encode_security_object(
    data_groups: DataGroupFiles, *, hash_name: str, lds_version_info: bool
) -> bytes:
    """DER LDSSecurityObject over the given DG files (numbers sorted ascending)."""
    files = {data_group_number(key): file_bytes for key, file_bytes in data_groups.items()}
    values = [
        {"data_group_number": number, "data_group_hash_value": digest(hash_name, files[number])}
        for number in sorted(files)
    ]
    fields: dict[str, object] = {
        "version": 1 if lds_version_info else 0,
        "hash_algorithm": {"algorithm": hash_oid(hash_name)},
        "data_group_hash_values": values,
    }
    if lds_version_info:
        fields["lds_version_info"] = {
            "lds_version": LDS_VERSION,
            "unicode_version": UNICODE_VERSION,
        }
    return LdsSecurityObject(fields).dump()


def _default_algorithm(signer: KeyedCertificate, hash_name: str) -> SignatureAlgorithm:
    try:
        return default_signature_algorithm(signer.private_key, hash_name=hash_name)
    except UnsupportedAlgorithmError:
        return default_signature_algorithm(signer.private_key)


def build_sod(
    data_groups: DataGroupFiles,
    *,
    signer: KeyedCertificate,
    hash_name: str = "sha256",
    signature_algorithm: SignatureAlgorithm | None = None,
    signing_time: datetime | None = None,
    lds_version_info: bool = True,
) -> bytes:
    """EF.SOD over ``data_groups`` (number → whole file), signed by the document signer.

    ``hash_name`` hashes the data groups; the signature (and messageDigest) uses the same hash when
    a signature algorithm exists for it, else SHA-256 (e.g. SHA-1 DG hashes, ecdsa-with-SHA256).
    """
    algorithm = signature_algorithm or _default_algorithm(signer, hash_name)
    content_info = build_signed_data(
        econtent_type=LDS_SECURITY_OBJECT,
        econtent=encode_security_object(
            data_groups, hash_name=hash_name, lds_version_info=lds_version_info
        ),
        signer=signer,
        digest_name=algorithm.hash_name,
        signature_algorithm=algorithm,
        signing_time=signing_time,
    )
    return encode_tlv(SOD_TAG, content_info)


def _hashes(values: DataGroupHashValues, size: int) -> dict[int, bytes]:
    hashes: dict[int, bytes] = {}
    for value in values:
        number, hash_value = (
            value["data_group_number"].native,
            value["data_group_hash_value"].native,
        )
        if not 1 <= number <= 16 or number in hashes or len(hash_value) != size:
            raise ChipFormatError("sod.malformed", "invalid or repeated data group hash")
        hashes[number] = hash_value
    return hashes


def _security_object(data: bytes) -> SecurityObject:
    lds = LdsSecurityObject.load(data, strict=True)
    name = hash_name(dotted(lds["hash_algorithm"]["algorithm"]))
    info = lds["lds_version_info"]
    has_info = not isinstance(info, core.Void)
    if lds["version"].native != (1 if has_info else 0):
        raise ChipFormatError(
            "sod.malformed", "LDSSecurityObject version does not match ldsVersionInfo"
        )
    return SecurityObject(
        hash_name=name,
        hashes=_hashes(lds["data_group_hash_values"], len(digest(name, b""))),
        lds_version=info["lds_version"].native if has_info else None,
        unicode_version=info["unicode_version"].native if has_info else None,
    )


@lru_cache(maxsize=16)
def _hash_algorithm(encoded: bytes) -> str:
    """The hash named by a DigestAlgorithmIdentifier, read as _security_object reads it (kept by
    its bytes: every card names the same one)."""
    return hash_name(dotted(algos.DigestAlgorithm.load(encoded, strict=True)["algorithm"]))


def _known_security_object(data: bytes) -> SecurityObject:
    """What :func:`_security_object` gives for an LDSSecurityObject in the layout this sandbox
    writes (v0 without, v1 with ldsVersionInfo of two PrintableStrings), read with
    :mod:`app.icao.der`; raises der.Unexpected (or what the parser raises) for any other."""
    fields = der.elements(der.only(data, der.SEQUENCE))
    identifiers = [field[0] for field in fields]
    if identifiers not in ([der.INTEGER, der.SEQUENCE, der.SEQUENCE],
                           [der.INTEGER, der.SEQUENCE, der.SEQUENCE, der.SEQUENCE]):
        raise der.Unexpected("another LDSSecurityObject layout")
    name = _hash_algorithm(der.encoded(fields[1]))
    info = [text.decode("latin-1") for text in der.layout(
        fields[3][2], der.PRINTABLE_STRING, der.PRINTABLE_STRING)] if len(fields) == 4 else None
    if der.integer(fields[0][2]) != (1 if info else 0):
        raise der.Unexpected("the version does not match ldsVersionInfo: the typed parse says so")
    size, hashes = len(digest(name, b"")), {}
    for value in der.elements(fields[2][2]):
        number_contents, hash_value = der.layout(der.expect(value, der.SEQUENCE), der.INTEGER,
                                                 der.OCTET_STRING)
        number = der.integer(number_contents)
        if not 1 <= number <= 16 or number in hashes or len(hash_value) != size:
            raise der.Unexpected("an invalid or repeated hash: the typed parse says so")
        hashes[number] = hash_value
    return SecurityObject(hash_name=name, hashes=hashes, lds_version=info[0] if info else None,
                          unicode_version=info[1] if info else None)


def parse_security_object(data: bytes) -> SecurityObject:
    """Parse a DER LDSSecurityObject (the eContent of EF.SOD): the quick reading of
    :mod:`app.icao.der` first, anything it does not know with the typed classes."""
    try:
        return _known_security_object(data)
    except (der.Unexpected, IcaoError, *_PARSE_ERRORS):
        pass
    try:
        return _security_object(data)
    except IcaoError:
        raise
    except _PARSE_ERRORS as exc:
        raise ChipFormatError("sod.malformed", "the LDSSecurityObject is not readable") from exc


def parse_sod(data: bytes) -> Sod:
    """Parse EF.SOD; see the module docstring for the errors."""
    content = parse_signed_data(decode_tlv(data, expected_tag=SOD_TAG).value)
    if content.econtent_type != LDS_SECURITY_OBJECT:
        raise ChipFormatError(
            "sod.content_type", "eContentType is not id-icao-mrtd-security-ldsSecurityObject"
        )
    return Sod(parse_security_object(content.econtent), content)
