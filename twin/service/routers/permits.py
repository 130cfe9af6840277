"""``/permits``: architects submit an IFC for a permit check; reviewers see all and decide.

Visibility: an architect sees only their own submissions (another's id answers 404, as an
unknown one would); reviewers and admins see all.  Only reviewers (and admins) decide.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from twin.service.auth import Principal, require
from twin.service.deps import job_out, store_of, visible_job
from twin.service.routers.models import BINARY_BODY, receive_file
from twin.service.routers.runs import DOWNLOAD, results_listing, serve_file
from twin.service.schemas import ERRORS, UPLOAD_ERRORS, DecisionIn, PermitOut, ResultsOut
from twin.service.store import Job

router = APIRouter(prefix="/permits", tags=["permits"])

ARCHITECTS = require("architect")
READERS = require("architect", "reviewer")
REVIEWERS = require("reviewer")
KIND = ("permit_check",)
REPORTS = {"html": "report.html", "json": "report.json", "bcf": "findings.bcf"}


def permit_out(request: Request, job: Job) -> PermitOut:
    status = None
    if job.state == "done":
        result = store_of(request).get_result(job.id)
        status = (result["manifest"].get("summary") or {}).get("status") if result else None
    decision = store_of(request).get_decision(job.id)
    return PermitOut(
        id=job.id,
        owner=job.owner,
        job=job_out(job),
        status=status,
        decision=decision["decision"] if decision else None,
        decision_comment=decision["comment"] if decision else None,
    )


def visible_permit(request: Request, permit_id: str, principal: Principal) -> Job:
    return visible_job(request, permit_id, principal, KIND, what="permit", extra_roles=("reviewer",))


@router.post(
    "",
    status_code=202,
    response_model=PermitOut,
    responses=UPLOAD_ERRORS,
    openapi_extra=BINARY_BODY,
    summary="Submit an IFC (or IFCZIP) for a permit check",
)
async def submit_permit(
    request: Request,
    principal: Annotated[Principal, Depends(ARCHITECTS)],
    filename: Annotated[
        str | None, Query(max_length=4096, description="Original file name (metadata)")
    ] = None,
) -> PermitOut:
    """The raw file is the body.  The check runs as a ``permit_check`` job in a sandboxed process."""
    rel, _, sha, size = await receive_file(request, allowed=("ifc",))
    payload = {
        "upload": rel,
        "sha256": sha,
        "bytes": size,
        "snapshots": request.app.state.settings.permit_snapshots,
    }
    job, _ = await run_in_threadpool(store_of(request).submit, "permit_check", principal.id, payload)
    return permit_out(request, job)


@router.get(
    "",
    response_model=list[PermitOut],
    responses=ERRORS,
    summary="Permit submissions (architects: their own; reviewers: all)",
)
def list_permits(
    request: Request,
    principal: Annotated[Principal, Depends(READERS)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[PermitOut]:
    owner = None if principal.role in ("reviewer", "admin") else principal.id
    return [permit_out(request, j) for j in store_of(request).list_jobs(KIND, owner, limit=limit)]


@router.get("/{permit_id}", response_model=PermitOut, responses=ERRORS, summary="One permit submission")
def get_permit(
    request: Request, permit_id: str, principal: Annotated[Principal, Depends(READERS)]
) -> PermitOut:
    return permit_out(request, visible_permit(request, permit_id, principal))


@router.post(
    "/{permit_id}/decision",
    response_model=PermitOut,
    responses=ERRORS,
    summary="Decide on a submission (reviewers only)",
)
def decide(
    request: Request, permit_id: str, body: DecisionIn, principal: Annotated[Principal, Depends(REVIEWERS)]
) -> PermitOut:
    job = visible_permit(request, permit_id, principal)
    store_of(request).set_decision(job.id, body.decision, body.comment, principal.id)
    return permit_out(request, job)


@router.get(
    "/{permit_id}/files",
    response_model=ResultsOut,
    responses=ERRORS | {409: {"description": "Not done"}},
    summary="The files of a finished check",
)
def permit_files(
    request: Request, permit_id: str, principal: Annotated[Principal, Depends(READERS)]
) -> ResultsOut:
    job = visible_permit(request, permit_id, principal)
    return results_listing(request, job, f"/permits/{job.id}/files")


@router.get(
    "/{permit_id}/report",
    responses=ERRORS | DOWNLOAD,
    response_class=Response,
    summary="Download the report (HTML, JSON) or the BCF findings",
)
async def permit_report(
    request: Request,
    permit_id: str,
    principal: Annotated[Principal, Depends(READERS)],
    format: Annotated[Literal["html", "json", "bcf"], Query()] = "html",
) -> Any:
    job = await run_in_threadpool(visible_permit, request, permit_id, principal)
    response = await run_in_threadpool(serve_file, request, job, REPORTS[format], "raw")
    if format == "html":
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; img-src data: 'self'; style-src 'unsafe-inline'"
        )
    return response
