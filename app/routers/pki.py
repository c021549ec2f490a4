"""``/v1/pki``: the chip cards' trust anchors for relying parties' verifiers (public, no token).

``csca``, ``crl`` and ``masterlist`` each come as DER (``.der``) or PEM (``.pem``); without an
extension, ``Accept: application/x-pem-file`` (or ``text/plain``) gives PEM, anything else DER.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.dependencies import NowDep
from app.routers.cards import PkiDep
from app.services.cards.pki import PKI_START, CardPki, pem

router = APIRouter(prefix="/v1/pki", tags=["pki"])
PEM_TYPES = ("application/x-pem-file", "text/plain", "application/pem-certificate-chain")


def _csca(pki: CardPki, now: Any) -> bytes:
    return pki.csca_der


def _crl(pki: CardPki, now: Any) -> bytes:
    return pki.crl_der(now)


def _master_list(pki: CardPki, now: Any) -> bytes:
    return pki.master_list_der


# name -> (DER source, DER media type, PEM label, what it is)
RESOURCES: dict[str, tuple[Callable[[CardPki, Any], bytes], str, str, str]] = {
    "csca": (_csca, "application/pkix-cert", "CERTIFICATE",
             "The country signing CA certificate (trust anchor)"),
    "crl": (_crl, "application/pkix-crl", "X509 CRL",
            "The CSCA's CRL of the day (thisUpdate 00:00 UTC, nextUpdate +30 days)"),
    "masterlist": (_master_list, "application/cms", "CMS",
                   "The CSCA master list (CMS SignedData, eContentType 2.23.136.1.1.2)"),
}


def _wants_pem(request: Request, extension: str) -> bool:
    if extension:
        return extension == "pem"
    accept = request.headers.get("accept", "")
    return any(media in accept for media in PEM_TYPES)


def _download(name: str, extension: str) -> Callable[..., Response]:
    source, media_type, label, _ = RESOURCES[name]

    def download(request: Request, pki: PkiDep, now: NowDep) -> Response:
        der = source(pki, now)
        as_pem = _wants_pem(request, extension)
        filename = f"dancu-sandbox-{name}.{'pem' if as_pem else 'der'}"
        return Response(pem(der, label) if as_pem else der,
                        media_type="application/x-pem-file" if as_pem else media_type,
                        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                 "Cache-Control": "public, max-age=3600", "Vary": "Accept"})

    return download


def _add_routes() -> None:
    for name, (_, media_type, _, what) in RESOURCES.items():
        for extension in ("", "der", "pem"):
            router.add_api_route(
                f"/{name}" + (f".{extension}" if extension else ""), _download(name, extension),
                methods=["GET"], response_class=Response,
                summary=what + (f" ({extension.upper()})" if extension else ""),
                responses={200: {"content": {media_type: {}, "application/x-pem-file": {}}}},
                name=f"pki_{name}_{extension or 'negotiated'}")


_add_routes()


@router.get("", summary="What the test PKI publishes, with links")
def index(pki: PkiDep) -> dict[str, Any]:
    certificate = pki.pki.csca.certificate
    return {
        "key_type": pki.key_type,
        "csca": {"subject": certificate.subject.rfc4514_string(),
                 "serial_number": format(certificate.serial_number, "x"),
                 "not_before": certificate.not_valid_before_utc,
                 "not_after": certificate.not_valid_after_utc},
        "document_signer_periods": {"start": PKI_START, "months": 6,
                                    "count": len(pki.pki.document_signers)},
        "downloads": [f"/v1/pki/{name}{ext}" for name in RESOURCES for ext in ("", ".der", ".pem")],
    }
