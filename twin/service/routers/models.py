"""``/models``: upload a city or BIM file (→ ingest job), list and inspect models."""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from twin.service.auth import Principal, require
from twin.service.deps import job_out, not_found, store_of, visible_model
from twin.service.schemas import ERRORS, UPLOAD_ERRORS, ModelAccepted, ModelOut
from twin.service.store import new_id
from twin.service.uploads import UploadRejected, clean_name, sniff, store_stream, unpack_ifczip

router = APIRouter(prefix="/models", tags=["models"])

READERS = require("analyst", "architect", "reviewer")
UPLOADERS = require("analyst")

_SUFFIX = {"ifc": ".ifc", "cityjson": ".city.json", "citygml": ".gml", "gpkg": ".gpkg"}

BINARY_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        "description": "The file's bytes (IFC, IFCZIP, CityJSON, CityGML or a twin GeoPackage).",
    }
}


async def receive_file(request: Request, *, allowed: tuple[str, ...]) -> tuple[str, str, str, int]:
    """Stream the body to disk, sniff it, unpack an IFCZIP; returns (relative path, format, sha256, size)."""
    settings = request.app.state.settings
    folder = settings.data_dir / "uploads"
    stored = await store_stream(request.stream(), folder, settings.max_upload_bytes)
    try:
        fmt = await run_in_threadpool(sniff, stored.path)
        if fmt == "ifczip":
            target = folder / f"{new_id()}.ifc"
            await run_in_threadpool(
                unpack_ifczip,
                stored.path,
                target,
                max_bytes=settings.max_upload_bytes * 4,
                max_members=settings.zip_max_members,
                max_ratio=settings.zip_max_ratio,
            )
            stored.path.unlink(missing_ok=True)
            fmt = "ifc"
        else:
            target = folder / f"{new_id()}{_SUFFIX[fmt]}"
            os.replace(stored.path, target)
        if fmt not in allowed:
            target.unlink(missing_ok=True)
            raise UploadRejected(415, f"a {fmt} file is not accepted here (expected: {', '.join(allowed)})")
    except BaseException:
        stored.path.unlink(missing_ok=True)
        raise
    return f"uploads/{target.name}", fmt, stored.sha256, stored.size


@router.post(
    "",
    status_code=202,
    response_model=ModelAccepted,
    responses=UPLOAD_ERRORS,
    openapi_extra=BINARY_BODY,
    summary="Upload a model file; it is ingested by a job",
)
async def upload_model(
    request: Request,
    principal: Annotated[Principal, Depends(UPLOADERS)],
    filename: Annotated[
        str | None, Query(max_length=4096, description="Original file name (metadata only)")
    ] = None,
    name: Annotated[str | None, Query(max_length=200, description="Display name of the model")] = None,
) -> ModelAccepted:
    """Send the raw bytes as the body.  The format is sniffed from the content; the file is stored
    under a server id and read into a model by an ``ingest`` job (``GET /jobs/{job_id}``)."""
    rel, fmt, sha, size = await receive_file(request, allowed=("ifc", "cityjson", "citygml", "gpkg"))
    model_id = new_id()
    original = clean_name(filename)
    display = clean_name(name) or original or f"model {model_id[:8]}"
    payload = {"upload": rel, "format": fmt, "name": display, "model_id": model_id}
    row = {
        "id": model_id,
        "owner": principal.id,
        "shared": principal.is_admin,
        "name": display,
        "original_name": original,
        "format": fmt,
        "upload_sha256": sha,
        "size_bytes": size,
    }
    store = store_of(request)
    try:
        job_id = await run_in_threadpool(store.add_model, row, "ingest", payload)
    except BaseException:
        (request.app.state.settings.data_dir / rel).unlink(missing_ok=True)
        raise
    return ModelAccepted(model_id=model_id, job_id=job_id, status_url=f"/models/{model_id}")


def model_out(request: Request, row: dict) -> ModelOut:
    job = store_of(request).get_job(row["job_id"])
    if job is None:  # pragma: no cover - written in one transaction
        raise not_found("model")
    summary = None
    if job.state == "done":
        result = store_of(request).get_result(job.id)
        summary = result["manifest"].get("summary") if result else None
    return ModelOut(
        id=row["id"],
        name=row["name"],
        original_name=row["original_name"],
        format=row["format"],
        upload_sha256=row["upload_sha256"],
        size_bytes=int(row["size_bytes"]),
        shared=bool(row["shared"]),
        job=job_out(job),
        summary=summary,
    )


@router.get("", response_model=list[ModelOut], responses=ERRORS, summary="List the models visible to the key")
def list_models(
    request: Request,
    principal: Annotated[Principal, Depends(READERS)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ModelOut]:
    rows = store_of(request).list_models(None if principal.is_admin else principal.id, limit=limit)
    return [model_out(request, r) for r in rows]


@router.get(
    "/{model_id}", response_model=ModelOut, responses=ERRORS, summary="One model and its ingest state"
)
def get_model(request: Request, model_id: str, principal: Annotated[Principal, Depends(READERS)]) -> ModelOut:
    return model_out(request, visible_model(request, model_id, principal))
