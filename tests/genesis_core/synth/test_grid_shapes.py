"""Grid coordinates and the drawing primitives (ellipse stacks, balls)."""

from __future__ import annotations

import numpy as np

from genesis_core.synth.grid import Grid
from genesis_core.synth.shapes import SliceEllipses, ball_offsets, fill, stamp_balls
from genesis_core.synth.tissue import Tissue

GRID = Grid((40, 30, 20), (0.5, 0.5, 1.0))


def test_grid_shape_is_zyx_and_index_mm_round_trip() -> None:
    assert GRID.shape == (20, 30, 40)
    idx = np.array([[0, 0, 0], [39, 29, 19], [10, 5, 7]])
    assert np.array_equal(GRID.to_index(GRID.to_mm(idx)), idx)
    assert np.allclose(GRID.to_mm([[19.5, 14.5, 9.5]]), 0)
    assert GRID.contains(np.array([[39, 29, 19], [40, 0, 0], [-1, 0, 0]])).tolist() == [
        True,
        False,
        False,
    ]


def test_ellipsoid_volume_matches_formula() -> None:
    grid = Grid((80, 80, 40), (0.5, 0.5, 1.0))
    tissue = np.zeros(grid.shape, np.uint8)
    fill(tissue, grid, SliceEllipses.ellipsoid(grid, (1.0, -2.0, 0.5), (10, 8, 12)), 1)
    volume_mm3 = (tissue == 1).sum() * 0.25
    assert abs(volume_mm3 / (4 / 3 * np.pi * 10 * 8 * 12) - 1) < 0.05


def test_fill_respects_where() -> None:
    tissue = np.full(GRID.shape, Tissue.FAT, np.uint8)
    tissue[:10] = Tissue.LUNG
    fill(tissue, GRID, SliceEllipses.prism(GRID, (0, 0), (50, 50)), Tissue.SOFT, Tissue.LUNG)
    assert (tissue[:10] == Tissue.SOFT).all() and (tissue[10:] == Tissue.FAT).all()


def test_ball_offsets_follow_anisotropic_spacing() -> None:
    offsets = ball_offsets(2.0, (0.5, 0.5, 1.0))
    assert [0, 0, 0] in offsets.tolist()
    assert np.abs(offsets).max(axis=0).tolist() == [4, 4, 2]
    assert len(ball_offsets(0.1, (1, 1, 1))) == 1


def test_stamp_balls_clips_at_the_border_and_respects_where() -> None:
    tissue = np.zeros(GRID.shape, np.uint8)
    tissue[:, :, 20:] = Tissue.LUNG
    stamp_balls(tissue, GRID, [[0, 0, 0], [30, 15, 10]], 2.0, Tissue.VESSEL, where=Tissue.LUNG)
    assert tissue[0, 0, 0] == Tissue.AIR  # not host tissue
    assert tissue[10, 15, 30] == Tissue.VESSEL and tissue[10, 15, 34] == Tissue.VESSEL
    assert tissue[10, 15, 35] == Tissue.LUNG
