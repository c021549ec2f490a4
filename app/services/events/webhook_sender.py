"""Sending one pass of webhook deliveries over HTTP, safely for a shared deployment.

- **Where.** Each attempt resolves the URL's host, refuses it when any address it resolves to is
  not allowed (:mod:`app.webhook_address`), and connects to the address it checked: the request
  goes to that IP with the URL's ``Host`` header and, for ``https``, the name as TLS server name
  (certificate checked against the name). A name that resolves elsewhere a moment later (DNS
  rebinding) changes nothing. Redirects are not followed; proxies from the environment are not used.
- **How long.** One deadline covers the whole attempt (resolve, connect, TLS, send, status line and
  headers; the body of the answer is never read), so a receiver trickling a byte at a time cannot
  keep it open.
- **Who waits.** Deliveries are grouped by subscription. The deliveries of one subscription are
  sent one after another in the order they were claimed; different subscriptions are sent
  concurrently (:data:`MAX_CONCURRENT` at once). After an attempt that got no answer, and once the
  pass has run for one deadline, a subscription's remaining deliveries are not attempted in this
  pass; they are due again at the next one. A pass therefore lasts at most about two deadlines.
- **What is recorded.** A status code when a receiver answered; otherwise one message for every
  network failure (refused, reset, timeout, TLS, protocol), so the history cannot map which ports
  are open; a refused address has its own message, which never names the address.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import ip_address
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from app.clock import system_now
from app.services.events.webhooks import SIGNATURE_HEADER, Job, Result, signature_header
from app.settings import Settings
from app.webhook_address import IPAddress, TargetPolicy, address_refusal, canonical, host_refusal

if TYPE_CHECKING:
    import httpx  # imported where a delivery is made: a server start need not load it

log = logging.getLogger("dancu.webhooks")
NO_ACCEPTABLE_RESPONSE = "delivery failed: no acceptable HTTP response"
ADDRESS_REFUSED = "delivery refused: address not allowed"
MAX_CONCURRENT = 32
# Name resolution runs here, not in asyncio's default executor, which a pass would wait for on
# exit: a resolver that hangs past the deadline must not hold the pass.
_RESOLVERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dancu-resolve")


class AddressRefused(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


def lookup(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (tests replace this to map names)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def target_policy(settings: Settings) -> TargetPolicy:
    issuer = urlsplit(settings.issuer_url)
    issuer_port = issuer.port or (443 if issuer.scheme == "https" else 80)
    own = {(settings.host, settings.port), (issuer.hostname or "", issuer_port)}
    return TargetPolicy(allow_loopback=settings.webhook_loopback_allowed, own=frozenset(own))


def for_settings(settings: Settings) -> HttpSender:
    return HttpSender(target_policy(settings), deadline=settings.webhook_deadline_seconds)


@dataclass(frozen=True)
class HttpSender:
    """A :data:`app.services.events.webhooks.Sender`: POST each job, never raise."""

    policy: TargetPolicy
    deadline: float
    trust: ssl.SSLContext | None = None  # None: the system's certificate authorities

    def __call__(self, jobs: list[Job]) -> list[Result]:
        return asyncio.run(self._send_all(jobs))

    async def _send_all(self, jobs: list[Job]) -> list[Result]:
        groups: dict[str, list[Job]] = {}
        for job in jobs:
            groups.setdefault(job.subscription_id, []).append(job)
        slots, budget_end = asyncio.Semaphore(MAX_CONCURRENT), time.monotonic() + self.deadline
        sent = await asyncio.gather(*(self._group(group, slots, budget_end)
                                      for group in groups.values()))
        return [result for results in sent for result in results]

    async def _group(self, jobs: list[Job], slots: asyncio.Semaphore,
                     budget_end: float) -> list[Result]:
        results: list[Result] = []
        async with slots, _client(self.deadline, self.trust) as client:
            for job in jobs:
                if (results and not results[-1].answered) or time.monotonic() >= budget_end:
                    results.append(Result.deferred(job.delivery_id))
                else:
                    results.append(await self._attempt(client, job))
        return results

    async def _attempt(self, client: httpx.AsyncClient, job: Job) -> Result:
        started = time.monotonic()
        status, error = None, NO_ACCEPTABLE_RESPONSE
        try:
            async with asyncio.timeout(self.deadline):
                status, error = await self._post(client, job), None
        except AddressRefused:
            error = ADDRESS_REFUSED
        except Exception as failure:  # whatever the network or the receiver did: one message
            log.debug("webhook attempt failed: %s", type(failure).__name__)
        return Result(job.delivery_id, status, error, int((time.monotonic() - started) * 1000))

    async def _post(self, client: httpx.AsyncClient, job: Job) -> int:
        import httpx

        if self._refused_as_written(job.url):
            raise AddressRefused()
        url = httpx.URL(job.url)
        address = await self._checked_address(url)
        timestamp = int(system_now().timestamp())
        headers = {**job.headers, "Host": url.netloc.decode("ascii"),
                   SIGNATURE_HEADER: signature_header(job.secret, timestamp, job.body)}
        extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}
        request = client.build_request("POST", url.copy_with(host=str(address)), content=job.body,
                                       headers=headers, extensions=extensions)
        response = await client.send(request, stream=True)
        await response.aclose()  # the status is the answer; the body is not read
        return response.status_code

    async def _checked_address(self, url: httpx.URL) -> IPAddress:
        """The address to connect to: the first the host resolves to, all of them allowed."""
        port = url.port or _default_port(url.scheme)
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(_RESOLVERS, lookup, url.raw_host.decode("ascii"), port)
        addresses = [canonical(ip_address(a.split("%", 1)[0])) for a in found]
        if not addresses or _any_refused(addresses, port, self.policy):
            raise AddressRefused()
        return addresses[0]

    def _refused_as_written(self, url: str) -> bool:
        parts = urlsplit(url)
        port = parts.port or _default_port(parts.scheme)
        return (parts.scheme not in ("http", "https")
                or host_refusal(parts.hostname or "", port, self.policy) is not None)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _any_refused(addresses: Iterable[IPAddress], port: int, policy: TargetPolicy) -> bool:
    return any(address_refusal(a, policy) or host_refusal(str(a), port, policy)
               for a in addresses)


def _client(deadline: float, trust: ssl.SSLContext | None) -> httpx.AsyncClient:
    # One client per subscription: pooled connections are keyed by IP, so a connection made for one
    # name is never reused for a request to another name on the same address.
    import httpx

    return httpx.AsyncClient(timeout=deadline, follow_redirects=False, trust_env=False,
                             verify=trust if trust is not None else True)
