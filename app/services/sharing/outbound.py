"""Requests the OpenID provider makes to URLs a client registered (it GETs a
``sector_identifier_uri``, POSTs logout tokens to a ``backchannel_logout_uri``), under the
webhooks' address rules (:mod:`app.webhook_address`,
:mod:`app.services.events.webhook_sender`).

* The host is resolved once, every address it resolves to must be allowed (public unicast;
  loopback only where the deployment allows it for webhooks, i.e. a sandbox; never the service
  itself), and the connection goes to the address that was checked, with the URL's ``Host`` header
  and, for ``https``, its name for TLS (so DNS rebinding changes nothing).
* ``https`` only, except ``http`` to a loopback address where loopback is allowed (local test
  servers of a sandbox).
* A short timeout (:data:`DEADLINE_SECONDS`) on each step (connect, TLS, each read), and for a
  logout token's POST one deadline over them all (:class:`_Deadline`), no
  redirects, no proxies from the environment, at most :data:`MAX_BODY_BYTES` of body read.
* A failure is one message that never names the address (:class:`OutboundRefused`).
"""

from __future__ import annotations

import json
import socket
import threading
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from app.services.events import webhook_sender
from app.settings import Settings
from app.webhook_address import IPAddress, TargetPolicy, address_refusal, canonical, host_refusal

DEADLINE_SECONDS = 3.0
MAX_BODY_BYTES = 64 * 1024

if TYPE_CHECKING:
    import httpx


class OutboundRefused(Exception):
    """The URL may not be fetched, or did not answer as it must; ``str()`` says which, safely."""


def targets(settings: Settings) -> TargetPolicy:
    """The webhooks' address policy of this deployment (checked again at every request)."""
    return webhook_sender.target_policy(settings)


def _checked_address(url: httpx.URL, settings: Settings) -> IPAddress:
    policy = targets(settings)
    port = url.port or (443 if url.scheme == "https" else 80)
    host = url.raw_host.decode("ascii")
    if host_refusal(host, port, policy) is not None:
        raise OutboundRefused("address not allowed")
    try:
        found = webhook_sender.lookup(host, port)
    except OSError:
        raise OutboundRefused("the host could not be resolved") from None
    addresses = [canonical(ip_address(a.split("%", 1)[0])) for a in found]
    if not addresses or any(address_refusal(a, policy) or host_refusal(str(a), port, policy)
                            for a in addresses):
        raise OutboundRefused("address not allowed")
    if url.scheme != "https" and not all(a.is_loopback for a in addresses):
        raise OutboundRefused("https is required")
    return addresses[0]


def _pinned(url: str, settings: Settings) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """``url`` with its host replaced by the checked address (the one connected to), the
    ``Host`` header and the TLS server name it keeps: the request for either call."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise OutboundRefused("https is required")
    import httpx

    target = httpx.URL(url)
    address = _checked_address(target, settings)
    extensions = {"sni_hostname": target.raw_host.decode("ascii")} if target.scheme == "https" \
        else {}
    return (target.copy_with(host=str(address)), {"Host": target.netloc.decode("ascii")},
            extensions)


def get_json(url: str, *, settings: Settings) -> Any:
    """GET ``url`` and parse its JSON body, under the rules above."""
    import httpx  # by the first fetch, not at start (~0.1 s of imports with its CLI's rich)

    pinned, headers, extensions = _pinned(url, settings)
    headers["Accept"] = "application/json"
    try:
        with httpx.Client(timeout=DEADLINE_SECONDS, follow_redirects=False,
                          trust_env=False) as client:
            request = client.build_request("GET", pinned, headers=headers,
                                           extensions=extensions)
            response = client.send(request, stream=True)
            try:
                body = _read_limited(response)
            finally:
                response.close()
    except httpx.HTTPError:
        raise OutboundRefused("no acceptable HTTP response") from None
    if response.status_code != 200:
        raise OutboundRefused(f"answered HTTP {response.status_code}")
    try:
        return json.loads(body)
    except ValueError:
        raise OutboundRefused("the answer is not JSON") from None


def post_form(url: str, form: dict[str, str], *, settings: Settings,
              deadline: float = DEADLINE_SECONDS) -> int:
    """POST ``form`` as ``application/x-www-form-urlencoded`` to ``url`` under the rules above;
    returns the status code (the answer's body is not read)."""
    import httpx  # by the first delivery, not at start (as get_json)

    pinned, headers, extensions = _pinned(url, settings)
    headers["Cache-Control"] = "no-store"
    cut = _Deadline(deadline)
    try:
        with cut, httpx.Client(timeout=deadline, follow_redirects=False,
                               trust_env=False) as client:
            request = client.build_request("POST", pinned, data=form, headers=headers,
                                           extensions={**extensions, "trace": cut.trace})
            response = client.send(request, stream=True)
            response.close()
    except httpx.HTTPError:
        raise OutboundRefused("no acceptable HTTP response") from None
    if cut.expired:  # the status came, but after the deadline
        raise OutboundRefused("no acceptable HTTP response")
    return response.status_code


class _Deadline:
    """One deadline for the whole request after the name is resolved (connect, TLS, send, the
    status line and headers). httpx's timeouts bound each step only: a receiver answering a byte
    at a time would hold the request (and its worker thread) for as long as it likes. At the
    deadline the connection's socket is shut down, which ends the blocked read."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._timer.cancel()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: note the socket of each stream opened (TCP, then TLS)."""
        if event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            stream = info.get("return_value")
            found = None if stream is None else stream.get_extra_info("socket")
            if isinstance(found, socket.socket):
                with self._lock:
                    self._sockets.append(found)
                    if self.expired:
                        _shut(found)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for opened in self._sockets:
                _shut(opened)


def _shut(opened: socket.socket) -> None:
    try:
        opened.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed, or a TCP socket the TLS one took over
        pass


def _read_limited(response: httpx.Response) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise OutboundRefused("the answer is too large")
        chunks.append(chunk)
    return b"".join(chunks)
