"""Deterministic sandbox PKI: CSCA, document signers, master-list signer, CRL (ICAO Doc 9303 Part 12
§5–7; chip-verification spec §4).

* CSCA: self-signed, ``C=VN``, CA with pathLen 0, keyCertSign + cRLSign (critical), 15 years.
* Document signers (DSC): issued by the CSCA, digitalSignature only, one per period
  (``period_months``), each with a private-key usage period (RFC 5280 §4.2.1.4 extension, the
  months it signs) and a certificate validity of usage period + the longest card validity (22 years:
  a card issued at 38 runs to the 60th birthday).
* Master-list signer: issued by the CSCA, extKeyUsage id-icao-cscaMasterListSigningKey
  (2.23.136.1.1.3).
* CRL: signed by the CSCA, listing revoked DSC serials, with nextUpdate.
* Failure personas: a DSC from a foreign CSCA (``C=UT``, ICAO's fictional Utopia), an expired DSC
  and a revoked
  DSC (listed on the CRL).

Reproducible: EC keys and serial numbers are derived from the seed and a label (``keys``), every
validity date comes from the arguments and ECDSA signing is deterministic, so the same seed and
dates give byte-identical certificates and CRLs. For RSA, pass ``key_for`` (label → key) returning
keys the caller generated once and persisted: RSA keys cannot be derived from a seed. Labels:
``csca``, ``dsc/<period index>``, ``mls``, ``persona/foreign-csca``, ``persona/foreign-dsc``,
``persona/expired-dsc``, ``persona/revoked-dsc``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from app.icao.algorithms import PrivateKey
from app.icao.dates import add_months, add_years, utc
from app.icao.errors import IcaoError
from app.icao.keys import KeyedCertificate, derive_ec_private_key, derive_serial_number
from app.icao.masterlist import build_master_list

CSCA_VALIDITY_YEARS = 15
LONGEST_CARD_VALIDITY_YEARS = 22
MASTER_LIST_SIGNING_KEY = x509.ObjectIdentifier("2.23.136.1.1.3")
ORGANIZATION = "Ministry of Public Security"
ORGANIZATIONAL_UNIT = "Police Department for Administrative Management of Social Order"
KeySource = Callable[[str], PrivateKey]


def sandbox_name(common_name: str, *, country: str = "VN") -> x509.Name:
    """Subject of a sandbox certificate; common names say SANDBOX so none passes for a real one."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(
                NameOID.ORGANIZATION_NAME, ORGANIZATION if country == "VN" else "Utopia Sandbox"
            ),
            x509.NameAttribute(
                NameOID.ORGANIZATIONAL_UNIT_NAME,
                ORGANIZATIONAL_UNIT if country == "VN" else "eMRTD",
            ),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384()
    return hashes.SHA256()


def _sign(builder: x509.CertificateBuilder, issuer_key: PrivateKey) -> x509.Certificate:
    deterministic = True if isinstance(issuer_key, ec.EllipticCurvePrivateKey) else None
    return builder.sign(issuer_key, _signature_hash(issuer_key), ecdsa_deterministic=deterministic)


def _builder(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    serial_number: int,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial_number)
        .not_valid_before(utc(not_before))
        .not_valid_after(utc(not_after))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _issued_by(
    builder: x509.CertificateBuilder, issuer: KeyedCertificate
) -> x509.CertificateBuilder:
    identifier = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.private_key.public_key())
    return builder.add_extension(identifier, critical=False)


def issue_csca(
    *,
    key: PrivateKey,
    subject: x509.Name,
    serial_number: int,
    not_before: datetime,
    years: int = CSCA_VALIDITY_YEARS,
) -> x509.Certificate:
    """Self-signed CSCA certificate."""
    builder = _builder(
        subject=subject,
        issuer=subject,
        key=key,
        serial_number=serial_number,
        not_before=not_before,
        not_after=add_years(utc(not_before), years),
    )
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    return _sign(builder.add_extension(_key_usage(cert_sign=True), critical=True), key)


