"""Chip identity cards: issuance (the printed card, its MRZ and QR), the virtual chip (ICAO 9303
files signed under the test PKI, read as JSON or over APDUs), verification as a bank's verifier
does it, and the test cards that fail verification on purpose.

Public: :mod:`.issuance`, :mod:`.access` (the audited read and verify use cases), :mod:`.chip`,
:mod:`.chip_apdu`, :mod:`.verification`, :mod:`.pki`, :mod:`.holder` (the card holder's printed
data), :mod:`.failure_cards`. :mod:`.images` is the package's own."""

__all__ = ["access", "chip", "chip_apdu", "failure_cards", "holder", "issuance", "pki", "statuses",
           "verification"]
