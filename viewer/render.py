"""PyVista rendering of a :class:`~viewer.scene.Scene`: off-screen PNGs, a window, before/after, GIFs.

Off-screen rendering needs no display: VTK first tries an X server and, when
there is none, falls back to its EGL render window (or OSMesa, depending on the
VTK build).  The failed X attempt prints ``bad X server connection`` through
VTK's logger; :func:`quiet_vtk` (called by every function here) lowers the
logger's stderr verbosity to errors so that line disappears.  Set
``TWIN_VTK_VERBOSE=1`` to keep VTK's warnings.

Lighting is fixed and white so that colours stay true: an ambient term of
0.4, a light straight from above (0.4) and one from the south-west 35° above
the horizon (0.35), no specular.  A flat roof therefore shows its legend
colour (0.4 + 0.4 + 0.35·sin 35° = 1.0); walls and pitched roofs are darker
shades of the same colour (all lights are white, so a pixel is the colour
times a brightness factor).

Legends are drawn next to the 3D view with Pillow (title with units, a colour
ramp with ticks, or one box per class), so the PNGs read on their own.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from twin.atomic import atomic_path
from twin.errors import TwinError
from viewer.camera import Camera, camera_for
from viewer.colors import ColorScale, format_value
from viewer.scene import Scene

__all__ = [
    "DisplayError",
    "quiet_vtk",
    "make_plotter",
    "render_image",
    "render_png",
    "side_by_side_png",
    "soil_gif",
    "show",
    "project",
    "has_display",
    "AMBIENT",
]

#: Ambient part of the shading; the two lights add up to 1 − AMBIENT on a flat roof.
AMBIENT = 0.4
_TOP_LIGHT = 0.4
_SIDE_LIGHT = 0.35
_SIDE_ELEVATION_DEG = 35.0
BACKGROUND = (247, 247, 244)
GROUND = (228, 226, 220)


class DisplayError(TwinError, RuntimeError):
    """An interactive window was asked for where no display exists."""


def quiet_vtk() -> None:
    """Send only VTK errors to stderr (hides the ``bad X server connection`` warning of headless runs)."""
    if os.environ.get("TWIN_VTK_VERBOSE"):
        return
    from vtkmodules.vtkCommonCore import vtkLogger

    vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_ERROR)


def has_display() -> bool:
    """True when an interactive window can open (an X or Wayland display on Linux; always elsewhere)."""
    import sys

    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _polydata(vertices: npt.NDArray, faces: npt.NDArray):
    import pyvista as pv

    cells = np.hstack([np.full((len(faces), 1), 3, np.int64), faces]).ravel()
    return pv.PolyData(np.asarray(vertices, float), cells)


def _add_lights(plotter) -> None:
    import pyvista as pv

    plotter.remove_all_lights()
    top = pv.Light(
        position=(0.0, 0.0, 1.0), focal_point=(0.0, 0.0, 0.0), intensity=_TOP_LIGHT, light_type="scene light"
    )
    top.positional = False
    el = math.radians(_SIDE_ELEVATION_DEG)
    az = math.radians(225.0)
    side_dir = (math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el))
    side = pv.Light(
        position=side_dir, focal_point=(0.0, 0.0, 0.0), intensity=_SIDE_LIGHT, light_type="scene light"
    )
    side.positional = False
    plotter.add_light(top)
    plotter.add_light(side)


def make_plotter(
    scene: Scene,
    camera: str | Camera = "overview",
    *,
    window_size: tuple[int, int] = (1200, 800),
    off_screen: bool = True,
    scalar_bars: bool = False,
):
    """A :class:`pyvista.Plotter` holding the scene, its lights and its camera.

    Parameters
    ----------
    camera
        A preset (see :func:`viewer.camera.parse_camera`) or a :class:`Camera`.
    scalar_bars
        Add PyVista's own scalar bar / class legend (interactive windows; PNGs draw theirs).
    """
    import pyvista as pv

    quiet_vtk()
    plotter = pv.Plotter(off_screen=off_screen, window_size=list(window_size), lighting="none")
    plotter.set_background([c / 255 for c in BACKGROUND])
    _add_lights(plotter)
    b = scene.buildings
    if len(b.faces):
        if scene.terrain is not None and scene.soil is None:  # the soil's top is the ground
            t = scene.terrain
            gx, gy = np.meshgrid(t.x, t.y)
            ground = pv.StructuredGrid(gx, gy, t.z - 0.05)
            plotter.add_mesh(
                ground, color=[c / 255 for c in GROUND], ambient=AMBIENT, diffuse=1.0, name="terrain"
            )
        mesh = _polydata(b.vertices, b.faces)
        mesh.cell_data["rgb"] = b.colors[b.face_building]
        plotter.add_mesh(
            mesh, scalars="rgb", rgb=True, ambient=AMBIENT, diffuse=1.0, specular=0.0, name="buildings"
        )
        edges = mesh.extract_feature_edges(boundary_edges=False, feature_angle=30, manifold_edges=False)
        if edges.n_points:
            plotter.add_mesh(edges, color=(0.25, 0.25, 0.25), line_width=0.6, opacity=0.35, name="edges")
    if scene.links is not None:
        _add_links(plotter, scene)
    if scene.ground is not None:
        _add_ground(plotter, scene)
    if scene.soil is not None:
        _add_soil(plotter, scene)
    _apply_camera(plotter, camera_for(scene, camera, aspect=window_size[0] / window_size[1]))
    if scalar_bars:
        _add_scalar_bars(plotter, scene)
    return plotter


def _add_links(plotter, scene: Scene) -> None:
    import pyvista as pv

    lk = scene.links
    assert lk is not None
    blocks = []
    for k in range(len(lk.ids)):
        pts = lk.points[lk.offsets[k] : lk.offsets[k + 1]]
        if len(pts) < 2:
            continue
        line = pv.lines_from_points(pts)
        ribbon = line.ribbon(width=float(lk.widths_m[k]) / 2.0, normal=(0.0, 0.0, 1.0))
        ribbon.cell_data["rgb"] = np.tile(lk.colors[k], (ribbon.n_cells, 1))
        blocks.append(ribbon)
    if blocks:
        merged = pv.merge(blocks)
        plotter.add_mesh(
            merged, scalars="rgb", rgb=True, ambient=AMBIENT, diffuse=1.0, specular=0.0, name="links"
        )


def _add_ground(plotter, scene: Scene) -> None:
    import pyvista as pv

    g = scene.ground
    assert g is not None
    dx = float(g.x[1] - g.x[0]) if len(g.x) > 1 else 1.0
    dy = float(g.y[1] - g.y[0]) if len(g.y) > 1 else 1.0
    xs = np.r_[g.x - dx / 2, g.x[-1] + dx / 2]
    ys = np.r_[g.y - dy / 2, g.y[-1] + dy / 2]
    zp = np.pad(g.z, 1, mode="edge")
    zc = (zp[:-1, :-1] + zp[1:, :-1] + zp[:-1, 1:] + zp[1:, 1:]) / 4.0  # corner heights
    gx, gy = np.meshgrid(xs, ys)
    # transposed: VTK orders points and cells with x fastest, like the (ny, nx) arrays raveled in C order
    grid = pv.StructuredGrid(gx.T.copy(), gy.T.copy(), zc.T.copy())
    grid.cell_data["rgb"] = g.colors.reshape(-1, 3)
    grid.cell_data["mask"] = g.mask.ravel().astype(np.uint8)
    shown = grid.threshold(0.5, scalars="mask")
    if shown.n_cells:
        plotter.add_mesh(
            shown, scalars="rgb", rgb=True, ambient=AMBIENT, diffuse=1.0, specular=0.0, name="ground"
        )


def _soil_grid(scene: Scene):
    import pyvista as pv

    s = scene.soil
    assert s is not None
    nz, ny, nx, _ = s.centres.shape
    c = s.centres
    dx, dy, _ = s.spacing
    # cell corners: x/y from the regular spacing, z from the centres (half a layer above and below)
    xs = np.r_[c[0, 0, :, 0] - dx / 2, c[0, 0, -1, 0] + dx / 2]
    ys = np.r_[c[0, :, 0, 1] - dy / 2, c[0, -1, 0, 1] + dy / 2]
    zc = c[..., 2]
    zf = np.empty((nz + 1, ny, nx))
    zf[1:-1] = (zc[1:] + zc[:-1]) / 2
    zf[0] = zc[0] + (zc[0] - zf[1])
    zf[-1] = zc[-1] - (zf[-2] - zc[-1])
    # corners z: average the adjacent columns (edge-padded)
    zp = np.pad(zf, ((0, 0), (1, 1), (1, 1)), mode="edge")
    zn = (zp[:, :-1, :-1] + zp[:, 1:, :-1] + zp[:, :-1, 1:] + zp[:, 1:, 1:]) / 4.0
    gx, gy = np.meshgrid(xs, ys, indexing="xy")
    X = np.broadcast_to(gx, zn.shape)
    Y = np.broadcast_to(gy, zn.shape)
    grid = pv.StructuredGrid(
        X.transpose(2, 1, 0).copy(), Y.transpose(2, 1, 0).copy(), zn.transpose(2, 1, 0).copy()
    )
    grid.cell_data["value"] = s.values.transpose(2, 1, 0).ravel(order="F")
    grid.cell_data["rgb"] = s.scale.rgb(grid.cell_data["value"])
    return grid


def _add_soil(plotter, scene: Scene) -> None:
    s = scene.soil
    assert s is not None
    grid = _soil_grid(scene)
    kw = {"ambient": AMBIENT, "diffuse": 1.0, "specular": 0.0}
    if s.mode == "voxels":
        plotter.add_mesh(grid, scalars="rgb", rgb=True, name="soil", **kw)
    elif s.mode == "iso":
        points = grid.cell_data_to_point_data()
        levels = np.linspace(s.scale.vmin, s.scale.vmax, 5)[1:-1]
        iso = points.contour(isosurfaces=list(levels), scalars="value")
        if iso.n_points:
            iso.point_data["rgb"] = s.scale.rgb(iso.point_data["value"])
            plotter.add_mesh(iso, scalars="rgb", rgb=True, opacity=0.7, name="soil", **kw)
        plotter.add_mesh(grid.outline(), color="grey", name="soil-outline")
    else:
        nz, ny, nx = s.values.shape
        ii = grid.cell_data["value"] * 0  # cell indices per axis, to cut three slabs
        k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
        grid.cell_data["i"] = i.transpose(2, 1, 0).ravel(order="F") + ii
        grid.cell_data["j"] = j.transpose(2, 1, 0).ravel(order="F")
        grid.cell_data["k"] = k.transpose(2, 1, 0).ravel(order="F")
        parts = [
            grid.threshold((nx // 2 - 0.5, nx // 2 + 0.5), scalars="i"),
            grid.threshold((ny // 2 - 0.5, ny // 2 + 0.5), scalars="j"),
            grid.threshold((-0.5, 0.5), scalars="k"),  # the top layer, just under the surface
        ]
        for n, part in enumerate(parts):
            if part.n_cells:
                plotter.add_mesh(part, scalars="rgb", rgb=True, name=f"soil-{n}", **kw)


def _apply_camera(plotter, cam: Camera) -> None:
    plotter.camera.position = cam.position
    plotter.camera.focal_point = cam.focal_point
    plotter.camera.up = cam.view_up
    plotter.camera.view_angle = cam.view_angle_deg
    plotter.reset_camera_clipping_range()


def _add_scalar_bars(plotter, scene: Scene) -> None:
    import pyvista as pv

    for n, scale in enumerate(scene.scales):
        if scale.kind == "categorical":
            plotter.add_legend(
                [[c, [v / 255 for v in rgb]] for c, rgb in scale.legend_entries()],
                bcolor="white",
                face="rectangle",
                loc="upper left",
            )
            continue
        lut = pv.LookupTable()
        ramp = scale.rgb(np.linspace(scale.vmin, scale.vmax, 256))
        lut.values = np.column_stack([ramp, np.full(256, 255, np.uint8)])
        lut.scalar_range = (scale.vmin, scale.vmax)
        dummy = pv.PolyData(np.zeros((1, 3)))
        dummy["v"] = [scale.vmin]
        plotter.add_mesh(dummy, scalars="v", cmap=lut, show_scalar_bar=False, opacity=0.0, name=f"bar{n}")
        plotter.add_scalar_bar(
            title=scale.title,
            mapper=plotter.mapper,
            color="black",
            vertical=True,
            position_x=0.86,
            position_y=0.08 + 0.45 * (n % 2),
            height=0.38,
            width=0.06,
        )


def render_image(
    scene: Scene, camera: str | Camera = "overview", *, window_size: tuple[int, int] = (1200, 800)
) -> npt.NDArray[np.uint8]:
    """Render the 3D view (no legend) off-screen: ``(height, width, 3)`` uint8."""
    plotter = make_plotter(scene, camera, window_size=window_size)
    try:
        return np.asarray(plotter.screenshot(return_img=True))[..., :3].copy()
    finally:
        plotter.close()


def project(plotter, points: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Pixel ``(column, row)`` (row 0 at the top) of local points in a plotter's current view."""
    ren = plotter.renderer
    w, h = plotter.window_size
    out = []
    for p in np.atleast_2d(np.asarray(points, float)):
        ren.SetWorldPoint(float(p[0]), float(p[1]), float(p[2]), 1.0)
        ren.WorldToDisplay()
        x, y, _ = ren.GetDisplayPoint()
        out.append((x, h - 1 - y))
    return np.asarray(out)


