"""Anatomy shared by the chest and abdomen phantoms: body wall and spine.

All functions paint into a uint8 tissue map (Z, Y, X) of
:class:`~genesis_core.synth.tissue.Tissue` codes; positions and sizes are mm
about the grid centre, with +X towards the patient's left, +Y posterior and +Z
superior (LPS, as in LUNA16 and DICOM).
"""

from __future__ import annotations

import numpy as np

from genesis_core.synth.grid import Grid
from genesis_core.synth.shapes import Box, SliceEllipses, fill, paint
from genesis_core.synth.tissue import Tissue


def body_outline(grid: Grid, rng: np.random.Generator, semi_frac=(0.92, 0.66)) -> SliceEllipses:
    """Skin outline: an elliptic cylinder filling the field of view, gently varying along Z.

    ``semi_frac`` are the semi-axes as fractions of the half field of view (X, Y).
    """
    hx, hy, hz = grid.half_extent
    t = grid.axes_mm[2] / hz
    wobble = 1 + 0.03 * np.sin(np.pi * t * rng.uniform(0.5, 1.5) + rng.uniform(0, 2 * np.pi))
    semi = (semi_frac[0] * hx * rng.uniform(0.95, 1.0), semi_frac[1] * hy * rng.uniform(0.9, 1.0))
    return SliceEllipses.prism(grid, (0.0, -0.04 * hy), semi, wobble)


def paint_body_wall(
    tissue_map: np.ndarray, grid: Grid, body: SliceEllipses, fat: float, muscle: float
) -> tuple[Box, np.ndarray]:
    """Fill the body: subcutaneous fat, a muscle layer, then soft tissue inside.

    ``fat`` and ``muscle`` are layer thicknesses as fractions of the body
    semi-axes.  Returns the body's box and quadric (reused to place ribs).
    """
    box = body.box(grid)
    q = body.quadric(grid, box)
    paint(tissue_map, box, q <= 1, Tissue.FAT)
    paint(tissue_map, box, q <= (1 - fat) ** 2, Tissue.MUSCLE)
    paint(tissue_map, box, q <= (1 - fat - muscle) ** 2, Tissue.SOFT)
    return box, q


def paint_spine(tissue_map: np.ndarray, grid: Grid, centre_xy, radius_mm: float) -> None:
    """Vertebral column along Z: bodies with cortex and discs, arch, canal, spinous process.

    ``centre_xy`` is the vertebral-body centre in mm; ``radius_mm`` its radius.
    """
    cx, cy = centre_xy
    r = radius_mm
    pitch = 1.7 * r  # vertebral height + disc, ~30 mm for a 35 mm wide body
    disc = (np.mod(grid.axes_mm[2], pitch) < 0.2 * pitch).astype(float)
    vertebra = SliceEllipses.prism(grid, (cx, cy), (r, 0.9 * r))
    fill(tissue_map, grid, vertebra, Tissue.CORTICAL_BONE)
    fill(tissue_map, grid, vertebra.scaled(0.8), Tissue.CANCELLOUS_BONE)
    fill(tissue_map, grid, SliceEllipses.prism(grid, (cx, cy), (r, 0.9 * r), disc), Tissue.DISC)
    arch = SliceEllipses.prism(grid, (cx, cy + 1.5 * r), (0.75 * r, 0.65 * r))
    fill(tissue_map, grid, arch, Tissue.CORTICAL_BONE)
    canal = SliceEllipses.prism(grid, (cx, cy + 1.45 * r), (0.42 * r, 0.42 * r))
    fill(tissue_map, grid, canal, Tissue.CSF)
    process = SliceEllipses.prism(grid, (cx, cy + 2.2 * r), (0.18 * r, 0.6 * r))
    fill(tissue_map, grid, process, Tissue.CORTICAL_BONE)
