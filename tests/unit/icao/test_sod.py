"""EF.SOD per Doc 9303 Part 10 §4.6.2, checked with asn1crypto and cryptography directly."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from asn1crypto import cms, parser
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from app.icao.algorithms import signature_algorithm_for
from app.icao.errors import ChipFormatError, UnsupportedAlgorithmError
from app.icao.sod import LdsSecurityObject, build_sod, parse_sod
from app.icao.tlv import encode_tlv

from .support import ISSUED_AT, genuine_chip, pki, rsa_pki, sod_with_econtent


def _signed_data(sod: bytes) -> cms.SignedData:
    class_, constructed, tag, _, content, _ = parser.parse(sod, strict=True)
    assert (class_, constructed, tag) == (1, 1, 23)  # 0x77
    content_info = cms.ContentInfo.load(content)
    assert content_info["content_type"].native == "signed_data"
    return content_info["content"]


def _attribute(signer_info: cms.SignerInfo, name: str) -> object:
    return next(
        a["values"][0].native for a in signer_info["signed_attrs"] if a["type"].native == name
    )


def _dsc_of(signed_data: cms.SignedData) -> x509.Certificate:
    return x509.load_der_x509_certificate(signed_data["certificates"][0].chosen.dump())


def _attributes_as_set(signer_info: cms.SignerInfo) -> bytes:
    return b"\x31" + signer_info["signed_attrs"].dump()[1:]  # RFC 5652 §5.4: sign the SET OF


def test_sod_is_signed_data_v3_over_an_lds_security_object():
    signed_data = _signed_data(genuine_chip().sod)
    assert signed_data["version"].native == "v3"
    assert signed_data["encap_content_info"]["content_type"].dotted == "2.23.136.1.1.1"
    assert [a["algorithm"].native for a in signed_data["digest_algorithms"]] == ["sha256"]


def test_lds_security_object_hashes_every_whole_data_group_file():
    chip = genuine_chip()
    econtent = _signed_data(chip.sod)["encap_content_info"]["content"].native
    lds = LdsSecurityObject.load(econtent)
    hashes_in_sod = {
        v["data_group_number"].native: v["data_group_hash_value"].native
        for v in lds["data_group_hash_values"]
    }
    assert hashes_in_sod == {n: hashlib.sha256(f).digest() for n, f in chip.data_groups.items()}
    assert (lds["version"].native, lds["lds_version_info"]["lds_version"].native) == (1, "0107")


def test_signed_attributes_carry_content_type_message_digest_and_signing_time():
    signed_data = _signed_data(genuine_chip().sod)
    signer_info = signed_data["signer_infos"][0]
    econtent = signed_data["encap_content_info"]["content"].native
    assert _attribute(signer_info, "content_type") == "2.23.136.1.1.1"
    assert _attribute(signer_info, "message_digest") == hashlib.sha256(econtent).digest()
    assert _attribute(signer_info, "signing_time") == ISSUED_AT.replace(second=0)


def test_sod_signature_verifies_with_cryptography_and_the_embedded_dsc():
    signed_data = _signed_data(genuine_chip().sod)
    signer_info = signed_data["signer_infos"][0]
    dsc = _dsc_of(signed_data)
    assert dsc == pki().signer_at(ISSUED_AT).certificate
    assert signer_info["signature_algorithm"]["algorithm"].dotted == "1.2.840.10045.4.3.2"
    dsc.public_key().verify(
        signer_info["signature"].native, _attributes_as_set(signer_info), ec.ECDSA(hashes.SHA256())
    )


def test_signer_info_names_the_dsc_by_issuer_and_serial_number():
    signed_data = _signed_data(genuine_chip().sod)
    sid = signed_data["signer_infos"][0]["sid"].chosen
    dsc = _dsc_of(signed_data)
    assert sid["serial_number"].native == dsc.serial_number
    assert sid["issuer"].dump() == dsc.issuer.public_bytes()


def test_same_inputs_give_byte_identical_sods():
    chip, signer = genuine_chip(), pki().signer_at(ISSUED_AT)
    again = build_sod(chip.data_groups, signer=signer, signing_time=ISSUED_AT)
    assert again == chip.sod


def test_parse_returns_hashes_signer_and_signing_time():
    chip = genuine_chip()
    sod = parse_sod(chip.sod)
    assert sod.security_object.hash_name == "sha256"
    assert dict(sod.security_object.hashes) == {
        n: hashlib.sha256(f).digest() for n, f in chip.data_groups.items()
    }
    assert sod.content.signer_certificate == pki().signer_at(ISSUED_AT).certificate
    assert sod.content.signed_attributes.signing_time == ISSUED_AT


@pytest.mark.parametrize("hash_name", ["sha1", "sha224", "sha256", "sha384", "sha512"])
def test_every_icao_hash_algorithm_can_be_used_for_the_data_group_hashes(hash_name):
    chip = genuine_chip()
    sod = parse_sod(
        build_sod(chip.data_groups, signer=pki().signer_at(ISSUED_AT), hash_name=hash_name)
    )
    assert sod.security_object.hashes[1] == hashlib.new(hash_name, chip.data_groups[1]).digest()


@pytest.mark.parametrize(
    ("scheme", "rsa_padding"),
    [
        ("pkcs1v15", padding.PKCS1v15()),
        ("pss", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)),
    ],
)
def test_rsa_document_signers_sign_verifiably(scheme, rsa_padding):
    signer = rsa_pki().signer_at(ISSUED_AT)
    algorithm = signature_algorithm_for(scheme)
    sod = build_sod(genuine_chip().data_groups, signer=signer, signature_algorithm=algorithm)
    signer_info = _signed_data(sod)["signer_infos"][0]
    signer.certificate.public_key().verify(
        signer_info["signature"].native,
        _attributes_as_set(signer_info),
        rsa_padding,
        hashes.SHA256(),
    )


def _lds_object(
    version: int,
    hashes_: list[tuple[int, bytes]],
    hash_oid: str = "2.16.840.1.101.3.4.2.1",
    info: bool = False,
) -> bytes:
    fields = {
        "version": version,
        "hash_algorithm": {"algorithm": hash_oid},
        "data_group_hash_values": [
            {"data_group_number": n, "data_group_hash_value": h} for n, h in hashes_
        ],
    }
    if info:
        fields["lds_version_info"] = {"lds_version": "0107", "unicode_version": "040000"}
    return LdsSecurityObject(fields).dump()


H = bytes(32)


@pytest.mark.parametrize(
    ("econtent_type", "econtent", "error", "code"),
    [
        ("2.23.136.1.1.2", _lds_object(0, [(1, H)]), ChipFormatError, "sod.content_type"),
        (
            "2.23.136.1.1.1",
            _lds_object(0, [(1, H)], "1.2.840.113549.2.5"),
            UnsupportedAlgorithmError,
            "algorithm.hash",
        ),
        ("2.23.136.1.1.1", _lds_object(0, [(1, H)], info=True), ChipFormatError, "sod.malformed"),
        ("2.23.136.1.1.1", _lds_object(1, [(1, H)]), ChipFormatError, "sod.malformed"),
        ("2.23.136.1.1.1", _lds_object(0, [(1, H), (1, H)]), ChipFormatError, "sod.malformed"),
        ("2.23.136.1.1.1", _lds_object(0, [(17, H)]), ChipFormatError, "sod.malformed"),
        ("2.23.136.1.1.1", _lds_object(0, [(1, H[:20])]), ChipFormatError, "sod.malformed"),
        ("2.23.136.1.1.1", b"\x30\x03\x02\x01\x00", ChipFormatError, "sod.malformed"),
        ("2.23.136.1.1.1", b"garbage", ChipFormatError, "sod.malformed"),
    ],
)
def test_parse_rejects_a_wrong_or_unreadable_security_object(econtent_type, econtent, error, code):
    sod = sod_with_econtent(econtent_type, econtent, pki().signer_at(ISSUED_AT))
    with pytest.raises(error) as raised:
        parse_sod(sod)
    assert raised.value.code == code


def _content_info(sod: bytes) -> cms.ContentInfo:
    return cms.ContentInfo.load(parser.parse(sod)[4])


def _two_signers(sod: bytes) -> bytes:
    content_info = _content_info(sod)
    signer_info = content_info["content"]["signer_infos"][0]
    content_info["content"]["signer_infos"] = [signer_info, signer_info]
    return encode_tlv(0x77, content_info.dump(force=True))


def _version(sod: bytes) -> bytes:
    content_info = _content_info(sod)
    content_info["content"]["version"] = "v1"
    return encode_tlv(0x77, content_info.dump(force=True))


def _not_signed_data(sod: bytes) -> bytes:
    return encode_tlv(0x77, cms.ContentInfo({"content_type": "data", "content": b"x"}).dump())


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda sod: b"\x78" + sod[1:], "tlv.unexpected_tag"),
        (lambda sod: sod[:-1], "tlv.truncated"),
        (lambda sod: sod + b"\x00", "tlv.trailing_data"),
        (lambda sod: encode_tlv(0x77, b"\x30\x03\x02\x01\x00"), "cms.malformed"),
        (_not_signed_data, "cms.content_type"),
        (_two_signers, "cms.signer_infos"),
        (_version, "cms.version"),
    ],
    ids=[
        "outer-tag",
        "truncated",
        "trailing",
        "not-content-info",
        "not-signed-data",
        "two-signers",
        "version",
    ],
)
def test_parse_rejects_a_broken_cms_wrapper_with_a_specific_code(mutate, code):
    with pytest.raises(ChipFormatError) as error:
        parse_sod(mutate(genuine_chip().sod))
    assert error.value.code == code


def test_signing_time_after_2049_is_a_generalized_time():
    late = datetime(2051, 3, 4, 5, 6, 7, tzinfo=UTC)
    sod = build_sod(
        genuine_chip().data_groups, signer=pki().signer_at(ISSUED_AT), signing_time=late
    )
    signer_info = _signed_data(sod)["signer_infos"][0]
    time = next(
        a["values"][0] for a in signer_info["signed_attrs"] if a["type"].native == "signing_time"
    )
    assert (time.name, time.native) == ("generalized_time", late)
