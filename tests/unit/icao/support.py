"""Shared values for the ICAO tests: one sandbox PKI, one citizen, fixed moments."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from asn1crypto import cms, parser

from app.icao.active_auth import sign_challenge
from app.icao.algorithms import signature_algorithm_for
from app.icao.chip import ChipFiles, derive_chip_keys, issue_chip
from app.icao.dg13 import PersonalDetails
from app.icao.face import synthetic_face
from app.icao.keys import KeyedCertificate, generate_rsa_private_key
from app.icao.mrz import MrzHolder, build_td1
from app.icao.passive_auth import VerificationReport, verify
from app.icao.pki import SandboxPki, build_sandbox_pki
from app.icao.signed_data import build_signed_data
from app.icao.tlv import encode_tlv

SEED = b"dancu-sandbox unit tests"
PKI_START = datetime(2021, 1, 1, tzinfo=UTC)
ISSUED_AT = datetime(2021, 4, 1, 9, 30, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CHALLENGE = bytes.fromhex("0011223344556677")

# The public sample of the identity-rules reference §2.4 (Ứng Hoàng Hiệp).
HOLDER = MrzHolder(
    pin="001093047064",
    surname="Ứng",
    middle_name="Hoàng",
    given_name="Hiệp",
    date_of_birth=date(1993, 1, 5),
    sex="M",
    expiry=date(2033, 1, 5),
)
DETAILS = PersonalDetails(
    pin="001093047064",
    full_name="Ứng Hoàng Hiệp",
    date_of_birth=date(1993, 1, 5),
    sex="M",
    nationality="Việt Nam",
    ethnicity="Kinh",
    religion="Không",
    place_of_origin="Xã Đông Hội, Huyện Đông Anh, TP Hà Nội",
    place_of_residence="Số 12, Phố Hàng Bạc, Phường Hoàn Kiếm, TP Hà Nội",
    identifying_marks="Nốt ruồi C:2cm trên trước cánh mũi phải",
    issue_date=date(2021, 4, 1),
    expiry_date=date(2033, 1, 5),
    father_name="Ứng Văn Hùng",
    mother_name="Lê Thị Hoa",
)


@lru_cache(maxsize=1)
def pki() -> SandboxPki:
    return build_sandbox_pki(SEED, start=PKI_START, periods=12, period_months=6)


def current_crl(*, this_update: datetime = NOW - timedelta(days=10), days: int = 30) -> bytes:
    return pki().crl(this_update=this_update, next_update=this_update + timedelta(days=days))


def issue(
    signer: KeyedCertificate | None = None,
    *,
    card_id: str = "card-1",
    signing_time: datetime | None = ISSUED_AT,
    holder: MrzHolder = HOLDER,
    details: PersonalDetails = DETAILS,
) -> ChipFiles:
    return issue_chip(
        td1=build_td1(holder),
        details=details,
        face=synthetic_face(card_id.encode(), gender="male"),
        keys=derive_chip_keys(SEED, card_id),
        signer=signer or pki().signer_at(ISSUED_AT),
        signing_time=signing_time,
    )


@lru_cache(maxsize=1)
def genuine_chip() -> ChipFiles:
    return issue()


def aa_response(card_id: str = "card-1", challenge: bytes = CHALLENGE) -> bytes:
    return sign_challenge(derive_chip_keys(SEED, card_id).active_authentication, challenge)


def verify_chip(
    chip: ChipFiles,
    *,
    sod: bytes | None = None,
    data_groups: dict | None = None,
    crl: bytes | None = None,
    now: datetime = NOW,
    **active_auth: bytes,
) -> VerificationReport:
    return verify(
        chip.sod if sod is None else sod,
        dict(chip.data_groups) if data_groups is None else data_groups,
        trust_anchors=[pki().csca.certificate],
        crl=current_crl() if crl is None else crl,
        now=now,
        **active_auth,
    )


def statuses(report: VerificationReport) -> dict[tuple[str, str | None], str]:
    return {(step.code, step.subject): step.status for step in report.steps}


@lru_cache(maxsize=1)
def rsa_pki() -> SandboxPki:
    """An RSA sandbox PKI: RSA keys cannot be derived, so they are generated once per test run."""
    csca_key, other_key = generate_rsa_private_key(), generate_rsa_private_key()
    return build_sandbox_pki(
        SEED,
        start=PKI_START,
        periods=2,
        key_for=lambda label: csca_key if label == "csca" else other_key,
    )


def sod_with_econtent(econtent_type: str, econtent: bytes, signer: KeyedCertificate) -> bytes:
    """A correctly signed SOD around any eContent (to reach the checks behind the signature)."""
    content_info = build_signed_data(
        econtent_type=econtent_type,
        econtent=econtent,
        signer=signer,
        digest_name="sha256",
        signature_algorithm=signature_algorithm_for("ecdsa"),
        signing_time=ISSUED_AT,
    )
    return encode_tlv(0x77, content_info)


def content_info(sod: bytes) -> cms.ContentInfo:
    return cms.ContentInfo.load(parser.parse(sod)[4])


def rewrapped(info: cms.ContentInfo) -> bytes:
    return encode_tlv(0x77, info.dump(force=True))
