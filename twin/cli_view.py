"""``twin view``: look at a model and its results (PNG, glTF, standalone HTML or a window).

Part of the entry-point layer (registered in :mod:`twin.cli`)::

    twin view district.gpkg --run energy.gpkg --color-by heating_need_kwh_m2 --screenshot heat.png
    twin view district.gpkg --run mobility_flows.gpkg --links flow_base --screenshot flows.png
    twin view district.gpkg --run energy.gpkg --color-by peb_class_estimate --export scene.html
    twin view district.gpkg --camera building:BXL-000012 --window
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli_common import State, errors, out

__all__ = ["view"]


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise typer.BadParameter("use WIDTHxHEIGHT, e.g. 1600x1000") from None
    if not (64 <= w <= 8192 and 64 <= h <= 8192):
        raise typer.BadParameter("width and height must be between 64 and 8192 pixels")
    return w, h


def view(
    model_path: Annotated[Path, typer.Argument(help="Model GeoPackage (twin ingest / twin demo).")],
    run: Annotated[
        Path | None,
        typer.Option(
            "--run",
            help="Results: a GeoPackage/CSV/Parquet table keyed by building_id or link_id, "
            "or a run folder of such tables.",
        ),
    ] = None,
    color_by: Annotated[
        str, typer.Option("--color-by", help="Building column to colour by (results first, then the model).")
    ] = "height_m",
    links: Annotated[
        str | None,
        typer.Option(
            "--links",
            help="Draw the street links coloured and sized by this link column "
            "(flow_base, d_flow, v_c, capacity_veh_h ...).",
        ),
    ] = None,
    camera: Annotated[
        str, typer.Option("--camera", help="overview | plan | street | building:<building_id>")
    ] = "overview",
    screenshot: Annotated[Path | None, typer.Option("--screenshot", help="Write a PNG (off-screen).")] = None,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="Write the scene as .glb (glTF binary) or .html (standalone page)."),
    ] = None,
    window: Annotated[
        bool, typer.Option("--window", help="Open an interactive window (needs a display).")
    ] = False,
    size: Annotated[
        str, typer.Option("--size", help="Image size WIDTHxHEIGHT of the 3D view.")
    ] = "1600x1000",
) -> None:
    """Render a model coloured by a column to PNG, export it as glTF/HTML, or open a window."""
    window_size = _size(size)
    with errors():
        from twin.errors import StoreError
        from twin.store import load_gpkg
        from viewer.camera import parse_camera
        from viewer.tables import read_results

        if screenshot is None and export is None and not window:
            raise StoreError("Nothing to do: give --screenshot PNG, --export FILE.glb|FILE.html or --window.")
        if export is not None and export.suffix.lower() not in (".glb", ".html", ".htm"):
            raise StoreError(f"Cannot export to {export}: use a .glb or .html file name.")
        parse_camera(camera)  # fail before the slow part
        model = load_gpkg(model_path)
        tables = read_results(run)
        from viewer.scene import build_scene

        scene = build_scene(
            model,
            tables.buildings,
            color_by,
            link_results=tables.links,
            link_color_by=links,
            title=f"{model.name}: {color_by}",
        )
        if screenshot is not None:
            from viewer.render import render_png

            render_png(scene, screenshot, camera, window_size=window_size)
            if not State.quiet:
                out.print(f"wrote {screenshot}")
        if export is not None:
            if export.suffix.lower() == ".glb":
                from viewer.gltf import write_glb

                write_glb(scene, export)
            else:
                from viewer.html import write_html

                write_html(scene, export)
            if not State.quiet:
                out.print(f"wrote {export}")
        if window:
            from viewer.render import show

            show(scene, camera)
