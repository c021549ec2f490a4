"""Passive authentication (Doc 9303 Part 11 §5.1): one test per failure persona, each proving that
exactly the expected step fails with its stable reason while the others still report."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding

from app.icao.active_auth import sign_challenge
from app.icao.algorithms import SignatureAlgorithm, sign, signature_algorithm_for
from app.icao.chip import derive_chip_keys
from app.icao.dg13 import encode_dg13
from app.icao.dg14 import encode_dg14
from app.icao.keys import KeyedCertificate, derive_ec_private_key
from app.icao.lds import encode_dg1
from app.icao.mrz import build_td1
from app.icao.passive_auth import VerificationReport, verify
from app.icao.pki import build_sandbox_pki, issue_crl
from app.icao.sod import LdsSecurityObject, build_sod
from app.icao.tlv import encode_tlv

from .support import (
    CHALLENGE,
    DETAILS,
    HOLDER,
    ISSUED_AT,
    NOW,
    PKI_START,
    SEED,
    aa_response,
    content_info,
    current_crl,
    genuine_chip,
    issue,
    pki,
    rewrapped,
    rsa_pki,
    sod_with_econtent,
    statuses,
    verify_chip,
)

STEP_ORDER = [
    "sod.parse",
    "dg.hash",
    "dg.hash",
    "dg.hash",
    "dg.hash",
    "dg.hash",
    "sod.signed_attrs",
    "sod.signature",
    "dsc.chain",
    "dsc.validity",
    "dsc.revocation",
    "card.expiry",
    "chip.active_auth",
]


def _only_failure(report: VerificationReport) -> tuple[str, str | None, str | None]:
    failed = [step for step in report.steps if step.status == "fail"]
    assert len(failed) == 1, failed
    return failed[0].code, failed[0].subject, failed[0].reason


def test_genuine_chip_passes_every_step_in_order():
    report = verify_chip(genuine_chip(), aa_challenge=CHALLENGE, aa_response=aa_response())
    assert [step.code for step in report.steps] == STEP_ORDER
    assert {step.status for step in report.steps} == {"pass"}
    assert (report.verdict, report.reasons) == ("pass", ())


def test_report_names_the_signer_its_csca_and_the_signing_time():
    report = verify_chip(genuine_chip())
    assert report.document_signer == pki().signer_at(ISSUED_AT).certificate
    assert report.csca == pki().csca.certificate
    assert report.signing_time == ISSUED_AT


# --- data groups ---------------------------------------------------------------------------------


def test_tampered_dg1_fails_its_hash_only():
    forged_mrz = encode_dg1(build_td1(replace(HOLDER, given_name="Hiếu")))
    report = verify_chip(genuine_chip(), data_groups={**genuine_chip().data_groups, 1: forged_mrz})
    assert _only_failure(report) == ("dg.hash", "DG1", "hash_mismatch")
    assert report.verdict == "fail"


def test_tampered_dg13_fails_its_hash_only():
    forged = encode_dg13(replace(DETAILS, place_of_residence="Số 1, Phố Giả, TP Hà Nội"))
    report = verify_chip(genuine_chip(), data_groups={**genuine_chip().data_groups, 13: forged})
    assert _only_failure(report) == ("dg.hash", "DG13", "hash_mismatch")


def test_data_group_absent_from_the_sod_fails():
    extra = {**genuine_chip().data_groups, 3: encode_tlv(0x63, b"fingerprints")}
    assert _only_failure(verify_chip(genuine_chip(), data_groups=extra)) == (
        "dg.hash",
        "DG3",
        "unlisted_data_group",
    )


def test_data_groups_not_read_are_simply_not_reported():
    report = verify_chip(genuine_chip(), data_groups={1: genuine_chip().data_groups[1]})
    assert [s.subject for s in report.steps if s.code == "dg.hash"] == ["DG1"]
    assert report.verdict == "pass"


def test_no_data_group_at_all_fails():
    report = verify_chip(genuine_chip(), data_groups={})
    assert report.step("dg.hash").reason == "no_data_groups"


def test_data_groups_may_be_keyed_by_name():
    named = {f"DG{number}": file for number, file in genuine_chip().data_groups.items()}
    assert verify_chip(genuine_chip(), data_groups=named).verdict == "pass"


@pytest.mark.parametrize("key", ["COM", "DG99", 0, None])
def test_an_unknown_data_group_key_is_a_malformed_step(key):
    report = verify_chip(genuine_chip(), data_groups={**genuine_chip().data_groups, key: b"x"})
    assert _only_failure(report) == ("dg.hash", "unknown", "malformed")


def test_the_same_data_group_given_twice_is_malformed():
    files = {**genuine_chip().data_groups, "DG1": genuine_chip().data_groups[1]}
    assert _only_failure(verify_chip(genuine_chip(), data_groups=files)) == (
        "dg.hash",
        "DG1",
        "malformed",
    )


# --- SOD signature and signed attributes --------------------------------------------------------


def _with_signer_info(change) -> bytes:
    info = content_info(genuine_chip().sod)
    change(info["content"]["signer_infos"][0])
    return rewrapped(info)


def _flip_signature(signer_info) -> None:
    signature = bytearray(signer_info["signature"].native)
    signature[-3] ^= 0x01
    signer_info["signature"] = bytes(signature)


def test_forged_sod_signature_fails():
    report = verify_chip(genuine_chip(), sod=_with_signer_info(_flip_signature))
    assert _only_failure(report) == ("sod.signature", None, "bad_signature")


def test_sod_re_signed_by_an_attackers_key_fails_the_signature():
    def resign(signer_info) -> None:
        attacker = derive_ec_private_key(b"attacker", "dsc")
        signed = b"\x31" + signer_info["signed_attrs"].dump()[1:]
        signer_info["signature"] = sign(attacker, signed, signature_algorithm_for("ecdsa"))

    assert (
        _only_failure(verify_chip(genuine_chip(), sod=_with_signer_info(resign)))[2]
        == "bad_signature"
    )


def test_rehashed_lds_security_object_fails_the_message_digest():
    """An attacker who edits DG1 and its hash in the SOD, but cannot re-sign, is caught."""
    forged_dg1 = encode_dg1(build_td1(replace(HOLDER, given_name="Hiếu")))
    genuine = content_info(genuine_chip().sod)
    files = {**genuine_chip().data_groups, 1: forged_dg1}
    rehashed = content_info(
        build_sod(files, signer=pki().signer_at(ISSUED_AT), signing_time=ISSUED_AT)
    )
    genuine["content"]["encap_content_info"] = rehashed["content"]["encap_content_info"]
    report = verify_chip(genuine_chip(), sod=rewrapped(genuine), data_groups=files)
    assert _only_failure(report) == ("sod.signed_attrs", None, "digest_mismatch")


def _resigned(change_attributes) -> bytes:
    """Change the signed attributes and sign them again with the genuine DSC key."""
    signer = pki().signer_at(ISSUED_AT)

    def change(signer_info) -> None:
        change_attributes(signer_info["signed_attrs"])
        signed = b"\x31" + signer_info["signed_attrs"].dump(force=True)[1:]
        signer_info["signature"] = sign(
            signer.private_key, signed, signature_algorithm_for("ecdsa")
        )

    return _with_signer_info(change)


def test_content_type_attribute_must_equal_the_econtent_type():
    def set_data(attributes) -> None:
        attributes[0] = {"type": "content_type", "values": ["data"]}

    report = verify_chip(genuine_chip(), sod=_resigned(set_data))
    assert _only_failure(report) == ("sod.signed_attrs", None, "content_type_mismatch")


def test_signer_info_without_signed_attributes_fails():
    def drop(signer_info) -> None:
        signer_info["signed_attrs"] = None

    report = verify_chip(genuine_chip(), sod=_with_signer_info(drop))
    assert report.step("sod.signed_attrs").reason == "missing_signed_attrs"
    assert report.step("sod.signature").reason == "missing_signed_attrs"


def test_sod_without_its_signer_certificate_fails_and_skips_the_signer_checks():
    info = content_info(genuine_chip().sod)
    info["content"]["certificates"] = None
    report = verify_chip(genuine_chip(), sod=rewrapped(info))
    assert report.step("sod.signature").reason == "signer_not_found"
    assert {
        report.step(code).status for code in ("dsc.chain", "dsc.validity", "dsc.revocation")
    } == {"skipped"}


def test_unknown_signature_algorithm_is_reported_as_unsupported():
    unknown = SignatureAlgorithm("made-up", "1.2.3.4.5", "sha256", "ecdsa")
    sod = build_sod(
        genuine_chip().data_groups,
        signer=pki().signer_at(ISSUED_AT),
        signature_algorithm=unknown,
        signing_time=ISSUED_AT,
    )
    assert _only_failure(verify_chip(genuine_chip(), sod=sod)) == (
        "sod.signature",
        None,
        "unsupported_algorithm",
    )


@pytest.mark.parametrize("scheme", ["pkcs1v15", "pss"])
def test_rsa_signed_chips_verify(scheme):
    signer = rsa_pki().signer_at(ISSUED_AT)
    chip = genuine_chip()
    sod = build_sod(
        chip.data_groups,
        signer=signer,
        signature_algorithm=signature_algorithm_for(scheme),
        signing_time=ISSUED_AT,
    )
    crl = rsa_pki().crl(this_update=NOW - timedelta(days=1), next_update=NOW + timedelta(days=1))
    report = verify(
        sod, chip.data_groups, trust_anchors=[rsa_pki().csca.certificate], crl=crl, now=NOW
    )
    assert report.verdict == "pass", report.steps


# --- document signer chain, validity, revocation --------------------------------------------------


def test_dsc_from_a_foreign_csca_is_untrusted():
    report = verify_chip(issue(pki().personas.foreign_signer))
    assert _only_failure(report) == ("dsc.chain", None, "untrusted_signer")
    assert report.step("dsc.revocation").reason == "previous_step_failed"


def test_dsc_from_an_impostor_csca_with_the_same_name_is_untrusted():
    impostor = build_sandbox_pki(b"impostor", start=PKI_START, periods=1)
    assert impostor.csca.certificate.subject == pki().csca.certificate.subject
    report = verify_chip(issue(impostor.document_signers[0]))
    assert _only_failure(report) == ("dsc.chain", None, "untrusted_signer")


def test_a_dsc_is_never_trusted_because_the_sod_carries_its_csca():
    """Certificates inside the SOD are not trust anchors, even the issuing CSCA itself."""
    foreign = pki().personas
    info = content_info(issue(foreign.foreign_signer).sod)
    certificates = list(info["content"]["certificates"])
    csca = asn1_x509.Certificate.load(foreign.foreign_csca.certificate.public_bytes(Encoding.DER))
    info["content"]["certificates"] = [*certificates, csca]
    report = verify_chip(genuine_chip(), sod=rewrapped(info))
    assert report.step("dsc.chain").reason == "untrusted_signer"


def test_expired_dsc_fails_validity():
    report = verify_chip(issue(pki().personas.expired_signer))
    assert _only_failure(report) == ("dsc.validity", None, "expired_signer")


def test_expired_dsc_fails_validity_without_signing_time_too():
    report = verify_chip(issue(pki().personas.expired_signer, signing_time=None))
    assert _only_failure(report) == ("dsc.validity", None, "expired_signer")
    assert "verification time" in report.step("dsc.validity").detail


def test_signing_after_the_private_key_usage_period_fails_validity():
    late = datetime(2022, 3, 1, tzinfo=UTC)  # document_signers[0] signs 2021-01 … 2021-07
    report = verify_chip(issue(pki().document_signers[0], signing_time=late))
    assert _only_failure(report) == ("dsc.validity", None, "expired_signer")
    assert "usage period" in report.step("dsc.validity").detail


def test_signing_before_the_dsc_was_valid_fails_validity():
    report = verify_chip(issue(pki().document_signers[5], signing_time=ISSUED_AT))
    assert _only_failure(report) == ("dsc.validity", None, "signer_not_yet_valid")


def test_signing_time_after_the_verification_time_fails_validity():
    future = NOW + timedelta(days=1)
    report = verify_chip(issue(pki().signer_at(future), signing_time=future))
    assert _only_failure(report) == ("dsc.validity", None, "signing_time_in_future")


def test_without_signing_time_the_dsc_is_checked_at_verification_time():
    report = verify_chip(issue(signing_time=None))
    assert report.verdict == "pass"
    assert report.step("dsc.validity").detail == "checked at the verification time"


def test_revoked_dsc_fails_revocation():
    report = verify_chip(issue(pki().personas.revoked_signer))
    assert _only_failure(report) == ("dsc.revocation", None, "revoked_signer")


def test_without_a_crl_revocation_is_skipped():
    chip = genuine_chip()
    report = verify(chip.sod, chip.data_groups, trust_anchors=[pki().csca.certificate], now=NOW)
    assert (report.step("dsc.revocation").status, report.step("dsc.revocation").reason) == (
        "skipped",
        "no_crl",
    )
    assert report.verdict == "pass"


def _crl_of(issuer: KeyedCertificate) -> bytes:
    return issue_crl(
        issuer=issuer,
        revoked={},
        this_update=NOW - timedelta(days=1),
        next_update=NOW + timedelta(days=1),
    )


@pytest.mark.parametrize(
    ("crl", "reason"),
    [
        (lambda: current_crl(this_update=NOW - timedelta(days=60)), "stale_crl"),
        (lambda: current_crl(this_update=NOW + timedelta(days=1)), "stale_crl"),
        (lambda: _crl_of(pki().personas.foreign_csca), "untrusted_crl"),
        (
            lambda: _crl_of(build_sandbox_pki(b"impostor", start=PKI_START, periods=1).csca),
            "untrusted_crl",
        ),
        (lambda: b"not a crl", "malformed"),
    ],
    ids=["expired", "not-yet-issued", "foreign-issuer", "impostor-signature", "garbage"],
)
def test_a_crl_that_cannot_be_relied_on_fails_revocation(crl, reason):
    assert _only_failure(verify_chip(genuine_chip(), crl=crl())) == ("dsc.revocation", None, reason)


def test_trust_anchors_may_be_given_as_der_or_pem_bytes():
    chip, csca = genuine_chip(), pki().csca.certificate
    for encoding in (Encoding.DER, Encoding.PEM):
        report = verify(
            chip.sod, chip.data_groups, trust_anchors=[csca.public_bytes(encoding)], now=NOW
        )
        assert report.verdict == "pass"


def test_with_no_trust_anchor_every_signer_is_untrusted():
    chip = genuine_chip()
    report = verify(chip.sod, chip.data_groups, trust_anchors=[], now=NOW)
    assert report.step("dsc.chain").reason == "untrusted_signer"


# --- card expiry ----------------------------------------------------------------------------------

YOUNG = replace(HOLDER, pin="001201000123", date_of_birth=date(2001, 5, 5), expiry=date(2026, 5, 5))


def _young_card():
    details = replace(
        DETAILS, pin=YOUNG.pin, date_of_birth=YOUNG.date_of_birth, expiry_date=YOUNG.expiry
    )
    return issue(holder=YOUNG, details=details, card_id="young")


@pytest.mark.parametrize(
    ("now", "status"),
    [
        (datetime(2026, 5, 5, 16, 59, tzinfo=UTC), "pass"),  # 23:59 on 5 May in Hà Nội
        (datetime(2026, 5, 5, 17, 0, tzinfo=UTC), "fail"),  # 00:00 on 6 May in Hà Nội
    ],
)
def test_card_expiry_is_judged_on_the_vietnamese_calendar_date(now, status):
    report = verify_chip(
        _young_card(), now=now, crl=current_crl(this_update=now - timedelta(days=1))
    )
    assert report.step("card.expiry").status == status
    if status == "fail":
        assert _only_failure(report) == ("card.expiry", None, "document_expired")


def test_a_card_without_expiry_never_expires():
    lifetime = replace(HOLDER, expiry=None)
    report = verify_chip(issue(holder=lifetime, details=replace(DETAILS, expiry_date=None)))
    assert report.step("card.expiry").detail == "the card has no expiry date"


def test_without_dg1_card_expiry_is_skipped():
    files = {n: f for n, f in genuine_chip().data_groups.items() if n != 1}
    assert verify_chip(genuine_chip(), data_groups=files).step("card.expiry").reason == "not_read"


# --- active authentication ------------------------------------------------------------------------


def test_cloned_chip_passes_passive_authentication_but_fails_active_authentication():
    clone_response = aa_response(card_id="clone")
    report = verify_chip(genuine_chip(), aa_challenge=CHALLENGE, aa_response=clone_response)
    assert _only_failure(report) == ("chip.active_auth", None, "bad_signature")


def test_active_authentication_is_skipped_unless_a_challenge_is_given():
    step = verify_chip(genuine_chip()).step("chip.active_auth")
    assert (step.status, step.reason) == ("skipped", "not_requested")


@pytest.mark.parametrize(
    ("files", "challenge", "response", "reason"),
    [
        ("all", bytes(7), aa_response(), "bad_challenge"),
        ("all", CHALLENGE, None, "malformed"),
        ("all", None, aa_response(), "malformed"),
        ("no-dg15", CHALLENGE, aa_response(), "missing_data_group"),
        ("no-dg14", CHALLENGE, aa_response(), "missing_data_group"),
        ("bad-dg15", CHALLENGE, aa_response(), "malformed"),
    ],
)
def test_active_authentication_failures_have_specific_reasons(files, challenge, response, reason):
    data_groups = dict(genuine_chip().data_groups)
    if files == "no-dg15":
        del data_groups[15]
    if files == "no-dg14":
        del data_groups[14]
    if files == "bad-dg15":
        data_groups[15] = encode_tlv(0x6F, b"\x30\x00")
    report = verify_chip(
        genuine_chip(), data_groups=data_groups, aa_challenge=challenge, aa_response=response
    )
    assert report.step("chip.active_auth").reason == reason


def chip_declaring(encoding: str) -> tuple[dict, bytes]:
    """A genuine chip whose DG14 declares ECDSA-SHA256 with ``encoding`` responses, and its SOD."""
    data_groups = dict(genuine_chip().data_groups)
    key = derive_chip_keys(SEED, "card-1").chip_authentication.public_key()
    data_groups[14] = encode_dg14(chip_authentication_key=key,
                                  active_authentication_encoding=encoding)
    return data_groups, build_sod(data_groups, signer=pki().signer_at(ISSUED_AT),
                                  signing_time=ISSUED_AT)


@pytest.mark.parametrize(
    ("declared", "returned", "status"),
    [("plain", "plain", "pass"), ("der", "der", "pass"),
     ("plain", "der", "fail"), ("der", "plain", "fail")],
)
def test_active_authentication_reads_the_response_in_the_encoding_dg14_declares(
        declared, returned, status):
    """ecdsa-plain-SHA256 (BSI TR-03111): r‖s; ecdsa-with-SHA256: DER; never the other one."""
    data_groups, sod = chip_declaring(declared)
    response = sign_challenge(derive_chip_keys(SEED, "card-1").active_authentication, CHALLENGE,
                              encoding=returned)
    report = verify_chip(genuine_chip(), sod=sod, data_groups=data_groups,
                         aa_challenge=CHALLENGE, aa_response=response)
    assert report.step("dg.hash").status == "pass"
    assert report.step("chip.active_auth").status == status


# --- hostile input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sod",
    [
        b"",
        b"\x00",
        b"garbage that is not ASN.1",
        b"\x77\x84\xff\xff\xff\xff",  # huge declared length
        b"\x77\x83\x7f\xff\xff" + bytes(10),
        b"\x77\x80\x30\x80\x00\x00\x00\x00",  # indefinite length
        b"\x76" + genuine_chip().sod[1:],  # wrong outer tag
        genuine_chip().sod[: len(genuine_chip().sod) // 2],  # truncated
        encode_tlv(0x77, b"\x30\x82\xff\xff\x02\x01"),  # inner length overflow
        encode_tlv(0x77, b"\x30" + b"\x30\x80" * 40),  # deep nesting
    ],
    ids=[
        "empty",
        "zero",
        "text",
        "huge",
        "large",
        "indefinite",
        "wrong-tag",
        "truncated",
        "inner-overflow",
        "nesting",
    ],
)
def test_garbage_sod_fails_parsing_and_skips_the_dependent_steps(sod):
    report = verify_chip(genuine_chip(), sod=sod)
    assert (report.step("sod.parse").status, report.step("sod.parse").reason) == (
        "fail",
        "malformed",
    )
    dependent = [
        s for s in report.steps if s.code not in ("sod.parse", "card.expiry", "chip.active_auth")
    ]
    assert {s.status for s in dependent} == {"skipped"}
    assert report.verdict == "fail"


def test_wrong_econtent_type_is_unsupported_content_type():
    sod = sod_with_econtent("2.23.136.1.1.2", b"\x30\x00", pki().signer_at(ISSUED_AT))
    assert (
        verify_chip(genuine_chip(), sod=sod).step("sod.parse").reason == "unsupported_content_type"
    )


def test_unknown_data_group_hash_algorithm_is_unsupported():
    lds = LdsSecurityObject(
        {
            "version": 0,
            "hash_algorithm": {"algorithm": "md5"},
            "data_group_hash_values": [
                {"data_group_number": 1, "data_group_hash_value": bytes(16)}
            ],
        }
    )
    sod = sod_with_econtent("2.23.136.1.1.1", lds.dump(), pki().signer_at(ISSUED_AT))
    assert verify_chip(genuine_chip(), sod=sod).step("sod.parse").reason == "unsupported_algorithm"


def test_every_truncation_of_the_sod_fails_without_raising():
    chip = genuine_chip()
    for end in range(len(chip.sod)):
        assert verify_chip(chip, sod=chip.sod[:end]).verdict == "fail"


def test_random_byte_corruption_of_the_sod_never_raises():
    chip, generator = genuine_chip(), random.Random(9303)
    for _ in range(600):
        corrupted = bytearray(chip.sod)
        for _ in range(generator.randrange(1, 4)):
            corrupted[generator.randrange(len(corrupted))] = generator.randrange(256)
        report = verify_chip(chip, sod=bytes(corrupted))
        assert report.verdict in ("pass", "fail")


def test_random_corruption_of_the_data_groups_never_raises():
    chip, generator = genuine_chip(), random.Random(7816)
    for number in (1, 14, 15):
        for _ in range(100):
            corrupted = bytearray(chip.data_groups[number])
            corrupted[generator.randrange(len(corrupted))] = generator.randrange(256)
            files = {**chip.data_groups, number: bytes(corrupted)}
            report = verify_chip(
                chip, data_groups=files, aa_challenge=CHALLENGE, aa_response=aa_response()
            )
            assert report.verdict == "fail"


# --- report ---------------------------------------------------------------------------------------


def test_reasons_list_each_failure_reason_once_in_step_order():
    files = {**genuine_chip().data_groups, 1: b"\x61\x00", 13: b"\x6d\x00"}
    report = verify_chip(issue(pki().personas.revoked_signer), data_groups=files)
    assert report.reasons == ("hash_mismatch", "revoked_signer", "malformed")


def test_step_lookup_by_code_and_subject():
    report = verify_chip(genuine_chip())
    assert report.step("dg.hash", "DG13").subject == "DG13"
    assert report.step("no.such.step") is None
    assert statuses(report)[("dg.hash", "DG2")] == "pass"
