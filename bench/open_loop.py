"""Open-loop load: requests sent at a fixed rate whatever the answers do, latency counted from
the moment each request was due (a slow answer delays no later request, and a request that waits
for a free connection is counted as waiting: no coordinated omission).

    .venv/bin/python -P bench/open_loop.py http://127.0.0.1:8123/healthz --rate 1000 --duration 10
        [--header 'Authorization: Bearer ...'] [--paths FILE (one path a line, cycled)]
        [--connections 64]

Prints one JSON object: rate asked and reached, answers, errors (not 2xx or no answer), p50,
p90, p99, p99.9 and max in milliseconds (the first second, a warm-up, not counted), and the
generator's own lateness (``late_p99_ms``: how long after its due time each request was
written; the floor of every latency it reports).

Built to offer 10,000 requests a second from one core of Python (bench/RESULTS.md, "The tail,
sixth pass"): uvloop when installed; ``asyncio.Protocol`` keep-alive connections (no stream
reader or task per request) opened before the clock starts; requests pre-built as bytes; an
answer framed by its Content-Length only (the service's and FastAPI's JSON answers carry one);
and one pacing loop that wakes when the next request is due and writes every request due by
then (the loop's timers count milliseconds: a request is written at most ~1 ms late, and that
lateness is counted in its latency). A request due while every connection is busy waits for the
first one free, its wait counted too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections import deque
from urllib.parse import urlsplit

WARMUP_SECONDS = 1.0
DRAIN_SECONDS = 10.0
_HEAD_END = b"\r\n\r\n"
_LENGTH = b"\r\ncontent-length:"


class Tally:
    """What the connections report: latencies after the warm-up, errors, answers outstanding."""

    def __init__(self, counted_from: float) -> None:
        self.counted_from = counted_from
        self.latencies: list[float] = []
        self.errors = 0
        self.outstanding = 0
        self.drained: asyncio.Future[None] | None = None

    def answered(self, due: float, status: int, now: float) -> None:
        if due >= self.counted_from:
            self.latencies.append(now - due)
            if not 200 <= status < 300:
                self.errors += 1
        self._one_less()

    def failed(self) -> None:
        self.errors += 1
        self._one_less()

    def _one_less(self) -> None:
        self.outstanding -= 1
        if self.outstanding == 0 and self.drained is not None and not self.drained.done():
            self.drained.set_result(None)


class Connection(asyncio.Protocol):
    """One keep-alive connection: one request in flight at a time, the answer framed by its
    Content-Length; when it is idle again it takes the next request waiting, if any."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.due = 0.0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, due: float) -> None:
        self.due, self.busy = due, True
        self.transport.write(request)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(_HEAD_END)
        if head_end < 0:
            return
        at = self.buffer.find(_LENGTH, 0, head_end)
        if at < 0:
            at = self.buffer.lower().find(_LENGTH, 0, head_end)
        if at < 0:  # no Content-Length: cannot frame the answer; this connection is done
            self.transport.close()  # type: ignore[union-attr]
            return
        end = self.buffer.index(b"\r\n", at + 2)
        total = head_end + 4 + int(self.buffer[at + 17 : end])
        if len(self.buffer) < total:
            return
        status = int(self.buffer[9:12])
        self.buffer = self.buffer[total:]
        self.busy = False
        self.pool.tally.answered(self.due, status, time.perf_counter())
        self.pool.idle(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.lost(self)


class Pool:
    def __init__(self, host: str, port: int, tally: Tally) -> None:
        self.host, self.port, self.tally = host, port, tally
        self.free: deque[Connection] = deque()
        self.everyone: set[Connection] = set()
        self.waiting: deque[tuple[bytes, float]] = deque()

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(lambda: Connection(self), self.host, self.port)
        self.everyone.add(connection)
        self.idle(connection)

    def submit(self, request: bytes, due: float) -> None:
        if self.free:
            self.free.pop().send(request, due)
        else:
            self.waiting.append((request, due))

    def idle(self, connection: Connection) -> None:
        if self.waiting:
            connection.send(*self.waiting.popleft())
        else:
            self.free.append(connection)

    def lost(self, connection: Connection) -> None:
        self.everyone.discard(connection)
        if connection in self.free:
            self.free.remove(connection)
        if connection.busy:
            self.tally.failed()
        asyncio.get_running_loop().create_task(self.open())  # keep the pool's size

    def close(self) -> None:
        for connection in self.everyone:
            connection.pool = _Closed()  # type: ignore[assignment]
            connection.transport.close()  # type: ignore[union-attr]


class _Closed:
    def lost(self, connection: Connection) -> None:
        pass


def requests_for(url: str, paths: list[str], headers: list[str]) -> list[bytes]:
    parts = urlsplit(url)
    extra = "".join(f"{header}\r\n" for header in headers)
    targets = paths or [parts.path + (f"?{parts.query}" if parts.query else "")]
    return [
        (f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}\r\n").encode()
        for target in targets
    ]


async def run(
    url: str, *, rate: float, duration: float, requests: list[bytes], connections: int = 64
) -> dict[str, object]:
    parts = urlsplit(url)
    start = time.perf_counter() + 3600  # set below, once the connections are open
    tally = Tally(counted_from=start)
    pool = Pool(parts.hostname or "127.0.0.1", parts.port or 80, tally)
    await asyncio.gather(*(pool.open() for _ in range(connections)))
    start = time.perf_counter() + 0.05
    tally.counted_from = start + WARMUP_SECONDS
    total, sent, late = int(rate * duration), 0, []
    while sent < total:
        now = time.perf_counter()
        while sent < total and (due := start + sent / rate) <= now:
            tally.outstanding += 1
            pool.submit(requests[sent % len(requests)], due)
            if due >= tally.counted_from:
                late.append(now - due)
            sent += 1
        if sent < total:
            await asyncio.sleep(start + sent / rate - time.perf_counter())
    elapsed = time.perf_counter() - start
    if tally.outstanding:
        tally.drained = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(tally.drained, DRAIN_SECONDS)
        except TimeoutError:
            tally.errors += tally.outstanding
    pool.close()
    return summary(tally, late, rate=rate, reached=total / elapsed, connections=connections)


def summary(
    tally: Tally, late: list[float], *, rate: float, reached: float, connections: int
) -> dict[str, object]:
    ordered, late = sorted(tally.latencies), sorted(late)

    def at(values: list[float], share: float) -> float:
        return (
            round(1000 * values[min(len(values) - 1, int(share * len(values)))], 2)
            if values
            else float("nan")
        )

    return {
        "rate": rate,
        "reached": round(reached, 1),
        "answers": len(ordered),
        "errors": tally.errors,
        "p50_ms": at(ordered, 0.5),
        "p90_ms": at(ordered, 0.9),
        "p99_ms": at(ordered, 0.99),
        "p999_ms": at(ordered, 0.999),
        "max_ms": at(ordered, 1.0),
        "mean_ms": round(1000 * statistics.fmean(ordered), 2) if ordered else float("nan"),
        "late_p99_ms": at(late, 0.99),
        "late_max_ms": at(late, 1.0),
        "connections": connections,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--paths", default=None, help="a file of paths, one a line, cycled")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    paths = []
    if args.paths:
        with open(args.paths) as lines:
            paths = [line.strip() for line in lines if line.strip()]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(
        run(
            args.url,
            rate=args.rate,
            duration=args.duration,
            requests=requests_for(args.url, paths, args.header),
            connections=args.connections,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
