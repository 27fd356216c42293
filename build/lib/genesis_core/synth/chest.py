"""Synthetic chest CT: body wall, ribs, spine, heart, aorta, two lungs with vessel trees, nodules.

Array layout (Z, Y, X), int16 HU; geometry (X, Y, Z) in mm with +X to the
patient's left, +Y posterior, +Z superior (LPS, as LUNA16).  Anatomy scales
with the field of view, so tiny test grids and 512×512×300 benchmark grids look
alike; nodule diameters are true millimetres (3–30 mm, shrunk when a lung is
too small to hold them, skipped when even 3 mm does not fit).  A 512×512×300
phantom takes about 2 s: every structure is one vectorised pass over its
bounding box, vessels are scattered ball stencils, noise is one table lookup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genesis_core.synth.anatomy import body_outline, paint_body_wall, paint_spine
from genesis_core.synth.grid import Grid
from genesis_core.synth.placement import Ball, place_balls
from genesis_core.synth.shapes import Box, SliceEllipses, fill, paint
from genesis_core.synth.tissue import Tissue, render_hu
from genesis_core.synth.vessels import draw_vessels, grow_tree, tissue_test

Nodule = Ball  # (center_index_xyz, diameter_mm)
LUNG_HOST = (Tissue.LUNG, Tissue.VESSEL)


@dataclass(frozen=True)
class ChestPhantom:
    """``hu`` int16 (Z, Y, X); ``tissue`` uint8 (Z, Y, X) :class:`Tissue` codes; ``nodules``."""

    hu: np.ndarray
    tissue: np.ndarray
    nodules: list[Nodule]


def chest_phantom(
    size_xyz: Sequence[int],
    spacing_xyz: Sequence[float],
    rng: np.random.Generator,
    nodules: int | Sequence[float] | None = None,
) -> tuple[np.ndarray, list[Nodule]]:
    """A chest CT: int16 HU (Z, Y, X) and its nodules as ``(center_index_xyz, diameter_mm)``.

    ``nodules``: how many (diameters drawn 3–30 mm, mostly 4–12), explicit
    diameters in mm, or None for 1–3.
    """
    phantom = make_chest(size_xyz, spacing_xyz, rng, nodules)
    return phantom.hu, phantom.nodules


def make_chest(
    size_xyz: Sequence[int],
    spacing_xyz: Sequence[float],
    rng: np.random.Generator,
    nodules: int | Sequence[float] | None = None,
) -> ChestPhantom:
    """:func:`chest_phantom` that also returns the tissue map (for sampling candidates)."""
    grid = Grid(tuple(int(n) for n in size_xyz), tuple(float(s) for s in spacing_xyz))
    tissue = np.zeros(grid.shape, np.uint8)
    body = body_outline(grid, rng)
    box, q = paint_body_wall(tissue, grid, body, fat=0.08, muscle=0.15)
    lungs = lung_shapes(grid, rng)
    for lung in lungs:
        fill(tissue, grid, lung, Tissue.LUNG, where=Tissue.SOFT)
    paint_mediastinum(tissue, grid, rng)
    paint_ribs(tissue, grid, box, q, body)
    paint_spine(tissue, grid, (0.0, 0.30 * grid.half_extent[1]), 0.085 * grid.half_extent[0])
    for lung in lungs:
        draw_vessels(tissue, grid, lung_vessels(tissue, grid, rng, lung))
    placed = place_balls(
        tissue, grid, rng, nodule_diameters(rng, nodules), LUNG_HOST, Tissue.NODULE
    )
    return ChestPhantom(render_hu(tissue, rng), tissue, placed)


def nodule_diameters(rng: np.random.Generator, nodules) -> list[float]:
    """Requested nodule diameters in mm: log-normal around 8 mm, clipped to 3–30 mm."""
    if nodules is not None and not isinstance(nodules, int | np.integer):
        return [float(d) for d in nodules]
    count = int(rng.integers(1, 4)) if nodules is None else int(nodules)
    return list(np.clip(rng.lognormal(np.log(8.0), 0.5, count), 3.0, 30.0))


def lung_shapes(grid: Grid, rng: np.random.Generator) -> list[SliceEllipses]:
    """Right (−X) and left (+X) lungs: ellipse stacks narrowing to the apex (+Z)."""
    hx, hy, hz = grid.half_extent
    t = grid.axes_mm[2] / hz
    profile = np.sqrt(np.clip(1 - ((t + 0.15) / 1.3) ** 2, 0, None))
    lungs = []
    for side in (-1, 1):
        semi = (0.28 * hx * rng.uniform(0.94, 1.04), 0.44 * hy * rng.uniform(0.94, 1.0))
        cy = 0.03 * hy * (rng.uniform(-1, 1) - t)  # bases sit slightly more posterior
        lungs.append(SliceEllipses.prism(grid, (side * 0.38 * hx, cy), semi, profile))
    return lungs


def paint_mediastinum(tissue: np.ndarray, grid: Grid, rng: np.random.Generator) -> None:
    """Heart, descending aorta and diaphragm domes, carved out of the lungs."""
    hx, hy, hz = grid.half_extent
    heart = (0.10 * hx, -0.18 * hy, -0.35 * hz), (0.30 * hx, 0.30 * hy, 0.55 * hz)
    fill(tissue, grid, _jittered(grid, rng, *heart), Tissue.SOFT, where=LUNG_HOST)
    aorta = SliceEllipses.prism(grid, (0.10 * hx, 0.20 * hy), (0.06 * hx, 0.06 * hx))
    fill(tissue, grid, aorta, Tissue.VESSEL, where=(Tissue.LUNG, Tissue.SOFT))
    liver_dome = (-0.30 * hx, -0.05 * hy, -1.35 * hz), (0.42 * hx, 0.45 * hy, 0.55 * hz)
    fill(tissue, grid, _jittered(grid, rng, *liver_dome), Tissue.LIVER, where=(Tissue.LUNG,))
    left_dome = (0.30 * hx, -0.05 * hy, -1.45 * hz), (0.40 * hx, 0.45 * hy, 0.55 * hz)
    fill(tissue, grid, _jittered(grid, rng, *left_dome), Tissue.SOFT, where=(Tissue.LUNG,))


def _jittered(grid, rng, centre, semi) -> SliceEllipses:
    """An ellipsoid whose centre moves by up to 3 % and semi-axes by up to 8 % of the FOV."""
    shift = rng.uniform(-0.03, 0.03, 3) * grid.half_extent
    scale = rng.uniform(0.92, 1.08, 3)
    return SliceEllipses.ellipsoid(grid, np.add(centre, shift), np.multiply(semi, scale))


def paint_ribs(tissue, grid: Grid, box: Box, q: np.ndarray, body: SliceEllipses) -> None:
    """Ribs: a bony band just inside the chest wall, on oblique 28 mm-pitched strips.

    Ribs descend anteriorly, so the strip phase depends on Z and Y; the midline
    is left out (costal cartilage in front, the spine behind) and a sternum is drawn.
    """
    _, y, z = grid.axes_mm
    phase = np.mod((z[box[0], None, None] + 0.6 * y[None, box[1], None]) / 28.0, 1.0)
    strips = phase < 0.3
    x = grid.axes_mm[0][None, None, box[2]]
    midline = np.abs(x) < 0.15 * grid.half_extent[0]
    band = (q >= 0.71**2) & (q <= 0.78**2)
    paint(tissue, box, band & strips & ~midline, Tissue.CORTICAL_BONE)
    hx, hy = grid.half_extent[:2]
    front = float(np.mean(body.cy - 0.72 * body.ay))
    sternum = SliceEllipses.prism(grid, (0.0, front), (0.08 * hx, 0.035 * hy))
    fill(tissue, grid, sternum, Tissue.CORTICAL_BONE)


#: Vessel roots per lung: (height as a fraction of the half Z extent, radius factor,
#: directions (lateral, posterior, superior)); lateral is mirrored for the right lung.
VESSEL_ROOTS = (
    (0.05, 1.0, ((0.5, 0, 1.5), (0.5, 0.3, -1.5), (1, 0, 0), (0.4, -1, 0.2), (0.4, 1, -0.3))),
    (0.5, 0.7, ((0.5, 0, 1), (0.3, -1, 0.5), (0.3, 1, 0.5))),
    (-0.45, 0.7, ((0.5, 0, -1), (0.3, -1, -0.5), (0.3, 1, -0.5))),
)


def lung_vessels(tissue: np.ndarray, grid: Grid, rng, lung: SliceEllipses):
    """Trees from the hilum (medial edge, mid-height) and from upper and lower lobar roots."""
    x_axis, _, z_axis = grid.axes_mm
    k_mid = int(np.argmax(lung.ax))
    side = np.sign(lung.cx[k_mid])
    trunk = float(np.clip(0.1 * lung.ax[k_mid], 0.8, 5.0))
    roots, directions, radii = [], [], []
    for height, radius, dirs in VESSEL_ROOTS:
        k = int(np.argmin(np.abs(z_axis - height * grid.half_extent[2])))
        root = (lung.cx[k] - side * 0.5 * lung.ax[k], lung.cy[k], z_axis[k])
        roots += [root] * len(dirs)
        directions += [(side * d[0], d[1], d[2]) for d in dirs]
        radii += [radius * trunk] * len(dirs)
    directions = np.asarray(directions, float) + rng.normal(0, 0.2, (len(directions), 3))
    inside = tissue_test(tissue, grid, LUNG_HOST)
    return grow_tree(rng, np.asarray(roots, float), directions, np.asarray(radii), inside)
