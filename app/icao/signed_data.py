"""CMS SignedData (RFC 5652 §5) as ICAO uses it for EF.SOD and CSCA master lists (Doc 9303 Part 10
§4.6.2, Part 12 §8 and §9).

Building: ``cryptography``'s PKCS#7 builder only signs ``data`` content, so the structure is
assembled with ``asn1crypto.cms`` and only the signed attributes are signed with ``cryptography``
(ECDSA deterministic). The SignedData has version 3, one digest algorithm, the encapsulated content,
the signer certificate in ``certificates`` and one SignerInfo (sid = issuerAndSerialNumber, version
1) whose signedAttrs carry contentType, messageDigest and optionally signingTime. The signature
covers the DER of the signedAttrs with the ``[0]`` tag replaced by the SET tag ``31`` (RFC 5652
§5.4).

Parsing is strict and never lets an asn1crypto or cryptography exception escape: anything unreadable
raises ``ChipFormatError`` with a ``cms.*`` code: ``cms.malformed``, ``cms.content_type`` (not
signedData), ``cms.version``, ``cms.signer_infos`` (not exactly one), ``cms.signed_attrs``
(duplicated or multi-valued attribute), ``cms.certificate`` (an embedded certificate
``cryptography`` cannot read).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from app.icao import der
from app.icao.algorithms import (
    SignatureAlgorithm,
    algorithm_identifier,
    digest,
    dotted,
    dotted_contents,
    hash_oid,
    sign,
)
from app.icao.dates import utc
from app.icao.errors import ChipFormatError, IcaoError
from app.icao.keys import KeyedCertificate

SIGNED_DATA = "1.2.840.113549.1.7.2"
CONTENT_TYPE_ATTRIBUTE = "1.2.840.113549.1.9.3"
MESSAGE_DIGEST_ATTRIBUTE = "1.2.840.113549.1.9.4"
SIGNING_TIME_ATTRIBUTE = "1.2.840.113549.1.9.5"
_NAME_BOUNDS = {"2.5.4.6": (2, 2), "1.3.6.1.4.1.311.60.2.1.3": (2, 2), "2.5.4.3": (1, 64)}
_PARSE_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
)


@dataclass(frozen=True)
class SignedAttributes:
    """The signed attributes and the exact bytes the signature covers (SET-tagged DER)."""

    signed_bytes: bytes
    content_type: str | None
    message_digest: bytes | None
    signing_time: datetime | None


@dataclass(frozen=True)
class SignedContent:
    """A parsed SignedData with one signer; algorithms stay OIDs for the verifier to resolve."""

    econtent_type: str
    econtent: bytes
    digest_algorithm: str
    signature_algorithm: str
    signature_parameters: bytes | None
    signature: bytes
    signed_attributes: SignedAttributes | None
    certificates: tuple[x509.Certificate, ...]
    signer_certificate: x509.Certificate | None


def _attribute(kind: str, value: object) -> cms.CMSAttribute:
    return cms.CMSAttribute({"type": kind, "values": [value]})


def _signed_attributes(
    econtent_type: str, message_digest: bytes, signing_time: datetime | None
) -> cms.CMSAttributes:
    attributes = [
        _attribute("content_type", econtent_type),
        _attribute("message_digest", message_digest),
    ]
    if signing_time is not None:
        moment = utc(signing_time)
        kind = "utc_time" if 1950 <= moment.year < 2050 else "generalized_time"  # RFC 5652 §11.3
        attributes.append(_attribute("signing_time", cms.Time(name=kind, value=moment)))
    return cms.CMSAttributes(attributes)


def _signer_info(
    signer: KeyedCertificate,
    attributes: cms.CMSAttributes,
    digest_name: str,
    algorithm: SignatureAlgorithm,
) -> cms.SignerInfo:
    certificate = asn1_x509.Certificate.load(signer.certificate.public_bytes(Encoding.DER))
    sid = cms.IssuerAndSerialNumber(
        {"issuer": certificate.issuer, "serial_number": certificate.serial_number}
    )
    return cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(name="issuer_and_serial_number", value=sid),
            "digest_algorithm": {"algorithm": hash_oid(digest_name)},
            "signed_attrs": attributes,
            "signature_algorithm": algorithm_identifier(algorithm),
            "signature": sign(signer.private_key, attributes.dump(), algorithm),
        }
    )


def build_signed_data(
    *,
    econtent_type: str,
    econtent: bytes,
    signer: KeyedCertificate,
    digest_name: str,
    signature_algorithm: SignatureAlgorithm,
    signing_time: datetime | None,
) -> bytes:
    """DER ContentInfo(signedData) over ``econtent``, signed by ``signer``."""
    attributes = _signed_attributes(econtent_type, digest(digest_name, econtent), signing_time)
    signed_data = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [{"algorithm": hash_oid(digest_name)}],
            "encap_content_info": {"content_type": econtent_type, "content": econtent},
            "certificates": [
                asn1_x509.Certificate.load(signer.certificate.public_bytes(Encoding.DER))
            ],
            "signer_infos": [_signer_info(signer, attributes, digest_name, signature_algorithm)],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


@lru_cache(maxsize=512)
def load_certificate(der: bytes) -> x509.Certificate:
    """A ``cryptography`` certificate from DER (cached: SODs repeat a few signer certificates)."""
    try:
        certificate = x509.load_der_x509_certificate(der)
        # cryptography decodes names and extensions lazily: read them now, so a corrupt
        # certificate fails here instead of in the middle of a verification step.
        _ = certificate.subject, certificate.issuer, certificate.extensions
    except (ValueError, x509.InvalidVersion, x509.DuplicateExtension) as exc:
        raise ChipFormatError("cms.certificate", "an embedded certificate cannot be read") from exc
    return certificate


def names_within_bounds(*names: asn1_x509.Name) -> bool:
    """Whether country names have 2 characters and common names 1–64 (RFC 5280 Appendix A upper
    bounds). cryptography only *warns* about others when it decodes a name; checked first, hostile
    input is refused instead of raising warnings deep inside a verification."""
    for name in names:
        for rdn in name.chosen:
            for attribute in rdn:
                bounds = _NAME_BOUNDS.get(attribute["type"].dotted)
                if bounds and not bounds[0] <= len(str(attribute["value"].native)) <= bounds[1]:
                    return False
    return True


@lru_cache(maxsize=512)
def _load_checked(der: bytes) -> x509.Certificate:
    certificate = asn1_x509.Certificate.load(der, strict=True)
    if certificate.serial_number <= 0 or not names_within_bounds(
        certificate.subject, certificate.issuer
    ):
        raise ChipFormatError("cms.certificate", "an embedded certificate breaks RFC 5280 bounds")
    return load_certificate(der)


def load_embedded_certificate(certificate: asn1_x509.Certificate) -> x509.Certificate:
    """Load a certificate found inside a CMS structure: positive serial number (RFC 5280
    §4.1.2.2) and bounded names, which cryptography would only warn about. Cached by DER: one
    document signer signs many cards."""
    try:
        return _load_checked(certificate.dump())
    except IcaoError:
        raise
    except _PARSE_ERRORS as exc:
        raise ChipFormatError("cms.certificate", "an embedded certificate cannot be read") from exc


def _single_value(attribute: cms.CMSAttribute) -> core.Asn1Value:
    values = attribute["values"]
    if len(values) != 1:
        raise ChipFormatError("cms.signed_attrs", "a signed attribute must have exactly one value")
    return values[0]


def _parse_attributes(raw: cms.CMSAttributes) -> SignedAttributes:
    found: dict[str, core.Asn1Value] = {}
    for attribute in raw:
        kind = dotted(attribute["type"])
        if kind in found:
            raise ChipFormatError("cms.signed_attrs", "a signed attribute appears more than once")
        found[kind] = _single_value(attribute)
    content_type, message_digest = (
        found.get(CONTENT_TYPE_ATTRIBUTE),
        found.get(MESSAGE_DIGEST_ATTRIBUTE),
    )
    signing_time = found.get(SIGNING_TIME_ATTRIBUTE)
    return SignedAttributes(
        signed_bytes=b"\x31" + raw.dump()[1:],
        content_type=dotted(content_type) if content_type is not None else None,
        message_digest=message_digest.native if message_digest is not None else None,
        signing_time=signing_time.native if signing_time is not None else None,
    )


def _matches(certificate: asn1_x509.Certificate, sid: cms.SignerIdentifier) -> bool:
    if sid.name == "subject_key_identifier":
        return certificate.key_identifier == sid.chosen.native
    # Byte equality of the issuer Name (as written when the SOD was signed): asn1crypto's
    # Name.__eq__ runs LDAP string preparation and was half the cost of a verification.
    issuer_and_serial, tbs = sid.chosen, certificate["tbs_certificate"]
    return (
        tbs["serial_number"].native == issuer_and_serial["serial_number"].native
        and tbs["issuer"].dump() == issuer_and_serial["issuer"].dump()
    )


@lru_cache(maxsize=512)
def _names_signer(certificate_der: bytes, sid_der: bytes) -> bool:
    """Whether the SignerIdentifier names the certificate: cached by the two encodings (one
    document signer signs many cards, and its SignerInfos all name it the same way)."""
    return _matches(asn1_x509.Certificate.load(certificate_der),
                    cms.SignerIdentifier.load(sid_der))


def _certificates(
    signed_data: cms.SignedData, sid: cms.SignerIdentifier
) -> tuple[tuple[x509.Certificate, ...], x509.Certificate | None]:
    return _certificates_in(signed_data["certificates"], sid.dump())


def _certificates_in(
    certificate_set: cms.CertificateSet, sid_der: bytes
) -> tuple[tuple[x509.Certificate, ...], x509.Certificate | None]:
    embedded = [choice.chosen for choice in certificate_set if choice.name == "certificate"]
    signer = next((cert for cert in embedded if _names_signer(cert.dump(), sid_der)), None)
    loaded = tuple(load_embedded_certificate(cert) for cert in embedded)
    return loaded, load_embedded_certificate(signer) if signer is not None else None


def _signer_info_of(signed_data: cms.SignedData) -> cms.SignerInfo:
    if signed_data["version"].native != "v3":
        raise ChipFormatError("cms.version", "SignedData version must be 3")
    signer_infos = signed_data["signer_infos"]
    if len(signer_infos) != 1:
        raise ChipFormatError("cms.signer_infos", "exactly one SignerInfo is expected")
    return signer_infos[0]


def _parameters(algorithm: core.Sequence) -> bytes | None:
    parameters = algorithm["parameters"]
    return None if isinstance(parameters, core.Void | core.Null) else parameters.dump()


def _parse(data: bytes) -> SignedContent:
    content_info = cms.ContentInfo.load(data, strict=True)
    if dotted(content_info["content_type"]) != SIGNED_DATA:
        raise ChipFormatError("cms.content_type", "ContentInfo is not signedData")
    signed_data = content_info["content"]
    signer_info = _signer_info_of(signed_data)
    certificates, signer = _certificates(signed_data, signer_info["sid"])
    raw_attributes = signer_info["signed_attrs"]
    encapsulated = signed_data["encap_content_info"]
    if isinstance(encapsulated["content"], core.Void):
        raise ChipFormatError("cms.malformed", "SignedData has no encapsulated content")
    return SignedContent(
        econtent_type=dotted(encapsulated["content_type"]),
        econtent=encapsulated["content"].contents,
        digest_algorithm=dotted(signer_info["digest_algorithm"]["algorithm"]),
        signature_algorithm=dotted(signer_info["signature_algorithm"]["algorithm"]),
        signature_parameters=_parameters(signer_info["signature_algorithm"]),
        signature=signer_info["signature"].native,
        signed_attributes=None
        if isinstance(raw_attributes, core.Void)
        else _parse_attributes(raw_attributes),
        certificates=certificates,
        signer_certificate=signer,
    )


# --- the quick reading of the one layout ICAO's SODs use (app.icao.der) ---------------------------

_SIGNED_DATA_OID = core.ObjectIdentifier(SIGNED_DATA).contents
_ATTRIBUTE_OIDS = {
    core.ObjectIdentifier(kind).contents: kind
    for kind in (CONTENT_TYPE_ATTRIBUTE, MESSAGE_DIGEST_ATTRIBUTE, SIGNING_TIME_ATTRIBUTE)
}
_TIMES: dict[int, type[core.Asn1Value]] = {
    der.UTC_TIME: core.UTCTime, der.GENERALIZED_TIME: core.GeneralizedTime}


# The parts of a SOD that every card of one document signer shares (its certificate, how the
# SignerInfo names it, the algorithm identifiers): read with the typed classes once per distinct
# encoding, as _parse reads them, and kept by their bytes.
@lru_cache(maxsize=64)
def _shared_certificates(
    certificates: bytes, sid_der: bytes
) -> tuple[tuple[x509.Certificate, ...], x509.Certificate | None]:
    return _certificates_in(cms.CertificateSet.load(certificates, strict=True), sid_der)


@lru_cache(maxsize=64)
def _algorithm(encoded: bytes) -> tuple[str, bytes | None]:
    algorithm = algos.SignedDigestAlgorithm.load(encoded, strict=True)
    return dotted(algorithm["algorithm"]), _parameters(algorithm)


def _known_attributes(element: der.Element) -> SignedAttributes:
    found: dict[str, der.Element] = {}
    for attribute in der.elements(der.expect(element, der.CONTEXT_0)):
        kind_oid, values = der.layout(der.expect(attribute, der.SEQUENCE), der.OID, der.SET)
        kind, value = _ATTRIBUTE_OIDS.get(kind_oid), der.elements(values)
        if kind is None or kind in found or len(value) != 1:
            raise der.Unexpected("another attribute, a repeated one or not one value")
        found[kind] = value[0]
    content_type, message_digest, signing_time = (
        found.get(CONTENT_TYPE_ATTRIBUTE), found.get(MESSAGE_DIGEST_ATTRIBUTE),
        found.get(SIGNING_TIME_ATTRIBUTE))
    moment = None
    if signing_time is not None:
        time_class = _TIMES.get(signing_time[0])
        if time_class is None:
            raise der.Unexpected("signingTime is neither UTCTime nor GeneralizedTime")
        moment = time_class.load(der.encoded(signing_time), strict=True).native
    return SignedAttributes(
        # the implicit [0] read as the SET it is (RFC 5652 §5.4)
        signed_bytes=b"\x31" + der.encoded(element)[1:],
        content_type=None if content_type is None
        else dotted_contents(der.expect(content_type, der.OID)),
        message_digest=None if message_digest is None
        else der.expect(message_digest, der.OCTET_STRING),
        signing_time=moment,
    )


def _known(data: bytes) -> SignedContent:
    """What :func:`_parse` gives for a SignedData in the one layout an ICAO SOD has: version 3,
    certificates, no CRLs, one SignerInfo with signed attributes (contentType, messageDigest,
    signingTime at most) and no unsigned ones. Raises der.Unexpected (or what the parser
    raises) for any other input."""
    content_type, content = der.layout(der.only(data, der.SEQUENCE), der.OID, der.CONTEXT_0)
    if content_type != _SIGNED_DATA_OID:
        raise der.Unexpected("not signedData")
    fields = der.elements(der.only(content, der.SEQUENCE))
    if [field[0] for field in fields] != [
            der.INTEGER, der.SET, der.SEQUENCE, der.CONTEXT_0, der.SET] or fields[0][2] != b"\x03":
        raise der.Unexpected("another SignedData layout, or not version 3")
    econtent_type, econtent = der.layout(fields[2][2], der.OID, der.CONTEXT_0)
    parts = der.elements(der.only(fields[4][2], der.SEQUENCE))
    if len(parts) != 6 or parts[1][0] not in (der.SEQUENCE, der.CONTEXT_0_PRIMITIVE):
        raise der.Unexpected("another SignerInfo layout")
    der.expect(parts[0], der.INTEGER)
    der.expect(parts[2], der.SEQUENCE)
    der.expect(parts[4], der.SEQUENCE)
    signature = der.expect(parts[5], der.OCTET_STRING)
    digest_algorithm, _ = _algorithm(der.encoded(parts[2]))
    signature_algorithm, parameters = _algorithm(der.encoded(parts[4]))
    # the implicit [0] of certificates read as the SET it is
    all_certificates, signer = _shared_certificates(
        b"\x31" + der.encoded(fields[3])[1:], der.encoded(parts[1]))
    return SignedContent(
        econtent_type=dotted_contents(econtent_type),
        econtent=der.only(econtent, der.OCTET_STRING),
        digest_algorithm=digest_algorithm,
        signature_algorithm=signature_algorithm,
        signature_parameters=parameters,
        signature=signature,
        signed_attributes=_known_attributes(parts[3]),
        certificates=all_certificates,
        signer_certificate=signer,
    )


def parse_signed_data(der_bytes: bytes) -> SignedContent:
    """Parse a DER ContentInfo(signedData) with exactly one signer (the quick reading of
    :mod:`app.icao.der` first; anything it does not know, the typed parse)."""
    try:
        return _known(der_bytes)
    except (der.Unexpected, IcaoError, *_PARSE_ERRORS):
        pass
    return _typed(der_bytes)


def _typed(data: bytes) -> SignedContent:
    try:
        return _parse(data)
    except IcaoError:
        raise
    except _PARSE_ERRORS as exc:
        raise ChipFormatError("cms.malformed", "not a readable CMS SignedData structure") from exc
