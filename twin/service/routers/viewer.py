"""``/viewer``: the 3D page of a model and a run's results, its assets and its two data routes.

* ``GET /viewer`` — the page (public; it holds no data).  Open it as
  ``/viewer#key=API_KEY&model=MODEL_ID[&run=RUN_ID][&color_by=COLUMN]``: the fragment never
  reaches the server, the page sends the key as ``Authorization: Bearer`` on its fetches.
* ``GET /viewer/static/{path}`` — the page's assets from ``viewer/web`` (public; paths are
  resolved inside that folder only, anything else is 404).
* ``GET /viewer/api/scene.glb?model=ID[&run=RUN][&color_by=COL]`` — the scene as glTF binary,
  buildings coloured by ``color_by`` (default: ``heating_need_kwh_m2`` when the run has it, else
  ``height_m``), every building's attributes and results in node extras.
* ``GET /viewer/api/buildings/{building_id}?model=ID[&run=RUN]`` — one building's attributes
  and results as JSON.

The data routes need the caller's principal (the ``auth_dependency``); the ``provider``
decides what the caller may see and raises :class:`twin.errors.UnknownEntityError` for ids
that do not exist or are not theirs (404 either way, so ids do not leak).
"""

# no ``from __future__ import annotations``: FastAPI must see the closure's dependency objects
import mimetypes
from pathlib import Path
from typing import Annotated, Any, Protocol

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from twin.errors import TwinError, UnknownEntityError

__all__ = ["ViewerProvider", "make_viewer_router"]


class ViewerProvider(Protocol):
    """What the viewer routes need from the service: models and run results, per caller."""

    def get_model(self, model_id: str, principal: Any) -> Any:
        """The :class:`~twin.model.CityModel` ``model_id``; UnknownEntityError if unknown or not visible."""

    def get_results(self, run_id: str, principal: Any) -> pd.DataFrame | None:
        """Results of run ``run_id`` keyed by ``building_id`` (column or index), or None."""


_ID_PATTERN = r"^[A-Za-z0-9_.:\-]+$"


def _id_query(what: str) -> Any:
    return Query(min_length=1, max_length=200, pattern=_ID_PATTERN, description=f"{what} id")


def _web_dir() -> Path:
    from viewer.html import WEB_DIR

    return WEB_DIR


def _static_file(path: str) -> Path:
    """The asset ``path`` inside the web folder, or 404 (no traversal, no hidden files)."""
    root = _web_dir().resolve()
    parts = path.replace("\\", "/").split("/")
    if not path or any(p in ("", ".", "..") or p.startswith(".") for p in parts) or "\0" in path:
        raise HTTPException(404, "no such asset")
    target = (root / "/".join(parts)).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise HTTPException(404, "no such asset")
    return target


def make_viewer_router(provider: ViewerProvider, auth_dependency: Any) -> APIRouter:
    """The viewer routes over a model/results ``provider``; data routes depend on ``auth_dependency``.

    Parameters
    ----------
    provider
        Object with ``get_model(model_id, principal)`` and ``get_results(run_id, principal)``.
    auth_dependency
        FastAPI dependency returning the caller (it raises 401/403 itself).
    """
    router = APIRouter(tags=["viewer"])

    def _model_and_results(model_id: str, run: str | None, principal: Any):
        try:
            model = provider.get_model(model_id, principal)
            results = provider.get_results(run, principal) if run else None
        except UnknownEntityError as err:
            raise HTTPException(404, str(err)) from None
        return model, results

    @router.get("/viewer", response_class=HTMLResponse, summary="3D viewer page")
    def viewer_page(request: Request) -> HTMLResponse:
        from viewer.html import page_html

        root = request.scope.get("root_path", "").rstrip("/")
        html = page_html(f"{root}/viewer/static", f"{root}/viewer/api")
        return HTMLResponse(html, headers={"Cache-Control": "no-cache"})

    @router.get("/viewer/static/{path:path}", summary="Viewer page assets")
    def viewer_static(path: str) -> Response:
        target = _static_file(path)
        media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix == ".js":
            media = "text/javascript"
        return Response(target.read_bytes(), media_type=media, headers={"Cache-Control": "no-cache"})

    @router.get(
        "/viewer/api/scene.glb",
        summary="Scene of a model (and run) as glTF binary",
        responses={
            200: {"content": {"model/gltf-binary": {}}},
            404: {"description": "Unknown model or run."},
        },
    )
    def viewer_scene(
        principal: Annotated[Any, Depends(auth_dependency)],
        model: Annotated[str, _id_query("model")],
        run: Annotated[str | None, _id_query("run")] = None,
        color_by: Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9_]+$")] = None,
    ) -> Response:
        from viewer.gltf import scene_to_glb
        from viewer.scene import build_scene
        from viewer.tables import UnknownColumnError

        city, results = _model_and_results(model, run, principal)
        column = color_by
        if column is None:
            has = results is not None and "heating_need_kwh_m2" in (
                set(results.columns) | ({results.index.name} if results.index.name else set())
            )
            column = "heating_need_kwh_m2" if has else "height_m"
        try:
            scene = build_scene(city, results, column, title=str(getattr(city, "name", "") or model))
        except UnknownColumnError as err:
            raise HTTPException(422, str(err)) from None
        except TwinError as err:
            raise HTTPException(422, str(err)) from None
        return Response(
            scene_to_glb(scene), media_type="model/gltf-binary", headers={"Cache-Control": "no-store"}
        )

    @router.get("/viewer/api/buildings/{building_id}", summary="One building's attributes and results")
    def viewer_building(
        principal: Annotated[Any, Depends(auth_dependency)],
        building_id: str,
        model: Annotated[str, _id_query("model")],
        run: Annotated[str | None, _id_query("run")] = None,
    ) -> JSONResponse:
        from viewer.gltf import json_value

        city, results = _model_and_results(model, run, principal)
        b = city.buildings
        rows = b[b["building_id"].astype(str) == building_id]
        if rows.empty:
            raise HTTPException(404, f"no building {building_id!r} in model {model}")
        attrs = {
            str(k): json_value(v) for k, v in rows.iloc[0].items() if k not in ("geometry", "attributes_json")
        }
        found: dict[str, Any] | None = None
        if results is not None:
            r = results.set_index("building_id") if "building_id" in results.columns else results
            r = r.drop(columns=[c for c in ("geometry",) if c in r.columns])
            r.index = r.index.astype(str)
            if building_id in r.index:
                found = {str(k): json_value(v) for k, v in r.loc[building_id].items()}
        return JSONResponse(
            {"building_id": building_id, "model": model, "run": run, "attributes": attrs, "results": found}
        )

    return router
