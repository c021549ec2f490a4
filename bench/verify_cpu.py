"""Server CPU per ``POST /v1/cards/verify``, in process, against the bare FastAPI app of
bench/edge.py (bench/bare_app.py): the companion of bench/lookup_cpu.py for the chip verification.

The requests cycle through ``--cards`` genuine chip reads of distinct cards (1,000 by default,
generated once before the rounds by bench/edge.py's ``chip_reads``: different SODs, faces and
active-authentication answers), so what a verifier may cache across cards (trust anchors, the
document signer's certificate path, its public key) is cached and nothing of one card is. The app
is driven through ASGI by 32 concurrent clients (no sockets, no HTTP parsing: the same for the bare
app), with the ``bench-cards`` client of bench/edge.py (created if missing). Then the same reads
through the service alone (``verify_read``, no HTTP, no audit), with ``--components`` the CPU of
each part of it (each called on its own over the same reads), and with ``--profile`` a cProfile of
the HTTP rounds (top functions by cumulative and own time).

    .venv/bin/python -P bench/verify_cpu.py sqlite:///./bench-1m.db [--requests 3000]
        [--cards 1000] [--rounds 3] [--components] [--profile] [--layers] [--reads-file F]
        [--only-app]

(``-P``: bench/seed.py must not shadow the ``seed`` package. The database's secret key must be
in DANCU_SECRET_KEY as for ``dancu serve``. Give an absolute SQLite path when running another
checkout's copy of this script: bench/edge.py runs ``dancu clients list`` from its own checkout.
bench/RESULTS.md, "Cheaper chip verification", has the figures and the before/after method.)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import hashlib
import importlib.util
import pstats
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_der_public_key

from app.db import Database
from app.icao import dg13, dg14, lds, passive_auth, sod, tlv
from app.main import create_app
from app.services.cards import verification
from app.services.cards.pki import card_pki
from app.services.cards.verification import ChipRead, verify_read
from app.settings import load_settings

CLIENTS = 32


def _sibling(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lookup_cpu, edge = _sibling("lookup_cpu"), _sibling("edge")


async def measure(app: Any, path: str, headers: dict[str, str], bodies: list[bytes],
                  requests: int) -> tuple[float, dict[int, int]]:
    """Process CPU seconds per request, and how many answers of each status."""
    numbers, statuses = iter(range(requests)), {}  # type: ignore[var-annotated]

    async def client() -> None:
        for n in numbers:
            status, _ = await lookup_cpu.call(app, path, headers, "POST" if bodies else "GET",
                                              bodies[n % len(bodies)] if bodies else b"")
            statuses[status] = statuses.get(status, 0) + 1

    started = time.process_time()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return (time.process_time() - started) / requests, statuses


def service_cpu(url: str, reads: list[ChipRead]) -> float:
    """CPU seconds per ``verify_read`` (no HTTP, no audit), one read transaction each."""
    settings = load_settings(database_url=url, auto_seed=False)
    database = Database.connect(url)
    pki = card_pki(database, seed=settings.seed, key_type=settings.pki_key_type,
                   now=datetime.now(UTC))
    started = time.process_time()
    for read in reads:
        with database.read() as session:
            verify_read(session, read, pki=pki, now=datetime.now(UTC))
    spent = time.process_time() - started
    database.dispose()
    return spent / len(reads)


def _cpu(name: str, call: Any, items: list[Any]) -> list[Any]:
    started = time.process_time()
    out = [call(item) for item in items]
    print(f"  {name:<44} {(time.process_time() - started) / len(items) * 1e6:7.0f} us")
    return out


def components(url: str, reads: list[ChipRead]) -> None:
    """CPU of each part of ``verify_read``, each called on its own over all the reads (the
    per-document-signer caches warm, as in the HTTP rounds; nothing per card)."""
    settings = load_settings(database_url=url, auto_seed=False)
    database = Database.connect(url)
    now = datetime.now(UTC)
    pki = card_pki(database, seed=settings.seed, key_type=settings.pki_key_type, now=now)
    anchors, crl = passive_auth._anchors(pki.trust_anchors), pki.crl_der(now)
    print("verify_read by part (CPU per read):")
    decoded = _cpu("decode the base64 files", verification.decode, reads)
    sods = _cpu("parse EF.SOD (asn1crypto)", lambda d: sod.parse_sod(d.sod), decoded)
    files = [passive_auth._files(d.groups)[0] for d in decoded]
    pairs = list(zip(sods, files, strict=True))
    _cpu("hash the data groups (SHA-256)", lambda p: passive_auth._dg_hash_steps(*p), pairs)
    _cpu("signed attributes", lambda s: passive_auth._signed_attributes_step(s.content), sods)
    _cpu("SOD signature (ECDSA P-256)", lambda s: passive_auth._signature_step(s.content), sods)
    _cpu("DSC chain, validity, CRL (cached path)",
         lambda s: passive_auth._signer_steps(s.content, anchors, crl, now), sods)
    _cpu("parse DG1 (MRZ)", lambda f: lds.parse_dg1.__wrapped__(f[1]), files)
    _cpu("parse DG13 (asn1crypto)", lambda f: dg13.parse_dg13(f[13]), files)
    _cpu("parse DG14 (asn1crypto)", lambda f: dg14.parse_dg14(f[14]), files)
    _cpu("parse DG15", lambda f: lds.parse_dg15.__wrapped__(f[15]), files)
    exchanges = list(zip(files, decoded, strict=True))
    _cpu("active authentication step (DG14, DG15, ECDSA)", lambda e: passive_auth.
         _active_auth_step(e[0], e[1].challenge, e[1].response), exchanges)
    reports = _cpu("passive_auth.verify (all the library steps)", lambda d: passive_auth.verify(
        d.sod, d.groups, trust_anchors=pki.trust_anchors, crl=crl, now=now,
        aa_challenge=d.challenge, aa_response=d.response), decoded)
    with database.read() as session:
        pins = [verification._identity(d.groups).td1.pin for d in decoded]  # type: ignore[union-attr]
        connection = session.connection()
        rows = _cpu("query: the cards of the PIN", lambda pin: verification._cards(connection, pin),
                    pins)
        _cpu("query: the holder", lambda pin: verification._holder(connection, pin), pins)
        _cpu("query: the holder and the cards (one)", lambda pin: verification.
             _holder_and_cards(connection, pin), pins)
        residences = verification._RESIDENCES  # a Prepared statement (a Core one before)
        _cpu("query: the residences", lambda pin: residences.all(session.connection(), {
            "pin": pin}) if hasattr(residences, "all") else session.connection().execute(
            residences, {"pin": pin}).all(), pins)
        verification._chip_key.cache_clear()
        _cpu("derive the card's DG15 key (EC scalar mult.)", lambda r: verification._chip_key.
             __wrapped__(pki.seed, r[0].chip_key_ref), rows)
        verification._chip_key.cache_clear()
        _cpu("database steps (all, with the three queries)", lambda p: verification.
             _database_steps(session, p[0], p[1].groups, seed=pki.seed, now=now),
             list(zip(reports, decoded, strict=True)))
        floor(reads, decoded, sods, files, pins, session.connection())
    database.dispose()


def floor(reads: list[ChipRead], decoded: list[Any], sods: list[Any], files: list[Any],
          pins: list[str], connection: Any) -> None:
    """The work no verification can skip, each at its cheapest: the libraries' own calls (the
    keys already loaded, the SQL text prepared by the driver), none of the project's code."""
    print("the floor: what every verification must do, library calls alone (CPU per read):")
    _cpu("base64 of the files (binascii)", lambda r: [base64.b64decode(text)
                                                      for text in r.files.values()], reads)
    _cpu("SHA-256 of the data groups (hashlib)", lambda f: [hashlib.sha256(b).digest()
                                                           for b in f.values()], files)
    signed = [(s.content.signer_certificate.public_key(), s.content.signature,
               s.content.signed_attributes.signed_bytes) for s in sods]
    _cpu("ECDSA P-256 verify: the SOD (cryptography)", lambda k: k[0].verify(
        k[1], k[2], ec.ECDSA(hashes.SHA256())), signed)
    aa = []
    for d, f in zip(decoded, files, strict=True):
        key = lds.parse_dg15.__wrapped__(f[15])
        half = len(d.response) // 2
        aa.append((key, encode_dss_signature(int.from_bytes(d.response[:half], "big"),
                                             int.from_bytes(d.response[half:], "big")),
                   d.challenge))
    _cpu("ECDSA P-256 verify: active authentication", lambda k: k[0].verify(
        k[1], k[2], ec.ECDSA(hashes.SHA256())), aa)
    scalars = [int.from_bytes(hashlib.sha256(pin.encode()).digest(), "big") % (2**255)
               for pin in pins]
    _cpu("EC P-256 scalar multiplication (the card's DG15 key)", lambda k: ec.derive_private_key(
        k, ec.SECP256R1()).public_key(), scalars)
    _cpu("load the DG15 key (DER SubjectPublicKeyInfo)", lambda f: load_der_public_key(
        tlv.decode_tlv(f[15]).value), files)
    driver = connection.connection.dbapi_connection
    # compiled by the database steps above when they are Prepared statements (not before)
    holder = getattr(verification._HOLDER_AND_CARDS, "_compiled", None)
    residences = getattr(verification._RESIDENCES, "_compiled", None)
    if connection.dialect.name == "sqlite" and holder and residences:
        (h,), (r,) = holder.values(), residences.values()
        _cpu("the two queries on the driver's cursor", lambda pin: (
            driver.execute(h.sql, (pin,)).fetchall(), driver.execute(r.sql, (pin,)).fetchall()),
             pins)


