"""Placing balls (nodules, lesions) inside a host tissue by vectorised rejection sampling.

Candidates are voxel centres drawn uniformly over the grid, a batch at a time;
one is accepted when its centre is host tissue and at least ``min_fraction`` of
the ball's voxels are.  A ball that does not fit is retried smaller.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from genesis_core.synth.grid import Grid
from genesis_core.synth.shapes import ball_offsets, stamp_balls
from genesis_core.synth.tissue import membership


class Ball(NamedTuple):
    """A placed ball: centre voxel index (X, Y, Z) and diameter in mm."""

    center_index_xyz: tuple[int, int, int]
    diameter_mm: float


def find_centre(tissue_map, grid: Grid, rng, radius_mm, host, min_fraction=0.9, batches=8):
    """A voxel index (X, Y, Z) where a ball of ``radius_mm`` sits in ``host``, or None."""
    allowed = membership(host)
    offsets = ball_offsets(radius_mm, grid.spacing_xyz)
    size = np.asarray(grid.size_xyz)
    for _ in range(batches):
        centres = rng.integers(0, size, (256, 3))
        centres = centres[allowed[tissue_map[centres[:, 2], centres[:, 1], centres[:, 0]]]][:32]
        if len(centres) == 0:
            continue
        voxels = np.clip(centres[:, None, :] + offsets[None], 0, size - 1)
        inside = allowed[tissue_map[voxels[..., 2], voxels[..., 1], voxels[..., 0]]]
        good = np.flatnonzero(inside.mean(axis=1) >= min_fraction)
        if good.size:
            return tuple(int(v) for v in centres[good[0]])
    return None


def place_balls(
    tissue_map, grid: Grid, rng, diameters_mm, host, tissue, min_diameter_mm=3.0, min_fraction=0.9
):
    """Paint one ball of ``tissue`` per requested diameter inside ``host``; returns the :class:`Ball` s.

    A diameter that does not fit is shrunk by 20 % steps down to
    ``min_diameter_mm``; a ball that never fits is skipped.
    """
    placed = []
    for diameter in diameters_mm:
        d = float(diameter)
        while d >= min_diameter_mm:
            centre = find_centre(tissue_map, grid, rng, d / 2, host, min_fraction)
            if centre is not None:
                stamp_balls(tissue_map, grid, [centre], d / 2, tissue, where=host)
                placed.append(Ball(centre, round(d, 2)))
                break
            d *= 0.8
    return placed
