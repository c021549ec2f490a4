"""``GET /metrics``: Prometheus text exposition (see :mod:`app.services.kit.metrics`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import SQLAlchemyError

from app.errors import ServiceUnavailable
from app.services.kit import metrics

router = APIRouter(tags=["operations"])
EXAMPLE = ('# TYPE dancu_http_requests_total counter\n'
           'dancu_http_requests_total{method="GET",route="/v1/citizens/{pin}",status="200"} 42.0\n'
           '# TYPE dancu_population_people gauge\n'
           'dancu_population_people{status="alive"} 9712.0\n')


@router.get("/metrics", response_class=Response,
            summary="Prometheus metrics: requests and latency by route template and status, "
                    "tokens issued, verifications by verdict, injected faults, population",
            responses={200: {"content": {"text/plain": {"example": EXAMPLE}},
                             "description": "Prometheus text format 0.0.4"},
                       503: {"description": "The database cannot be read for the population "
                                            "gauge", "content": {"application/problem+json": {}}}})
def scrape(request: Request) -> Response:
    state = request.app.state
    if getattr(state, "metrics_collectors", None) is None:
        state.metrics_collectors = {}
    try:
        body, media_type = metrics.exposition(state.database, state.metrics_collectors)
    except SQLAlchemyError:
        raise ServiceUnavailable("The population cannot be counted now.") from None
    return Response(body, media_type=media_type)
