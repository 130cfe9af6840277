"""``/jobs/{job_id}``: the state of any job of the caller (ingest, run, permit check)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from twin.service.auth import Principal, get_principal
from twin.service.deps import job_out, visible_job
from twin.service.jobs.kinds import KINDS, TEST_KINDS
from twin.service.schemas import ERRORS, JobOut

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobOut, responses=ERRORS, summary="State and progress of a job")
def get_job(request: Request, job_id: str, principal: Annotated[Principal, Depends(get_principal)]) -> JobOut:
    """Visible to the job's owner and to admins (reviewers follow permit checks under ``/permits``)."""
    return job_out(visible_job(request, job_id, principal, (*KINDS, *TEST_KINDS), what="job"))
