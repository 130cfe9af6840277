"""Find the faces of a building's elements that form its thermal envelope.

IFC files rarely say reliably which faces are outside: ``IsExternal`` is
missing in ArchiCAD exports and wrong in Revit ones (most Revit windows and
every slab say ``False``), and no file says which *face* of an external wall
is the outer one.  This module answers geometrically, on a voxel grid:

1. Every element triangle is rasterised onto a grid of ``size_m`` voxels
   (conservative surface voxelisation along each triangle's dominant axis,
   so a surface leaves no gap a 6-connected flood could pass) and each
   closed element is filled.
2. Air voxels connected to the top or the sides of the grid are *outside*;
   other air is *inside* (rooms).  The bottom of the grid is not open: the
   ground closes buildings that have no ground slab.
3. A face (triangle, subdivided where needed) is *exterior* when the first
   air in front of it, along its outward normal, is outside air (or below
   the grid), unless another element's solid comes first (a finish floor
   lying on a slab).
4. An exterior face is part of the *thermal envelope* unless, looking
   through its element, the first air behind it (within 1 m) is outside
   air: this drops both sides of balconies, parapets, canopies and roof
   overhangs, which touch outside air on both sides.
5. The faces of an opening's reveal (the sides of the hole cut in a wall
   for a window) are exterior but are not wall area in an energy balance:
   faces of a host element lying on the convex hull of one of its
   ``IfcOpeningElement`` volumes are flagged as ``reveal``.

All coordinates are the iterator's world coordinates in metres (before
georeferencing); the grid is axis-aligned in that system.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

__all__ = [
    "OUTSIDE",
    "INSIDE",
    "SOLID",
    "VoxelGrid",
    "Pieces",
    "build_grid",
    "surface_voxels",
    "subdivide",
    "classify_pieces",
    "reveal_mask",
    "triangle_normals",
]

OUTSIDE, INSIDE, SOLID = 0, 1, 2
_CHUNK = 400_000


@dataclass
class VoxelGrid:
    """Voxel states of a building.

    Attributes
    ----------
    origin : (3,) float64
        World position (m) of the corner of voxel (0, 0, 0).
    size_m
        Edge length of a voxel (m).
    state : (nx, ny, nz) uint8
        0 outside air, 1 inside air, 2 solid.
    owner : (nx, ny, nz) int32
        Element whose surface or inside a solid voxel belongs to (the last
        one rasterised where several meet), -1 for air.
    """

    origin: npt.NDArray[np.float64]
    size_m: float
    state: npt.NDArray[np.uint8]
    owner: npt.NDArray[np.int32]

    def _flat(self, points: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        nx, ny, nz = self.state.shape
        rel = (points - self.origin) * (1.0 / self.size_m)
        i = np.floor(rel[..., 0]).astype(np.int64)
        j = np.floor(rel[..., 1]).astype(np.int64)
        k = np.floor(rel[..., 2]).astype(np.int64)
        valid = (i >= 0) & (i < nx) & (j >= 0) & (j < ny) & (k >= 0) & (k < nz)
        flat = (i * ny + j) * nz + k
        flat[~valid] = 0
        return flat, valid

    def lookup(self, points: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
        """State at world points (..., 3); points off the grid are outside (0)."""
        flat, valid = self._flat(points)
        out = self.state.reshape(-1).take(flat)
        out[~valid] = OUTSIDE
        return out

    def probe(self, points: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int32]]:
        """State and owner at world points (..., 3); off the grid: outside, no owner."""
        flat, valid = self._flat(points)
        state = self.state.reshape(-1).take(flat)
        owner = self.owner.reshape(-1).take(flat)
        state[~valid] = OUTSIDE
        owner[~valid] = -1
        return state, owner

    @property
    def inside_volume_m3(self) -> float:
        """Volume of everything not outside air (solid + rooms), m3."""
        return float(np.count_nonzero(self.state != OUTSIDE)) * self.size_m**3


def triangle_normals(tri: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Unit normals (m, 3) and areas (m,) of triangles (m, 3, 3) (right-hand rule)."""
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(cross, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = cross / norm[:, None]
    unit[~np.isfinite(unit)] = 0.0
    return unit, 0.5 * norm


def surface_voxels(
    tri: npt.NDArray[np.float64], shape: tuple[int, int, int]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """Voxels touched by triangles given in voxel units (m, 3, 3): flat indices (k,) and triangles (k,).

    Each triangle is projected on the plane of its dominant normal axis;
    every cell whose square overlaps the projection (exact separating-axis
    test) gets the one or two voxels the triangle's plane crosses over it.
    Voxels are clipped to the grid ``shape`` and indexed in C order.
    """
    if len(tri) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    mag = np.abs(normal)
    good = mag.max(axis=1) > 1e-12
    axis = np.argmax(mag, axis=1)
    out, owners = [], []
    for a in range(3):
        sel = good & (axis == a)
        if not np.any(sel):
            continue
        ids = np.flatnonzero(sel)
        b, c = (a + 1) % 3, (a + 2) % 3
        t = tri[sel]
        nrm = normal[sel]
        p = t[:, :, [b, c]]
        lo = np.floor(p.min(axis=1)).astype(np.int64)
        hi = np.floor(p.max(axis=1)).astype(np.int64)
        counts = (hi - lo + 1).prod(axis=1)
        bounds = np.searchsorted(np.cumsum(counts), np.arange(_CHUNK, counts.sum() + _CHUNK, _CHUNK))
        start = 0
        for stop in np.unique(np.r_[bounds, len(t)]):
            stop = max(int(stop), start + 1)
            if start >= len(t):
                break
            vox, which = _raster_chunk(
                t[start:stop], nrm[start:stop], p[start:stop], lo[start:stop], hi[start:stop], a, b, c
            )
            vox = np.minimum(np.maximum(vox, 0), np.asarray(shape) - 1)
            out.append((vox[:, 0] * shape[1] + vox[:, 1]) * shape[2] + vox[:, 2])
            owners.append(ids[start:stop][which].astype(np.int32))
            start = stop
    if not out:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
    return np.concatenate(out), np.concatenate(owners)


def _raster_chunk(t, nrm, p, lo, hi, a, b, c) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    # per triangle: three half-planes widened by the cell's half-size, and the plane's depth
    area2 = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 1, 1] - p[:, 0, 1]) * (
        p[:, 2, 0] - p[:, 0, 0]
    )
    sign = np.sign(area2)
    coef = np.empty((len(t), 3, 3))
    for e, (k0, k1) in enumerate(((0, 1), (1, 2), (2, 0))):
        ex = p[:, k1, 0] - p[:, k0, 0]
        ey = p[:, k1, 1] - p[:, k0, 1]
        coef[:, e, 0] = -sign * ey
        coef[:, e, 1] = sign * ex
        coef[:, e, 2] = sign * (ey * p[:, k0, 0] - ex * p[:, k0, 1]) + 0.5 * (np.abs(ex) + np.abs(ey)) + 1e-9
    gb = -nrm[:, b] / nrm[:, a]
    gc = -nrm[:, c] / nrm[:, a]
    w0 = t[:, 0, a] - gb * t[:, 0, b] - gc * t[:, 0, c]
    slope = 0.5 * (np.abs(gb) + np.abs(gc))
    wmin = t[:, :, a].min(axis=1)
    wmax = t[:, :, a].max(axis=1)

    ncol = hi[:, 1] - lo[:, 1] + 1
    counts = (hi[:, 0] - lo[:, 0] + 1) * ncol
    tri_of = np.repeat(np.arange(len(t)), counts)
    first = np.zeros(len(t), dtype=np.int64)
    np.cumsum(counts[:-1], out=first[1:])
    local = np.arange(counts.sum()) - first[tri_of]
    ci = lo[tri_of, 0] + local // ncol[tri_of]
    cj = lo[tri_of, 1] + local % ncol[tri_of]
    qx = ci + 0.5
    qy = cj + 0.5
    cf = coef[tri_of]
    keep = (
        (cf[:, 0, 0] * qx + cf[:, 0, 1] * qy + cf[:, 0, 2] >= 0)
        & (cf[:, 1, 0] * qx + cf[:, 1, 1] * qy + cf[:, 1, 2] >= 0)
        & (cf[:, 2, 0] * qx + cf[:, 2, 1] * qy + cf[:, 2, 2] >= 0)
    )
    tri_of, ci, cj, qx, qy = tri_of[keep], ci[keep], cj[keep], qx[keep], qy[keep]
    w = w0[tri_of] + gb[tri_of] * qx + gc[tri_of] * qy
    sl = slope[tri_of]
    lo_w = wmin[tri_of]
    hi_w = wmax[tri_of]
    k_lo = np.floor(np.clip(w - sl, lo_w, hi_w)).astype(np.int64)
    k_hi = np.floor(np.clip(w + sl, lo_w, hi_w)).astype(np.int64)
    two = k_hi != k_lo
    res = np.empty((len(ci) + int(two.sum()), 3), dtype=np.int64)
    res[:, b] = np.r_[ci, ci[two]]
    res[:, c] = np.r_[cj, cj[two]]
    res[:, a] = np.r_[k_lo, k_hi[two]]
    return res, np.r_[tri_of, tri_of[two]]


