"""Synthetic abdominal CT with a liver and liver lesions, labelled the LiTS way.

Array layout (Z, Y, X); ``hu`` int16 HU, ``label`` uint8 with 0 background,
1 liver, 2 lesion (tumour).  Geometry (X, Y, Z) mm, LPS: the liver sits on the
patient's right (−X), anterior (−Y).  Organs are jittered ellipsoids scaled to
the field of view; lesion diameters are millimetres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genesis_core.synth.anatomy import body_outline, paint_body_wall, paint_spine
from genesis_core.synth.grid import Grid
from genesis_core.synth.placement import Ball, place_balls
from genesis_core.synth.shapes import SliceEllipses, fill
from genesis_core.synth.tissue import Tissue, render_hu

LIVER_LABEL, LESION_LABEL = 1, 2


@dataclass(frozen=True)
class AbdomenPhantom:
    """``hu`` int16, ``label`` uint8 and ``tissue`` uint8, all (Z, Y, X); placed ``lesions``."""

    hu: np.ndarray
    label: np.ndarray
    tissue: np.ndarray
    lesions: list[Ball]


def abdomen_phantom(
    size_xyz: Sequence[int],
    spacing_xyz: Sequence[float],
    rng: np.random.Generator,
    lesions: int | Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """An abdominal CT: int16 HU (Z, Y, X) and uint8 labels (0 bg, 1 liver, 2 lesion).

    ``lesions``: how many (diameters 5–50 mm), explicit diameters in mm, or None for 1–3.
    """
    phantom = make_abdomen(size_xyz, spacing_xyz, rng, lesions)
    return phantom.hu, phantom.label


def make_abdomen(
    size_xyz: Sequence[int],
    spacing_xyz: Sequence[float],
    rng: np.random.Generator,
    lesions: int | Sequence[float] | None = None,
) -> AbdomenPhantom:
    """:func:`abdomen_phantom` that also returns the tissue map and the lesions."""
    grid = Grid(tuple(int(n) for n in size_xyz), tuple(float(s) for s in spacing_xyz))
    tissue = np.zeros(grid.shape, np.uint8)
    paint_body_wall(tissue, grid, body_outline(grid, rng, (0.94, 0.72)), fat=0.12, muscle=0.08)
    hx, hy, _ = grid.half_extent
    paint_spine(tissue, grid, (0.0, 0.33 * hy), 0.09 * hx)
    paint_retroperitoneum(tissue, grid, rng)
    paint_liver(tissue, grid, rng)
    paint_upper_left(tissue, grid, rng)
    paint_bowel(tissue, grid, rng)
    placed = place_balls(
        tissue, grid, rng, lesion_diameters(rng, lesions), (Tissue.LIVER,), Tissue.LESION
    )
    label = np.zeros(grid.shape, np.uint8)
    label[tissue == Tissue.LIVER] = LIVER_LABEL
    label[tissue == Tissue.LESION] = LESION_LABEL
    return AbdomenPhantom(render_hu(tissue, rng), label, tissue, placed)


def lesion_diameters(rng: np.random.Generator, lesions) -> list[float]:
    """Requested lesion diameters in mm: log-normal around 15 mm, clipped to 5–50 mm."""
    if lesions is not None and not isinstance(lesions, int | np.integer):
        return [float(d) for d in lesions]
    count = int(rng.integers(1, 4)) if lesions is None else int(lesions)
    return list(np.clip(rng.lognormal(np.log(15.0), 0.5, count), 5.0, 50.0))


def _organ(grid: Grid, rng, centre_frac, semi_frac) -> SliceEllipses:
    """Ellipsoid given in fractions of the half field of view, jittered by a few percent."""
    half = grid.half_extent
    centre = (np.asarray(centre_frac) + rng.uniform(-0.03, 0.03, 3)) * half
    semi = np.asarray(semi_frac) * rng.uniform(0.9, 1.1, 3) * half
    return SliceEllipses.ellipsoid(grid, centre, semi)


def paint_retroperitoneum(tissue: np.ndarray, grid: Grid, rng) -> None:
    """Paraspinal muscles, aorta, inferior vena cava and both kidneys."""
    hx, hy, _ = grid.half_extent
    for side in (-1, 1):
        muscle = SliceEllipses.prism(grid, (side * 0.17 * hx, 0.50 * hy), (0.12 * hx, 0.11 * hy))
        fill(tissue, grid, muscle, Tissue.MUSCLE, where=Tissue.SOFT)
        kidney = _organ(grid, rng, (side * 0.33, 0.22, -0.4), (0.11, 0.15, 0.5))
        fill(tissue, grid, kidney, Tissue.KIDNEY, where=Tissue.SOFT)
    aorta = SliceEllipses.prism(grid, (0.06 * hx, 0.14 * hy), (0.05 * hx, 0.05 * hx))
    fill(tissue, grid, aorta, Tissue.VESSEL, where=Tissue.SOFT)
    ivc = SliceEllipses.prism(grid, (-0.12 * hx, 0.10 * hy), (0.06 * hx, 0.045 * hx))
    fill(tissue, grid, ivc, Tissue.VESSEL, where=Tissue.SOFT)


def paint_liver(tissue: np.ndarray, grid: Grid, rng) -> None:
    """Liver: right lobe, left lobe and inferior tip (three ellipsoids), minus the gallbladder."""
    lobes = [
        ((-0.38, -0.02, 0.25), (0.42, 0.50, 0.90)),
        ((0.02, -0.30, 0.45), (0.30, 0.17, 0.50)),
        ((-0.52, 0.02, -0.40), (0.22, 0.32, 0.45)),
    ]
    for centre, semi in lobes:
        fill(tissue, grid, _organ(grid, rng, centre, semi), Tissue.LIVER, where=Tissue.SOFT)
    gallbladder = _organ(grid, rng, (-0.18, -0.28, -0.25), (0.07, 0.09, 0.22))
    fill(tissue, grid, gallbladder, Tissue.CSF, where=(Tissue.LIVER, Tissue.SOFT))


def paint_bowel(tissue: np.ndarray, grid: Grid, rng) -> None:
    """Gas pockets and bowel loops (soft-tissue balls) in mesenteric fat.

    Loops are drawn as :attr:`Tissue.MUSCLE` (bowel wall, ~+45 HU); whatever
    interior soft tissue is left afterwards becomes fat.
    """
    scale = min(grid.half_extent[:2])  # ~190 mm on a 512² grid: 6–19 mm gas, 15–38 mm loops
    gas = rng.uniform(0.03, 0.1, int(rng.integers(2, 6))) * scale
    place_balls(tissue, grid, rng, gas, (Tissue.SOFT,), Tissue.BOWEL_GAS)
    loops = rng.uniform(0.08, 0.2, 40) * scale
    place_balls(tissue, grid, rng, loops, (Tissue.SOFT,), Tissue.MUSCLE, min_fraction=0.6)
    np.copyto(tissue, np.uint8(Tissue.FAT), where=tissue == Tissue.SOFT)


def paint_upper_left(tissue: np.ndarray, grid: Grid, rng) -> None:
    """Spleen (posterior left) and a stomach with an air cap (anterior left)."""
    spleen = _organ(grid, rng, (0.48, 0.12, 0.35), (0.14, 0.25, 0.5))
    fill(tissue, grid, spleen, Tissue.SPLEEN, where=Tissue.SOFT)
    stomach = _organ(grid, rng, (0.32, -0.22, 0.30), (0.22, 0.20, 0.50))
    fill(tissue, grid, stomach, Tissue.MUSCLE, where=Tissue.SOFT)
    air_cap = _organ(grid, rng, (0.32, -0.34, 0.40), (0.14, 0.07, 0.30))
    fill(tissue, grid, air_cap, Tissue.BOWEL_GAS, where=Tissue.MUSCLE)
