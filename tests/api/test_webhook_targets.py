"""Where the webhook sender connects, seen from real sockets: every address is checked when the
attempt is made (after name resolution, IPv6 and numeric forms included), loopback only when the
deployment allows it, the connection goes to the address that was checked, redirects are not
followed, and every network failure is recorded with one message (no port scanning through the
delivery history)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.services.events import webhook_sender
from app.services.events.webhook_sender import ADDRESS_REFUSED, NO_ACCEPTABLE_RESPONSE, HttpSender
from app.services.events.webhooks import Job, Result
from app.settings import Settings
from app.webhook_address import TargetPolicy
from tests.api.events_support import Receiver, free_port, running_receiver
from tests.api.events_support import _handler as receiver_handler

OWN = frozenset({("127.0.0.1", 8000)})
NAMES = {  # what the monkeypatched resolver answers; other names go to the system resolver
    "hooks.test": ["127.0.0.1"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "internal.test": ["10.0.0.7"],
    "metadata.test": ["169.254.169.254"],
    "mixed.test": ["93.184.216.34", "10.0.0.7"],
}
LOOPBACK_URLS = [
    "http://127.0.0.1:{port}/hooks", "http://localhost:{port}/hooks",
    "http://hooks.test:{port}/hooks", "http://mapped.test:{port}/hooks",
    "http://[::ffff:127.0.0.1]:{port}/hooks",
]
ALWAYS_REFUSED_URLS = [
    "http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/latest",
    "http://[fd00:ec2::254]/latest", "http://10.0.0.1/", "http://172.16.0.1/",
    "http://192.168.0.1/", "http://100.64.0.1/", "http://0.0.0.0:{port}/hooks",
    "http://[::]:{port}/hooks", "http://[fe80::1]/", "http://[fc00::1]/", "http://224.0.0.1/",
    "http://[::ffff:10.0.0.1]/", "http://[64:ff9b::a00:1]/", "http://internal.test/",
    "http://metadata.test/latest", "http://mixed.test/",
    "http://2130706433:{port}/hooks", "http://0x7f.1:{port}/hooks",
    "http://0177.0.0.1:{port}/hooks", "http://127.1:{port}/hooks",
    "http://127.0.0.1:8000/v1/admin/events/deliver",  # the service's own admin API
]


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Map the test names; returns the hosts looked up, in order."""
    looked_up: list[str] = []
    system = webhook_sender.lookup

    def lookup(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return NAMES[host] if host in NAMES else system(host, port)

    monkeypatch.setattr(webhook_sender, "lookup", lookup)
    return looked_up


@pytest.fixture(scope="module")
def listening() -> Iterator[Receiver]:
    yield from running_receiver(Receiver())


@pytest.fixture
def receiver(listening: Receiver) -> Receiver:
    listening.received.clear()
    return listening


def _job(url: str, number: int = 1, subscription: str = "sub_1") -> Job:
    return Job(number, subscription, url, "whsec_test", b'{"id":1}',
               {"Content-Type": "application/json"})


def _send(url: str, *, loopback: bool, deadline: float = 5.0) -> Result:
    [result] = HttpSender(TargetPolicy(allow_loopback=loopback, own=OWN), deadline)([_job(url)])
    return result


def _port(receiver: Receiver) -> int:
    assert receiver.server is not None
    return int(receiver.server.server_address[1])


@pytest.mark.parametrize("url", LOOPBACK_URLS)
def test_loopback_receivers_are_reached_only_when_the_setting_allows_it(
        url: str, names: list[str], receiver: Receiver) -> None:
    url = url.format(port=_port(receiver))
    refused = _send(url, loopback=False)
    assert (refused.status_code, refused.error) == (None, ADDRESS_REFUSED)
    assert receiver.received == []
    delivered = _send(url, loopback=True)
    assert (delivered.status_code, delivered.error) == (204, None)
    assert len(receiver.received) == 1


@pytest.mark.parametrize("url", ALWAYS_REFUSED_URLS)
@pytest.mark.parametrize("loopback", [True, False], ids=["loopback-on", "loopback-off"])
def test_non_public_addresses_are_refused_at_delivery(
        url: str, loopback: bool, names: list[str], receiver: Receiver) -> None:
    result = _send(url.format(port=_port(receiver)), loopback=loopback)
    assert (result.status_code, result.error) == (None, ADDRESS_REFUSED)
    assert receiver.received == []


def test_the_connection_goes_to_the_address_that_was_checked(
        names: list[str], receiver: Receiver) -> None:
    """``hooks.test`` exists only in the test's resolver: reaching the receiver proves the
    sender connected to the address it checked, not to a second resolution of the name."""
    url = f"http://hooks.test:{_port(receiver)}/hooks?x=1"
    assert _send(url, loopback=True).status_code == 204
    assert names == ["hooks.test"]
    [message] = receiver.received
    assert message.headers["Host"] == f"hooks.test:{_port(receiver)}"


def _serve_once(reply: bytes | None) -> tuple[int, threading.Event]:
    """A TCP server answering one connection with ``reply`` (``None``: answer nothing until the
    client leaves) and closing; the event is set when the client has gone."""
    server = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        with server, server.accept()[0] as connection:
            connection.recv(65536)
            if reply is not None:
                connection.sendall(reply)
            else:
                while connection.recv(65536):
                    continue
        done.set()

    threading.Thread(target=serve, daemon=True).start()
    return int(server.getsockname()[1]), done


@pytest.mark.parametrize("reply", [b"", b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 banana\r\n\r\n",
                                   b"\x15\x03\x01\x00\x02\x02\x50", None],
                         ids=["closed-at-once", "ssh-banner", "broken-status", "tls-alert",
                              "silent"])
def test_network_failures_all_read_the_same_in_the_history(reply: bytes | None,
                                                            names: list[str]) -> None:
    port, done = _serve_once(reply)
    result = _send(f"http://127.0.0.1:{port}/hooks", loopback=True, deadline=1.0)
    assert (result.status_code, result.error) == (None, NO_ACCEPTABLE_RESPONSE)
    assert done.wait(10)


def test_a_closed_port_and_a_tls_mismatch_read_the_same(names: list[str],
                                                        receiver: Receiver) -> None:
    closed = _send(f"http://127.0.0.1:{free_port()}/hooks", loopback=True)
    tls_to_plain = _send(f"https://127.0.0.1:{_port(receiver)}/hooks", loopback=True)
    assert closed.error == tls_to_plain.error == NO_ACCEPTABLE_RESPONSE
    assert closed.status_code is tls_to_plain.status_code is None


def test_redirects_are_recorded_and_not_followed(names: list[str], receiver: Receiver) -> None:
    target = f"http://127.0.0.1:{_port(receiver)}/hooks"

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = _send(f"http://127.0.0.1:{server.server_address[1]}/", loopback=True)
    finally:
        server.shutdown()
        server.server_close()
    assert (result.status_code, result.ok) == (307, False)
    assert receiver.received == []


def test_loopback_follows_the_sandbox_unless_set(settings: Settings) -> None:
    assert settings.model_copy(update={"sandbox": True}).webhook_loopback_allowed
    assert not settings.model_copy(update={"sandbox": False}).webhook_loopback_allowed
    assert not settings.model_copy(update={"webhook_allow_loopback": False}
                                   ).webhook_loopback_allowed
    assert settings.model_copy(update={"sandbox": False, "webhook_allow_loopback": True}
                               ).webhook_loopback_allowed


def test_the_policy_names_the_service_itself(settings: Settings) -> None:
    policy = webhook_sender.target_policy(settings.model_copy(
        update={"host": "0.0.0.0", "port": 8443, "issuer": "https://id.example"}))
    assert policy.own == {("0.0.0.0", 8443), ("id.example", 443)}


def _certificate(name: str) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``name`` and its key, PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now, day = datetime.now(UTC), timedelta(days=1)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - day).not_valid_after(now + day)
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, ssl.SSLContext]]:
    """A receiver speaking TLS with a certificate for ``hooks.test``, and a context trusting it."""
    certificate, key = _certificate("hooks.test")
    (tmp_path / "cert.pem").write_bytes(certificate)
    (tmp_path / "key.pem").write_bytes(key)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver_handler(receiver))
    server.socket = server_side.wrap_socket(server.socket, server_side=True)
    receiver.server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    trust = ssl.create_default_context(cadata=certificate.decode())
    try:
        yield receiver, trust
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("name", "delivered"), [("hooks.test", True), ("impostor.test", False)])
def test_https_goes_to_the_checked_address_under_the_name_and_its_certificate(
        name: str, delivered: bool, names: list[str],
        tls_receiver: tuple[Receiver, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch) -> None:
    """The TLS server name and the certificate check use the URL's name while the connection goes
    to the address checked for it; a certificate for another name is a failed attempt."""
    receiver, trust = tls_receiver
    monkeypatch.setitem(NAMES, "impostor.test", ["127.0.0.1"])
    sender = HttpSender(TargetPolicy(allow_loopback=True, own=OWN), 5.0, trust=trust)
    [result] = sender([_job(f"https://{name}:{_port(receiver)}/hooks")])
    if delivered:
        assert (result.status_code, result.error) == (204, None)
        assert receiver.received[0].headers["Host"] == f"hooks.test:{_port(receiver)}"
    else:
        assert (result.status_code, result.error) == (None, NO_ACCEPTABLE_RESPONSE)
        assert receiver.received == []