def build_grid(
    meshes: Sequence[npt.NDArray[np.float64]],
    *,
    max_cells: float = 3e6,
    min_size_m: float = 0.1,
    max_size_m: float = 0.6,
    pad: int = 3,
    ground_z_m: float | None = None,
    crawl_height_m: float = 1.8,
) -> VoxelGrid:
    """Voxelise element meshes and label outside air.

    Parameters
    ----------
    meshes
        Triangles (m, 3, 3) of each element, world metres.
    max_cells
        Upper bound on the number of voxels; sets the voxel size together
        with ``min_size_m`` and ``max_size_m``.
    pad
        Air voxels added around the sides and the top.
    ground_z_m, crawl_height_m
        Enclosed air lying wholly below ``ground_z_m`` and lower than
        ``crawl_height_m`` is not a room but a crawl space or the soil under a
        slab on grade between foundation walls: it counts as outside.
    """
    tris = [m for m in meshes if len(m)]
    if not tris:
        raise ValueError("No triangles to voxelise.")
    allpts = np.vstack([m.reshape(-1, 3) for m in tris])
    lo = allpts.min(axis=0)
    hi = allpts.max(axis=0)
    ext = np.maximum(hi - lo, 1e-3)
    size = float(
        np.clip((np.prod(ext + 2 * pad * min_size_m) / max_cells) ** (1 / 3), min_size_m, max_size_m)
    )
    origin = lo - np.array([pad, pad, 0]) * size
    shape = np.ceil((hi - origin) / size).astype(np.int64) + np.array([pad, pad, pad])
    solid = np.zeros(tuple(shape), dtype=bool)
    owner_grid = np.full(tuple(shape), -1, dtype=np.int32)
    allt = np.concatenate(tris)
    owner = np.concatenate([np.full(len(t), k, dtype=np.int32) for k, t in enumerate(tris)])
    flat, which = surface_voxels((allt - origin) / size, tuple(int(v) for v in shape))
    elem = owner[which]
    del which
    solid.reshape(-1)[flat] = True
    owner_grid.reshape(-1)[flat] = elem  # where elements meet, the last one rasterised owns the voxel
    # fill the inside of elements thicker than a couple of voxels
    order = np.argsort(elem, kind="stable")
    bounds = np.searchsorted(elem[order], np.arange(len(tris) + 1))
    for k in range(len(tris)):
        v = np.column_stack(np.unravel_index(flat[order[bounds[k] : bounds[k + 1]]], solid.shape))
        if len(v) == 0:
            continue
        vlo = v.min(axis=0)
        vhi = v.max(axis=0) + 1
        if np.min(vhi - vlo) <= 2:
            continue
        sub = np.zeros(tuple(vhi - vlo + 2), dtype=bool)
        rel = v - vlo + 1
        sub[rel[:, 0], rel[:, 1], rel[:, 2]] = True
        sub = ndimage.binary_fill_holes(sub)[1:-1, 1:-1, 1:-1]
        sl = tuple(slice(int(l0), int(h0)) for l0, h0 in zip(vlo, vhi, strict=True))
        window = owner_grid[sl]
        window[sub & ~solid[sl]] = k
        solid[sl] |= sub
    del flat, elem, order
    labels, _ = ndimage.label(~solid)
    seeds = np.unique(
        np.concatenate(
            [
                labels[0].ravel(),
                labels[-1].ravel(),
                labels[:, 0].ravel(),
                labels[:, -1].ravel(),
                labels[:, :, -1].ravel(),
            ]
        )
    )
    seeds = seeds[seeds > 0]
    if ground_z_m is not None:
        extra = []
        for lab, box in enumerate(ndimage.find_objects(labels), start=1):
            if box is None:
                continue
            z0 = origin[2] + box[2].start * size
            z1 = origin[2] + box[2].stop * size
            if z1 <= ground_z_m + size and z1 - z0 < crawl_height_m:
                extra.append(lab)
        seeds = np.union1d(seeds, np.asarray(extra, dtype=seeds.dtype))
    state = np.full(labels.shape, INSIDE, dtype=np.uint8)
    state[solid] = SOLID
    state[np.isin(labels, seeds)] = OUTSIDE
    return VoxelGrid(origin=origin, size_m=size, state=state, owner=owner_grid)


