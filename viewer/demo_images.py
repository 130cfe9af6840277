"""The images ``twin demo`` leaves behind: heat need, PEB-like classes, traffic, a renovation before/after.

:func:`write_demo_images` takes the model and the result tables the demo
computed and writes PNGs (and, when soil fields are given, an animated GIF of
the storm) into one folder.  Before/after images share one camera and one
colour scale, so a lighter colour on the right means a lower value.

Tables are keyed by ``building_id`` (energy) or ``link_id`` (flows); objects
with a ``results`` attribute (an energy run) are accepted too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from viewer.colors import ColorScale
from viewer.render import render_png, side_by_side_png, soil_gif
from viewer.scene import build_scene, ground_layer, soil_layer
from viewer.tables import building_values

if TYPE_CHECKING:
    from twin.model import CityModel

__all__ = ["write_demo_images", "before_after_images"]


def _table(x: Any) -> pd.DataFrame | None:
    if x is None:
        return None
    x = getattr(x, "results", x)
    if not isinstance(x, pd.DataFrame):
        raise TypeError(f"expected a table keyed by building_id or link_id, got {type(x).__name__}")
    return pd.DataFrame(x.drop(columns=[c for c in ("geometry",) if c in x.columns]))


def _first(table: pd.DataFrame | None, names: Sequence[str]) -> str | None:
    if table is None:
        return None
    return next((c for c in names if c in table.columns), None)


def before_after_images(
    model: CityModel,
    before: pd.DataFrame,
    after: pd.DataFrame,
    column: str,
    out_dir: str | os.PathLike,
    *,
    stem: str = "renovation",
    titles: tuple[str, str] = ("before", "after"),
    camera: str = "overview",
    window_size: tuple[int, int] = (1200, 800),
) -> list[Path]:
    """``<stem>_before_after.png`` (same camera and scale) and ``<stem>_change.png`` (after − before)."""
    out = Path(out_dir)
    vb = building_values(model, before, column)
    va = building_values(model, after, column)
    scale = ColorScale.for_values(column, pd.concat([vb, va], ignore_index=True))
    scenes = [
        build_scene(model, before, column, scale=scale),
        build_scene(model, after, column, scale=scale),
    ]
    half = (max(64, window_size[0] * 3 // 4), window_size[1])
    written = [
        side_by_side_png(scenes, list(titles), out / f"{stem}_before_after.png", camera, window_size=half)
    ]
    diff = pd.DataFrame(
        {
            "building_id": vb.index,
            f"d_{column}": pd.to_numeric(va, errors="coerce").to_numpy()
            - pd.to_numeric(vb, errors="coerce").to_numpy(),
        }
    )
    change = build_scene(model, diff, f"d_{column}", title=f"{titles[1]} minus {titles[0]}")
    written.append(render_png(change, out / f"{stem}_change.png", camera, window_size=window_size))
    return written


def write_demo_images(
    model: CityModel,
    energy_results: Any,
    flows: Any,
    before_results: Any,
    after_results: Any,
    out_dir: str | os.PathLike,
    *,
    accessibility: Any = None,
    soil: Any = None,
    soil_frames: Sequence[tuple[float, np.ndarray]] = (),
    window_size: tuple[int, int] = (1200, 800),
) -> list[Path]:
    """Write the demo's images into ``out_dir`` and return their paths.

    Parameters
    ----------
    model : CityModel
    energy_results
        Energy results (``heating_need_kwh_m2``, ``peb_class_estimate`` ...) or None.
    flows
        Link flows keyed by ``link_id`` (``flow_base``/``flow_veh_h``/``flow``, optionally ``d_flow``)
        or None.
    before_results, after_results
        Energy results of the baseline and of the renovated variant (or None).
    accessibility
        Optional per-building accessibility table (first ``*_min`` column becomes a ground layer).
    soil, soil_frames
        Optional soil grid (``origin``, ``spacing``, ``shape``, ``surface_z_m``) and
        ``(time_s, theta)`` fields: an animated GIF of the water content.
    window_size
        Size of each 3D view in pixels (before/after: each half).

    Returns
    -------
    list of pathlib.Path
        ``heat_need.png``, ``peb_class.png``, ``traffic_flow.png``, ``traffic_change.png``,
        ``renovation_before_after.png``, ``renovation_change.png``, ``accessibility.png``,
        ``soil_storm.gif`` — those whose inputs were given.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    energy = _table(energy_results)
    if energy is not None and "heating_need_kwh_m2" in energy.columns:
        scene = build_scene(
            model, energy, "heating_need_kwh_m2", title="Heating need per m² of heated floor area"
        )
        written.append(render_png(scene, out / "heat_need.png", window_size=window_size))
    if energy is not None and "peb_class_estimate" in energy.columns:
        scene = build_scene(
            model, energy, "peb_class_estimate", title="PEB-like class (an estimate, not a certificate)"
        )
        written.append(render_png(scene, out / "peb_class.png", window_size=window_size))
    links = _table(flows)
    flow_col = _first(links, ("flow_veh_h", "flow_base", "flow"))
    if flow_col is not None and len(model.links):
        scene = build_scene(
            model, None, None, link_results=links, link_color_by=flow_col, title="Car traffic (assignment)"
        )
        written.append(render_png(scene, out / "traffic_flow.png", "plan", window_size=window_size))
        if "d_flow" in links.columns:
            scene = build_scene(
                model,
                None,
                None,
                link_results=links,
                link_color_by="d_flow",
                title="Change of car traffic, street closed",
            )
            written.append(render_png(scene, out / "traffic_change.png", "plan", window_size=window_size))
    before, after = _table(before_results), _table(after_results)
    if before is not None and after is not None and "heating_need_kwh_m2" in before.columns:
        written += before_after_images(
            model,
            before,
            after,
            "heating_need_kwh_m2",
            out,
            titles=("before renovation", "after renovation"),
            window_size=window_size,
        )
    access = _table(accessibility)
    if access is not None:
        col = _first(access, [c for c in access.columns if str(c).endswith("_min")])
        if col is not None:
            values = building_values(model, access, col)
            scene = build_scene(
                model,
                None,
                None,
                ground=ground_layer(model, values, column=col),
                title=f"Accessibility: {col}",
            )
            written.append(render_png(scene, out / "accessibility.png", window_size=window_size))
    if soil is not None and soil_frames:
        allv = np.concatenate([np.ravel(f) for _, f in soil_frames])
        scale = ColorScale.sequential("theta", vmin=float(np.nanmin(allv)), vmax=float(np.nanmax(allv)))
        scenes, labels = [], []
        for t, field in soil_frames:
            layer = soil_layer(model, soil, field, column="theta", depth_scale=5.0)
            layer.scale = ColorScale(
                "theta",
                "sequential",
                scale.units,
                scale.vmin,
                scale.vmax,
                layer.scale.stops,
                title="water content θ [m³/m³]",
            )
            scenes.append(build_scene(model, None, None, soil=layer))
            labels.append(f"storm, t = {t / 60:.0f} min (soil depth ×5)")
        gif_size = (window_size[0] * 2 // 3, window_size[1] * 2 // 3)
        written.append(soil_gif(scenes, labels, out / "soil_storm.gif", window_size=gif_size))
    return written
