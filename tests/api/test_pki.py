"""/v1/pki: the trust anchors a relying party downloads (public), checked with cryptography and
asn1crypto directly; the RSA option persists its keys so every process builds the same PKI."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import Database
from app.models.card import PkiKey
from app.services.cards import chip
from app.services.cards import pki as card_pkis
from app.services.cards.holder import card_content
from app.services.cards.verification import ChipRead, verify_read
from tests.api.cards_support import *  # noqa: F403
from tests.api.cards_support import access_key, card_of, printed, raw, read_chip

MASTER_LIST = "2.23.136.1.1.2"


@pytest.fixture(scope="module")
def csca(client: TestClient) -> x509.Certificate:
    return x509.load_der_x509_certificate(client.get("/v1/pki/csca.der").content)


def test_csca_is_a_self_signed_vietnamese_ca(csca: x509.Certificate) -> None:
    csca.verify_directly_issued_by(csca)
    constraints = csca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert (constraints.ca, constraints.path_length) == (True, 0)
    assert csca.subject.get_attributes_for_oid(x509.NameOID.COUNTRY_NAME)[0].value == "VN"
    assert "SANDBOX" in csca.subject.rfc4514_string()


@pytest.mark.parametrize(("path", "accept"), [("/v1/pki/csca.pem", None),
                                              ("/v1/pki/csca", "application/x-pem-file")])
def test_csca_pem_is_the_same_certificate(client: TestClient, csca: x509.Certificate, path: str,
                                          accept: str | None) -> None:
    response = client.get(path, headers={"Accept": accept} if accept else {})
    assert response.headers["content-type"] == "application/x-pem-file"
    assert x509.load_pem_x509_certificate(response.content) == csca


def test_csca_without_extension_or_accept_is_der(client: TestClient,
                                                 csca: x509.Certificate) -> None:
    response = client.get("/v1/pki/csca")
    assert response.headers["content-type"] == "application/pkix-cert"
    assert response.content == csca.public_bytes(Encoding.DER)


def test_downloads_need_no_token(client: TestClient) -> None:
    paths = [f"/v1/pki/{n}{e}" for n in ("csca", "crl", "masterlist") for e in ("", ".der", ".pem")]
    assert {client.get(path).status_code for path in paths} == {200}


def test_crl_is_signed_by_the_csca_current_and_lists_a_revoked_signer(
        client: TestClient, csca: x509.Certificate) -> None:
    crl = x509.load_der_x509_crl(client.get("/v1/pki/crl.der").content)
    assert crl.is_signature_valid(csca.public_key())  # type: ignore[arg-type]
    now = datetime.now(UTC)
    assert crl.last_update_utc <= now <= crl.next_update_utc  # type: ignore[operator]
    assert len(list(crl)) == 1


def test_crl_pem_is_the_der_crl(client: TestClient) -> None:
    pem = x509.load_pem_x509_crl(client.get("/v1/pki/crl.pem").content)
    assert pem.public_bytes(Encoding.DER) == client.get("/v1/pki/crl.der").content


def test_crl_follows_the_sandbox_clock(client: TestClient, clock_guard: object) -> None:
    clock_guard.advance(timedelta(days=400))  # type: ignore[attr-defined]
    crl = x509.load_der_x509_crl(client.get("/v1/pki/crl.der").content)
    now = datetime.now(UTC) + timedelta(days=400)
    assert crl.last_update_utc <= now <= crl.next_update_utc  # type: ignore[operator]


def test_master_list_carries_the_csca_signed_by_a_csca_issued_signer(
        client: TestClient, csca: x509.Certificate) -> None:
    info = cms.ContentInfo.load(client.get("/v1/pki/masterlist.der").content)
    signed = info["content"]
    assert signed["encap_content_info"]["content_type"].dotted == MASTER_LIST
    signer = x509.load_der_x509_certificate(signed["certificates"][0].chosen.dump())
    signer.verify_directly_issued_by(csca)
    content = signed["encap_content_info"]["content"].native
    assert csca.public_bytes(Encoding.DER) in content


def test_master_list_is_signed_strictly_inside_its_signers_validity(client: TestClient) -> None:
    """A signing time equal to the signer's notBefore is refused by strict verifiers."""
    signed = cms.ContentInfo.load(client.get("/v1/pki/masterlist.der").content)["content"]
    signer = x509.load_der_x509_certificate(signed["certificates"][0].chosen.dump())
    attributes = {a["type"].native: a["values"][0].native
                  for a in signed["signer_infos"][0]["signed_attrs"]}
    signed_at = attributes["signing_time"]
    assert signer.not_valid_before_utc < signed_at < signer.not_valid_after_utc
    assert signed_at - signer.not_valid_before_utc >= timedelta(hours=1)