# ---------------------------------------------------------------- 2D composition (Pillow)
def _font(size: int):
    """DejaVu Sans (matplotlib ships it, a PyVista dependency) for ², ·, θ; else Pillow's default."""
    from PIL import ImageFont

    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans", fallback_to_default=True), size)
    except Exception:  # no matplotlib or no usable font file
        try:
            return ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1
            return ImageFont.load_default()


def legend_panel(scales: Sequence[ColorScale], height: int, width: int = 300):
    """A Pillow image with one legend block per scale (title with units, ramp and ticks, or classes)."""
    from PIL import Image, ImageDraw

    panel = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(panel)
    title_font, font = _font(18), _font(15)
    y = 20
    for scale in scales:
        draw.text((16, y), _wrap(scale.title, 28), fill=(20, 20, 20), font=title_font)
        y += 28 * (1 + scale.title.count("\n") + (len(scale.title) > 28))
        if scale.kind == "categorical":
            for label, rgb in scale.legend_entries():
                draw.rectangle([16, y, 46, y + 20], fill=rgb, outline=(60, 60, 60))
                draw.text((56, y + 1), label, fill=(20, 20, 20), font=font)
                y += 26
        else:
            bar_h = min(240, max(120, height // 3))
            ramp = scale.rgb(np.linspace(scale.vmax, scale.vmin, bar_h))
            for r in range(bar_h):
                draw.line([(16, y + r), (46, y + r)], fill=tuple(int(v) for v in ramp[r]))
            draw.rectangle([16, y, 46, y + bar_h - 1], outline=(60, 60, 60))
            for t in scale.ticks():
                ty = y + round((scale.vmax - t) / (scale.vmax - scale.vmin) * (bar_h - 1))
                draw.line([(46, ty), (52, ty)], fill=(60, 60, 60))
                draw.text((58, ty - 8), format_value(t), fill=(20, 20, 20), font=font)
            y += bar_h + 16
        y += 24
    return panel


def _wrap(text: str, n: int) -> str:
    words, lines, cur = text.split(" "), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > n:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    lines.append(cur)
    return "\n".join(lines)


def _compose(
    images: Sequence[npt.NDArray], titles: Sequence[str], scales: Sequence[ColorScale], heading: str
):
    from PIL import Image, ImageDraw

    h, w = images[0].shape[:2]
    top = 44 if (heading or any(titles)) else 0
    legend_w = 300 if scales else 0
    canvas = Image.new("RGB", (w * len(images) + legend_w, h + top), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for n, (img, t) in enumerate(zip(images, titles, strict=True)):
        canvas.paste(Image.fromarray(img), (n * w, top))
        if t:
            draw.text((n * w + 16, 12), t, fill=(20, 20, 20), font=_font(20))
        if n:
            draw.line([(n * w, top), (n * w, top + h)], fill=(255, 255, 255), width=3)
    if heading and len(images) == 1:
        draw.text((16, 12), heading, fill=(20, 20, 20), font=_font(20))
    if scales:
        canvas.paste(legend_panel(scales, h), (w * len(images), top))
    return canvas


def _save_png(image, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
    return path


def render_png(
    scene: Scene,
    path: str | os.PathLike,
    camera: str | Camera = "overview",
    *,
    window_size: tuple[int, int] = (1200, 800),
    legend: bool = True,
    title: str | None = None,
) -> Path:
    """Render the scene off-screen to a PNG (3D view, then a legend panel on the right), atomically.

    The 3D view occupies the top-left ``window_size`` pixels below a title band of 44 px
    (none without a title); :func:`project` positions apply with that offset.
    """
    from PIL import Image

    img = render_image(scene, camera, window_size=window_size)
    heading = scene.title if title is None else title
    if not legend and not heading:
        return _save_png(Image.fromarray(img), path)
    return _save_png(_compose([img], [""], scene.scales if legend else [], heading), path)


def side_by_side_png(
    scenes: Sequence[Scene],
    titles: Sequence[str],
    path: str | os.PathLike,
    camera: str | Camera = "overview",
    *,
    window_size: tuple[int, int] = (900, 700),
) -> Path:
    """Before/after (or more) views side by side with one camera and one legend.

    The camera is computed once from the first scene; give the scenes one shared
    :class:`ColorScale` (``build_scene(..., scale=...)``) so colours compare.
    """
    if not scenes:
        raise ValueError("side_by_side_png needs at least one scene.")
    cam = camera_for(scenes[0], camera, aspect=window_size[0] / window_size[1])
    images = [render_image(s, cam, window_size=window_size) for s in scenes]
    return _save_png(_compose(images, list(titles), scenes[0].scales, ""), path)


def soil_gif(
    scenes: Sequence[Scene],
    labels: Sequence[str],
    path: str | os.PathLike,
    camera: str | Camera = "overview",
    *,
    window_size: tuple[int, int] = (800, 560),
    frame_s: float = 0.6,
) -> Path:
    """An animated GIF, one frame per scene (e.g. soil water content at successive times).

    All frames use the camera of the first scene; each frame carries its label and the legend.
    """
    import imageio.v3 as iio

    if not scenes:
        raise ValueError("soil_gif needs at least one frame.")
    cam = camera_for(scenes[0], camera, aspect=window_size[0] / window_size[1])
    plotter = make_plotter(scenes[0], cam, window_size=window_size)
    frames = []
    try:
        for scene, label in zip(scenes, labels, strict=True):
            if scene is not scenes[0]:
                plotter.close()
                plotter = make_plotter(scene, cam, window_size=window_size)
            img = np.asarray(plotter.screenshot(return_img=True))[..., :3]
            frames.append(np.asarray(_compose([img], [label], scene.scales, "")))
    finally:
        plotter.close()
    path = Path(path)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, np.stack(frames), extension=".gif", duration=int(frame_s * 1000), loop=0)
    return path


def show(
    scene: Scene, camera: str | Camera = "overview", *, window_size: tuple[int, int] = (1400, 900)
) -> None:
    """Open an interactive window (rotate, pan, zoom) with scalar bars.

    Raises
    ------
    DisplayError
        No display (use ``render_png`` or the HTML export instead).
    """
    if not has_display():
        raise DisplayError(
            "No display available for --window (DISPLAY is unset); write --screenshot or --export instead."
        )
    plotter = make_plotter(scene, camera, window_size=window_size, off_screen=False, scalar_bars=True)
    plotter.show(title=scene.title or "Brussels twin")
