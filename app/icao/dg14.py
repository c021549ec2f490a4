"""DG14: SecurityInfos (ICAO Doc 9303 Part 11 §9.2; chip-verification spec §1 and §6).

``SecurityInfos ::= SET OF SecurityInfo``, ``SecurityInfo ::= SEQUENCE { protocol OBJECT IDENTIFIER,
requiredData ANY, optionalData ANY OPTIONAL }``.
The sandbox writes up to three entries:

* ChipAuthenticationPublicKeyInfo (§9.2.5): protocol id-PK-ECDH ``0.4.0.127.0.7.2.2.1.2``, the
  chip's EC key as a SubjectPublicKeyInfo. Chip authentication itself is not emulated; the key is
  carried (and hashed in the SOD)
  so readers that parse DG14 find a well-formed file.
* ChipAuthenticationInfo (§9.2.6): id-CA-ECDH-AES-CBC-CMAC-128 ``0.4.0.127.0.7.2.2.3.2.2``,
  version 1.
* ActiveAuthenticationInfo (§9.2.7): protocol ``2.23.136.1.1.5``, version 1, signatureAlgorithm
  naming the ECDSA hash and response encoding of active authentication: ecdsa-plain-SHA256
  ``0.4.0.127.0.7.1.1.4.1.3`` (BSI TR-03111), since the chip answers with a plain ``r ‖ s``
  (``app.icao.active_auth``).

Error codes: ``lds.dg14`` plus the ``tlv.*`` codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import core, keys
from cryptography.hazmat.primitives.asymmetric import ec

from app.icao.active_auth import PLAIN, aa_algorithm_oid
from app.icao.algorithms import dotted
from app.icao.errors import ChipFormatError
from app.icao.keys import public_key_der
from app.icao.tlv import decode_tlv, encode_tlv

DG14_TAG = 0x6E
ID_PK_ECDH = "0.4.0.127.0.7.2.2.1.2"
ID_CA_ECDH_AES_CBC_CMAC_128 = "0.4.0.127.0.7.2.2.3.2.2"
ID_ACTIVE_AUTHENTICATION = "2.23.136.1.1.5"


class _SecurityInfo(core.Sequence):
    _fields = [
        ("protocol", core.ObjectIdentifier),
        ("required_data", core.Any),
        ("optional_data", core.Any, {"optional": True}),
    ]


class _SecurityInfos(core.SetOf):
    _child_spec = _SecurityInfo


@dataclass(frozen=True)
class SecurityInfos:
    """What a verifier needs from DG14."""

    chip_authentication_public_key: bytes | None
    chip_authentication_protocol: str | None
    active_authentication_algorithm: str | None


def _entry(
    protocol: str, required: core.Asn1Value, optional: core.Asn1Value | None = None
) -> _SecurityInfo:
    entry = {"protocol": protocol, "required_data": core.Any(required)}
    if optional is not None:
        entry["optional_data"] = core.Any(optional)
    return _SecurityInfo(entry)


def encode_dg14(
    *,
    chip_authentication_key: ec.EllipticCurvePublicKey | None,
    active_authentication_hash: str | None = "sha256",
    active_authentication_encoding: str = PLAIN,
) -> bytes:
    """DG14 announcing chip authentication (given a key) and ECDSA active authentication."""
    entries = []
    if chip_authentication_key is not None:
        spki = keys.PublicKeyInfo.load(public_key_der(chip_authentication_key))
        entries += [_entry(ID_PK_ECDH, spki), _entry(ID_CA_ECDH_AES_CBC_CMAC_128, core.Integer(1))]
    if active_authentication_hash is not None:
        oid = aa_algorithm_oid(active_authentication_hash, encoding=active_authentication_encoding)
        entries.append(
            _entry(ID_ACTIVE_AUTHENTICATION, core.Integer(1), core.ObjectIdentifier(oid))
        )
    return encode_tlv(DG14_TAG, _SecurityInfos(entries).dump())


def _single(infos: list[_SecurityInfo], protocol: str) -> _SecurityInfo | None:
    matches = [info for info in infos if dotted(info["protocol"]) == protocol]
    if len(matches) > 1:
        raise ChipFormatError("lds.dg14", "a security protocol appears more than once")
    return matches[0] if matches else None


def _chip_authentication_key(info: _SecurityInfo | None) -> bytes | None:
    if info is None:
        return None
    return keys.PublicKeyInfo.load(info["required_data"].dump(), strict=True).dump()


def _active_authentication_oid(info: _SecurityInfo | None) -> str | None:
    if info is None:
        return None
    if core.Integer.load(info["required_data"].dump(), strict=True).native != 1:
        raise ChipFormatError("lds.dg14", "unsupported ActiveAuthenticationInfo version")
    if isinstance(info["optional_data"], core.Void):
        raise ChipFormatError(
            "lds.dg14", "ActiveAuthenticationInfo must name the signature algorithm"
        )
    return dotted(core.ObjectIdentifier.load(info["optional_data"].dump(), strict=True))


def _parse_infos(value: bytes) -> SecurityInfos:
    infos = list(_SecurityInfos.load(value, strict=True))
    chip_authentication = _single(infos, ID_CA_ECDH_AES_CBC_CMAC_128)
    return SecurityInfos(
        chip_authentication_public_key=_chip_authentication_key(_single(infos, ID_PK_ECDH)),
        chip_authentication_protocol=dotted(chip_authentication["protocol"])
        if chip_authentication
        else None,
        active_authentication_algorithm=_active_authentication_oid(
            _single(infos, ID_ACTIVE_AUTHENTICATION)
        ),
    )


def parse_dg14(data: bytes) -> SecurityInfos:
    """The chip-authentication key and active-authentication algorithm announced in DG14."""
    value = decode_tlv(data, expected_tag=DG14_TAG).value
    try:
        return _parse_infos(value)
    except ChipFormatError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ChipFormatError("lds.dg14", "DG14 is not a well-formed SecurityInfos set") from exc