def test_master_list_pem_is_the_der_one(client: TestClient) -> None:
    text = client.get("/v1/pki/masterlist.pem").text
    body = "".join(text.strip().splitlines()[1:-1])
    assert text.startswith("-----BEGIN CMS-----")
    assert base64.b64decode(body) == client.get("/v1/pki/masterlist").content


def test_pki_index_links_every_download(client: TestClient) -> None:
    index = client.get("/v1/pki").json()
    assert "/v1/pki/crl.der" in index["downloads"]
    assert index["key_type"] == "ec"


def test_every_process_derives_the_same_pki(database: Database, csca: x509.Certificate) -> None:
    rebuilt = card_pkis._build(6, None, "ec")
    assert rebuilt.csca_der == csca.public_bytes(Encoding.DER)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    assert rebuilt.crl_der(now) == card_pkis._build(6, None, "ec").crl_der(now)


def test_a_chip_read_chains_to_the_downloaded_csca(client: TestClient, database: Database,
                                                   card_token: str,
                                                   csca: x509.Certificate) -> None:
    card = card_of(database, status="active", generation="can_cuoc_2024")
    files = raw(read_chip(client, card.pin, access_key(printed(client, card_token,
                                                               card.pin)["mrz"])))
    info = cms.ContentInfo.load(files["EF.SOD"][4:])
    dsc = x509.load_der_x509_certificate(info["content"]["certificates"][0].chosen.dump())
    dsc.verify_directly_issued_by(csca)


@pytest.fixture(scope="module")
def rsa_pki(database: Database) -> card_pkis.CardPki:
    """The RSA variant (DANCU_PKI_KEY_TYPE=rsa), its keys generated once into pki_key."""
    return card_pkis.card_pki(database, seed=6, key_type="rsa", now=datetime.now(UTC))


def test_rsa_keys_are_stored_once_and_give_the_same_certificates(
        database: Database, rsa_pki: card_pkis.CardPki) -> None:
    with database.write() as session:
        again = card_pkis.ensure_rsa_keys(session, now=datetime.now(UTC))
        stored = session.scalar(select(func.count()).select_from(PkiKey))
    assert stored == len(card_pkis.all_labels())
    assert card_pkis._build(6, again.__getitem__, "rsa").csca_der == rsa_pki.csca_der
    assert rsa_pki.pki.csca.certificate.signature_algorithm_oid.dotted_string == (
        "1.2.840.113549.1.1.11")


def test_a_chip_signed_under_the_rsa_pki_verifies_against_it(
        database: Database, rsa_pki: card_pkis.CardPki) -> None:
    card = card_of(database, status="active", generation="can_cuoc_2024")
    now = datetime.now(UTC)
    with database.read() as session:
        files = chip.chip_files(chip.spec_for(card, card_content(session, card), seed=6), rsa_pki)
        read = ChipRead({name: base64.b64encode(data).decode() for name, data in files.items()})
        result = verify_read(session, read, pki=rsa_pki, now=now)
    assert (result.verdict, result.reasons) == ("pass", [])
    assert result.report.step("sod.signature").detail.startswith("sha256WithRSA")  # type: ignore[union-attr]
