"""Passive authentication of a chip read (ICAO Doc 9303 Part 11 §5.1, Part 12 §7; chip-verification
spec §5), plus the card-expiry and active-authentication (Part 11 §6.1) checks a relying party runs
on the same read.

``verify`` never raises on bad chip input: garbage, truncated or hostile ASN.1, unknown algorithms
and wrong keys all become a failed step. Each step has a stable ``code``, a ``status`` (pass /
fail / skipped) and, unless it passed, a stable ``reason``. Steps, what they check, and their
failure reasons:

``sod.parse``
    tag 77, ContentInfo/SignedData v3 with one signer, eContentType 2.23.136.1.1.1, the
    LDSSecurityObject and its hash algorithm. ``malformed``, ``unsupported_content_type``,
    ``unsupported_algorithm``.
``dg.hash``
    one step per supplied DG (``subject`` "DG1" …): its hash equals the SOD value; a DG the SOD does
    not list fails. ``hash_mismatch``, ``unlisted_data_group``, ``malformed`` (bad key or value),
    ``no_data_groups``.
``sod.signed_attrs``
    contentType = eContentType and messageDigest = hash(eContent). ``missing_signed_attrs``,
    ``content_type_mismatch``, ``digest_mismatch``, ``unsupported_algorithm``.
``sod.signature``
    the SignerInfo signature over the signed attributes, with the DSC the SignerInfo names.
    ``signer_not_found``, ``bad_signature``, ``unsupported_algorithm``.
``dsc.chain``
    the DSC is issued (issuer name and signature) by one of the configured trust anchors;
    certificates inside the SOD are never trusted on their own. ``untrusted_signer``,
    ``unsupported_algorithm``.
``dsc.validity``
    the DSC, its private-key usage period and the CSCA are valid at the reference time (below).
    ``expired_signer``, ``signer_not_yet_valid``, ``signing_time_in_future``.
``dsc.revocation``
    the CRL is signed by the DSC's CSCA, current (thisUpdate ≤ now ≤ nextUpdate) and does not list
    the DSC. ``revoked_signer``, ``untrusted_crl``, ``stale_crl``, ``malformed``.
``card.expiry``
    the DG1 expiry date has not passed (Vietnam local date, UTC+7). ``document_expired``,
    ``malformed``.
``chip.active_auth``
    the DG15 key verifies the response to the 8-byte challenge, with the hash named by DG14's
    ActiveAuthenticationInfo. ``bad_signature`` (the cloned-chip persona), ``bad_challenge``,
    ``missing_data_group``, ``malformed``, ``unsupported_algorithm``.

Skipped steps carry a reason too: ``previous_step_failed``, ``not_read`` (DG1 absent), ``no_crl``,
``not_requested`` (no challenge given). The verdict is ``pass`` when no step failed.

Reference time for ``dsc.validity`` (ICAO's chain model: valid *when the SOD was signed*): the
signingTime signed attribute when present; then the DSC's private-key usage period is checked too,
and the signing time must not lie after ``now``. Without signingTime the signing moment is unknown,
so the DSC certificate (whose validity covers every card it signed) and the CSCA are checked at
``now`` and the usage period is not.

Performance: trust anchors given as bytes, CRLs and certificate-chain results are cached by their
exact bytes, so a verifier with a fixed trust store pays for one SOD signature check per call.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Literal

from asn1crypto import crl as asn1_crl
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.icao.active_auth import PLAIN, aa_algorithm, verify_response
from app.icao.algorithms import (
    digest,
    hash_name,
    resolve_signature_algorithm,
)
from app.icao.algorithms import (
    verify as verify_signature,
)
from app.icao.dates import utc
from app.icao.dg14 import parse_dg14
from app.icao.errors import ChipFormatError, IcaoError, UnsupportedAlgorithmError
from app.icao.lds import DataGroupFiles, data_group_number, parse_dg1, parse_dg15
from app.icao.signed_data import SignedContent, names_within_bounds
from app.icao.sod import Sod, parse_sod

Status = Literal["pass", "fail", "skipped"]
TrustAnchor = x509.Certificate | bytes
VIETNAM_TIME = timezone(timedelta(hours=7))
_CA_KEY_TYPES = (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)
_REASON_BY_CODE = {
    "aa.challenge": "bad_challenge",
    "signature.invalid": "bad_signature",
    "sod.content_type": "unsupported_content_type",
    "aa.dg14": "missing_data_group",
}


@dataclass(frozen=True)
class StepResult:
    """One verification step; ``subject`` names the data group for ``dg.hash`` steps."""

    code: str
    status: Status
    reason: str | None = None
    detail: str = ""
    subject: str | None = None


@dataclass(frozen=True)
class VerificationReport:
    """Every step, in order, and what was learnt about the signer."""

    steps: tuple[StepResult, ...]
    document_signer: x509.Certificate | None = None
    csca: x509.Certificate | None = None
    signing_time: datetime | None = None

    @property
    def verdict(self) -> Literal["pass", "fail"]:
        return "fail" if any(step.status == "fail" for step in self.steps) else "pass"

    @property
    def reasons(self) -> tuple[str, ...]:
        """Reasons of the failed steps, each once, in step order."""
        failed = (step.reason for step in self.steps if step.status == "fail" and step.reason)
        return tuple(dict.fromkeys(failed))

    def step(self, code: str, subject: str | None = None) -> StepResult | None:
        """The first step with ``code`` (and ``subject``, if given)."""
        return next(
            (s for s in self.steps if s.code == code and subject in (None, s.subject)), None
        )


def _passed(code: str, detail: str = "", subject: str | None = None) -> StepResult:
    return StepResult(code, "pass", None, detail, subject)


def _failed(code: str, reason: str, detail: str, subject: str | None = None) -> StepResult:
    return StepResult(code, "fail", reason, detail, subject)


def _skipped(code: str, reason: str, detail: str = "") -> StepResult:
    return StepResult(code, "skipped", reason, detail)


def _reason(error: IcaoError) -> str:
    if isinstance(error, UnsupportedAlgorithmError):
        return "unsupported_algorithm"
    return _REASON_BY_CODE.get(error.code, "malformed")


def _from_error(code: str, error: IcaoError, subject: str | None = None) -> StepResult:
    return _failed(code, _reason(error), str(error), subject)


# --- inputs ---------------------------------------------------------------------------------------


def _files(data_groups: DataGroupFiles) -> tuple[dict[int, bytes], list[StepResult]]:
    files: dict[int, bytes] = {}
    problems: list[StepResult] = []
    for key, file_bytes in data_groups.items():
        try:
            number = data_group_number(key)
        except ChipFormatError as error:
            problems.append(_from_error("dg.hash", error, "unknown"))
            continue
        if not isinstance(file_bytes, bytes) or number in files:
            problems.append(
                _failed(
                    "dg.hash", "malformed", "data group given twice or not bytes", f"DG{number}"
                )
            )
            continue
        files[number] = file_bytes
    return files, problems


@lru_cache(maxsize=64)
def _load_anchor(encoded: bytes) -> x509.Certificate:
    if encoded.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(encoded)
    return x509.load_der_x509_certificate(encoded)


def _anchors(trust_anchors: Sequence[TrustAnchor]) -> tuple[x509.Certificate, ...]:
    """Trust anchors as certificates; DER or PEM bytes are parsed once and cached."""
    return tuple(
        a if isinstance(a, x509.Certificate) else _load_anchor(bytes(a)) for a in trust_anchors
    )


# --- SOD content ----------------------------------------------------------------------------------


def _dg_hash_steps(sod: Sod, files: dict[int, bytes]) -> list[StepResult]:
    if not files:
        return [_failed("dg.hash", "no_data_groups", "no data group was supplied")]
    security_object = sod.security_object
    steps = []
    for number in sorted(files):
        subject, expected = f"DG{number}", security_object.hashes.get(number)
        if expected is None:
            steps.append(
                _failed("dg.hash", "unlisted_data_group", "the SOD has no hash for it", subject)
            )
        elif hmac.compare_digest(digest(security_object.hash_name, files[number]), expected):
            steps.append(_passed("dg.hash", f"{security_object.hash_name} matches", subject))
        else:
            steps.append(
                _failed("dg.hash", "hash_mismatch", "the hash differs from the SOD", subject)
            )
    return steps


def _signed_attributes_step(content: SignedContent) -> StepResult:
    code, attributes = "sod.signed_attrs", content.signed_attributes
    if attributes is None:
        return _failed(code, "missing_signed_attrs", "the SignerInfo has no signed attributes")
    if attributes.content_type != content.econtent_type:
        return _failed(code, "content_type_mismatch", "contentType differs from eContentType")
    try:
        expected = digest(hash_name(content.digest_algorithm), content.econtent)
    except IcaoError as error:
        return _from_error(code, error)
    if attributes.message_digest is None or not hmac.compare_digest(
        attributes.message_digest, expected
    ):
        return _failed(code, "digest_mismatch", "messageDigest differs from the hash of eContent")
    return _passed(code)


def _signature_step(content: SignedContent) -> StepResult:
    code, signer, attributes = (
        "sod.signature",
        content.signer_certificate,
        content.signed_attributes,
    )
    if signer is None:
        return _failed(code, "signer_not_found", "no certificate in the SOD matches the SignerInfo")
    if attributes is None:
        return _failed(code, "missing_signed_attrs", "ICAO requires signed attributes")
    try:
        algorithm = resolve_signature_algorithm(
            content.signature_algorithm,
            content.signature_parameters,
            digest_oid=content.digest_algorithm,
        )
        verify_signature(signer.public_key(), content.signature, attributes.signed_bytes, algorithm)
    except IcaoError as error:
        return _from_error(code, error)
    except UnsupportedAlgorithm:
        return _failed(code, "unsupported_algorithm", "the signer's key type is not supported")
    except ValueError:
        return _failed(code, "malformed", "the signer's public key cannot be read")
    return _passed(code, algorithm.name)


# --- document signer ------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> str:
    """``ok``, ``bad_signature`` or ``unsupported``; cached by the pair of certificates."""
    try:
        certificate.verify_directly_issued_by(issuer)
    except InvalidSignature:
        return "bad_signature"
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return "unsupported"
    return "ok"


# A pure function of the DSC and the trust anchors (public PKI material a verifier keeps): cached
# by them, as _issued_by is, since one document signer signs many cards and comparing the names
# decodes them again (cryptography builds a Name object per access).
@lru_cache(maxsize=256)
def _chain_step(
    dsc: x509.Certificate, anchors: tuple[x509.Certificate, ...]
) -> tuple[x509.Certificate | None, StepResult]:
    code = "dsc.chain"
    candidates = [anchor for anchor in anchors if anchor.subject == dsc.issuer]
    if not candidates:
        return None, _failed(
            code, "untrusted_signer", "no configured CSCA has the DSC's issuer name"
        )
    outcomes = [_issued_by(dsc, anchor) for anchor in candidates]
    if "ok" in outcomes:
        return candidates[outcomes.index("ok")], _passed(code)
    if "bad_signature" in outcomes:
        return None, _failed(
            code, "untrusted_signer", "the DSC signature does not verify with the CSCA key"
        )
    return None, _failed(
        code, "unsupported_algorithm", "the DSC signature algorithm is not supported"
    )


def _usage_period(dsc: x509.Certificate) -> tuple[datetime | None, datetime | None]:
    try:
        period = dsc.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod).value
    except x509.ExtensionNotFound:
        return None, None
    return (
        utc(period.not_before) if period.not_before else None,
        utc(period.not_after) if period.not_after else None,
    )


@lru_cache(maxsize=256)  # by the certificates, as _chain_step
def _windows(
    dsc: x509.Certificate, csca: x509.Certificate | None, *, at_signing: bool
) -> tuple[tuple[str, datetime | None, datetime | None], ...]:
    windows: list[tuple[str, datetime | None, datetime | None]] = [
        ("the DSC certificate", dsc.not_valid_before_utc, dsc.not_valid_after_utc)
    ]
    if at_signing:
        windows.append(("the DSC private-key usage period", *_usage_period(dsc)))
    if csca is not None:
        windows.append(
            ("the CSCA certificate", csca.not_valid_before_utc, csca.not_valid_after_utc)
        )
    return tuple(windows)


def _validity_step(
    dsc: x509.Certificate,
    csca: x509.Certificate | None,
    signing_time: datetime | None,
    now: datetime,
) -> StepResult:
    code = "dsc.validity"
    if signing_time is not None and signing_time > now:
        return _failed(code, "signing_time_in_future", "signingTime is after the verification time")
    moment, basis = (
        (signing_time, "signing time") if signing_time is not None else (now, "verification time")
    )
    for name, start, end in _windows(dsc, csca, at_signing=signing_time is not None):
        if start is not None and moment < start:
            return _failed(code, "signer_not_yet_valid", f"{name} was not yet valid at the {basis}")
        if end is not None and moment > end:
            return _failed(code, "expired_signer", f"{name} had expired at the {basis}")
    return _passed(code, f"checked at the {basis}")


@lru_cache(maxsize=32)
def _load_crl(encoded: bytes) -> x509.CertificateRevocationList | None:
    try:
        issuer = asn1_crl.CertificateList.load(encoded, strict=True)["tbs_cert_list"]["issuer"]
        if not names_within_bounds(issuer):
            return None
        return x509.load_der_x509_crl(encoded)
    except (ValueError, TypeError, KeyError, x509.InvalidVersion, x509.DuplicateExtension):
        return None


@lru_cache(maxsize=32)
def _crl_signed_by(encoded: bytes, csca: x509.Certificate) -> bool:
    crl = _load_crl(encoded)
    try:
        key = csca.public_key()
        if crl is None or crl.issuer != csca.subject or not isinstance(key, _CA_KEY_TYPES):
            return False
        return crl.is_signature_valid(key)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        return False


def _revocation_step(
    dsc: x509.Certificate, csca: x509.Certificate | None, crl_bytes: bytes | None, now: datetime
) -> StepResult:
    code = "dsc.revocation"
    if crl_bytes is None:
        return _skipped(code, "no_crl", "no CRL was supplied")
    if csca is None:
        return _skipped(code, "previous_step_failed", "no trusted CSCA to check the CRL against")
    encoded = bytes(crl_bytes)
    crl = _load_crl(encoded)
    if crl is None:
        return _failed(code, "malformed", "the CRL cannot be read")
    if not _crl_signed_by(encoded, csca):
        return _failed(code, "untrusted_crl", "the CRL is not signed by the DSC's CSCA")
    last_update, next_update = _crl_times(encoded)
    if next_update is None or not last_update <= now <= next_update:
        return _failed(code, "stale_crl", "the CRL is not current")
    if _crl_lists(encoded, dsc):
        return _failed(code, "revoked_signer", "the DSC is on the CSCA's CRL")
    return _passed(code)


# What the revocation step reads from a CRL, cached by its bytes (and the DSC's certificate):
# public PKI material, one CRL of the day covering every card its CSCA's signers signed. Read at
# the same point of the step as before, so a CRL that fails there still fails there.
@lru_cache(maxsize=32)
def _crl_times(encoded: bytes) -> tuple[datetime, datetime | None]:
    crl = _load_crl(encoded)
    assert crl is not None  # the step read it first
    return crl.last_update_utc, crl.next_update_utc


@lru_cache(maxsize=256)
def _crl_lists(encoded: bytes, dsc: x509.Certificate) -> bool:
    crl = _load_crl(encoded)
    assert crl is not None  # the step read it first
    return crl.get_revoked_certificate_by_serial_number(dsc.serial_number) is not None


# --- card -----------------------------------------------------------------------------------------


def _expiry_step(files: dict[int, bytes], now: datetime) -> StepResult:
    code = "card.expiry"
    if 1 not in files:
        return _skipped(code, "not_read", "DG1 was not supplied")
    try:
        expiry = parse_dg1(files[1]).expiry
    except IcaoError as error:
        return _from_error(code, error)
    if expiry is None:
        return _passed(code, "the card has no expiry date")
    if expiry < now.astimezone(VIETNAM_TIME).date():
        return _failed(code, "document_expired", "the card's expiry date has passed")
    return _passed(code)


def _active_auth_algorithm(files: dict[int, bytes]) -> tuple[str, str]:
    if 14 not in files:
        raise IcaoError(
            "aa.dg14", "DG14 (ActiveAuthenticationInfo) is needed for ECDSA active authentication"
        )
    oid = parse_dg14(files[14]).active_authentication_algorithm
    if oid is None:
        raise ChipFormatError("lds.dg14", "DG14 has no ActiveAuthenticationInfo")
    return aa_algorithm(oid)


def _active_auth_step(
    files: dict[int, bytes], challenge: bytes | None, response: bytes | None
) -> StepResult:
    code = "chip.active_auth"
    if challenge is None and response is None:
        return _skipped(code, "not_requested", "no challenge was given")
    if challenge is None or response is None:
        return _failed(code, "malformed", "both the challenge and the response are needed")
    if 15 not in files:
        return _failed(code, "missing_data_group", "DG15 (the chip's public key) was not supplied")
    try:
        key = parse_dg15(files[15])
        hash_to_use, encoding = (
            _active_auth_algorithm(files)
            if isinstance(key, ec.EllipticCurvePublicKey)
            else ("sha256", PLAIN)
        )
        verify_response(key, challenge, response, hash_name=hash_to_use, encoding=encoding)
    except IcaoError as error:
        return _from_error(code, error)
    return _passed(code)


# --- verify ---------------------------------------------------------------------------------------

_SOD_STEPS = (
    "dg.hash",
    "sod.signed_attrs",
    "sod.signature",
    "dsc.chain",
    "dsc.validity",
    "dsc.revocation",
)


def _signer_steps(
    content: SignedContent, anchors: tuple[x509.Certificate, ...], crl: bytes | None, now: datetime
) -> tuple[x509.Certificate | None, list[StepResult]]:
    dsc = content.signer_certificate
    if dsc is None:
        return None, [_skipped(code, "previous_step_failed") for code in _SOD_STEPS[3:]]
    csca, chain = _chain_step(dsc, anchors)
    signing_time = content.signed_attributes.signing_time if content.signed_attributes else None
    validity = _validity_step(dsc, csca, signing_time, now)
    return csca, [chain, validity, _revocation_step(dsc, csca, crl, now)]


def _sod_steps(
    sod_bytes: bytes,
    files: dict[int, bytes],
    anchors: tuple[x509.Certificate, ...],
    crl: bytes | None,
    now: datetime,
) -> tuple[Sod | None, x509.Certificate | None, list[StepResult]]:
    try:
        sod = parse_sod(bytes(sod_bytes))
    except IcaoError as error:
        return (
            None,
            None,
            [
                _from_error("sod.parse", error),
                *(_skipped(c, "previous_step_failed") for c in _SOD_STEPS),
            ],
        )
    content = sod.content
    steps = [_passed("sod.parse", sod.security_object.hash_name), *_dg_hash_steps(sod, files)]
    steps += [_signed_attributes_step(content), _signature_step(content)]
    csca, signer_steps = _signer_steps(content, anchors, crl, now)
    return sod, csca, steps + signer_steps


def verify(
    sod_bytes: bytes,
    data_groups: DataGroupFiles,
    *,
    trust_anchors: Sequence[TrustAnchor],
    crl: bytes | None = None,
    now: datetime,
    aa_challenge: bytes | None = None,
    aa_response: bytes | None = None,
) -> VerificationReport:
    """Verify a chip read (steps: see the module docstring); a naive ``now`` is read as UTC.

    ``trust_anchors`` are the configured CSCA certificates (objects, or DER/PEM bytes parsed once
    and cached); an anchor that cannot be parsed is a configuration error and raises ValueError.
    """
    now = utc(now)
    files, key_problems = _files(data_groups)
    sod, csca, sod_steps = _sod_steps(sod_bytes, files, _anchors(trust_anchors), crl, now)
    card_steps = [_expiry_step(files, now), _active_auth_step(files, aa_challenge, aa_response)]
    content = sod.content if sod else None
    attributes = content.signed_attributes if content else None
    return VerificationReport(
        steps=(*sod_steps[:1], *key_problems, *sod_steps[1:], *card_steps),
        document_signer=content.signer_certificate if content else None,
        csca=csca,
        signing_time=attributes.signing_time if attributes else None,
    )
