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

from app.icao import der
from app.icao.active_auth import PLAIN, aa_algorithm_oid
from app.icao.algorithms import dotted, dotted_contents
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


_PROTOCOLS = {core.ObjectIdentifier(protocol).contents: protocol for protocol in (
    ID_PK_ECDH, ID_CA_ECDH_AES_CBC_CMAC_128, ID_ACTIVE_AUTHENTICATION)}


def _known_infos(value: bytes) -> SecurityInfos:
    """What :func:`_parse_infos` gives for the entries this sandbox writes (each protocol at most
    once, each entry as above), read with :mod:`app.icao.der`; raises der.Unexpected (or what the
    parser raises) for anything else, which the typed parse then reads."""
    entries: dict[str, list[der.Element]] = {}
    for info in der.elements(der.only(value, der.SET)):
        fields = der.elements(der.expect(info, der.SEQUENCE))
        protocol = _PROTOCOLS.get(der.expect(fields[0], der.OID)) if len(fields) in (2, 3) else None
        if protocol is None or protocol in entries:
            raise der.Unexpected("another protocol, a repeated one or another entry layout")
        entries[protocol] = fields[1:]
    key = entries.get(ID_PK_ECDH)
    if key is not None:
        der.only(der.encoded(key[0]), der.SEQUENCE)  # a SubjectPublicKeyInfo's outer SEQUENCE
    algorithm = entries.get(ID_ACTIVE_AUTHENTICATION)
    if algorithm is not None and (len(algorithm) != 2 or der.expect(algorithm[0], der.INTEGER)
                                  != b"\x01"):
        raise der.Unexpected("not version 1 with a signature algorithm: the typed parse says so")
    return SecurityInfos(
        chip_authentication_public_key=None if key is None else der.encoded(key[0]),
        chip_authentication_protocol=ID_CA_ECDH_AES_CBC_CMAC_128
        if ID_CA_ECDH_AES_CBC_CMAC_128 in entries else None,
        active_authentication_algorithm=None if algorithm is None
        else dotted_contents(der.expect(algorithm[1], der.OID)),
    )


def parse_dg14(data: bytes) -> SecurityInfos:
    """The chip-authentication key and active-authentication algorithm announced in DG14."""
    value = decode_tlv(data, expected_tag=DG14_TAG).value
    try:
        return _known_infos(value)
    except (der.Unexpected, ValueError, TypeError, KeyError, IndexError):
        pass
    try:
        return _parse_infos(value)
    except ChipFormatError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ChipFormatError("lds.dg14", "DG14 is not a well-formed SecurityInfos set") from exc
