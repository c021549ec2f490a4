"""Open-loop load: requests sent at a fixed rate whatever the answers do, latency counted from
the moment each request was due (a slow answer delays no later request, and a request that waits
for a free connection is counted as waiting: no coordinated omission).

    .venv/bin/python -P bench/open_loop.py http://127.0.0.1:8123/healthz --rate 1000 --duration 10
        [--header 'Authorization: Bearer ...'] [--paths FILE (one path a line, cycled)]
        [--connections 64]

Prints one JSON object: rate asked and reached, answers, errors (not 2xx or no answer), p50,
p90, p99, p99.9 and max in milliseconds (the first second, a warm-up, not counted). Raw asyncio
streams on uvloop when installed, keep-alive connections opened as needed (answers must carry a
Content-Length, as the service's and FastAPI's JSON answers do).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from urllib.parse import urlsplit

WARMUP_SECONDS = 1.0


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def exchange(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lowered = head.lower()
        at = lowered.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lowered.index(b"\r\n", at + 2)
            length = int(lowered[at + 17:end])
            if length:
                await self.reader.readexactly(length)
        return status


def requests_for(url: str, paths: list[str], headers: list[str]) -> list[bytes]:
    parts = urlsplit(url)
    extra = "".join(f"{header}\r\n" for header in headers)
    targets = paths or [parts.path + (f"?{parts.query}" if parts.query else "")]
    return [(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}\r\n").encode()
            for target in targets]


async def run(url: str, *, rate: float, duration: float, requests: list[bytes],
              connections: int = 64) -> dict[str, object]:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(Connection(*await asyncio.open_connection(parts.hostname, parts.port)))
    latencies: list[float] = []
    errors = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(request: bytes, due: float) -> None:
        nonlocal errors
        connection = await idle.get()
        try:
            status = await connection.exchange(request)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1
            connection.writer.close()
            idle.put_nowait(Connection(
                *await asyncio.open_connection(parts.hostname, parts.port)))
            return
        if due - start >= WARMUP_SECONDS:
            latencies.append(time.perf_counter() - due)
            if not 200 <= status < 300:
                errors += 1
        idle.put_nowait(connection)

    start = time.perf_counter() + 0.05  # uvloop's loop.time() counts milliseconds
    total = int(rate * duration)
    for number in range(total):
        due = start + number / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(one(requests[number % len(requests)], due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait().writer.close()
    ordered = sorted(latencies)

    def at(share: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)

    return {"rate": rate, "reached": round(total / elapsed, 1), "answers": len(ordered),
            "errors": errors, "p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99),
            "p999_ms": at(0.999), "max_ms": round(1000 * ordered[-1], 2),
            "mean_ms": round(1000 * statistics.fmean(ordered), 2), "connections": connections}


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
    result = asyncio.run(run(args.url, rate=args.rate, duration=args.duration,
                             requests=requests_for(args.url, paths, args.header),
                             connections=args.connections))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
