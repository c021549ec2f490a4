"""Server CPU per OpenID Connect flow (authorize -> token -> userinfo), in process.

Complements bench/oidc_flows.py on a shared machine, where the flows per second of the same code
move by a third from one minute to the next: the CPU time the app spends per flow moves much less.
The app is driven through ASGI (no sockets, no HTTP parsing) by 8 concurrent clients, each running
whole headless flows as bench/oidc_flows.lua does: ``X-Sandbox-Login`` of persona ``citizen-l2``
with PKCE S256, state and nonce, the code redeemed with client_secret_basic, userinfo with
``openid profile vneid.identity``. Every step's answer is checked.

    .venv/bin/python -P bench/oidc_cpu.py sqlite:///./oidc-bench.db [flows] [rounds]
    .venv/bin/python -P bench/oidc_cpu.py sqlite:///./oidc-bench.db 1000 1 --profile oidc.prof

``--profile FILE``: the measured rounds run under cProfile (after the warm-up) and its statistics
are written to FILE (``python -m pstats FILE``); the top functions by own and cumulative time are
printed. The profiler slows every Python call, so the CPU per flow of a profiled run is not a
figure to compare.

The database is created and populated on the first run (10,000 people, as ``dancu serve`` does).
(``-P``: bench/seed.py must not shadow the ``seed`` package.)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import hashlib
import json
import pstats
import secrets
import statistics
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from app.main import create_app
from app.settings import load_settings

CLIENTS = 8
REDIRECT = "http%3A%2F%2F127.0.0.1%3A8765%2Fcallback"
FORM = "application/x-www-form-urlencoded"


async def call(app: Any, path: str, headers: dict[str, str], *, method: str = "GET",
               query: str = "", body: str = "") -> tuple[int, dict[bytes, bytes], bytes]:
    scope = {"type": "http", "http_version": "1.1", "method": method, "path": path,
             "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "scheme": "http", "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body.encode(), "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return (sent[0]["status"], dict(sent[0]["headers"]),
            b"".join(m.get("body", b"") for m in sent[1:]))


def basic(app: Any) -> str:
    """The sandbox's demo client (client_secret_basic)."""
    settings = app.state.settings
    pair = f"{settings.demo_client_id}:{settings.demo_client_secret}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


async def flow(app: Any, pin: str) -> None:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    status, headers, _ = await call(app, "/oauth2/authorize", {"x-sandbox-login": pin}, query=(
        f"client_id={app.state.settings.demo_client_id}&redirect_uri={REDIRECT}&response_type=code&scope=openid%20profile%20"
        f"vneid.identity&state=s&nonce=n&code_challenge={challenge}&code_challenge_method=S256"))
    assert status == 303, status
    code = parse_qs(urlsplit(headers[b"location"].decode()).query)["code"][0]
    status, _, body = await call(
        app, "/oauth2/token", {"authorization": basic(app), "content-type": FORM}, method="POST",
        body=f"grant_type=authorization_code&code={code}&redirect_uri={REDIRECT}"
             f"&code_verifier={verifier}")
    assert status == 200, body
    bearer = {"authorization": "Bearer " + json.loads(body)["access_token"]}
    status, _, body = await call(app, "/oauth2/userinfo", bearer)
    assert status == 200, body


async def measure(app: Any, pin: str, flows: int) -> float:
    """Process CPU seconds per flow."""
    numbers = iter(range(flows))

    async def client() -> None:
        for _ in numbers:
            await flow(app, pin)

    started = time.process_time()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return (time.process_time() - started) / flows


async def main(url: str, flows: int, rounds: int, profile: str | None = None) -> None:
    app = create_app(load_settings(database_url=url, delivery_worker=False), settle_gc=True)
    async with app.router.lifespan_context(app):
        _, _, body = await call(app, "/v1/admin/accounts/personas", {
            "authorization": "Bearer " + app.state.settings.admin_token})
        pin = next(p["pin"] for p in json.loads(body)["personas"] if p["key"] == "citizen-l2")
        await measure(app, pin, 200)  # warm-up: caches, compiled statements, key ring
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        results = [await measure(app, pin, flows) for _ in range(rounds)]
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
            stats = pstats.Stats(profiler)
            stats.sort_stats("tottime").print_stats(40)
            stats.sort_stats("cumulative").print_stats(60)
    print("CPU per flow (ms): " + " ".join(f"{r * 1000:.2f}" for r in results)
          + f"; median {statistics.median(results) * 1000:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("flows", nargs="?", type=int, default=2000)
    parser.add_argument("rounds", nargs="?", type=int, default=3)
    parser.add_argument("--profile", metavar="FILE", help="cProfile the measured rounds into FILE")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.flows, args.rounds, args.profile))
