"""The cheapest HTTP server this venv can run: one fixed JSON answer per request, written by a raw
uvloop protocol (no parsing beyond counting request heads). Not a yardstick for the service (that is
``bench/bare_app.py``): a target that needs a small share of a core at 10,000 req/s, to show what
``bench/open_loop.py`` itself can offer when the machine is too busy for the bare app to keep up.

    .venv/bin/python -P bench/fixed_answer_server.py --port 8140
"""

from __future__ import annotations

import argparse
import asyncio

BODY = b'{"status":"ok","service":"fixed","version":"1","ready":true}'
ANSWER = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
          + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


class Fixed(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.pending = b""

    def data_received(self, data: bytes) -> None:
        self.pending += data
        heads = self.pending.count(b"\r\n\r\n")  # GET requests: no bodies
        if heads:
            self.pending = self.pending[self.pending.rindex(b"\r\n\r\n") + 4:]
            self.transport.write(ANSWER * heads)  # type: ignore[attr-defined]


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Fixed, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--port", type=int, default=8140)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
