"""pcscd with vsmartcard's vpcd driver on a free port pair, and a virtual card connected to it:
the PC/SC stack the chip tests read through (tests/e2e/test_chip_pcsc*.py).

pcscd runs with a reader.conf of the test's own naming a free port pair (vpcd's default 35963 may
be taken), on the system's pcscd socket: no other pcscd may run meanwhile, so each waits for the
machine's turn (another test run, e.g. the other database's in ``.ci/run``, may hold it)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.icao import vpcd
from tests.system_tools import in_ci, machine_turn, require_tool

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
ATR = bytes.fromhex("3B8880014D5254440000000006")


def _free_port_pair() -> int:
    """A port whose successor is free too (vpcd opens two slots: port and port + 1)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        try:
            with socket.socket() as first, socket.socket() as second:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


def _require_vpcd() -> None:
    if VPCD_DRIVER.exists():
        return
    reason = "the vpcd driver is not installed (apt-get install vsmartcard-vpcd)"
    if in_ci():
        pytest.fail(f"{reason}; CI needs every test to run", pytrace=False)
    pytest.skip(reason)


def _connect_card(port: int, card: vpcd.VirtualCard) -> threading.Thread:
    deadline = time.monotonic() + 10
    while True:
        try:
            connection = vpcd.connect(port=port, timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    worker = threading.Thread(target=vpcd.serve, args=(card, connection), daemon=True)
    worker.start()
    return worker


@contextmanager
def pcscd_with(card: vpcd.VirtualCard, folder: Path) -> Iterator[dict[str, str]]:
    """pcscd on its own reader.conf with ``card`` inserted; the environment of its clients."""
    pcscd = require_tool("pcscd", debian="pcscd")
    _require_vpcd()
    with machine_turn("pcscd"):
        port = _free_port_pair()
        conf = folder / "reader.conf"
        conf.write_text(f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:{port:#x}\n'
                        f"LIBPATH {VPCD_DRIVER}\nCHANNELID {port:#x}\n")
        env = dict(os.environ)
        daemon = subprocess.Popen([pcscd, "--foreground", "-c", str(conf)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _connect_card(port, card)
            deadline = time.monotonic() + 30
            while not card.atr_requests:  # pcscd has not seen the card inserted yet
                assert time.monotonic() < deadline, "pcscd never asked the card's ATR"
                time.sleep(0.05)
            yield env
        finally:
            daemon.terminate()
            daemon.wait(timeout=10)
