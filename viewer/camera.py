"""Camera presets: overview, plan (straight down), street level and one building.

A :class:`Camera` is a position, a focal point, an up vector and a vertical
view angle, in the scene's local coordinates (z up).  The presets depend only
on the scene, so the same scene always gets the same view (before/after
images share one camera).

Examples
--------
>>> import numpy as np
>>> c = Camera.overview(np.array([[0.0, 0.0, 0.0], [100.0, 50.0, 20.0]]))
>>> [round(v, 1) for v in c.focal_point]
[50.0, 25.0, 10.0]
>>> parse_camera("building:BXL-000001")
('building', 'BXL-000001')
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twin.errors import TwinError, UnknownEntityError

__all__ = ["Camera", "CameraError", "parse_camera", "camera_for", "PRESETS"]

#: Names accepted by :func:`parse_camera` (``building:<id>`` besides these).
PRESETS = ("overview", "plan", "street")


class CameraError(TwinError, ValueError):
    """A camera preset name is not understood."""


@dataclass(frozen=True)
class Camera:
    """A perspective camera in local scene coordinates [m]."""

    position: tuple[float, float, float]
    focal_point: tuple[float, float, float]
    view_up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    view_angle_deg: float = 30.0

    def __post_init__(self) -> None:
        for name in ("position", "focal_point", "view_up"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        object.__setattr__(self, "view_angle_deg", float(self.view_angle_deg))

    @classmethod
    def orbit(
        cls,
        focal: npt.ArrayLike,
        radius_m: float,
        *,
        azimuth_deg: float = 210.0,
        elevation_deg: float = 45.0,
        view_angle_deg: float = 30.0,
        aspect: float = 1.5,
    ) -> Camera:
        """Look at ``focal`` from the direction ``azimuth`` (clockwise from north, where the camera
        stands) and ``elevation``, far enough that a sphere of ``radius_m`` fills the view."""
        f = np.asarray(focal, float)
        half = math.radians(view_angle_deg) / 2.0
        half_fit = min(half, math.atan(math.tan(half) * aspect))
        dist = radius_m / math.sin(half_fit) * 1.02
        d = _direction(azimuth_deg, elevation_deg)
        up = (0.0, 1.0, 0.0) if elevation_deg >= 89.9 else (0.0, 0.0, 1.0)
        return cls(tuple(f + dist * d), tuple(f), up, view_angle_deg)

    @classmethod
    def fit_box(
        cls,
        bounds: npt.ArrayLike,
        *,
        azimuth_deg: float = 210.0,
        elevation_deg: float = 45.0,
        view_angle_deg: float = 30.0,
        aspect: float = 1.5,
        margin: float = 1.06,
    ) -> Camera:
        """Look at the centre of a box from a direction, just far enough that its 8 corners are in view."""
        lo, hi = np.asarray(bounds, float)
        centre = (lo + hi) / 2.0
        d = _direction(azimuth_deg, elevation_deg)
        fwd = -d
        side = np.cross(fwd, [0.0, 0.0, 1.0])
        side /= np.linalg.norm(side)
        up = np.cross(side, fwd)
        tv = math.tan(math.radians(view_angle_deg) / 2.0) / margin
        th = tv * aspect
        corners = np.array(
            [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
        )
        c = corners - centre
        need = np.maximum(np.abs(c @ side) / th, np.abs(c @ up) / tv) - c @ fwd
        dist = max(float(need.max()), 1.0)
        return cls(tuple(centre + dist * d), tuple(centre), (0.0, 0.0, 1.0), view_angle_deg)

    @classmethod
    def overview(cls, bounds: npt.ArrayLike, *, aspect: float = 1.5) -> Camera:
        """The whole scene from the south-south-west, 45° above the horizon."""
        return cls.fit_box(bounds, aspect=aspect)

    @classmethod
    def plan(cls, bounds: npt.ArrayLike, *, aspect: float = 1.5) -> Camera:
        """Straight down on the scene, north up (a map view)."""
        lo, hi = np.asarray(bounds, float)
        centre = (lo + hi) / 2.0
        half_w, half_h = (hi[0] - lo[0]) / 2.0, (hi[1] - lo[1]) / 2.0
        t = math.tan(math.radians(30.0) / 2.0)
        dist = max(half_h / t, half_w / (t * aspect), 1.0) * 1.08 + (hi[2] - centre[2])
        return cls((centre[0], centre[1], centre[2] + dist), tuple(centre), (0.0, 1.0, 0.0), 30.0)

    @classmethod
    def street(
        cls,
        bounds: npt.ArrayLike,
        link_points: npt.ArrayLike | None = None,
        ground: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]] | None = None,
    ) -> Camera:
        """Eye height (1.7 m above the ground) looking along a street or across the scene.

        With links: stand at the start of the link (its points, local) and look along it;
        otherwise stand 40 m south of the scene and look north.  ``ground`` gives the terrain
        height of ``(n, 2)`` points (default: the bottom of ``bounds``).
        """
        lo, hi = np.asarray(bounds, float)
        centre = (lo + hi) / 2.0

        def z(xy: npt.NDArray[np.float64]) -> float:
            return (
                float(ground(np.asarray(xy, float).reshape(1, 2))[0]) if ground is not None else float(lo[2])
            )

        if link_points is not None and len(link_points) >= 2:
            pts = np.asarray(link_points, float)
            start, end = pts[0, :2], pts[-1, :2]
            direction = end - start
            n = np.linalg.norm(direction)
            if n > 1e-6:
                direction /= n
                ahead = start + 40.0 * direction
                eye = np.r_[start, z(start) + 1.7]
                look = np.r_[ahead, z(ahead) + 3.0]
                return cls(tuple(eye), tuple(look), (0.0, 0.0, 1.0), 60.0)
        e_xy = np.array([centre[0], lo[1] - 40.0])
        eye = np.r_[e_xy, z(e_xy) + 1.7]
        return cls(tuple(eye), (centre[0], centre[1], z(centre[:2]) + 4.0), (0.0, 0.0, 1.0), 60.0)

    @classmethod
    def building(cls, vertices: npt.ArrayLike, *, aspect: float = 1.5) -> Camera:
        """One building (its vertices) from the south-west, 30° up, with some street around it."""
        v = np.asarray(vertices, float)
        lo, hi = v.min(axis=0), v.max(axis=0)
        pad = np.array([15.0, 15.0, 0.0])
        return cls.fit_box(np.vstack([lo - pad, hi + pad]), elevation_deg=30.0, aspect=aspect)

    def view_matrix(self) -> npt.NDArray[np.float64]:
        """4×4 world → camera matrix (OpenGL convention: the camera looks down −z)."""
        eye, f, up = (np.asarray(a, float) for a in (self.position, self.focal_point, self.view_up))
        fwd = f - eye
        fwd /= np.linalg.norm(fwd)
        side = np.cross(fwd, up)
        side /= np.linalg.norm(side)
        u = np.cross(side, fwd)
        m = np.eye(4)
        m[0, :3], m[1, :3], m[2, :3] = side, u, -fwd
        m[:3, 3] = -m[:3, :3] @ eye
        return m


def _direction(azimuth_deg: float, elevation_deg: float) -> npt.NDArray[np.float64]:
    """Unit vector from the focal point towards the camera (azimuth clockwise from north)."""
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    return np.array([math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el)])


def parse_camera(text: str) -> tuple[str, str | None]:
    """``"overview"`` → ``("overview", None)``; ``"building:ID"`` → ``("building", "ID")``.

    Raises
    ------
    CameraError
        Any other text.
    """
    name, _, arg = text.partition(":")
    if name == "building" and arg:
        return "building", arg
    if name in PRESETS and not arg:
        return name, None
    raise CameraError(f"Unknown camera {text!r}: use one of {list(PRESETS)} or building:<building_id>.")


def camera_for(scene, preset: str | Camera = "overview", *, aspect: float = 1.5) -> Camera:
    """The camera of a preset name (see :func:`parse_camera`) for a :class:`~viewer.scene.Scene`.

    Raises
    ------
    twin.errors.UnknownEntityError
        ``building:<id>`` names no building of the scene.
    """
    if isinstance(preset, Camera):
        return preset
    name, arg = parse_camera(preset)
    bounds = scene.bounds
    if name == "overview":
        return Camera.overview(bounds, aspect=aspect)
    if name == "plan":
        return Camera.plan(bounds, aspect=aspect)
    if name == "street":
        pts = None
        if scene.links is not None and len(scene.links.ids):
            lk = scene.links
            centre = bounds.mean(axis=0)
            mids = np.array(
                [
                    lk.points[a:b].mean(axis=0) if b > a else np.full(3, np.inf)
                    for a, b in zip(lk.offsets[:-1], lk.offsets[1:], strict=True)
                ]
            )
            k = int(np.argmin(np.linalg.norm(mids[:, :2] - centre[:2], axis=1)))
            pts = lk.points[lk.offsets[k] : lk.offsets[k + 1]]
        ground = scene.terrain.height if scene.terrain is not None else None
        return Camera.street(bounds, pts, ground)
    ids = list(scene.buildings.ids)
    if arg not in ids:
        raise UnknownEntityError(f"Camera building:{arg}: no building {arg!r} in the scene.")
    k = ids.index(arg)
    b = scene.buildings
    verts = b.vertices[np.unique(b.faces[b.face_building == k])]
    return Camera.building(verts, aspect=aspect)
