"""Off-screen PNG snapshots of the elements a finding concerns (PyVista/VTK).

:class:`SnapshotRenderer` holds the model's element meshes (file world
coordinates, metres) and renders, for a set of GlobalIds, the building in
light grey with those elements coloured by status, seen from a fixed
south-west elevated direction framing them.  When the elements are rooms
(or anything inside the building), everything above them is left out -- a
cut-away at the top of the elements -- and the same cut is returned as a
BCF clipping plane, so a BIM viewer opening the viewpoint shows what the
PNG shows.  The camera (position, direction, up, field of view) is returned
for the BCF viewpoint.

Rendering uses ``pyvista.Plotter(off_screen=True)`` (EGL or OSMesa, no
display needed); no IFC parsing happens here, only the meshes collected in
the isolated worker are drawn.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Camera", "Snapshot", "SnapshotRenderer", "STATUS_COLOURS"]

#: Colours (hex RGB) of the elements by finding status; context is light grey.
STATUS_COLOURS = {"fail": "D7263D", "not_checkable": "F49D37", "pass": "2E933C"}
_CONTEXT = "D9D9D9"
_VIEW_DIR = np.array([1.0, 1.2, -0.9])  # from south-west, above
_FOV_DEG = 50.0


@dataclass(frozen=True)
class Camera:
    """A perspective camera in the file's world coordinates (m)."""

    position: tuple[float, float, float]
    direction: tuple[float, float, float]
    up: tuple[float, float, float]
    field_of_view_deg: float


@dataclass(frozen=True)
class Snapshot:
    """A rendered PNG with the camera and the optional horizontal cut (z in m, None: no cut)."""

    png: bytes
    camera: Camera
    cut_z_m: float | None
    width_px: int
    height_px: int


def _polydata(meshes: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]]):
    import pyvista as pv

    verts, faces, offset = [], [], 0
    for v, f in meshes:
        if len(f) == 0:
            continue
        verts.append(np.asarray(v, dtype=np.float64))
        faces.append(np.asarray(f, dtype=np.int64) + offset)
        offset += len(v)
    if not verts:
        return None
    f = np.concatenate(faces)
    cells = np.hstack([np.full((len(f), 1), 3, dtype=np.int64), f]).ravel()
    return pv.PolyData(np.concatenate(verts), cells)


class SnapshotRenderer:
    """Render snapshots of element sets of one model.

    Parameters
    ----------
    meshes
        GlobalId -> (vertices (n, 3), faces (m, 3)), file world metres.
    context_ids
        GlobalIds drawn grey as the building around the highlighted elements
        (walls, slabs, roofs, windows, doors: not spaces or openings).
    size_px
        Width and height of the PNG (BCF 3.0 recommends at most 1500 px).
    """

    def __init__(
        self,
        meshes: Mapping[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]],
        context_ids: Iterable[str],
        *,
        size_px: tuple[int, int] = (800, 600),
    ) -> None:
        self.meshes = meshes
        self.context_ids = sorted(g for g in set(context_ids) if g in meshes)
        self.size_px = size_px
        self._ctx_bounds = {
            g: (float(meshes[g][0][:, 2].min())) for g in self.context_ids if len(meshes[g][0])
        }
        self._plotter = None
        self._context_cache: dict[tuple, object] = {}

    def _ensure(self):
        if self._plotter is None:
            import pyvista as pv

            from viewer.render import quiet_vtk

            quiet_vtk()  # no "bad X server connection" warning on headless machines
            self._plotter = pv.Plotter(off_screen=True, window_size=list(self.size_px))
            self._plotter.set_background("white")
        return self._plotter

    def _context(self, cut: float | None, exclude: set[str]):
        """The grey building below the cut, without the highlighted elements (they would hide the colour)."""
        key = (cut, frozenset(exclude))
        if key not in self._context_cache:
            if len(self._context_cache) > 8:
                self._context_cache.clear()
            ids = [
                g
                for g in self.context_ids
                if g not in exclude and (cut is None or self._ctx_bounds.get(g, math.inf) < cut - 0.05)
            ]
            mesh = _polydata([self.meshes[g] for g in ids])
            if mesh is not None and cut is not None:
                # a true cut-away: walls rising through the cut are cut there, not drawn to their top
                mesh = mesh.clip(normal=(0.0, 0.0, 1.0), origin=(0.0, 0.0, cut + 0.01), invert=True)
                mesh = mesh if mesh.n_points else None
            self._context_cache[key] = mesh
        return self._context_cache[key]

    def frame(self, global_ids: Iterable[str]) -> tuple[Camera, float | None] | None:
        """Camera framing ``global_ids`` and the cut-away level (None: no cut); None without meshes."""
        ids = sorted(g for g in set(global_ids) if g in self.meshes and len(self.meshes[g][1]))
        if not ids:
            return None
        pts = np.concatenate([np.asarray(self.meshes[g][0], dtype=np.float64) for g in ids])
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        all_top = max((float(self.meshes[g][0][:, 2].max()) for g in self.context_ids), default=float(hi[2]))
        cut = float(hi[2]) if hi[2] < all_top - 0.5 else None
        centre = (lo + hi) / 2.0
        radius = max(float(np.linalg.norm(hi - lo)) / 2.0, 2.0)
        direction = _VIEW_DIR / np.linalg.norm(_VIEW_DIR)
        distance = radius / math.tan(math.radians(_FOV_DEG / 2.0)) * 1.15
        position = centre - direction * distance
        up = np.array([0.0, 0.0, 1.0])
        up = up - direction * (up @ direction)
        up /= np.linalg.norm(up)
        camera = Camera(
            tuple(float(x) for x in position),
            tuple(float(x) for x in direction),
            tuple(float(x) for x in up),
            _FOV_DEG,
        )
        return camera, cut

    def render(self, global_ids: Iterable[str], status: str = "fail") -> Snapshot | None:
        """A snapshot of ``global_ids`` coloured for ``status`` (None when none of them has a mesh)."""
        framed = self.frame(global_ids)
        if framed is None:
            return None
        camera, cut = framed
        ids = sorted(g for g in set(global_ids) if g in self.meshes and len(self.meshes[g][1]))
        target = _polydata([self.meshes[g] for g in ids])
        context = self._context(cut, set(ids))
        p = self._ensure()
        p.clear_actors()  # (no render: actors are drawn once, by the screenshot)
        if context is not None:
            p.add_mesh(
                context,
                color=f"#{_CONTEXT}",
                opacity=0.35 if cut is None else 1.0,
                render=False,
                reset_camera=False,
            )
        colour = STATUS_COLOURS.get(status, STATUS_COLOURS["fail"])
        p.add_mesh(target, color=f"#{colour}", render=False, reset_camera=False)
        p.add_mesh(
            target.extract_feature_edges(30.0), color="black", line_width=1, render=False, reset_camera=False
        )
        p.camera.position = camera.position
        p.camera.focal_point = tuple(np.asarray(camera.position) + np.asarray(camera.direction))
        p.camera.up = camera.up
        p.camera.view_angle = camera.field_of_view_deg
        p.reset_camera_clipping_range()
        p.render()
        image = p.screenshot(return_img=True)
        import imageio.v3 as iio

        buf = io.BytesIO()
        iio.imwrite(buf, image, extension=".png")
        return Snapshot(buf.getvalue(), camera, cut, int(image.shape[1]), int(image.shape[0]))

    def close(self) -> None:
        """Release the render window."""
        if self._plotter is not None:
            self._plotter.close()
            self._plotter = None
