"""Helpers shared by the routers: the store, job views, visibility, verified result files, model cache."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request

from twin.service.auth import Principal
from twin.service.jobs.worker import sha256_file
from twin.service.schemas import JobOut
from twin.service.settings import Settings
from twin.service.store import Job, JobStore

__all__ = [
    "store_of",
    "settings_of",
    "job_out",
    "not_found",
    "visible_job",
    "visible_model",
    "result_files",
    "verified_file",
    "ModelCache",
    "RecomputeNeeded",
]


class RecomputeNeeded(Exception):
    """A result file failed its checksum; the job was queued again."""


def store_of(request: Request) -> JobStore:
    return request.app.state.store


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        kind=job.kind,
        state=job.state,  # type: ignore[arg-type]
        attempts=job.attempts,
        progress=job.progress,
        error=job.error,
        created=job.created,
        started=job.started,
        finished=job.finished,
    )


def not_found(what: str = "object") -> HTTPException:
    return HTTPException(404, f"no such {what}")


def visible_job(
    request: Request,
    job_id: str,
    principal: Principal,
    kinds: tuple[str, ...],
    *,
    what: str,
    extra_roles: tuple[str, ...] = (),
) -> Job:
    """The job if it exists, is of ``kinds`` and ``principal`` may see it; 404 otherwise (no leak)."""
    job = store_of(request).get_job(job_id) if len(job_id) <= 64 else None
    if job is None or job.kind not in kinds:
        raise not_found(what)
    if not (principal.is_admin or job.owner == principal.id or principal.role in extra_roles):
        raise not_found(what)
    return job


def visible_model(request: Request, model_id: str, principal: Principal) -> dict[str, Any]:
    """A model row the caller may see: own, shared (uploaded by an admin) or any for admins."""
    row = store_of(request).get_model(model_id) if len(model_id) <= 64 else None
    if row is None or not (principal.is_admin or row["owner"] == principal.id or row["shared"]):
        raise not_found("model")
    return row


_verified: dict[tuple[str, int, int], str] = {}
_verified_lock = threading.Lock()


def verified_file(request: Request, job: Job, name: str) -> Path:
    """The path of result file ``name`` of a done job, after checking its sha256 (F10).

    A file whose bytes do not match the catalogue is never served: the job is queued for
    recomputation and :class:`RecomputeNeeded` raised (answered 503 with ``Retry-After``).
    """
    store = store_of(request)
    result = store.get_result(job.id)
    if result is None:
        raise HTTPException(409, f"job {job.id} has no result (state {job.state})")
    entry = result["manifest"]["files"].get(name)
    if entry is None:
        raise not_found("result file")
    base = settings_of(request).data_dir.resolve()
    path = (base / result["path"] / name).resolve()
    if base not in path.parents:
        raise not_found("result file")
    ok = False
    try:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        with _verified_lock:
            ok = _verified.get(key) == entry["sha256"]
        if not ok and st.st_size == entry["bytes"] and sha256_file(path) == entry["sha256"]:
            with _verified_lock:
                _verified[key] = entry["sha256"]
            ok = True
    except OSError:
        ok = False
    if not ok:
        store.recompute(job.id, f"result file {name} failed its integrity check; recomputing")
        raise RecomputeNeeded(name)
    return path


def result_files(request: Request, job: Job) -> dict[str, Any]:
    result = store_of(request).get_result(job.id)
    if result is None:
        raise HTTPException(409, f"job has no result yet (state {job.state})")
    return result["manifest"]


@dataclass
class ModelView:
    """A loaded model with its buildings ready to serve as GeoJSON."""

    model: Any
    features: list[dict[str, Any]]
    bounds: Any  # (n, 4) array of lon/lat bounds
    columns: dict[str, Any]
    index: dict[str, int]
    loaded: float


class ModelCache:
    """A small LRU of loaded models (the GeoJSON of their buildings precomputed)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], ModelView] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], path: Path) -> ModelView:
        with self._lock:
            view = self._items.get(key)
            if view is not None:
                self._items.move_to_end(key)
                return view
        view = self._load(path)
        with self._lock:
            self._items[key] = view
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return view

    @staticmethod
    def _load(path: Path) -> ModelView:
        import json

        import numpy as np

        from twin.model import CityModel

        model = CityModel.load(path)
        b = model.buildings
        wgs = b.to_crs(4326) if len(b) else b
        plain = wgs.drop(columns=[wgs.geometry.name])
        records = json.loads(plain.to_json(orient="records", date_format="iso", default_handler=str))
        geoms = json.loads(wgs.geometry.to_json()) if len(b) else {"features": []}
        features = []
        for props, geo in zip(records, geoms["features"], strict=True):
            features.append(
                {
                    "type": "Feature",
                    "id": str(props.get("building_id")),
                    "geometry": geo["geometry"],
                    "properties": props,
                }
            )
        bounds = wgs.geometry.bounds.to_numpy() if len(b) else np.zeros((0, 4))
        columns = {c: b[c].to_numpy() for c in ("year_built", "use", "typology", "commune") if c in b}
        index = {str(bid): i for i, bid in enumerate(b["building_id"])} if len(b) else {}
        return ModelView(
            model=model, features=features, bounds=bounds, columns=columns, index=index, loaded=time.time()
        )
