"""The virtual chip through HTTP: access by the MRZ's key only, files checked by an implementation
path independent of the issuing code (cryptography, hashlib, asn1crypto, the ``mrz`` package)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import date
from typing import Any

import pytest
from asn1crypto import cms, core, parser
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key
from fastapi.testclient import TestClient
from mrz.checker.td1 import TD1CodeChecker

from app.db import Database
from tests.api.cards_support import *  # noqa: F403
from tests.api.cards_support import (
    CHALLENGE,
    access_key,
    admin,
    card_of,
    chip_headers,
    new_citizen,
    printed,
    raw,
    read_chip,
)

LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
HASH_OIDS = {"2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
             "2.16.840.1.101.3.4.2.3": "sha512", "1.3.14.3.2.26": "sha1"}
HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512,
          "sha1": hashlib.sha1}


@pytest.fixture(scope="module")
def genuine(client: TestClient, database: Database, card_token: str) -> dict[str, Any]:
    """A generated, active 2021 card: its printed view and its chip files."""
    card = card_of(database, status="active", generation="cccd_2021")
    view = printed(client, card_token, card.pin)
    return {"pin": card.pin, "view": view,
            "files": raw(read_chip(client, card.pin, access_key(view["mrz"])))}


def _tlv_value(data: bytes, *, tag_bytes: int = 1) -> bytes:
    """Value of a BER-TLV (ISO/IEC 7816-4 lengths), read here without the library's parser."""
    first = data[tag_bytes]
    start = tag_bytes + 1
    if first < 0x80:
        return data[start:start + first]
    size = first & 0x7F
    length = int.from_bytes(data[start:start + size], "big")
    return data[start + size:start + size + length]


def _signed_data(sod: bytes) -> cms.SignedData:
    info = cms.ContentInfo.load(_tlv_value(sod))
    assert info["content_type"].native == "signed_data"
    return info["content"]


def _elements(der: bytes) -> list[bytes]:
    """The encoded children of a constructed DER element."""
    contents, found, offset = parser.parse(der)[4], [], 0
    while offset < len(contents):
        size = parser.peek(contents[offset:])
        found.append(contents[offset:offset + size])
        offset += size
    return found


def _security_object(signed: cms.SignedData) -> tuple[str, dict[int, bytes]]:
    """(hash name, DG number -> hash) from the LDSSecurityObject, walked element by element."""
    encap = signed["encap_content_info"]
    assert encap["content_type"].dotted == LDS_SECURITY_OBJECT
    version, algorithm, hashes_, *_ = _elements(encap["content"].native)
    assert core.Integer.load(version).native in (0, 1)
    name = HASH_OIDS[core.ObjectIdentifier.load(_elements(algorithm)[0]).dotted]
    pairs = [_elements(item) for item in _elements(hashes_)]
    return name, {core.Integer.load(number).native: core.OctetString.load(value).native
                  for number, value in pairs}


def test_chip_files_are_the_lds_files_of_the_card(genuine: dict[str, Any]) -> None:
    assert set(genuine["files"]) == {"EF.COM", "EF.SOD", "DG1", "DG2", "DG13", "DG14", "DG15"}


@pytest.mark.parametrize(("name", "tag"), [("EF.COM", 0x60), ("EF.SOD", 0x77), ("DG1", 0x61),
                                           ("DG2", 0x75), ("DG13", 0x6D), ("DG14", 0x6E),
                                           ("DG15", 0x6F)])
def test_each_file_starts_with_its_lds_tag(genuine: dict[str, Any], name: str, tag: int) -> None:
    assert genuine["files"][name][0] == tag


def test_dg1_holds_the_printed_mrz(genuine: dict[str, Any]) -> None:
    text = _tlv_value(_tlv_value(genuine["files"]["DG1"]), tag_bytes=2)
    assert text.decode("ascii") == "".join(genuine["view"]["mrz"])


def test_printed_mrz_check_digits_verify_with_the_mrz_package(genuine: dict[str, Any]) -> None:
    assert bool(TD1CodeChecker("\n".join(genuine["view"]["mrz"])))


def test_sod_hashes_every_data_group_as_read(genuine: dict[str, Any]) -> None:
    algorithm, values = _security_object(_signed_data(genuine["files"]["EF.SOD"]))
    files = genuine["files"]
    expected = {int(name[2:]): HASHES[algorithm](data).digest()
                for name, data in files.items() if name.startswith("DG")}
    assert values == expected


def _signer(signed: cms.SignedData) -> tuple[x509.Certificate, Any]:
    certificate = x509.load_der_x509_certificate(signed["certificates"][0].chosen.dump())
    return certificate, signed["signer_infos"][0]


def test_sod_signature_verifies_with_cryptography_and_the_embedded_dsc(
        genuine: dict[str, Any]) -> None:
    signed = _signed_data(genuine["files"]["EF.SOD"])
    dsc, signer_info = _signer(signed)
    attributes = signer_info["signed_attrs"].untag().dump()
    public_key = dsc.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signer_info["signature"].native, attributes, ec.ECDSA(hashes.SHA256()))


def test_dsc_of_the_sod_chains_to_the_downloaded_csca(client: TestClient,
                                                      genuine: dict[str, Any]) -> None:
    csca = x509.load_pem_x509_certificate(client.get("/v1/pki/csca.pem").content)
    dsc, _ = _signer(_signed_data(genuine["files"]["EF.SOD"]))
    dsc.verify_directly_issued_by(csca)


def test_sod_message_digest_covers_the_security_object(genuine: dict[str, Any]) -> None:
    signed = _signed_data(genuine["files"]["EF.SOD"])
    _, signer_info = _signer(signed)
    digests = {a["type"].native: a["values"][0].native for a in signer_info["signed_attrs"]}
    econtent = signed["encap_content_info"]["content"].native
    assert digests["message_digest"] == hashlib.sha256(econtent).digest()


