"""Request and response bodies of the API (explicit models; inputs forbid unknown fields)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ErrorBody",
    "ERRORS",
    "JobOut",
    "ModelOut",
    "ModelAccepted",
    "ScenarioIn",
    "ScenarioOut",
    "ValidationOut",
    "RunIn",
    "RunOut",
    "ResultFile",
    "ResultsOut",
    "PermitOut",
    "DecisionIn",
    "Feature",
    "FeatureCollection",
    "HealthOut",
]


class ErrorBody(BaseModel):
    """Every error answer: a message (or the list of invalid fields for 422)."""

    detail: str | list[dict[str, Any]]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Malformed request.",
        401: "Missing or invalid API key.",
        403: "The key's role may not use this endpoint.",
        404: "No such object, or not visible to this key.",
        409: "Conflict (an idempotency key reused for another request, or a state that forbids it).",
        413: "Body larger than the upload limit.",
        415: "Unsupported file type.",
        422: "Invalid input.",
        503: "Job store unavailable or result being recomputed; retry after `Retry-After` seconds.",
    }
    return {c: {"model": ErrorBody, "description": text[c]} for c in codes}


#: Error answers every authenticated endpoint may give.
ERRORS = _errors(400, 401, 403, 404, 422, 503)
UPLOAD_ERRORS = _errors(400, 401, 403, 404, 413, 415, 422, 503)
SUBMIT_ERRORS = _errors(400, 401, 403, 404, 409, 422, 503)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobOut(BaseModel):
    """State of a job."""

    id: str
    kind: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    attempts: int
    progress: dict[str, Any] | None = None
    error: str | None = None
    created: float
    started: float | None = None
    finished: float | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "6f1c...",
                    "kind": "scenario_run",
                    "state": "running",
                    "attempts": 1,
                    "progress": {"step": "energy baseline", "done": 1, "total": 4},
                    "error": None,
                    "created": 1795900000.0,
                    "started": 1795900001.0,
                    "finished": None,
                }
            ]
        }
    )


class ModelOut(BaseModel):
    """An uploaded model and the state of its ingest job."""

    id: str
    name: str
    original_name: str | None
    format: str
    upload_sha256: str
    size_bytes: int
    shared: bool
    job: JobOut
    summary: dict[str, Any] | None = None


class ModelAccepted(BaseModel):
    """Answer to an upload: the model id and its ingest job."""

    model_id: str
    job_id: str
    status_url: str


class ScenarioIn(Strict):
    """A scenario to store: a display name and the spec (validated by ``scenarios.Scenario``)."""

    name: str = Field(default="", max_length=200)
    spec: dict[str, Any]

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "renovate pre-1945 terraced",
                    "spec": {"name": "renovate pre-1945 terraced", "simulations": ["energy"]},
                }
            ]
        },
    )


class ScenarioOut(BaseModel):
    id: str
    name: str
    spec: dict[str, Any]
    created: float


class ValidationOut(BaseModel):
    """Result of validating a spec without storing it."""

    valid: bool
    error: str | None = None


class RunIn(Strict):
    """A run to submit: a stored scenario (or an inline spec) on a stored model."""

    model_id: str = Field(min_length=1, max_length=64)
    scenario_id: str | None = Field(default=None, max_length=64)
    spec: dict[str, Any] | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"model_id": "0c3e...", "scenario_id": "9a41..."}]},
    )


class RunOut(BaseModel):
    """A run (a job of kind ``scenario_run``)."""

    run_id: str
    model_id: str | None = None
    job: JobOut
    status_url: str
    summary: dict[str, Any] | None = None


class ResultFile(BaseModel):
    name: str
    bytes: int
    sha256: str
    url: str


class ResultsOut(BaseModel):
    """The files of a finished job, addressable by content hash."""

    job_id: str
    files: list[ResultFile]
    summary: dict[str, Any] = Field(default_factory=dict)


class PermitOut(BaseModel):
    """A permit submission and its check."""

    id: str
    owner: str
    job: JobOut
    status: str | None = None
    decision: str | None = None
    decision_comment: str | None = None


class DecisionIn(Strict):
    """A reviewer's decision on a permit submission."""

    decision: Literal["approved", "rejected", "needs_changes"]
    comment: str = Field(default="", max_length=4000)


class Feature(BaseModel):
    type: Literal["Feature"]
    id: str
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    """GeoJSON (RFC 7946, WGS 84) page of buildings."""

    type: Literal["FeatureCollection"]
    features: list[Feature]
    bbox: list[float] | None = None
    numberMatched: int
    numberReturned: int
    next: str | None = None


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    backend: str
    workers_alive: int
    jobs: dict[str, int] = Field(default_factory=dict)
    version: str
