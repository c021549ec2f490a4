"""A real PostgreSQL streaming-replication pair on one machine, for the replication family
(``test_replication.py``) and ``bench/replication.py``.

A NEW primary (``initdb``) and a hot standby made from it with ``pg_basebackup -R`` (the engine's
own replication: WAL streamed by a WAL sender, replayed by the standby), each on a loopback port of
its own, in a temporary directory that :func:`replication_pair` removes afterwards. The server the
suite otherwise uses (``DANCU_TEST_DATABASE_URL``) is never touched. Run as root, the server
commands run as the ``postgres`` user (PostgreSQL refuses to run as root).

Synchronous replication is switched on the primary only (``ALTER SYSTEM`` after the base backup,
so the standby's copy of the configuration never waits for a standby of its own once promoted).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.reliability.processes import free_port, log_dir

DATABASE = "dancu"
STANDBY_NAME = "standby"  # the standby's cluster_name, its WAL receiver's application_name
SERVER_SETTINGS = """
listen_addresses = '127.0.0.1'
unix_socket_directories = '{sockets}'
port = {port}
cluster_name = '{name}'
wal_level = replica
max_wal_senders = 4
wal_keep_size = '128MB'
hot_standby = on
hot_standby_feedback = on
max_connections = 120
shared_buffers = '64MB'
"""


def pg_bindir(pg_config: str = "pg_config") -> Path:
    """The directory of ``initdb``, ``pg_ctl``, ``pg_basebackup``: on Debian they are not on the
    PATH, ``pg_config --bindir`` (postgresql-common's, of the newest installed version) names
    it."""
    found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
    bindir = Path(found.stdout.strip())
    if not (bindir / "pg_basebackup").exists():
        raise FileNotFoundError(f"pg_basebackup is not in {bindir} (apt-get install postgresql-15)")
    return bindir


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _run(*command: str | Path) -> None:
    with open(log_dir() / "replication.log", "ab") as log:
        subprocess.run([*_as_postgres(), *map(str, command)], check=True, stdout=log,
                       stderr=subprocess.STDOUT, timeout=120)


@dataclass
class Node:
    name: str
    data: Path
    port: int

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = DATABASE) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def execute(self, statement: str, params: tuple[object, ...] = (), *,
                database: str = DATABASE) -> list[tuple[object, ...]]:
        with psycopg.connect(self.dsn(database), autocommit=True, connect_timeout=10) as conn:
            cursor = conn.execute(statement, params or None)  # type: ignore[arg-type]
            return list(cursor.fetchall()) if cursor.description else []


@dataclass
class Pair:
    root: Path
    bindir: Path
    primary: Node
    standby: Node

    def pg_ctl(self, node: Node, *args: str) -> None:
        _run(self.bindir / "pg_ctl", "-D", node.data, *args)

    @property
    def hosts(self) -> str:
        return f"host=127.0.0.1:{self.primary.port}&host=127.0.0.1:{self.standby.port}"

    def writer_url(self) -> str:
        """Both nodes, the one that accepts writes wins (libpq multi-host)."""
        return (f"postgresql+psycopg://postgres@/{DATABASE}?{self.hosts}"
                "&target_session_attrs=read-write&connect_timeout=2")

    def reader_url(self) -> str:
        """A standby if one answers, else the primary (after a failover: the promoted node)."""
        return (f"postgresql+psycopg://postgres@/{DATABASE}?host=127.0.0.1:{self.standby.port}"
                f"&host=127.0.0.1:{self.primary.port}"
                "&target_session_attrs=prefer-standby&connect_timeout=2")

    def synchronous(self, on: bool, *, level: str = "remote_apply") -> None:
        """Commits wait for the standby (``level``: ``on`` = flushed there, ``remote_apply`` =
        replayed there, visible to its readers) or not."""
        self.primary.execute(f"ALTER SYSTEM SET synchronous_standby_names = "
                             f"'{STANDBY_NAME if on else ''}'", database="postgres")
        self.primary.execute(f"ALTER SYSTEM SET synchronous_commit = '{level if on else 'on'}'",
                             database="postgres")
        self.primary.execute("SELECT pg_reload_conf()", database="postgres")
        wanted = STANDBY_NAME if on else ""
        _until(lambda: self.primary.execute("SHOW synchronous_standby_names",
                                            database="postgres")[0][0] == wanted)

    def wait_streaming(self) -> None:
        _until(lambda: bool(self.primary.execute(
            "SELECT 1 FROM pg_stat_replication WHERE state = 'streaming'", database="postgres")))

    def replay_lag_bytes(self) -> int:
        """WAL the standby has received from the primary and not yet replayed, plus what the
        primary has written and not yet sent."""
        sent = self.primary.execute("SELECT pg_current_wal_lsn()", database="postgres")[0][0]
        found = self.standby.execute(
            f"SELECT pg_wal_lsn_diff('{sent}', pg_last_wal_replay_lsn())", database="postgres")
        return max(0, int(found[0][0]))  # type: ignore[call-overload]

    def kill_primary(self) -> None:
        """An immediate stop: no checkpoint, no goodbye to the clients (a crash)."""
        self.pg_ctl(self.primary, "stop", "-m", "immediate")

    def promote(self) -> None:
        self.pg_ctl(self.standby, "promote", "-w", "-t", "60")


def _until(condition: object, *, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("the replication pair did not reach the expected state")
        time.sleep(0.05)


def _settings(node: Node, sockets: Path) -> str:
    return SERVER_SETTINGS.format(sockets=sockets, port=node.port, name=node.name)


def _start(pair: Pair, node: Node) -> None:
    pair.pg_ctl(node, "-l", pair.root / f"{node.name}.log", "-w", "-t", "60", "start")


def _build(root: Path, bindir: Path) -> Pair:
    pair = Pair(root, bindir, Node("primary", root / "primary", free_port()),
                Node(STANDBY_NAME, root / "standby", free_port()))
    _run(bindir / "initdb", "-D", pair.primary.data, "-U", "postgres", "--auth=trust",
         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
    with open(pair.primary.data / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write(_settings(pair.primary, root))
    _start(pair, pair.primary)
    pair.primary.execute(f"CREATE DATABASE {DATABASE}", database="postgres")
    _run(bindir / "pg_basebackup", "-h", "127.0.0.1", "-p", str(pair.primary.port), "-U",
         "postgres", "-D", pair.standby.data, "-R", "-X", "stream", "-c", "fast", "--no-sync")
    with open(pair.standby.data / "postgresql.conf", "a", encoding="utf-8") as conf:
        conf.write(_settings(pair.standby, root))
    _start(pair, pair.standby)
    pair.wait_streaming()
    return pair


@contextmanager
def replication_pair(pg_config: str = "pg_config") -> Iterator[Pair]:
    """A primary and its streaming hot standby (asynchronous until :meth:`Pair.synchronous`),
    stopped and deleted afterwards, whatever state the test left them in."""
    bindir = pg_bindir(pg_config)
    root = Path(tempfile.mkdtemp(prefix="dancu-pair-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    root.chmod(0o700)
    pair: Pair | None = None
    try:
        pair = _build(root, bindir)
        yield pair
    finally:
        for data in (root / "primary", root / "standby"):
            if (data / "postmaster.pid").exists():
                with suppress(subprocess.SubprocessError, OSError):
                    _run(bindir / "pg_ctl", "-D", data, "stop", "-m", "immediate")
        # The servers' own logs go with the directory: an error's DETAIL line may quote a key
        # (a PIN), and every log kept in the log directory must be free of personal data.
        shutil.rmtree(root, ignore_errors=True)


# HAProxy in front of several ``dancu serve`` processes: a server is in rotation while its
# /readyz answers 200 (its database answers and is migrated); a request whose connection a
# dead server refuses goes to another one (``redispatch``; nothing was sent, so a POST too).
# With no server ready, HAProxy's own 503 is a problem+json with Retry-After, like the service's.
HAPROXY_CONFIG = """global
    maxconn 512
    log stdout format raw local0

defaults
    mode http
    log global
    # No path or query in the log: a path may carry a PIN (the privacy family scans every log).
    log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc %HM"
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
    errorfile 503 {errorfile}

frontend dancu
    bind 127.0.0.1:{port}
    default_backend dancu_serve

backend dancu_serve
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 2 rise 1
{servers}
"""
HAPROXY_503 = (
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/problem+json\r\n"
    "Retry-After: 1\r\n"
    "Cache-Control: no-store\r\n"
    "Connection: close\r\n"
    "\r\n"
    '{"type":"https://dancu.sandbox/problems/service-unavailable","title":"Service unavailable",'
    '"status":503,"detail":"No server process is ready; retry after Retry-After."}\n')


@contextmanager
def haproxy(binary: str, servers: list[str], *, port: int) -> Iterator[str]:
    """HAProxy on ``port`` balancing ``servers`` (``127.0.0.1:8001``, ...); yields its base URL."""
    directory = Path(tempfile.mkdtemp(prefix="dancu-haproxy-"))
    (directory / "503.http").write_text(HAPROXY_503, encoding="ascii")
    lines = "\n".join(f"    server s{i} {address} check" for i, address in enumerate(servers))
    config = directory / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(errorfile=directory / "503.http", port=port,
                                            servers=lines), encoding="ascii")
    output = open(log_dir() / "haproxy.log", "ab")  # the process owns it
    process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=output,
                               stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _ready(base) or process.poll() is not None)
        if process.poll() is not None:
            raise RuntimeError(f"haproxy exited ({process.returncode}); see haproxy.log")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)


def _ready(base: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