def test_active_authentication_answer_verifies_with_the_dg15_key(
        client: TestClient, genuine: dict[str, Any]) -> None:
    key = access_key(genuine["view"]["mrz"])
    response = client.post(f"/v1/cards/{genuine['pin']}/chip/internal-authenticate",
                           json={"challenge": CHALLENGE}, headers=chip_headers(client, key))
    signature = bytes.fromhex(response.json()["response_hex"])
    public_key = load_der_public_key(_tlv_value(genuine["files"]["DG15"]))
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                               int.from_bytes(signature[32:], "big"))
    public_key.verify(der, bytes.fromhex(CHALLENGE), ec.ECDSA(hashes.SHA256()))


def test_dg14_declares_the_plain_signature_the_chip_returns(genuine: dict[str, Any]) -> None:
    """The answer above is r‖s: DG14 must say ecdsa-plain-SHA256 (BSI TR-03111), not
    ecdsa-with-SHA256 (a DER signature), or ICAO readers reject active authentication."""
    class SecurityInfo(core.Sequence):
        _fields = [("protocol", core.ObjectIdentifier), ("required", core.Any),
                   ("optional", core.ObjectIdentifier, {"optional": True})]

    class SecurityInfos(core.SetOf):
        _child_spec = SecurityInfo

    infos = SecurityInfos.load(_tlv_value(genuine["files"]["DG14"]))
    declared = [i["optional"].dotted for i in infos if i["protocol"].dotted == "2.23.136.1.1.5"]
    assert declared == ["0.4.0.127.0.7.1.1.4.1.3"]


def test_the_same_card_gives_the_same_chip_bytes(client: TestClient,
                                                 genuine: dict[str, Any]) -> None:
    again = raw(read_chip(client, genuine["pin"], access_key(genuine["view"]["mrz"])))
    assert again == genuine["files"]


def test_chip_comes_as_a_zip_of_raw_files(client: TestClient, genuine: dict[str, Any]) -> None:
    response = client.get(f"/v1/cards/{genuine['pin']}/chip", headers={
        **chip_headers(client, access_key(genuine["view"]["mrz"])), "Accept": "application/zip"})
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert {name: archive.read(name) for name in archive.namelist()} == genuine["files"]


@pytest.mark.parametrize("key", [None, "", "00" * 16, "zz" * 16, "ab" * 8, "ab" * 17],
                         ids=["missing", "empty", "wrong", "not-hex", "short", "long"])
def test_chip_without_the_right_key_is_401_and_discloses_nothing(
        client: TestClient, genuine: dict[str, Any], key: str | None) -> None:
    headers = chip_headers(client, key)
    response = client.get(f"/v1/cards/{genuine['pin']}/chip", headers=headers)
    assert response.status_code == 401
    assert set(response.json()) == {"type", "title", "status", "instance"}


def test_unknown_card_and_wrong_key_are_refused_alike(client: TestClient,
                                                      genuine: dict[str, Any]) -> None:
    key = access_key(genuine["view"]["mrz"])
    unknown = client.get("/v1/cards/001099999999/chip", headers=chip_headers(client, key))
    wrong = client.get(f"/v1/cards/{genuine['pin']}/chip", headers=chip_headers(client, "0" * 32))
    assert unknown.json() == wrong.json()


def test_internal_authenticate_needs_the_access_key(client: TestClient,
                                                    genuine: dict[str, Any]) -> None:
    response = client.post(f"/v1/cards/{genuine['pin']}/chip/internal-authenticate",
                           json={"challenge": CHALLENGE}, headers=chip_headers(client, "0" * 32))
    assert response.status_code == 401


@pytest.mark.parametrize("challenge", ["00112233", "zz" * 8, "AAECAwQFBgcICQ==", ""])
def test_internal_authenticate_refuses_a_challenge_that_is_not_8_bytes(
        client: TestClient, genuine: dict[str, Any], challenge: str) -> None:
    response = client.post(f"/v1/cards/{genuine['pin']}/chip/internal-authenticate",
                           json={"challenge": challenge},
                           headers=chip_headers(client, access_key(genuine["view"]["mrz"])))
    assert response.status_code == 422


def test_challenge_may_be_base64(client: TestClient, genuine: dict[str, Any]) -> None:
    response = client.post(f"/v1/cards/{genuine['pin']}/chip/internal-authenticate",
                           json={"challenge": "ABEiM0RVZnc="},
                           headers=chip_headers(client, access_key(genuine["view"]["mrz"])))
    assert response.json()["challenge"] == CHALLENGE


def test_chip_reads_are_audited_granted_or_refused(client: TestClient, database: Database,
                                                   genuine: dict[str, Any]) -> None:
    from sqlalchemy import select

    from app.models.audit import AuditRecord

    client.get(f"/v1/cards/{genuine['pin']}/chip", headers=chip_headers(client, "1" * 32))
    with database.read() as session:
        results = set(session.scalars(select(AuditRecord.result).where(
            AuditRecord.pin == genuine["pin"], AuditRecord.action == "chip_read")))
    assert results == {"disclosed", "denied"}


def test_under_6_card_has_no_face_in_the_chip(client: TestClient, database: Database,
                                              admin_headers: dict[str, str],
                                              card_token: str) -> None:
    pin = new_citizen(database, born=date(2023, 3, 1))
    assert admin(client, admin_headers, pin, "issue", "under_14_on_request").status_code == 200
    files = read_chip(client, pin, access_key(printed(client, card_token, pin)["mrz"]))
    assert "DG2" not in files
