"""A real server bounds the request head: a megabyte of header or of request line is answered
431 (or the connection closed) without being parsed, and the server goes on answering. Without
the bound httptools parsed any size, and a 60 MB header held the event loop for seconds."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from app.http_protocol import MAX_HEAD_BYTES, PROTOCOL
from tests.e2e.conftest import Server

MEGABYTE = 1024 * 1024
HEADS = {
    "header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * MEGABYTE + b"\r\n\r\n",
    "request line": b"GET /healthz?" + b"a" * MEGABYTE + b" HTTP/1.1\r\nHost: x\r\n\r\n",
}


def _answer(base: str, request: bytes) -> bytes:
    """The first bytes the server sends back (empty if it just closed the connection)."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        try:
            connection.sendall(request)
        except OSError:  # refused and closed before the whole request was sent
            pass
        try:
            return connection.recv(200)
        except OSError:
            return b""


@pytest.mark.parametrize("head", HEADS.values(), ids=HEADS.keys())
def test_an_oversized_request_head_is_refused_and_the_server_still_answers(
        server: Server, head: bytes) -> None:
    answer = _answer(server.base, head)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 ")
    assert httpx.get(f"{server.base}/healthz", timeout=30).status_code == 200


def test_the_431_is_a_problem_like_every_other_error(server: Server) -> None:
    """RFC 9457 problem+json, as the 413 of an oversized body is (a head just past the bound and
    unfinished: the server has read all of it when it refuses, so it closes cleanly)."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 1024)
    parts = urlsplit(server.base)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        connection.sendall(head)  # no end of head: the server refuses while waiting for it
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk
    status_and_headers, _, body = answer.partition(b"\r\n\r\n")
    assert status_and_headers.startswith(b"HTTP/1.1 431 ")
    assert b"content-type: application/problem+json" in status_and_headers.lower()
    problem = json.loads(body)
    assert problem["status"] == 431
    assert problem["type"].endswith("/request-header-fields-too-large")


def test_a_head_under_the_bound_is_served(server: Server) -> None:
    header = "a" * (MAX_HEAD_BYTES // 2)
    response = httpx.get(f"{server.base}/healthz", headers={"X-Large": header}, timeout=30)
    assert response.status_code == 200


def test_dancu_serve_runs_the_bounded_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from app.cli import app as cli_app
    from app.cli import server as serve_command

    for name in ("DANCU_HOST", "DANCU_PORT", "DANCU_DATABASE_URL"):
        monkeypatch.setenv(name, "")  # serve sets them: monkeypatch restores them after
        monkeypatch.delenv(name)
    started: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(options))
    monkeypatch.setattr(serve_command, "_check_database", lambda url: None)
    result = CliRunner().invoke(cli_app, ["serve", "--database-url", "sqlite:///:memory:"])
    assert result.exit_code == 0, result.output
    assert started["http"] == PROTOCOL
