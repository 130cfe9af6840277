"""The FastAPI application factory of the twin's service."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from twin.errors import ScenarioValidationError, UnknownEntityError
from twin.service.auth import Principal, _KeyCache, get_principal
from twin.service.deps import ModelCache, RecomputeNeeded
from twin.service.settings import Settings, load_settings
from twin.service.store import IdempotencyConflict, JobStore, JobStoreUnavailable, open_store
from twin.service.uploads import UploadRejected, sweep_partial_uploads

__all__ = ["create_app", "ServiceProvider"]

log = logging.getLogger("twin.service")

DESCRIPTION = """
The Brussels urban digital twin as a web service: upload city and BIM models, query buildings
as GeoJSON, store what-if scenarios, run them as durable jobs and download their results;
architects submit IFC permit checks that reviewers decide on.

Authenticate every call (except `/health`) with `Authorization: Bearer <key>`; keys are created
with `twin keys create --role ROLE`.  Long work is a job: submissions answer 202 with its id.
"""


class ServiceProvider:
    """What the viewer router needs: visible models and run results, by id and principal."""

    def __init__(self, app: FastAPI) -> None:
        self._request = SimpleNamespace(app=app)

    def get_model(self, model_id: str, principal: Principal) -> Any:
        """The :class:`~twin.model.CityModel` ``model_id``; UnknownEntityError if unknown or not visible."""
        from twin.service.routers.buildings import model_view

        try:
            return model_view(self._request, model_id, principal).model
        except HTTPException as err:
            raise UnknownEntityError(f"no model {model_id!r} ({err.detail})") from None

    def get_results(self, run_id: str, principal: Principal) -> Any:
        """Per-building results of a done run (energy table), or None; UnknownEntityError if not visible."""
        from twin.service.deps import store_of, visible_job

        try:
            job = visible_job(self._request, run_id, principal, ("scenario_run",), what="run")
        except HTTPException:
            raise UnknownEntityError(f"no run {run_id!r}") from None
        result = store_of(self._request).get_result(job.id) if job.state == "done" else None
        if result is None:
            return None
        run_dir = self._request.app.state.settings.data_dir / result["path"]
        run_dir = run_dir / str((result["manifest"].get("summary") or {}).get("run_dir", "run"))
        try:
            from scenarios import load_run

            results = load_run(run_dir).results
        except Exception:  # noqa: BLE001 - a run without readable results has nothing to colour by
            log.exception("cannot load results of run %s", run_id)
            return None
        table = results.get("energy")
        if table is None or "building_id" not in getattr(table, "columns", ()):
            return None
        return table


_QUERY_NAMES: dict[int, frozenset[str]] = {}


def reject_unknown_query(request: Request, principal: Principal = Depends(get_principal)) -> None:
    """422 for query parameters an operation does not declare (no silently ignored input).

    It depends on the key check so that a call without credentials still gets 401 first.
    """
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    names = _QUERY_NAMES.get(id(route))
    if names is None:
        found: set[str] = set()
        stack = [dependant]
        while stack:
            node = stack.pop()
            found.update(p.alias for p in node.query_params)
            stack.extend(node.dependencies)
        names = frozenset(found)
        _QUERY_NAMES[id(route)] = names
    unknown = sorted(set(request.query_params) - names)
    if unknown:
        raise HTTPException(
            422, f"unknown query parameter(s): {', '.join(repr(u)[:60] for u in unknown[:5])}"
        )


def _sweeper(app: FastAPI, stop: threading.Event) -> None:
    settings: Settings = app.state.settings
    while not stop.wait(settings.sweep_interval_s):
        try:
            app.state.store.requeue_stale(settings.max_attempts)
        except Exception as err:  # noqa: BLE001 - the sweeper must survive an unavailable store
            log.warning("sweeper: %s", err)


def create_app(settings: Settings | None = None, *, store: JobStore | None = None) -> FastAPI:
    """Build the API.

    Parameters
    ----------
    settings
        Configuration (default: :func:`~twin.service.settings.load_settings` from env/file).
    store
        An open job store (default: opened from the settings).

    Returns
    -------
    FastAPI
        The application; workers are not started here (``twin serve`` starts them).
    """
    settings = settings or load_settings()
    settings.prepare_dirs()
    if store is None:
        store = JobStore(settings.database_url or settings.sqlite_path)
        with contextlib.suppress(JobStoreUnavailable):
            store.create_schema()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweep_partial_uploads(settings.data_dir / "uploads", older_than_s=0.0)
        stop = threading.Event()
        thread = threading.Thread(target=_sweeper, args=(app, stop), daemon=True, name="twin-sweeper")
        thread.start()
        try:
            yield
        finally:
            stop.set()

    from twin import __version__

    app = FastAPI(
        title="Brussels twin service",
        version=str(__version__),
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.key_cache = _KeyCache()
    app.state.model_cache = ModelCache()

    from twin.service.middleware import GuardMiddleware

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            allow_credentials=False,
        )
    app.add_middleware(GuardMiddleware, max_bytes=settings.max_upload_bytes)
    _install_handlers(app)

    from twin.service.routers import buildings, health, jobs, models, permits, runs, scenarios

    app.include_router(health.router)
    for module in (models, buildings, scenarios, runs, permits, jobs):
        app.include_router(module.router, dependencies=[Depends(reject_unknown_query)])
    try:
        from twin.service.routers.viewer import make_viewer_router
    except ImportError:
        log.info("viewer router not available")
    else:
        _include_viewer(app, make_viewer_router)
    return app


def _include_viewer(app: FastAPI, make_viewer_router: Any) -> None:
    """Include the viewer routes if they build and describe themselves (a broken router must not
    take the whole API down)."""
    try:
        router = make_viewer_router(ServiceProvider(app), get_principal)
        probe = FastAPI()
        probe.include_router(router)
        probe.openapi()
    except Exception:  # noqa: BLE001 - logged; the rest of the API still serves
        log.exception("viewer router not included: it failed to build")
        return
    app.include_router(router)


def _install_handlers(app: FastAPI) -> None:
    def error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # Starlette names only the first matching route's methods
            headers["Allow"] = ", ".join(_allowed_methods(app, request))
        return error(exc.status_code, exc.detail, headers or None)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
            for e in exc.errors()
        ]
        return error(422, fields)

    @app.exception_handler(UploadRejected)
    async def rejected(request: Request, exc: UploadRejected) -> JSONResponse:
        return error(exc.status, exc.detail)

    @app.exception_handler(JobStoreUnavailable)
    async def unavailable(request: Request, exc: JobStoreUnavailable) -> JSONResponse:
        log.warning("job store unavailable: %s", exc)
        return error(503, "the job store is unavailable; retry later", {"Retry-After": "5"})

    @app.exception_handler(RecomputeNeeded)
    async def recompute(request: Request, exc: RecomputeNeeded) -> JSONResponse:
        return error(
            503,
            "the result failed its integrity check and is being recomputed; retry later",
            {"Retry-After": "10"},
        )

    @app.exception_handler(IdempotencyConflict)
    async def conflict(request: Request, exc: IdempotencyConflict) -> JSONResponse:
        return error(409, str(exc))

    @app.exception_handler(ScenarioValidationError)
    async def bad_scenario(request: Request, exc: ScenarioValidationError) -> JSONResponse:
        return error(422, f"invalid scenario: {exc}")

    @app.exception_handler(UnknownEntityError)
    async def unknown(request: Request, exc: UnknownEntityError) -> JSONResponse:
        return error(404, str(exc))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        error_id = uuid.uuid4().hex[:12]
        log.error("internal error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc)
        return error(500, f"internal server error (id {error_id})")


def _allowed_methods(app: FastAPI, request: Request) -> list[str]:
    from starlette.routing import Match

    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE and getattr(route, "methods", None):
            methods |= set(route.methods)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def open_app_store(settings: Settings) -> JobStore:
    """Open and create the store of ``settings`` (used by the CLI)."""
    return open_store(settings.database_url or settings.sqlite_path)
