"""CSCA master list (ICAO Doc 9303 Part 12 §9; chip-verification spec §4).

A CMS SignedData (see ``signed_data``) with eContentType id-icao-cscaMasterList (2.23.136.1.1.2) and
eContent::

    CscaMasterList ::= SEQUENCE { version CscaMasterListVersion (v0), certList SET OF Certificate }

signed by a master-list signer certificate issued by the CSCA. ``parse_master_list`` checks the CMS
signature with the embedded signer certificate and that a CSCA *in the list* issued that signer;
whether to trust the list at all is the caller's decision (a real verifier pins the issuing state's
CSCA).

Errors: ``ChipFormatError`` (``cms.*``, ``masterlist.content_type``, ``masterlist.malformed``,
``masterlist.signer``), ``SignatureError`` (``signature.invalid``), ``UnsupportedAlgorithmError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

from app.icao.algorithms import (
    default_signature_algorithm,
    digest,
    hash_name,
    resolve_signature_algorithm,
    verify,
)
from app.icao.errors import ChipFormatError, IcaoError, SignatureError
from app.icao.keys import KeyedCertificate
from app.icao.signed_data import (
    SignedContent,
    build_signed_data,
    load_embedded_certificate,
    parse_signed_data,
)

CSCA_MASTER_LIST = "2.23.136.1.1.2"


class _CertificateSet(core.SetOf):
    _child_spec = asn1_x509.Certificate


class CscaMasterList(core.Sequence):
    _fields = [("version", core.Integer), ("cert_list", _CertificateSet)]


@dataclass(frozen=True)
class MasterList:
    """The CSCA certificates of a verified master list and the certificate that signed it."""

    csca_certificates: tuple[x509.Certificate, ...]
    signer_certificate: x509.Certificate


def build_master_list(
    csca_certificates: Sequence[x509.Certificate],
    *,
    signer: KeyedCertificate,
    signing_time: datetime | None,
) -> bytes:
    """DER ContentInfo(signedData) carrying the CSCA certificates."""
    certificates = [
        asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER)) for cert in csca_certificates
    ]
    econtent = CscaMasterList({"version": 0, "cert_list": certificates}).dump()
    return build_signed_data(
        econtent_type=CSCA_MASTER_LIST,
        econtent=econtent,
        signer=signer,
        digest_name="sha256",
        signature_algorithm=default_signature_algorithm(signer.private_key),
        signing_time=signing_time,
    )


def _read_certificates(econtent: bytes) -> tuple[x509.Certificate, ...]:
    master_list = CscaMasterList.load(econtent, strict=True)
    if master_list["version"].native != 0:
        raise ChipFormatError("masterlist.malformed", "unsupported master list version")
    return tuple(load_embedded_certificate(cert) for cert in master_list["cert_list"])


def _listed_certificates(econtent: bytes) -> tuple[x509.Certificate, ...]:
    try:
        return _read_certificates(econtent)
    except IcaoError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ChipFormatError("masterlist.malformed", "the master list is not readable") from exc


def _verify_signature(content: SignedContent) -> x509.Certificate:
    attributes, signer = content.signed_attributes, content.signer_certificate
    if signer is None or attributes is None:
        raise ChipFormatError(
            "masterlist.signer", "the master list has no signer certificate or signed attributes"
        )
    if attributes.message_digest != digest(hash_name(content.digest_algorithm), content.econtent):
        raise SignatureError(
            "signature.invalid", "messageDigest does not match the master list content"
        )
    algorithm = resolve_signature_algorithm(
        content.signature_algorithm,
        content.signature_parameters,
        digest_oid=content.digest_algorithm,
    )
    verify(signer.public_key(), content.signature, attributes.signed_bytes, algorithm)
    return signer


def _issued_by_any(signer: x509.Certificate, cscas: tuple[x509.Certificate, ...]) -> bool:
    for csca in cscas:
        try:
            signer.verify_directly_issued_by(csca)
            return True
        except (ValueError, TypeError, InvalidSignature):
            continue
    return False


def parse_master_list(data: bytes) -> MasterList:
    """The CSCA certificates of a master list whose signature and signer verify."""
    content = parse_signed_data(data)
    if content.econtent_type != CSCA_MASTER_LIST:
        raise ChipFormatError(
            "masterlist.content_type", "eContentType is not id-icao-cscaMasterList"
        )
    cscas = _listed_certificates(content.econtent)
    signer = _verify_signature(content)
    if not _issued_by_any(signer, cscas):
        raise SignatureError("signature.invalid", "no listed CSCA issued the master list signer")
    return MasterList(cscas, signer)
