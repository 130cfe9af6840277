"""``/models/{model_id}/buildings``: buildings as GeoJSON with bbox and attribute filters, paged."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from twin.service.auth import Principal, require
from twin.service.deps import ModelView, not_found, store_of, verified_file, visible_model
from twin.service.schemas import ERRORS, Feature, FeatureCollection

router = APIRouter(prefix="/models/{model_id}/buildings", tags=["buildings"])

READERS = require("analyst", "architect", "reviewer")


def model_view(request: Any, model_id: str, principal: Principal) -> ModelView:
    """The loaded, verified model ``model_id`` if the caller may see it (404 otherwise, 409 if not ready)."""
    row = visible_model(request, model_id, principal)
    job = store_of(request).get_job(row["job_id"])
    if job is None or job.state != "done":
        state = job.state if job else "unknown"
        reason = f": {job.error}" if job is not None and job.error else ""
        raise HTTPException(409, f"model {model_id} is not ready (ingest job {state}{reason})")
    path = verified_file(request, job, "model.gpkg")
    return request.app.state.model_cache.get((model_id, str(path)), path)


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise HTTPException(422, "bbox must be four numbers: min_lon,min_lat,max_lon,max_lat") from None
    if len(values) != 4 or not all(np.isfinite(values)):
        raise HTTPException(422, "bbox must be four finite numbers: min_lon,min_lat,max_lon,max_lat")
    xmin, ymin, xmax, ymax = values
    if xmin > xmax or ymin > ymax or not (-180 <= xmin <= 180 and -90 <= ymin <= 90):
        raise HTTPException(422, "bbox must be min_lon,min_lat,max_lon,max_lat in WGS 84 degrees")
    return xmin, ymin, xmax, ymax


@router.get(
    "",
    response_model=FeatureCollection,
    responses=ERRORS | {409: {"description": "The model's ingest has not finished."}},
    summary="Buildings of a model as GeoJSON (WGS 84)",
)
def list_buildings(
    request: Request,
    model_id: str,
    principal: Annotated[Principal, Depends(READERS)],
    bbox: Annotated[
        str | None,
        Query(
            max_length=200, description="min_lon,min_lat,max_lon,max_lat", examples=["4.34,50.84,4.36,50.86"]
        ),
    ] = None,
    year_min: Annotated[int | None, Query(ge=0, le=3000)] = None,
    year_max: Annotated[int | None, Query(ge=0, le=3000)] = None,
    use: Annotated[str | None, Query(max_length=100)] = None,
    typology: Annotated[str | None, Query(max_length=100)] = None,
    commune: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Page size (capped by the server)")] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JSONResponse:
    """Filter by bounding box (intersecting), construction-year range, use, typology and commune;
    page with ``limit``/``offset`` (``next`` links the following page)."""
    max_page = request.app.state.settings.max_page_size
    if limit > max_page:
        raise HTTPException(422, f"limit {limit} exceeds the largest page size {max_page}")
    view = model_view(request, model_id, principal)
    n = len(view.features)
    mask = np.ones(n, dtype=bool)
    if bbox is not None:
        xmin, ymin, xmax, ymax = _parse_bbox(bbox)
        b = view.bounds
        mask &= (b[:, 0] <= xmax) & (b[:, 2] >= xmin) & (b[:, 1] <= ymax) & (b[:, 3] >= ymin)
    for name, value in (("use", use), ("typology", typology), ("commune", commune)):
        if value is not None:
            col = view.columns.get(name)
            mask &= (col.astype(str) == value) if col is not None else False
    if year_min is not None or year_max is not None:
        years = view.columns.get("year_built")
        if years is None:
            mask &= False
        else:
            y = np.asarray(years, dtype=float)
            if year_min is not None:
                mask &= y >= year_min
            if year_max is not None:
                mask &= y <= year_max
    hits = np.flatnonzero(mask)
    page = hits[offset : offset + limit]
    features = [view.features[i] for i in page]
    box = None
    if len(page):
        sub = view.bounds[page]
        box = [float(sub[:, 0].min()), float(sub[:, 1].min()), float(sub[:, 2].max()), float(sub[:, 3].max())]
    nxt = None
    if offset + limit < len(hits):
        query = request.query_params.multi_items()
        parts = [f"{k}={v}" for k, v in query if k not in ("offset",)]
        parts.append(f"offset={offset + limit}")
        nxt = f"{request.url.path}?{'&'.join(parts)}"
    body = {
        "type": "FeatureCollection",
        "features": features,
        "bbox": box,
        "numberMatched": int(len(hits)),
        "numberReturned": len(features),
        "next": nxt,
    }
    return JSONResponse(body)


@router.get(
    "/{building_id}",
    response_model=Feature,
    responses=ERRORS | {409: {"description": "The model's ingest has not finished."}},
    summary="One building as a GeoJSON feature",
)
def get_building(
    request: Request, model_id: str, building_id: str, principal: Annotated[Principal, Depends(READERS)]
) -> JSONResponse:
    view = model_view(request, model_id, principal)
    i = view.index.get(building_id)
    if i is None:
        raise not_found("building")
    return JSONResponse(view.features[i])
