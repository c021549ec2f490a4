"""The chip in a real PC/SC stack: ``pcscd`` with vsmartcard's vpcd driver, the card side of
``app.icao.vpcd`` connected to it, and ``scriptor`` (pcsc-tools) as the PC/SC client carrying the
test reader's APDUs, so BAC, PACE and secure messaging go through pcscd byte for byte.

pcscd and the virtual card: ``tests/e2e/pcsc_support.py``."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from app.icao import bac, pace, vpcd
from app.icao.chip import derive_chip_keys
from app.icao.emulator import CardProfile, files_by_id
from app.icao.mrz import build_td1
from tests.e2e.pcsc_support import ATR, pcscd_with
from tests.system_tools import require_tool
from tests.unit.icao.reader import Reader
from tests.unit.icao.support import HOLDER, SEED, genuine_chip

RESPONSE = re.compile(rb"< [0-9A-F \r\n]*: [^\r\n]*\r?\n")


def _files() -> dict[str, bytes]:
    chip = genuine_chip()
    files = {"EF.COM": chip.com, "EF.SOD": chip.sod, "EF.CardAccess": pace.encode_card_access(13)}
    return files | {f"DG{n}": data for n, data in chip.data_groups.items()}


@pytest.fixture(scope="module")
def pcsc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """pcscd on its own socket with the virtual card inserted; the environment of its clients."""
    require_tool("scriptor", debian="pcsc-tools")
    profile = CardProfile(files=files_by_id(_files()), mrz_hash=bac.mrz_hash(build_td1(HOLDER)),
                          aa_key=derive_chip_keys(SEED, "card-1").active_authentication)
    with pcscd_with(vpcd.VirtualCard(profile, ATR), tmp_path_factory.mktemp("pcsc")) as env:
        yield env


class Scriptor:
    """``scriptor`` on a pseudo-terminal (so it answers line by line) as a ``transmit``."""

    def __init__(self, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(["scriptor", "-r", "Virtual PCD 00 00"], env=env,
                                        stdin=slave, stdout=slave, stderr=slave)
        os.close(slave)
        self.buffer = b""
        try:
            self._until(re.compile(rb"Using T=\d protocol\r?\n"))
        except AssertionError:
            self.close()
            raise

    def _until(self, pattern: re.Pattern[bytes]) -> bytes:
        deadline = time.monotonic() + 30
        while (found := pattern.search(self.buffer)) is None:
            ready, _, _ = select.select([self.master], [], [], deadline - time.monotonic())
            assert ready, f"scriptor said {self.buffer[-200:]!r}"
            try:
                self.buffer += os.read(self.master, 65536)
            except OSError:  # scriptor has exited
                raise AssertionError(f"scriptor said {self.buffer[-300:]!r}") from None
        text, self.buffer = self.buffer[:found.end()], self.buffer[found.end():]
        return text

    def transmit(self, command: bytes) -> bytes:
        os.write(self.master, command.hex().upper().encode() + b"\n")
        text = self._until(RESPONSE)
        hex_part = text[text.index(b"< ") + 2:].split(b": ")[0]
        return bytes.fromhex(b"".join(re.findall(rb"[0-9A-F]{2}", hex_part)).decode())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=10)
        os.close(self.master)


def _scriptor(env: dict[str, str]) -> Scriptor:
    """A connected scriptor: pcscd shows the card to clients a moment after it asked the ATR."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return Scriptor(env)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def scriptor(pcsc: dict[str, str]) -> Iterator[Scriptor]:
    client = _scriptor(pcsc)
    yield client
    client.close()


KEY_SEED = bac.key_seed(build_td1(HOLDER))
FIDS = {"EF.COM": 0x011E, "DG1": 0x0101, "DG13": 0x010D, "DG14": 0x010E, "DG15": 0x010F,
        "EF.SOD": 0x011D}


def test_a_pcsc_client_reads_every_file_through_bac(scriptor: Scriptor) -> None:
    reader = Reader(scriptor.transmit)
    reader.select_application()
    reader.bac(KEY_SEED)
    files = _files()
    assert {name: reader.read_file(fid) for name, fid in FIDS.items()} == {
        name: files[name] for name in FIDS}


def test_a_pcsc_client_opens_the_chip_with_pace(scriptor: Scriptor) -> None:
    reader = Reader(scriptor.transmit)
    reader.pace(bac.mrz_hash(build_td1(HOLDER)), reader.read_file(0x011C))
    reader.select_application()
    assert reader.read_file(0x0101) == _files()["DG1"]


def test_a_pcsc_client_sees_the_chip_refuse_protected_files_before_access_control(
        scriptor: Scriptor) -> None:
    assert scriptor.transmit(bytes.fromhex("00A4040C07A0000002471001")) == b"\x90\x00"
    assert scriptor.transmit(bytes.fromhex("00A4020C020101")) == b"\x69\x82"


def test_pyscard_reads_the_chip_too(pcsc: dict[str, str]) -> None:
    """pyscard (PyPI, built from source here: no wheel, so not in the test extra) as a second
    PC/SC client; skipped where it is not installed."""
    pytest.importorskip("smartcard", reason="pyscard is not installed (pip install pyscard)")
    script = ("from smartcard.System import readers\n"
              "connection = readers()[0].createConnection(); connection.connect()\n"
              "data, sw1, sw2 = connection.transmit(list(bytes.fromhex('00A4020C02011C')))\n"
              "data, sw1, sw2 = connection.transmit(list(bytes.fromhex('00B0000004')))\n"
              "print(bytes(data + [sw1, sw2]).hex())\n")
    answer = subprocess.run([sys.executable, "-c", script], env=pcsc, capture_output=True,
                            text=True, timeout=60, check=True)
    assert answer.stdout.strip() == (_files()["EF.CardAccess"][:4] + b"\x90\x00").hex()