def issue_document_signer(
    *,
    issuer: KeyedCertificate,
    key: PrivateKey,
    subject: x509.Name,
    serial_number: int,
    usage_start: datetime,
    usage_end: datetime,
    card_validity_years: int = LONGEST_CARD_VALIDITY_YEARS,
) -> x509.Certificate:
    """DSC signing in [usage_start, usage_end], valid to usage_end + the longest card validity."""
    builder = _builder(
        subject=subject,
        issuer=issuer.certificate.subject,
        key=key,
        serial_number=serial_number,
        not_before=usage_start,
        not_after=add_years(utc(usage_end), card_validity_years),
    )
    builder = builder.add_extension(_key_usage(digital_signature=True), critical=True)
    usage = x509.PrivateKeyUsagePeriod(not_before=utc(usage_start), not_after=utc(usage_end))
    return _sign(
        _issued_by(builder.add_extension(usage, critical=False), issuer), issuer.private_key
    )


def issue_master_list_signer(
    *,
    issuer: KeyedCertificate,
    key: PrivateKey,
    subject: x509.Name,
    serial_number: int,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """Master-list signer certificate issued by the CSCA."""
    builder = _builder(
        subject=subject,
        issuer=issuer.certificate.subject,
        key=key,
        serial_number=serial_number,
        not_before=not_before,
        not_after=not_after,
    )
    builder = builder.add_extension(_key_usage(digital_signature=True), critical=True)
    builder = builder.add_extension(
        x509.ExtendedKeyUsage([MASTER_LIST_SIGNING_KEY]), critical=False
    )
    return _sign(_issued_by(builder, issuer), issuer.private_key)


def _revoked(serial_number: int, revoked_at: datetime) -> x509.RevokedCertificate:
    builder = x509.RevokedCertificateBuilder().serial_number(serial_number)
    return builder.revocation_date(utc(revoked_at)).build()


def issue_crl(
    *,
    issuer: KeyedCertificate,
    revoked: Mapping[int, datetime],
    this_update: datetime,
    next_update: datetime,
    crl_number: int = 1,
) -> bytes:
    """DER CRL signed by the CSCA; ``revoked`` maps DSC serial numbers to revocation dates."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(utc(this_update))
        .next_update(utc(next_update))
        .add_extension(x509.CRLNumber(crl_number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.private_key.public_key()),
            critical=False,
        )
    )
    for serial_number in sorted(revoked):
        builder = builder.add_revoked_certificate(_revoked(serial_number, revoked[serial_number]))
    deterministic = True if isinstance(issuer.private_key, ec.EllipticCurvePrivateKey) else None
    crl = builder.sign(
        issuer.private_key, _signature_hash(issuer.private_key), ecdsa_deterministic=deterministic
    )
    return crl.public_bytes(Encoding.DER)


def certificate_der(certificate: x509.Certificate) -> bytes:
    """DER encoding of a certificate."""
    return certificate.public_bytes(Encoding.DER)


def certificate_pem(certificate: x509.Certificate) -> bytes:
    """PEM encoding of a certificate."""
    return certificate.public_bytes(Encoding.PEM)


def _usage_period(certificate: x509.Certificate) -> tuple[datetime, datetime]:
    period = certificate.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod).value
    if period.not_before is None or period.not_after is None:
        raise IcaoError("pki.usage_period", "a sandbox document signer has a bounded usage period")
    return utc(period.not_before), utc(period.not_after)


@dataclass(frozen=True)
class FailurePersonas:
    """Signers whose cards must fail passive authentication, each for one reason."""

    foreign_csca: KeyedCertificate
    foreign_signer: KeyedCertificate
    expired_signer: KeyedCertificate
    revoked_signer: KeyedCertificate


@dataclass(frozen=True)
class SandboxPki:
    """The CSCA, its rotating document signers, the master-list signer and the failure personas."""

    csca: KeyedCertificate
    document_signers: tuple[KeyedCertificate, ...]
    master_list_signer: KeyedCertificate
    personas: FailurePersonas

    def signer_at(self, moment: datetime) -> KeyedCertificate:
        """The document signer whose private-key usage period contains ``moment``."""
        for signer in self.document_signers:
            start, end = _usage_period(signer.certificate)
            if start <= utc(moment) < end:
                return signer
        raise IcaoError("pki.no_signer", "no document signer covers this moment")

    def crl(self, *, this_update: datetime, next_update: datetime, crl_number: int = 1) -> bytes:
        """The CSCA's CRL listing the revoked persona signer (revoked at its first day of use)."""
        revoked = self.personas.revoked_signer.certificate
        return issue_crl(
            issuer=self.csca,
            revoked={revoked.serial_number: revoked.not_valid_before_utc},
            this_update=this_update,
            next_update=next_update,
            crl_number=crl_number,
        )

    def master_list(self, *, signing_time: datetime | None) -> bytes:
        """The master list carrying the CSCA certificate, signed by the master-list signer."""
        return build_master_list(
            [self.csca.certificate], signer=self.master_list_signer, signing_time=signing_time
        )


def _period_signer(
    seed: bytes,
    csca: KeyedCertificate,
    key_for: KeySource,
    *,
    index: int,
    start: datetime,
    end: datetime,
) -> KeyedCertificate:
    key = key_for(f"dsc/{index}")
    certificate = issue_document_signer(
        issuer=csca,
        key=key,
        subject=sandbox_name(f"DANCU SANDBOX Document Signer {utc(start):%Y-%m}"),
        serial_number=derive_serial_number(seed, f"dsc/{index}"),
        usage_start=start,
        usage_end=end,
    )
    return KeyedCertificate(certificate, key)


def _csca(
    seed: bytes, key_for: KeySource, label: str, *, country: str, start: datetime
) -> KeyedCertificate:
    key = key_for(label)
    common_name = "DANCU SANDBOX CSCA" if country == "VN" else "UTOPIA SANDBOX CSCA"
    certificate = issue_csca(
        key=key,
        subject=sandbox_name(common_name, country=country),
        serial_number=derive_serial_number(seed, label),
        not_before=start,
    )
    return KeyedCertificate(certificate, key)


def _persona_signer(
    seed: bytes,
    issuer: KeyedCertificate,
    key_for: KeySource,
    label: str,
    *,
    start: datetime,
    end: datetime,
) -> KeyedCertificate:
    key = key_for(label)
    country = issuer.certificate.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value
    certificate = issue_document_signer(
        issuer=issuer,
        key=key,
        subject=sandbox_name(f"DANCU SANDBOX {label}", country=str(country)),
        serial_number=derive_serial_number(seed, label),
        usage_start=start,
        usage_end=end,
    )
    return KeyedCertificate(certificate, key)


def _expired_signer(
    seed: bytes, csca: KeyedCertificate, key_for: KeySource, *, start: datetime
) -> KeyedCertificate:
    """A DSC whose certificate validity and key usage both end one day after ``start``."""
    label = "persona/expired-dsc"
    key = key_for(label)
    certificate = issue_document_signer(
        issuer=csca,
        key=key,
        subject=sandbox_name(f"DANCU SANDBOX {label}"),
        serial_number=derive_serial_number(seed, label),
        usage_start=start,
        usage_end=start + timedelta(days=1),
        card_validity_years=0,
    )
    return KeyedCertificate(certificate, key)


def _personas(
    seed: bytes, csca: KeyedCertificate, key_for: KeySource, *, start: datetime, end: datetime
) -> FailurePersonas:
    foreign_csca = _csca(seed, key_for, "persona/foreign-csca", country="UT", start=start)
    return FailurePersonas(
        foreign_csca=foreign_csca,
        foreign_signer=_persona_signer(
            seed, foreign_csca, key_for, "persona/foreign-dsc", start=start, end=end
        ),
        expired_signer=_expired_signer(seed, csca, key_for, start=start),
        revoked_signer=_persona_signer(
            seed, csca, key_for, "persona/revoked-dsc", start=start, end=end
        ),
    )


def build_sandbox_pki(
    seed: bytes,
    *,
    start: datetime,
    periods: int = 12,
    period_months: int = 6,
    key_for: KeySource | None = None,
) -> SandboxPki:
    """CSCA from ``start``, ``periods`` document signers of ``period_months`` each, personas."""
    key_for = key_for or (lambda label: derive_ec_private_key(seed, label))
    start = utc(start)
    csca = _csca(seed, key_for, "csca", country="VN", start=start)
    bounds = [add_months(start, period_months * index) for index in range(periods + 1)]
    signers = tuple(
        _period_signer(seed, csca, key_for, index=index, start=bounds[index], end=bounds[index + 1])
        for index in range(periods)
    )
    ml_key = key_for("mls")
    ml_signer = issue_master_list_signer(
        issuer=csca,
        key=ml_key,
        subject=sandbox_name("DANCU SANDBOX Master List Signer"),
        serial_number=derive_serial_number(seed, "mls"),
        not_before=start,
        not_after=csca.certificate.not_valid_after_utc,
    )
    personas = _personas(seed, csca, key_for, start=start, end=bounds[-1])
    return SandboxPki(csca, signers, KeyedCertificate(ml_signer, ml_key), personas)
