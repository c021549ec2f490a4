"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import text

from app import migrations
from app.dependencies import DatabaseDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    migrations: str


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness: the database answers and its migrations are current",
    responses={503: {"model": Readiness, "description": "Not ready"}},
)
def readyz(database: DatabaseDep, response: Response) -> Readiness:
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = migrations.is_current(database.engine)
    except Exception:  # any failure to reach the database means "not ready", never a 500
        response.status_code = 503
        return Readiness(status="unavailable", database="unreachable", migrations="unknown")
    if not current:
        response.status_code = 503
        return Readiness(status="unavailable", database="ok", migrations="pending")
    return Readiness(status="ok", database="ok", migrations="current")
