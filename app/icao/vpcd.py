"""The card side of a virtual PC/SC reader (vsmartcard's ``vpcd``, Debian ``vsmartcard-vpcd``).

``pcscd`` loads the vpcd driver, which listens on TCP port 35963; the virtual card connects to it
and the two exchange messages framed as a 2-byte big-endian length and a payload. A 1-byte payload
is a control code (0 power off, 1 power on, 2 reset, 4 get the ATR, answered with the ATR); any
other payload is a command APDU, answered with the response APDU. Power off, on and reset start a
new conversation with the chip (a new :class:`CardState`).

Standard library only; the card is :func:`app.icao.emulator.process` on a profile.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.icao.emulator import CardProfile, CardState, Random, process

PORT = 35963
POWER_OFF, POWER_ON, RESET, GET_ATR = 0, 1, 2, 4


@dataclass
class VirtualCard:
    """The chip in the virtual reader: its profile, ATR and the conversation so far."""

    profile: CardProfile
    atr: bytes
    random: Random = os.urandom
    sleep: Callable[[float], None] = time.sleep
    state: CardState = field(default_factory=CardState)
    exchanged: int = 0
    atr_requests: int = 0  # the reader asks for it when it sees the card inserted

    def handle(self, message: bytes) -> bytes | None:
        """The reply to one vpcd message (``None``: the message wants none)."""
        if len(message) == 1:
            if message[0] == GET_ATR:
                self.atr_requests += 1
                return self.atr
            self.state = CardState()  # power off, power on or reset
            return None
        answer = process(self.profile, self.state, message, random=self.random)
        self.exchanged += 1
        if self.profile.faults.delay_ms:
            self.sleep(self.profile.faults.delay_ms / 1000)
        return answer


def _exactly(connection: socket.socket, count: int) -> bytes | None:
    received = b""
    while len(received) < count:
        try:
            chunk = connection.recv(count - len(received))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        received += chunk
    return received


def _acknowledge_at_once(connection: socket.socket) -> None:
    """vpcd writes a message's length and its payload separately; with Nagle's algorithm on its
    side the payload waits for the ACK of the length, which Linux delays by up to 40 ms. Quick
    ACKs (re-armed before each read: the kernel drops the flag) took a chip read from seconds to
    a tenth of that."""
    if hasattr(socket, "TCP_QUICKACK") and connection.family in (socket.AF_INET, socket.AF_INET6):
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


def receive(connection: socket.socket) -> bytes | None:
    """One message, or ``None`` when vpcd closed (or reset) the connection."""
    _acknowledge_at_once(connection)
    header = _exactly(connection, 2)
    if header is None:
        return None
    length = int.from_bytes(header, "big")
    _acknowledge_at_once(connection)
    return _exactly(connection, length) if length else b""


def send(connection: socket.socket, payload: bytes) -> None:
    connection.sendall(len(payload).to_bytes(2, "big") + payload)


def serve(card: VirtualCard, connection: socket.socket) -> None:
    """Answer vpcd until it closes the connection."""
    while (message := receive(connection)) is not None:
        reply = card.handle(message)
        if reply is not None:
            send(connection, reply)


def connect(host: str = "127.0.0.1", port: int = PORT, *, timeout: float = 5.0) -> socket.socket:
    connection = socket.create_connection((host, port), timeout=timeout)
    connection.settimeout(None)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # answers go out at once
    return connection
