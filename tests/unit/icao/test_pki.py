"""Sandbox PKI (Doc 9303 Part 12): reproducible from the seed, and each certificate checked with
cryptography.x509 rather than with the verifier under test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.icao.errors import IcaoError, SignatureError, UnsupportedAlgorithmError
from app.icao.keys import (
    derive_ec_private_key,
    derive_serial_number,
    load_private_key_pem,
    private_key_to_pem,
)
from app.icao.masterlist import build_master_list, parse_master_list
from app.icao.pki import build_sandbox_pki, certificate_der, certificate_pem

from .support import NOW, PKI_START, SEED, current_crl, pki


def _der(certificate: x509.Certificate) -> bytes:
    return certificate_der(certificate)


def _country(certificate: x509.Certificate) -> str:
    return certificate.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value


def test_same_seed_gives_byte_identical_certificates_crl_and_master_list():
    again = build_sandbox_pki(SEED, start=PKI_START, periods=12, period_months=6)
    assert _der(again.csca.certificate) == _der(pki().csca.certificate)
    assert [_der(s.certificate) for s in again.document_signers] == [
        _der(s.certificate) for s in pki().document_signers
    ]
    assert again.crl(this_update=NOW, next_update=NOW + timedelta(days=30)) == pki().crl(
        this_update=NOW, next_update=NOW + timedelta(days=30)
    )
    assert again.master_list(signing_time=NOW) == pki().master_list(signing_time=NOW)


def test_another_seed_gives_other_keys_and_serials():
    other = build_sandbox_pki(b"another seed", start=PKI_START, periods=1)
    assert other.csca.certificate.public_key() != pki().csca.certificate.public_key()
    assert other.csca.certificate.serial_number != pki().csca.certificate.serial_number


def test_csca_is_a_self_signed_vietnamese_ca_with_path_length_zero():
    csca = pki().csca.certificate
    csca.verify_directly_issued_by(csca)
    assert _country(csca) == "VN"
    constraints = csca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert (constraints.critical, constraints.value.ca, constraints.value.path_length) == (
        True,
        True,
        0,
    )
    usage = csca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.key_cert_sign, usage.crl_sign, usage.digital_signature) == (True, True, False)


def test_csca_is_valid_for_15_years_from_the_start():
    csca = pki().csca.certificate
    assert (csca.not_valid_before_utc, csca.not_valid_after_utc) == (
        PKI_START,
        PKI_START.replace(year=2036),
    )


def test_every_document_signer_is_issued_by_the_csca_for_signing_only():
    for signer in pki().document_signers:
        signer.certificate.verify_directly_issued_by(pki().csca.certificate)
        usage = signer.certificate.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical
        assert usage.value.digital_signature
        assert not usage.value.key_cert_sign


def test_document_signers_rotate_every_period_with_contiguous_usage_periods():
    periods = [
        s.certificate.extensions.get_extension_for_class(x509.PrivateKeyUsagePeriod).value
        for s in pki().document_signers
    ]
    assert len(periods) == 12
    assert periods[0].not_before == datetime(2021, 1, 1)
    assert periods[0].not_after == datetime(2021, 7, 1)
    assert all(a.not_after == b.not_before for a, b in zip(periods, periods[1:], strict=False))


def test_document_signer_validity_covers_the_longest_card_validity():
    certificate = pki().document_signers[0].certificate
    assert certificate.not_valid_before_utc == PKI_START
    assert certificate.not_valid_after_utc == datetime(
        2043, 7, 1, tzinfo=UTC
    )  # 2021-07-01 + 22 years


@pytest.mark.parametrize(
    ("moment", "index"),
    [
        (datetime(2021, 1, 1, tzinfo=UTC), 0),
        (datetime(2021, 6, 30, 23, tzinfo=UTC), 0),
        (datetime(2021, 7, 1, tzinfo=UTC), 1),
        (datetime(2026, 12, 31, tzinfo=UTC), 11),
    ],
)
def test_signer_at_picks_the_signer_whose_usage_period_contains_the_moment(moment, index):
    assert pki().signer_at(moment) == pki().document_signers[index]


@pytest.mark.parametrize(
    "moment", [datetime(2020, 12, 31, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)]
)
def test_signer_at_outside_every_period_is_an_error(moment):
    with pytest.raises(IcaoError) as error:
        pki().signer_at(moment)
    assert error.value.code == "pki.no_signer"


def test_crl_is_signed_by_the_csca_lists_the_revoked_persona_and_has_next_update():
    crl = x509.load_der_x509_crl(current_crl())
    assert crl.is_signature_valid(pki().csca.certificate.public_key())
    assert crl.issuer == pki().csca.certificate.subject
    revoked = pki().personas.revoked_signer.certificate.serial_number
    assert crl.get_revoked_certificate_by_serial_number(revoked) is not None
    assert [entry.serial_number for entry in crl] == [revoked]
    assert crl.next_update_utc == NOW - timedelta(days=10) + timedelta(days=30)


def test_foreign_persona_is_issued_by_a_non_vietnamese_csca():
    personas = pki().personas
    assert _country(personas.foreign_csca.certificate) == "UT"
    personas.foreign_signer.certificate.verify_directly_issued_by(personas.foreign_csca.certificate)
    with pytest.raises(ValueError, match="[Ii]ssuer"):
        personas.foreign_signer.certificate.verify_directly_issued_by(pki().csca.certificate)


def test_expired_persona_expired_a_day_after_the_start():
    certificate = pki().personas.expired_signer.certificate
    certificate.verify_directly_issued_by(pki().csca.certificate)
    assert certificate.not_valid_after_utc == PKI_START + timedelta(days=1)


def test_revoked_persona_is_otherwise_a_normal_vietnamese_signer():
    certificate = pki().personas.revoked_signer.certificate
    certificate.verify_directly_issued_by(pki().csca.certificate)
    assert certificate.not_valid_after_utc > NOW


def test_master_list_is_cms_signed_data_of_the_csca_certificates():
    content_info = cms.ContentInfo.load(pki().master_list(signing_time=NOW))
    signed_data = content_info["content"]
    assert signed_data["encap_content_info"]["content_type"].dotted == "2.23.136.1.1.2"
    signer_info = signed_data["signer_infos"][0]
    signer = x509.load_der_x509_certificate(signed_data["certificates"][0].chosen.dump())
    signer.verify_directly_issued_by(pki().csca.certificate)
    usage = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [x509.ObjectIdentifier("2.23.136.1.1.3")]
    signed_attributes = b"\x31" + signer_info["signed_attrs"].dump()[1:]
    signer.public_key().verify(
        signer_info["signature"].native, signed_attributes, ec.ECDSA(hashes.SHA256())
    )


def test_master_list_parses_to_the_csca_certificates():
    master_list = parse_master_list(pki().master_list(signing_time=NOW))
    assert master_list.csca_certificates == (pki().csca.certificate,)
    assert master_list.signer_certificate == pki().master_list_signer.certificate


def test_master_list_signed_by_a_signer_no_listed_csca_issued_is_refused():
    forged = build_master_list(
        [pki().csca.certificate], signer=pki().personas.foreign_signer, signing_time=NOW
    )
    with pytest.raises(SignatureError):
        parse_master_list(forged)


def test_certificates_serialise_to_pem_and_der():
    csca = pki().csca.certificate
    assert x509.load_pem_x509_certificate(certificate_pem(csca)) == csca
    assert x509.load_der_x509_certificate(certificate_der(csca)) == csca


def test_derived_keys_depend_on_seed_and_label_only():
    key = derive_ec_private_key(SEED, "csca")
    assert key.private_numbers() == derive_ec_private_key(SEED, "csca").private_numbers()
    assert key.private_numbers() != derive_ec_private_key(SEED, "csca2").private_numbers()
    assert key.public_key() == pki().csca.certificate.public_key()
    assert derive_serial_number(SEED, "csca") == pki().csca.certificate.serial_number


def test_p384_keys_can_be_derived_and_other_curves_are_refused():
    assert derive_ec_private_key(SEED, "x", curve=ec.SECP384R1()).curve.name == "secp384r1"
    with pytest.raises(UnsupportedAlgorithmError):
        derive_ec_private_key(SEED, "x", curve=ec.SECP521R1())


def test_private_keys_round_trip_through_pem():
    key = derive_ec_private_key(SEED, "csca")
    assert load_private_key_pem(private_key_to_pem(key)).private_numbers() == key.private_numbers()


def test_forged_certificate_signature_is_detected_by_cryptography():
    der = bytearray(_der(pki().document_signers[0].certificate))
    der[-5] ^= 0x01
    forged = x509.load_der_x509_certificate(bytes(der))
    with pytest.raises(InvalidSignature):
        forged.verify_directly_issued_by(pki().csca.certificate)
