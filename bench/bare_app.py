"""The yardstick of bench/edge.py: a minimal FastAPI app (one ``async def`` route returning a
four-field dict, nothing else), served by uvicorn with the settings ``dancu serve`` uses (the
httptools protocol with the bounded head, uvloop when installed, no uvicorn access log below
``info``) and the log level given.

    .venv/bin/python -P bench/bare_app.py --port 8130 [--log-level warning]
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from app import http_protocol

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, object]:
    return {"status": "ok", "service": "bare", "version": "1", "ready": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8130)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    # dancu serve writes one access line per request at info (its own logger, uvicorn's off);
    # the bare app's at info is uvicorn's own.
    uvicorn.run(app, host=args.host, port=args.port, http=http_protocol.PROTOCOL,
                log_level=args.log_level, access_log=args.log_level == "info")


if __name__ == "__main__":
    main()
