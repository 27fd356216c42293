"""Vectorised drawing primitives on a tissue map (Z, Y, X): ellipse stacks and balls.

Everything is in mm about the grid centre (see :class:`Grid`).  Ellipse stacks
are evaluated only inside their bounding box, as a sum of a (Z, 1, X) and a
(Z, Y, 1) term, so a full-volume body outline costs one pass over memory.
Balls are painted by scattering precomputed voxel offsets, never by looping
over voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genesis_core.synth.grid import Grid
from genesis_core.synth.tissue import membership

Box = tuple[slice, slice, slice]  # (Z, Y, X)
_FAR = np.float32(1e15)  # centre of an absent slice: its quadric is ~1e30, never ≤ 1


@dataclass(frozen=True)
class SliceEllipses:
    """One ellipse per axial slice: centres ``cx, cy`` and semi-axes ``ax, ay`` in mm, (Z,).

    A slice whose semi-axes are 0 has no ellipse.
    """

    cx: np.ndarray
    cy: np.ndarray
    ax: np.ndarray
    ay: np.ndarray

    @classmethod
    def prism(cls, grid: Grid, centre_xy, semi_xy, scale_z=None) -> SliceEllipses:
        """Elliptic cylinder along Z; ``scale_z`` (Z,) optionally scales the semi-axes."""
        nz = grid.shape[0]
        scale = np.ones(nz) if scale_z is None else np.asarray(scale_z, float)
        cx, cy = (np.broadcast_to(np.asarray(c, float), (nz,)) for c in centre_xy)
        return cls(cx, cy, semi_xy[0] * scale, semi_xy[1] * scale)

    @classmethod
    def ellipsoid(cls, grid: Grid, centre_xyz, semi_xyz) -> SliceEllipses:
        """Ellipsoid with centre and semi-axes in mm (X, Y, Z)."""
        t = (grid.axes_mm[2].astype(float) - centre_xyz[2]) / semi_xyz[2]
        scale = np.sqrt(np.clip(1 - t**2, 0, None))
        return cls.prism(grid, centre_xyz[:2], semi_xyz[:2], scale)

    def scaled(self, factor: float) -> SliceEllipses:
        """The same stack with semi-axes multiplied by ``factor``."""
        return SliceEllipses(self.cx, self.cy, self.ax * factor, self.ay * factor)

    def box(self, grid: Grid) -> Box | None:
        """Bounding box of the stack in array indices, or None when it is empty."""
        present = np.flatnonzero((self.ax > 0) & (self.ay > 0))
        if present.size == 0:
            return None
        x, y, _ = grid.axes_mm
        cx, cy, ax, ay = (v[present] for v in (self.cx, self.cy, self.ax, self.ay))
        xs = _index_range(x, (cx - ax).min(), (cx + ax).max())
        ys = _index_range(y, (cy - ay).min(), (cy + ay).max())
        return (slice(int(present[0]), int(present[-1]) + 1), ys, xs)

    def quadric(self, grid: Grid, box: Box) -> np.ndarray:
        """((x−cx)/ax)² + ((y−cy)/ay)² over ``box``: float32 (z, y, x); ≤ 1 inside."""
        x, y, _ = grid.axes_mm
        present = (self.ax > 0) & (self.ay > 0)
        cx = np.where(present, self.cx, _FAR)[box[0], None, None].astype(np.float32)
        cy = self.cy[box[0], None, None].astype(np.float32)
        inv_ax = (1 / np.where(present, self.ax, 1))[box[0], None, None].astype(np.float32)
        inv_ay = (1 / np.where(present, self.ay, 1))[box[0], None, None].astype(np.float32)
        tx = np.square((x[None, None, box[2]] - cx) * inv_ax)
        ty = np.square((y[None, box[1], None] - cy) * inv_ay)
        return tx + ty


def _index_range(axis: np.ndarray, lo: float, hi: float) -> slice:
    return slice(int(np.searchsorted(axis, lo, "left")), int(np.searchsorted(axis, hi, "right")))


def paint(tissue_map: np.ndarray, box: Box, mask: np.ndarray, tissue: int, where=None) -> None:
    """Set ``tissue`` in ``tissue_map[box]`` where ``mask`` (and the old code is in ``where``)."""
    view = tissue_map[box]
    if where is not None:
        mask = mask & membership(where)[view]
    np.copyto(view, np.uint8(tissue), where=mask)


def fill(tissue_map: np.ndarray, grid: Grid, shape: SliceEllipses, tissue: int, where=None):
    """Paint the inside of an ellipse stack with ``tissue`` (only over codes in ``where``)."""
    box = shape.box(grid)
    if box is not None:
        paint(tissue_map, box, shape.quadric(grid, box) <= 1, tissue, where)


def ball_offsets(radius_mm: float, spacing_xyz) -> np.ndarray:
    """Integer voxel offsets (M, 3) (X, Y, Z) of a ball of ``radius_mm``; always holds 0."""
    sp = np.asarray(spacing_xyz, float)
    reach = np.floor(radius_mm / sp).astype(int)
    axes = [np.arange(-r, r + 1) for r in reach]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    return grid[np.sum((grid * sp) ** 2, axis=1) <= radius_mm**2 + 1e-9]


def stamp_balls(tissue_map, grid: Grid, centres_xyz, radius_mm: float, tissue: int, where=None):
    """Paint balls of ``radius_mm`` at voxel indices ``centres_xyz`` (N, 3) (X, Y, Z)."""
    offsets = ball_offsets(radius_mm, grid.spacing_xyz)
    chunk = max(1, 4_000_000 // len(offsets))
    centres = np.asarray(centres_xyz, np.int64).reshape(-1, 3)
    for start in range(0, len(centres), chunk):
        voxels = (centres[start : start + chunk, None, :] + offsets[None]).reshape(-1, 3)
        voxels = voxels[grid.contains(voxels)]
        flat = np.ravel_multi_index((voxels[:, 2], voxels[:, 1], voxels[:, 0]), grid.shape)
        if where is not None:
            flat = flat[membership(where)[np.take(tissue_map, flat)]]
        np.put(tissue_map, flat, np.uint8(tissue))