async def _acpu(name: str, call: Any, items: list[Any]) -> float:
    started = time.process_time()
    for item in items:
        await call(item)
    spent = (time.process_time() - started) / len(items)
    print(f"  {name:<58} {spent * 1e6:7.0f} us", flush=True)
    return spent


async def layers(app: Any, headers: dict[str, str], bodies: list[bytes]) -> None:
    """The whole request, then less and less of it, one request at a time (no concurrency, so no
    group commit shares the audit record's cost): each line's difference from the one above is
    what the layer it leaves out costs."""
    from starlette.requests import Request

    from app.middleware import check_json_body
    from app.routers import cards
    from app.schemas.cards import VerifyRequest
    from app.security import runtime
    from app.services.cards import access as cards_access

    raw = [(name.encode(), value.encode()) for name, value in headers.items()]

    def request() -> Request:
        return Request({"type": "http", "http_version": "1.1", "method": "POST",
                        "path": "/v1/cards/verify", "raw_path": b"/v1/cards/verify",
                        "query_string": b"", "root_path": "", "scheme": "http", "headers": raw,
                        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "app": app,
                        "state": {"request_id": "0" * 32}})

    parsed = [VerifyRequest.model_validate_json(body) for body in bodies]
    first = request()
    caller = await cards._verify_caller(first, await cards.bearer(first))
    now, pki = await cards.request_now(first), await cards.get_card_pki(first)
    shared = runtime(first)
    reads = [ChipRead(files=p.files, challenge=p.active_authentication.challenge,
                      response=p.active_authentication.response)
             if p.active_authentication else ChipRead(files=p.files) for p in parsed]

    results: list[Any] = []

    async def service(read: ChipRead) -> None:
        connection = shared.database.reading_connection()
        try:
            results.append(cards_access.verify(connection, read, pki=pki,
                                               access=cards._client_access(caller, now)))
        finally:
            connection.rollback()

    async def audit(_: Any) -> None:
        access = cards._client_access(caller, now)
        access.record("card_verify", "079000000001", "pass")
        await cards._recorded(shared, access, None)

    async def sync(call: Any, item: Any) -> None:
        call(item)

    print("the whole request and its layers, one request at a time (CPU per request):")
    await _acpu("1. the whole request through the app (edge, express route)",
                lambda body: lookup_cpu.call(app, "/v1/cards/verify", headers, "POST", body),
                bodies)
    await _acpu("2. verify_first: token, clock, PKI, verification, audit, answer",
                lambda body: cards.verify_first(request(), body), parsed)
    await _acpu("3. the route: verification, audit record, answer",
                lambda body: cards.verify(body, caller, now, pki, request()), parsed)
    await _acpu("4. the verification alone (reading connection, rolled back)", service, reads)
    print("  parts of 1-3 alone:")
    await _acpu("   the edge's JSON guard", lambda b: sync(check_json_body, b), bodies)
    await _acpu("   the body's model (model_validate_json)",
                lambda b: sync(VerifyRequest.model_validate_json, b), bodies)
    await _acpu("   the answer (verify_answer)", lambda r: sync(cards.verify_answer, r), results)

    async def token(_: Any) -> None:
        fresh = request()
        await cards._verify_caller(fresh, await cards.bearer(fresh))

    await _acpu("   the token check (bearer, scope)", token, parsed)
    await _acpu("   the audit record (one commit per request here)", audit, parsed[:300])


