"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import text

from app import migrations
from app.db import Database
from app.dependencies import DatabaseDep
from app.security import off_loop

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    migrations: str


OK = Health(status="ok").model_dump_json().encode()


@router.get("/healthz", summary="Liveness: the process answers", response_model=Health)
async def healthz(request: Request) -> Response:
    """On the event loop, a constant answer (served first by :mod:`app.routers.hot`): a probe
    measures the process, not a thread pool's queue."""
    return Response(OK, media_type="application/json")


@router.get(
    "/readyz",
    summary="Readiness: the database answers and its migrations are current",
    responses={503: {"model": Readiness, "description": "Not ready"}},
)
async def readyz(database: DatabaseDep, response: Response) -> Readiness:
    try:
        current = await off_loop(lambda: _current(database))  # the database waits off the loop
    except Exception:  # any failure to reach the database means "not ready", never a 500
        response.status_code = 503
        return Readiness(status="unavailable", database="unreachable", migrations="unknown")
    if not current:
        response.status_code = 503
        return Readiness(status="unavailable", database="ok", migrations="pending")
    return Readiness(status="ok", database="ok", migrations="current")


def _current(database: Database) -> bool:
    with database.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return migrations.is_current(database.engine)
