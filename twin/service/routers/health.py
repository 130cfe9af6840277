"""``GET /health``: is the API up, is the job store reachable, how many workers are alive."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from twin.service.schemas import HealthOut
from twin.service.store import JobStoreUnavailable

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Degraded: the job store is unavailable."}},
    summary="Service health (no authentication)",
)
def health(request: Request) -> JSONResponse:
    """``ok`` (200) when the job store answers, ``degraded`` (503, ``Retry-After``) otherwise."""
    from twin import __version__

    store = request.app.state.store
    settings = request.app.state.settings
    body = {
        "status": "ok",
        "database": "ok",
        "backend": store.backend,
        "workers_alive": 0,
        "jobs": {},
        "version": str(__version__),
    }
    try:
        store.ping()
        body["workers_alive"] = store.live_workers(max(settings.lease_s, 5.0) * 2)
        body["jobs"] = store.count_states()
    except JobStoreUnavailable as err:
        body["status"] = "degraded"
        body["database"] = f"unavailable ({str(err)[:120]})"
        return JSONResponse(HealthOut(**body).model_dump(), status_code=503, headers={"Retry-After": "5"})
    return JSONResponse(HealthOut(**body).model_dump())
