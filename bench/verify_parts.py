"""One part of a chip verification run ``--requests`` times over the reads of a reads file, for
counting its instructions under valgrind (bench/verify_parts_instructions.sh runs each part for
two counts and divides the difference): the parts are what bench/verify_cpu.py's
``--components`` times, so that a sum of parts can be set against the whole in instructions,
which a busy or a cache-cold host does not change.

    .venv/bin/python -P bench/verify_parts.py sqlite:///$PWD/bench-100k.db PART --requests N
        --reads-file verify-reads.jsonl

PART: ``decode`` (the base64 files), ``library`` (``passive_auth.verify``: every library step),
``database`` (the database steps given the library's report, on the route's kept reading
connection, a transaction each), ``service`` (``verify_read`` on that connection, a transaction
each: what the SQLite route runs), ``service-session`` (``verify_read`` in an ORM session each:
bench/verify_cpu.py's ``--only-service``). Every part is run once over all the reads first, so
the per-document-signer caches are warm and the per-card ones cold, as in the HTTP rounds.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from app.db import Database
from app.icao import passive_auth
from app.services.cards import verification
from app.services.cards.pki import card_pki
from app.services.cards.verification import ChipRead, verify_read
from app.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database_url")
    parser.add_argument("part", choices=["decode", "library", "database", "service",
                                         "service-session"])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--reads-file", required=True)
    args = parser.parse_args()
    reads = []
    with open(args.reads_file) as lines:
        for line in lines:
            parsed = json.loads(line)
            exchange = parsed["active_authentication"]
            reads.append(ChipRead(parsed["files"], exchange["challenge"], exchange["response"]))
    settings = load_settings(database_url=args.database_url, auto_seed=False)
    database = Database.connect(args.database_url)
    now = datetime.now(UTC)
    pki = card_pki(database, seed=settings.seed, key_type=settings.pki_key_type, now=now)
    crl = pki.crl_der(now)
    decoded = [verification.decode(read) for read in reads]
    reports = [passive_auth.verify(d.sod, d.groups, trust_anchors=pki.trust_anchors, crl=crl,
                                   now=now, aa_challenge=d.challenge, aa_response=d.response)
               for d in decoded]
    connection = database.reading_connection()

    def one(n: int) -> Any:
        read, d = reads[n % len(reads)], decoded[n % len(reads)]
        if args.part == "decode":
            return verification.decode(read)
        if args.part == "library":
            return passive_auth.verify(d.sod, d.groups, trust_anchors=pki.trust_anchors, crl=crl,
                                       now=now, aa_challenge=d.challenge, aa_response=d.response)
        if args.part == "service-session":
            with database.read() as session:
                return verify_read(session, read, pki=pki, now=now)
        try:
            if args.part == "database":
                return verification._database_steps(connection, reports[n % len(reads)],
                                                    d.groups, seed=pki.seed, now=now)
            return verify_read(connection, read, pki=pki, now=now)
        finally:
            connection.rollback()

    for n in range(len(reads)):  # warm: caches of public PKI material, imports, compiled SQL
        one(n)
    for n in range(args.requests):
        one(n)
    database.dispose()


if __name__ == "__main__":
    main()