async def main(args: argparse.Namespace) -> None:
    url = args.database_url
    saved = Path(args.reads_file) if args.reads_file else None
    if saved is not None and saved.exists():
        texts = saved.read_text().splitlines()[:args.cards]
    else:
        texts = edge.chip_reads(url, args.cards)
        if saved is not None:
            saved.write_text("\n".join(texts) + "\n")
    bodies = [text.encode() for text in texts]
    reads = []
    for text in texts:
        parsed = edge.json.loads(text)
        exchange = parsed["active_authentication"]
        reads.append(ChipRead(parsed["files"], exchange["challenge"], exchange["response"]))
    if args.only_service:  # verify_read alone, --requests reads (bench/verify_instructions.sh)
        cycled = [reads[n % len(reads)] for n in range(args.requests)]
        print(f"verify_read alone: {service_cpu(url, cycled) * 1e6:.0f} us per read")
        return
    env = {"DANCU_DATABASE_URL": url, "DANCU_AUTO_SEED": "false"}
    secret = edge.bench_client("bench-cards", ["card.read", "card.verify"], env)
    app = create_app(load_settings(database_url=url, auto_seed=False, log_level="warning"))
    bare = lookup_cpu.bare_app()
    async with app.router.lifespan_context(app):
        _, answer = await lookup_cpu.call(app, "/oauth2/token", {
            "authorization": "Basic " + edge.base64.b64encode(
                f"bench-cards:{secret}".encode()).decode(),
            "content-type": "application/x-www-form-urlencoded"}, "POST",
            b"grant_type=client_credentials&scope=card.read%20card.verify")
        headers = {"authorization": "Bearer " + edge.json.loads(answer)["access_token"],
                   "content-type": "application/json"}
        await measure(bare, "/healthz", {}, [], 500)
        await measure(app, "/v1/cards/verify", headers, bodies, min(300, len(bodies)))
        profile = cProfile.Profile(time.process_time) if args.profile else None
        for _ in range(args.rounds):
            bare_cpu, _ = await measure(bare, "/healthz", {}, [], args.requests)
            if profile:
                profile.enable()
            verify_cpu, statuses = await measure(app, "/v1/cards/verify", headers, bodies,
                                                 args.requests)
            if profile:
                profile.disable()
            print(f"CPU per request: bare app {bare_cpu * 1e6:.0f} us, cards/verify "
                  f"{verify_cpu * 1e6:.0f} us ({bare_cpu / verify_cpu:.3f}x bare) over "
                  f"{len(bodies)} distinct cards (statuses {statuses})", flush=True)
        if args.layers:
            await layers(app, headers, bodies)
    if args.only_app:
        return
    service = service_cpu(url, reads)
    print(f"verify_read alone (no HTTP, no audit): {service * 1e6:.0f} us per read")
    if args.components:
        components(url, reads)
    if profile:
        if args.profile_file:
            profile.dump_stats(args.profile_file)
        stats = pstats.Stats(profile)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--cards", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--components", action="store_true")
    parser.add_argument("--profile-file", help="also write the cProfile data there")
    parser.add_argument("--reads-file", help="the chip reads, one JSON body a line: read from "
                        "there when it exists, else generated and written there")
    parser.add_argument("--layers", action="store_true",
                        help="also the whole request and its layers, one request at a time "
                             "(SQLite: the verification runs on the event loop's connection)")
    parser.add_argument("--only-service", action="store_true",
                        help="verify_read alone over --requests reads, no app (its instructions: "
                             "bench/verify_instructions.sh --service)")
    parser.add_argument("--only-app", action="store_true",
                        help="the rounds through the app only (bench/verify_instructions.sh)")
    asyncio.run(main(parser.parse_args()))