def subdivide(
    tri: npt.NDArray[np.float64], max_edge_m: float, max_area_m2: float = np.inf
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Split triangles at their longest edge until no edge exceeds ``max_edge_m``
    and no area exceeds ``max_area_m2`` (so thin slivers are not cut into crumbs).

    Returns
    -------
    pieces : (p, 3, 3)
    parent : (p,) int64
        Index of the input triangle each piece comes from.
    """
    pieces = tri
    parent = np.arange(len(tri), dtype=np.int64)
    done_t, done_p = [], []
    for _ in range(64):
        edges = np.stack(
            [
                np.linalg.norm(pieces[:, 1] - pieces[:, 0], axis=1),
                np.linalg.norm(pieces[:, 2] - pieces[:, 1], axis=1),
                np.linalg.norm(pieces[:, 0] - pieces[:, 2], axis=1),
            ],
            axis=1,
        )
        longest = edges.argmax(axis=1)
        big = edges.max(axis=1) > max_edge_m
        if np.isfinite(max_area_m2):
            area = 0.5 * np.linalg.norm(
                np.cross(pieces[:, 1] - pieces[:, 0], pieces[:, 2] - pieces[:, 0]), axis=1
            )
            big |= area > max_area_m2
        done_t.append(pieces[~big])
        done_p.append(parent[~big])
        if not np.any(big):
            break
        t = pieces[big]
        k = longest[big]
        par = parent[big]
        # rotate so that the longest edge is (v0, v1)
        order = np.stack([k, (k + 1) % 3, (k + 2) % 3], axis=1)
        t = np.take_along_axis(t, order[:, :, None], axis=1)
        mid = 0.5 * (t[:, 0] + t[:, 1])
        a = np.stack([t[:, 0], mid, t[:, 2]], axis=1)
        b = np.stack([mid, t[:, 1], t[:, 2]], axis=1)
        pieces = np.concatenate([a, b])
        parent = np.concatenate([par, par])
    else:
        done_t.append(pieces)
        done_p.append(parent)
    return np.concatenate(done_t), np.concatenate(done_p)


@dataclass
class Pieces:
    """Envelope-candidate faces, each at most a few voxels across.

    Attributes
    ----------
    element : (p,) int64
        Row (in the caller's list of elements) of the element the piece belongs to.
    parent : (p,) int64
        Row of the piece's triangle in ``original``.
    original : (t, 3, 3) float64
        The elements' triangles before subdivision, concatenated.
    tri : (p, 3, 3) float64
        Corners, world metres, oriented outward.
    normal : (p, 3) float64
    area : (p,) float64
        m2.
    exterior, separating : (p,) bool
        See the module docstring.
    """

    element: npt.NDArray[np.int64]
    parent: npt.NDArray[np.int64]
    original: npt.NDArray[np.float64]
    tri: npt.NDArray[np.float64]
    normal: npt.NDArray[np.float64]
    area: npt.NDArray[np.float64]
    exterior: npt.NDArray[np.bool_]
    separating: npt.NDArray[np.bool_]


def _chunked(func, n_rows: int, *arrays, size: int = 20_000) -> npt.NDArray[np.bool_]:
    """Apply ``func`` to row blocks of ``arrays`` (bounded memory) and concatenate."""
    if n_rows <= size:
        return func(*arrays)
    return np.concatenate([func(*(a[i : i + size] for a in arrays)) for i in range(0, n_rows, size)])


def _exterior(
    grid: VoxelGrid,
    points: npt.NDArray[np.float64],
    normals: npt.NDArray[np.float64],
    own: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """True where the first air in front of a point (along its normal) is outside air.

    The point's own surface voxels are crossed; a solid voxel of another
    element from 1.5 voxels on means the face is covered (a finish floor
    lying on a slab, a lining against a wall).
    """
    v = grid.size_m
    ahead = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0]) * v
    probe = points[..., None, :] + normals[..., None, :] * ahead[:, None]
    state, owner = grid.probe(probe)
    covered = (state == SOLID) & (owner != own[..., None]) & (owner >= 0) & (ahead >= 1.5 * v)
    stop = (state != SOLID) | covered
    first = stop.argmax(axis=-1)[..., None]
    hit_state = np.take_along_axis(state, first, axis=-1)[..., 0]
    hit_cover = np.take_along_axis(covered, first, axis=-1)[..., 0]
    return stop.any(axis=-1) & (hit_state == OUTSIDE) & ~hit_cover


def _separating(
    grid: VoxelGrid, points: npt.NDArray[np.float64], normals: npt.NDArray[np.float64], look_m: float
) -> npt.NDArray[np.bool_]:
    """False where the first air behind a point (through its element) is outside air.

    Air farther than ``look_m`` does not count: a face over a metre of solid
    (a slab edge, a roof resting on a wall with a window below) separates.
    """
    v = grid.size_m
    steps = np.arange(0.5 * v, max(look_m, 4 * v) + 1e-9, v)
    probe = points[..., None, :] - normals[..., None, :] * steps[:, None]
    states = grid.lookup(probe)
    air = states != SOLID
    first = air.argmax(axis=-1)[..., None]
    first_state = np.take_along_axis(states, first, axis=-1)[..., 0]
    return ~(air.any(axis=-1) & (first_state == OUTSIDE))


def classify_pieces(
    grid: VoxelGrid,
    element_tris: Sequence[npt.NDArray[np.float64]],
    *,
    max_edge_m: float | None = None,
    look_through_m: float = 1.0,
) -> Pieces:
    """Classify element faces as exterior / separating, splitting them where that changes.

    Triangles (cut first to edges of at most ``16 * voxel`` (>= 3 m) and areas
    of at most ``36 voxel**2`` (>= 1 m2)) are tested at their centre and near
    their corners; those whose samples disagree are cut to ``max_edge_m`` and
    each piece is tested at its centre.

    Parameters
    ----------
    grid
        From :func:`build_grid` (over the same elements, or more).
    element_tris
        Triangles (m, 3, 3) of each candidate element, oriented outward.
    max_edge_m
        Largest edge of the fine pieces (default: three voxels, >= 0.5 m).
    look_through_m
        How far behind an exterior face to look for the first air (m).
    """
    v = grid.size_m
    fine_edge = max_edge_m if max_edge_m is not None else max(3.0 * v, 0.5)
    coarse_edge = max(16.0 * v, 3.0, fine_edge)
    coarse_area = max(36.0 * v * v, 1.0)
    tris, owners = [], []
    for k, tri in enumerate(element_tris):
        if len(tri):
            tris.append(tri)
            owners.append(np.full(len(tri), k, dtype=np.int64))
    if not tris:
        empty = np.zeros(0, dtype=bool)
        none = np.zeros(0, np.int64)
        return Pieces(
            none, none, np.zeros((0, 3, 3)), np.zeros((0, 3, 3)), np.zeros((0, 3)), np.zeros(0), empty, empty
        )
    allt = np.concatenate(tris)
    owner = np.concatenate(owners)

    coarse, parent = subdivide(allt, coarse_edge, coarse_area)
    normal, area = triangle_normals(coarse)
    ok = area > 1e-10
    coarse, parent, normal, area = coarse[ok], parent[ok], normal[ok], area[ok]
    centre = coarse.mean(axis=1)
    samples = np.concatenate([centre[:, None, :], 0.75 * coarse + 0.25 * centre[:, None, :]], axis=1)
    nrm4 = np.broadcast_to(normal[:, None, :], samples.shape)
    own = owner[parent]
    own4 = np.broadcast_to(own[:, None], samples.shape[:2])
    ext4 = _chunked(lambda p, q, r: _exterior(grid, p, q, r), len(samples), samples, nrm4, own4)
    sep4 = np.ones_like(ext4)
    rows, cols = np.nonzero(ext4)
    sep4[rows, cols] = _chunked(
        lambda p, q: _separating(grid, p, q, look_through_m), len(rows), samples[rows, cols], nrm4[rows, cols]
    )
    env4 = ext4 & sep4
    decided = (env4.all(axis=1) | ~env4.any(axis=1)) & (ext4.all(axis=1) | ~ext4.any(axis=1))

    fine, fine_parent = subdivide(coarse[~decided], fine_edge)
    f_normal, f_area = triangle_normals(fine)
    ok = f_area > 1e-10
    fine, fine_parent, f_normal, f_area = fine[ok], fine_parent[ok], f_normal[ok], f_area[ok]
    f_centre = fine.mean(axis=1)
    f_ext = _chunked(
        lambda p, q, r: _exterior(grid, p, q, r), len(fine), f_centre, f_normal, own[~decided][fine_parent]
    )
    f_sep = np.ones(len(fine), dtype=bool)
    f_sep[f_ext] = _chunked(
        lambda p, q: _separating(grid, p, q, look_through_m),
        int(f_ext.sum()),
        f_centre[f_ext],
        f_normal[f_ext],
    )

    par = np.concatenate([parent[decided], parent[~decided][fine_parent]])
    return Pieces(
        element=owner[par],
        parent=par,
        original=allt,
        tri=np.concatenate([coarse[decided], fine]),
        normal=np.concatenate([normal[decided], f_normal]),
        area=np.concatenate([area[decided], f_area]),
        exterior=np.concatenate([ext4[decided].all(axis=1), f_ext]),
        separating=np.concatenate([sep4[decided].all(axis=1), f_sep]),
    )


def reveal_mask(
    pieces: Pieces,
    host_openings: dict[int, list[npt.NDArray[np.float64]]],
    *,
    tolerance_m: float = 0.02,
) -> npt.NDArray[np.bool_]:
    """Pieces lying on (within ``tolerance_m`` of) the hull of one of their element's openings.

    Parameters
    ----------
    pieces
        From :func:`classify_pieces`.
    host_openings
        Element row -> list of opening vertex arrays (n, 3), world metres.
    """
    mask = np.zeros(len(pieces.area), dtype=bool)
    if not host_openings:
        return mask
    centre = pieces.tri.mean(axis=1)
    candidate = pieces.exterior
    order = np.argsort(pieces.element, kind="stable")
    bounds = np.searchsorted(pieces.element[order], np.arange(pieces.element.max() + 2 if len(order) else 1))
    for host, openings in host_openings.items():
        if host + 1 >= len(bounds):
            continue
        rows = order[bounds[host] : bounds[host + 1]]
        rows = rows[candidate[rows]]
        if not len(rows):
            continue
        pts = centre[rows]
        for verts in openings:
            if len(verts) < 4:
                continue
            try:
                hull = ConvexHull(verts)
            except (QhullError, ValueError):
                continue
            eq = hull.equations
            dist = pts @ eq[:, :3].T + eq[:, 3]
            inside = np.all(dist <= tolerance_m, axis=1)
            mask[rows[inside]] = True
    return mask
