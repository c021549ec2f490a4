"""The test authority that signs criminal-record certificates, and the root that vouches for it.

* **Root**: "SANDBOX Signed Documents Test Root", self-signed, a CA for document-signing
  authorities, published at ``/v1/judicial-records/authority/root.pem`` (the relying party's
  trust anchor).
* **Authority**: "SANDBOX Judicial Records Authority", issued by the root, digitalSignature
  only; its certificate travels in each certificate JWS's ``x5c`` header and in the JWK Set at
  ``/v1/judicial-records/authority/jwks.json``.

Both keys (EC P-256) and serial numbers derive from the deployment secret
(``app.services.kit.secret``), never from the seed: the chip PKI's CSCA is public test data (anyone
can rebuild its key from the seed), so a signer issued under it would prove nothing. The same
``DANCU_SECRET_KEY`` gives the same keys and, with deterministic ECDSA, byte-identical
certificates in every process. Validity: 2021-01-01 for 20 years (the sandbox clock's range).
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.jwk import ECKey

from app.icao.keys import KeyedCertificate, derive_ec_private_key, derive_serial_number
from app.icao.pki import certificate_pem, issue_csca, issue_document_signer
from app.services.kit import secret
from app.settings import Settings

SECRET_LABEL = "judicial-records/pki"
VALID_FROM = datetime(2021, 1, 1, tzinfo=UTC)
VALID_UNTIL = datetime(2041, 1, 1, tzinfo=UTC)
YEARS = 20
ALG = "ES256"
JWS_TYPE = "lltp+jwt"  # the certificate's media type (typ header)
ORGANISATION = "Ministry of Public Security"
_lock = threading.Lock()
_cache: dict[bytes, Authority] = {}


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


ROOT_NAME = _name("SANDBOX Signed Documents Test Root", "Sandbox test PKI for signed documents")
AUTHORITY_NAME = _name("SANDBOX Judicial Records Authority",
                       "Department of Professional Records (judicial records)")


@dataclass(eq=False)
class Authority:
    root: KeyedCertificate
    signer: KeyedCertificate

    @cached_property
    def root_pem(self) -> bytes:
        return certificate_pem(self.root.certificate)

    @cached_property
    def root_der(self) -> bytes:
        return self.root.certificate.public_bytes(Encoding.DER)

    @cached_property
    def signer_der(self) -> bytes:
        return self.signer.certificate.public_bytes(Encoding.DER)

    @cached_property
    def jwk(self) -> ECKey:
        return ECKey.import_key(self.signer.private_key, {"use": "sig", "alg": ALG})

    @cached_property
    def kid(self) -> str:
        return self.jwk.thumbprint()

    @cached_property
    def x5c(self) -> list[str]:
        """The authority's certificate (the root is the relying party's own trust anchor)."""
        return [base64.b64encode(self.signer_der).decode("ascii")]

    def public_jwks(self) -> dict[str, Any]:
        public = self.jwk.as_dict(private=False)
        return {"keys": [{**public, "kid": self.kid, "x5c": self.x5c}]}

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": ALG, "typ": JWS_TYPE, "kid": self.kid, "x5c": self.x5c}
        payload = jws_payload(claims)
        return str(jws.serialize_compact(header, payload, self.jwk, algorithms=[ALG]))


def jws_payload(claims: dict[str, Any]) -> bytes:
    return json.dumps(claims, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _build(material: bytes) -> Authority:
    root_key = derive_ec_private_key(material, "root")
    root = KeyedCertificate(issue_csca(
        key=root_key, subject=ROOT_NAME, serial_number=derive_serial_number(material, "root"),
        not_before=VALID_FROM, years=YEARS), root_key)
    signer_key = derive_ec_private_key(material, "authority")
    signer = issue_document_signer(
        issuer=root, key=signer_key, subject=AUTHORITY_NAME,
        serial_number=derive_serial_number(material, "authority"),
        usage_start=VALID_FROM, usage_end=VALID_UNTIL, card_validity_years=0)
    return Authority(root=root, signer=KeyedCertificate(signer, signer_key))


def authority(settings: Settings) -> Authority:
    """This deployment's authority (built once per process and deployment secret)."""
    material = secret.derive(settings, SECRET_LABEL)
    found = _cache.get(material)
    if found is None:
        with _lock:
            found = _cache.get(material) or _cache.setdefault(material, _build(material))
    return found
