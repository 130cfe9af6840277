"""``/runs``: submit a scenario run (202 + job id, ``Idempotency-Key``), follow it, download, cancel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from twin.service.auth import Principal, require
from twin.service.deps import job_out, result_files, store_of, verified_file, visible_job, visible_model
from twin.service.routers.scenarios import validate_spec, visible_scenario
from twin.service.schemas import ERRORS, SUBMIT_ERRORS, JobOut, ResultFile, ResultsOut, RunIn, RunOut
from twin.service.store import IdempotencyConflict, Job

router = APIRouter(prefix="/runs", tags=["runs"])

ANALYSTS = require("analyst")
KIND = ("scenario_run",)


def run_out(job: Job) -> RunOut:
    summary = None
    return RunOut(
        run_id=job.id,
        model_id=job.payload.get("model_id"),
        job=job_out(job),
        status_url=f"/runs/{job.id}",
        summary=summary,
    )


def model_file(request: Request, model_id: str, principal: Principal) -> str:
    """Relative path of a visible, ingested and verified model file."""
    row = visible_model(request, model_id, principal)
    job = store_of(request).get_job(row["job_id"])
    if job is None or job.state != "done":
        raise HTTPException(
            409, f"model {model_id} is not ready (ingest job {job.state if job else 'unknown'})"
        )
    path = verified_file(request, job, "model.gpkg")
    return path.relative_to(request.app.state.settings.data_dir.resolve()).as_posix()


@router.post(
    "", status_code=202, response_model=RunOut, responses=SUBMIT_ERRORS, summary="Submit a scenario run"
)
def submit_run(
    request: Request,
    body: RunIn,
    principal: Annotated[Principal, Depends(ANALYSTS)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=200,
            description="Retries with the same key return the same run",
        ),
    ] = None,
) -> RunOut:
    """Queue a run of a stored scenario (``scenario_id``) or an inline ``spec`` on a model.
    The answer is 202 with the run id; poll ``GET /runs/{run_id}``."""
    if (body.scenario_id is None) == (body.spec is None):
        raise HTTPException(422, "give exactly one of scenario_id and spec")
    if body.scenario_id is not None:
        spec = visible_scenario(request, body.scenario_id, principal)["spec"]
    else:
        spec = validate_spec(body.spec or {})
    payload = {
        "spec": spec,
        "model_id": body.model_id,
        "model_path": model_file(request, body.model_id, principal),
    }
    try:
        job, _ = store_of(request).submit(
            "scenario_run", principal.id, payload, idempotency_key=idempotency_key
        )
    except IdempotencyConflict as err:
        raise HTTPException(409, str(err)) from None
    return run_out(job)


@router.get("", response_model=list[RunOut], responses=ERRORS, summary="List the caller's runs")
def list_runs(
    request: Request,
    principal: Annotated[Principal, Depends(ANALYSTS)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RunOut]:
    jobs = store_of(request).list_jobs(KIND, None if principal.is_admin else principal.id, limit=limit)
    return [run_out(j) for j in jobs]


@router.get("/{run_id}", response_model=RunOut, responses=ERRORS, summary="State and progress of a run")
def get_run(request: Request, run_id: str, principal: Annotated[Principal, Depends(ANALYSTS)]) -> RunOut:
    job = visible_job(request, run_id, principal, KIND, what="run")
    out = run_out(job)
    if job.state == "done":
        result = store_of(request).get_result(job.id)
        out.summary = result["manifest"].get("summary") if result else None
    return out


@router.post("/{run_id}/cancel", response_model=JobOut, responses=ERRORS, summary="Cancel a run")
def cancel_run(request: Request, run_id: str, principal: Annotated[Principal, Depends(ANALYSTS)]) -> JobOut:
    """A queued run is cancelled at once; a running one is stopped by its worker within seconds."""
    job = visible_job(request, run_id, principal, KIND, what="run")
    store_of(request).cancel(job.id)
    refreshed = store_of(request).get_job(job.id)
    assert refreshed is not None
    return job_out(refreshed)


def results_listing(request: Request, job: Job, prefix: str) -> ResultsOut:
    manifest = result_files(request, job)
    files = [
        ResultFile(name=name, bytes=int(e["bytes"]), sha256=e["sha256"], url=f"{prefix}/{name}")
        for name, e in sorted(manifest["files"].items())
    ]
    return ResultsOut(job_id=job.id, files=files, summary=manifest.get("summary") or {})


@router.get(
    "/{run_id}/results",
    response_model=ResultsOut,
    responses=ERRORS | {409: {"description": "Not done"}},
    summary="The result files of a finished run",
)
def list_results(
    request: Request, run_id: str, principal: Annotated[Principal, Depends(ANALYSTS)]
) -> ResultsOut:
    job = visible_job(request, run_id, principal, KIND, what="run")
    return results_listing(request, job, f"/runs/{job.id}/results")


def _convert(path: Path, fmt: str) -> Response:
    import geopandas as gpd
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix == ".gpkg":
        frame = gpd.read_file(path)
        if fmt == "geojson":
            if frame.crs is not None:
                frame = frame.to_crs(4326)
            return Response(frame.to_json(), media_type="application/geo+json")
        plain = pd.DataFrame(frame.drop(columns=[frame.geometry.name]))
        return Response(plain.to_csv(index=False), media_type="text/csv")
    if suffix == ".csv" and fmt == "csv":
        return FileResponse(path, media_type="text/csv")
    raise HTTPException(422, f"{path.name} cannot be converted to {fmt}")


DOWNLOAD = {
    200: {
        "description": "The file (GeoPackage, CSV, GeoJSON, JSON or HTML).",
        "content": {"application/octet-stream": {}, "text/csv": {}, "application/geo+json": {}},
    },
    409: {"description": "The job has no result."},
}


def serve_file(request: Request, job: Job, name: str, fmt: str) -> Response:
    path = verified_file(request, job, name)
    etag = {"ETag": f'"{store_of(request).get_result(job.id)["manifest"]["files"][name]["sha256"]}"'}
    if fmt == "raw":
        return FileResponse(
            path, filename=Path(name).name, headers=etag, media_type="application/octet-stream"
        )
    return _convert(path, fmt)


@router.get(
    "/{run_id}/results/{name:path}",
    responses=ERRORS | DOWNLOAD,
    response_class=Response,
    summary="Download one result file, as stored or converted",
)
async def download_result(
    request: Request,
    run_id: str,
    name: str,
    principal: Annotated[Principal, Depends(ANALYSTS)],
    format: Annotated[
        Literal["raw", "geojson", "csv"],
        Query(description="raw file, or a GeoPackage layer as GeoJSON / CSV"),
    ] = "raw",
) -> Any:
    """``name`` is a file name from ``GET /runs/{run_id}/results``; its sha256 is checked before sending."""
    job = await run_in_threadpool(visible_job, request, run_id, principal, KIND, what="run")
    return await run_in_threadpool(serve_file, request, job, name, format)
