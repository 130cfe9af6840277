"""Pick the reader for a file, and ingest several files into one model.

The format comes from the extension and, where extensions are ambiguous
(``.json``, ``.gpkg``, ``.xml``), from the first bytes of the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from twin.crs import to_crs
from twin.errors import IngestError
from twin.model import CityModel
from twin.store import load_gpkg
from twin.typing import CRSLike, PathLike_

__all__ = ["FORMATS", "detect_format", "read", "ingest"]

#: Format names accepted by ``read(format=...)``.
FORMATS = ("cityjson", "cityjsonseq", "citygml", "footprints", "ifc", "model")


def detect_format(path: PathLike_) -> str:
    """Name the format of ``path`` from its extension and content.

    Raises
    ------
    IngestError
        When the file is missing or its format is not recognised.
    """
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: no such file.")
    name = path.name.lower()
    if name.endswith((".ifc", ".ifczip", ".ifcxml")):
        return "ifc"
    if name.endswith(".jsonl"):
        return "cityjsonseq"
    if name.endswith((".gml", ".citygml")):
        return "citygml"
    if name.endswith((".shp", ".fgb", ".geojson", ".geojsonl")):
        return "footprints"
    head = _head(path)
    if name.endswith(".gpkg"):
        return "model" if _is_twin_model(path) else "footprints"
    if name.endswith(".json"):
        if b'"CityJSON"' in head or b'"CityObjects"' in head:
            return "cityjson"
        if b'"FeatureCollection"' in head or b'"Feature"' in head:
            return "footprints"
        if not head.strip():
            raise IngestError(f"{path.name}: the file is empty.")
        return "cityjson"  # let the reader give the precise error
    if name.endswith(".xml"):
        if b"citygml" in head.lower():
            return "citygml"
    if head.startswith(b"ISO-10303-21"):
        return "ifc"
    raise IngestError(
        f"{path.name}: unknown format; supported are CityJSON (.json, .city.json, .city.jsonl), "
        "CityGML (.gml), IFC (.ifc, .ifczip), footprints (.geojson, .gpkg, .shp, .fgb)."
    )


def _head(path: Path, n: int = 4096) -> bytes:
    if path.is_dir():
        return b""
    with open(path, "rb") as fh:
        return fh.read(n)


def _is_twin_model(path: Path) -> bool:
    import pyogrio

    try:
        return "meta" in {str(r[0]) for r in pyogrio.list_layers(path)}
    except Exception:  # not a readable GeoPackage: the footprint reader will say why
        return False


def read(
    path: PathLike_,
    *,
    format: str | None = None,
    crs: CRSLike | None = None,
    **options: Any,
) -> CityModel:
    """Read one file into a :class:`CityModel`, choosing the reader by format.

    Options are passed to the reader (``source_crs``, ``lod``,
    ``height_field`` ..., IFC ``place`` and ``kernel``).
    """
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise IngestError(f"Unknown format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if fmt in ("cityjson", "cityjsonseq"):
        from bim_ingest.cityjson import read_cityjson

        return read_cityjson(path, crs=crs, **_only(options, "source_crs", "lod"))
    if fmt == "citygml":
        from bim_ingest.citygml import read_citygml

        return read_citygml(path, crs=crs, **_only(options, "source_crs", "lod"))
    if fmt == "footprints":
        from bim_ingest.footprints import read_footprints

        return read_footprints(
            path,
            crs=crs,
            **_only(
                options,
                "source_crs",
                "height_field",
                "storeys_field",
                "id_field",
                "default_height_m",
            ),
        )
    if fmt == "ifc":
        from bim_ingest.ifc import read_ifc, read_ifc_isolated

        reader = read_ifc_isolated if options.pop("isolated", True) else read_ifc
        return reader(path, crs=crs, **_only(options, "place", "kernel"))
    model = load_gpkg(path)
    return model if crs is None or to_crs(crs).equals(model.crs) else model.to_crs(crs)


def _only(options: dict, *names: str) -> dict:
    return {k: v for k, v in options.items() if k in names and v is not None}


def ingest(
    paths: Sequence[PathLike_],
    *,
    crs: CRSLike | None = None,
    on_duplicate: str = "error",
    party_walls: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    **options: Any,
) -> CityModel:
    """Read several files, merge them into one model and find party walls.

    Parameters
    ----------
    paths
        Input files, any supported format; the first one names the model.
    crs
        Model CRS (default EPSG:31370).
    on_duplicate
        ``"error"``, ``"replace"`` or ``"keep"`` for ids present in two files.
    party_walls
        Detect walls shared by touching buildings (default on).
    progress
        Called as ``progress(step, done, total)``.
    """
    if not paths:
        raise IngestError("No input file given.")
    total = len(paths) + int(party_walls)
    models = []
    for k, p in enumerate(paths):
        if progress:
            progress(f"reading {Path(p).name}", k, total)
        models.append(read(p, crs=crs, **options))
    model = models[0].merge(*models[1:], on_duplicate=on_duplicate) if len(models) > 1 else models[0]
    if party_walls:
        if progress:
            progress("finding party walls", len(paths), total)
        model = model.with_party_walls()
    if progress:
        progress("done", total, total)
    return model
