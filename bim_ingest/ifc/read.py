"""``read_ifc``: an IFC file into a :class:`~twin.model.CityModel`.

The steps, each in its own module:

1. check and parse the file (:mod:`~bim_ingest.ifc.open`);
2. start triangulating in a worker process (:mod:`~bim_ingest.ifc.geometry`)
   -- or take the meshes from the cache (:mod:`~bim_ingest.ifc.cache`) --
   while the spatial structure, properties and materials are read
   (:mod:`~bim_ingest.ifc.semantics`);
3. georeference (:mod:`~bim_ingest.ifc.georef`);
4. find the envelope, group its faces, assign U-values and build the tables
   (:mod:`~bim_ingest.ifc.to_model`).

Example
-------
>>> from bim_ingest.ifc import read_ifc          # doctest: +SKIP
>>> model = read_ifc("house.ifc")                # doctest: +SKIP
>>> model.bim["ifc_elements"].groupby("ifc_class").size()  # doctest: +SKIP
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ifcopenshell
import numpy as np

from bim_ingest._assemble import file_sha256
from bim_ingest.ifc.cache import cache_key, default_cache_dir, load_meshes, save_meshes
from bim_ingest.ifc.geometry import GeometryRun, MeshSet, check_kernel, plan_jobs, select_products
from bim_ingest.ifc.georef import georeference
from bim_ingest.ifc.open import open_ifc, unpacked
from bim_ingest.ifc.semantics import ELEMENT_CLASSES, body_representations, read_semantics
from bim_ingest.ifc.to_model import build_model
from bim_ingest.ifc.uvalues import DEFAULT_TYPOLOGY
from twin.crs import to_crs
from twin.errors import TwinWarning
from twin.model import CityModel
from twin.typing import CRSLike, PathLike_

__all__ = ["read_ifc", "ifc_meshes", "ProgressFn"]

#: ``progress(step, done, total)``, as in :func:`bim_ingest.registry.ingest`.
ProgressFn = Callable[[str, int, int], None]


def read_ifc(
    path: PathLike_,
    *,
    crs: CRSLike | None = None,
    place: tuple[float, float, float] | None = None,
    kernel: str = "auto",
    cache_dir: Path | None = None,
    progress: ProgressFn | None = None,
) -> CityModel:
    """Read an IFC file (IFC2X3, IFC4, IFC4X3; ``.ifc`` or ``.ifczip``) into a city model.

    Parameters
    ----------
    path
        The IFC file.
    crs
        Model CRS (default EPSG:31370, Belgian Lambert 72).
    place
        ``(x, y, rotation_deg)`` in the model CRS for the file's local origin
        and the counter-clockwise angle from east to its x axis; overrides
        the file's georeferencing (needed when it has none).
    kernel
        Geometry kernel plan: ``"auto"`` (fast kernels where they are right,
        the reference kernel elsewhere; see :mod:`bim_ingest.ifc.geometry`),
        or one IfcOpenShell kernel (``"opencascade"``, ``"manifold"``,
        ``"cgal"``, ``"cgal-simple"``, ``"hybrid-cgal-simple-opencascade"``),
        which falls back to ``"opencascade"`` for any product it drops.
    cache_dir
        Where triangulations are cached by file hash, kernel and settings
        (default ``$TWIN_CACHE_DIR`` or ``~/.cache/brussels-twin/ifc``).
    progress
        Called as ``progress(step, done, total)``.

    Returns
    -------
    CityModel
        ``buildings`` (one row per ``IfcBuilding``), ``surfaces`` (envelope
        polygons with kind, orientation, U-value and its ``provenance``),
        ``model.bim`` with ``ifc_elements``, ``ifc_spaces`` and
        ``ifc_storeys``, and ``model.sources[0]`` recording the file hash,
        schema, georeferencing, kernels, counts and methods used.

    Raises
    ------
    IngestError
        The file is missing, not an IFC file or truncated.
    SchemaError
        Unsupported schema, or no ``IfcBuilding``.
    CRSError
        Unknown CRS in the file, or huge coordinates without georeferencing.
    GeometryError
        No envelope geometry at all.

    Warns
    -----
    TwinWarning
        Georeferencing fallbacks, elements whose geometry failed (by
        GlobalId), elements outside any building.
    """
    check_kernel(kernel)
    path = Path(path)
    target = to_crs(crs)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()

    def step(name: str, k: int) -> None:
        if progress is not None:
            progress(name, k, 4)

    with unpacked(path) as spf:
        step("parse", 0)
        src = open_ifc(path, spf)
        sha = file_sha256(path)
        timings["parse_s"] = time.perf_counter() - t0
        folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        key = cache_key(sha, kernel)
        meshes: MeshSet | None = load_meshes(folder, key)
        cached = meshes is not None
        run = None
        if meshes is None:
            products = select_products(src.file)
            run = GeometryRun(spf, plan_jobs(products, kernel))
        try:
            t1 = time.perf_counter()
            sem = read_semantics(src.file)
            timings["semantics_s"] = time.perf_counter() - t1
        except BaseException:
            if run is not None:
                run.cancel()
            raise
        step("geometry", 1)
        if run is not None:
            t2 = time.perf_counter()
            meshes = run.collect(progress)
            timings["geometry_wait_s"] = time.perf_counter() - t2
            if not meshes.failures or all("crash" not in r for r in meshes.failures.values()):
                save_meshes(folder, key, meshes)
    assert meshes is not None
    _report_failures(path.name, src.file, meshes)

    step("georeference", 2)
    extent = 0.0
    if len(meshes.vertices):
        extent = float(np.abs(meshes.vertices[:, :2]).max())
    geo = georeference(src.file, file_name=path.name, model_crs=target, place=place, local_extent_m=extent)

    step("envelope", 3)
    t3 = time.perf_counter()
    extra = {
        "kernel": kernel,
        "geometry": {
            "cached": cached,
            "cache_key": key,
            **{k: v for k, v in meshes.stats.items() if k != "jobs"},
            "jobs": meshes.stats.get("jobs", []),
        },
        "geometry_failures": [
            {"global_id": _gid(src.file, eid), "ifc_class": _cls(src.file, eid), "reason": why}
            for eid, why in sorted(meshes.failures.items())
        ],
        "counts": _counts(src.file, meshes),
        "typology_default": DEFAULT_TYPOLOGY,
        "ifcopenshell": ifcopenshell.version,
    }
    model = build_model(src, sem, meshes, geo, target_crs=target, extra_source=extra)
    timings["model_s"] = time.perf_counter() - t3
    timings["total_s"] = time.perf_counter() - t0
    model.sources[0]["timings"] = {k: round(v, 3) for k, v in timings.items()}
    model.name = path.stem
    step("done", 4)
    return model


def _gid(f, eid: int) -> str:
    try:
        return f.by_id(eid).GlobalId
    except RuntimeError:
        return ""


def _cls(f, eid: int) -> str:
    try:
        return f.by_id(eid).is_a()
    except RuntimeError:
        return ""


def _counts(f, meshes: MeshSet) -> dict:
    """Per exact class: elements in the file, with a Body representation, meshed."""
    in_file: Counter = Counter()
    with_body: Counter = Counter()
    seen = set()
    for cls in (*ELEMENT_CLASSES, "IfcSpace", "IfcOpeningElement", "IfcFurnishingElement"):
        try:
            items = f.by_type(cls)
        except RuntimeError:
            continue
        for e in items:
            if e.id() in seen:
                continue
            seen.add(e.id())
            in_file[e.is_a()] += 1
            if body_representations(e):
                with_body[e.is_a()] += 1
    meshed: Counter = Counter(f.by_id(int(i)).is_a() for i in meshes.entity_ids)
    return {
        cls: {"in_file": in_file[cls], "with_body": with_body[cls], "meshed": meshed.get(cls, 0)}
        for cls in sorted(in_file)
    }


def _report_failures(name: str, f, meshes: MeshSet) -> None:
    if not meshes.failures:
        return
    items = sorted(meshes.failures.items())
    listed = ", ".join(f"{_gid(f, eid)} ({_cls(f, eid)}: {why})" for eid, why in items[:10])
    more = f" and {len(items) - 10} more" if len(items) > 10 else ""
    warnings.warn(
        f"{name}: geometry failed for {len(items)} element(s): {listed}{more}; "
        "the rest of the model was ingested.",
        TwinWarning,
        stacklevel=3,
    )


def ifc_meshes(
    path: PathLike_,
    *,
    kernel: str = "auto",
    cache_dir: Path | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """The triangle mesh of every envelope element, space and opening, by GlobalId.

    Uses (and fills) the same cache as :func:`read_ifc`.  Coordinates are
    the file's world coordinates in metres (not georeferenced).

    Returns
    -------
    dict of str to trimesh.Trimesh
        Sorted by GlobalId.
    """
    check_kernel(kernel)
    path = Path(path)
    with unpacked(path) as spf:
        src = open_ifc(path, spf)
        folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        key = cache_key(file_sha256(path), kernel)
        meshes = load_meshes(folder, key)
        if meshes is None:
            meshes = GeometryRun(spf, plan_jobs(select_products(src.file), kernel)).collect(progress)
            save_meshes(folder, key, meshes)
    out = {_gid(src.file, int(eid)): meshes.trimesh(i) for i, eid in enumerate(meshes.entity_ids)}
    return dict(sorted(out.items()))
