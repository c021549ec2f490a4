"""Pure ICAO Doc 9303 library for the simulated Vietnamese chip identity card
(CCCD gắn chip / thẻ căn cước).

Imports only the standard library, ``cryptography`` and ``asn1crypto`` (plus Pillow, in ``face``
only).
Everything time- or key-dependent takes ``now``, keys and trust anchors as keyword-only arguments.

Modules, bottom-up:

* ``errors``        error classes with stable ``code`` values
* ``mrz``           TD1 MRZ build / parse, 7-3-1 check digits (Part 3, Part 5)
* ``bac``           BAC key seed from the MRZ (Part 11 §4.3)
* ``tlv``           strict ISO/IEC 7816 BER-TLV for the LDS files (Part 10 §4)
* ``lds``           EF.COM, DG1, DG15, DG numbering and file hashes (Part 10 §4.6–4.7)
* ``dg2`` / ``face`` DG2 facial record (ISO/IEC 19794-5) and a synthetic portrait
* ``dg13``          Vietnamese personal details (issuer-defined layout, documented there)
* ``dg14``          SecurityInfos: chip- and active-authentication info (Part 11 §9.2)
* ``algorithms``    supported hashes and signature algorithms (Part 12 §4.4)
* ``keys``          seed-derived EC keys, serial numbers, PEM helpers
* ``signed_data``   CMS SignedData build / parse (RFC 5652) shared by the SOD and master lists
* ``sod``           EF.SOD and the LDSSecurityObject (Part 10 §4.6.2)
* ``pki``           deterministic CSCA, document signers, CRL, failure personas (Part 12)
* ``masterlist``    CSCA master list (Part 12 §9)
* ``active_auth``   active authentication, ECDSA plain signatures (Part 11 §6.1)
* ``passive_auth``  passive authentication report with stable step and reason codes (Part 11 §5.1)
* ``chip``          assembles the files of one card's chip
* ``apdu``          ISO/IEC 7816-4 command and response APDUs, status words
* ``sm``            secure messaging (3DES and AES) and the key derivation (Part 11 §9.7–9.8)
* ``pace``          PACE generic mapping on ECDH, EF.CardAccess (Part 11 §4.4)
* ``emulator``      the chip as a reader sees it: SELECT, READ BINARY, BAC, PACE, active
                    authentication over APDUs
* ``vpcd``          the card side of vsmartcard's virtual PC/SC reader (TCP, length-prefixed)
"""
