"""Branching, tapering vessel trees."""

from __future__ import annotations

import numpy as np

from genesis_core.synth.grid import Grid
from genesis_core.synth.tissue import Tissue
from genesis_core.synth.vessels import Segments, centre_line, draw_vessels, grow_tree


def _everywhere(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points, axis=1) < 60


def test_tree_branches_and_tapers() -> None:
    rng = np.random.default_rng(0)
    tree = grow_tree(rng, [[0, 0, 0]], [[1, 0, 0]], 3.0, _everywhere, min_radius_mm=0.5)
    assert len(tree.radii) > 20
    assert tree.radii[0] == 3.0 and tree.radii.min() < 1.0 and tree.radii.max() == 3.0
    ends = {tuple(np.round(e, 6)) for e in tree.ends}
    # every branch but the root starts where an earlier one ended (it is a tree)
    assert all(tuple(np.round(s, 6)) in ends for s in tree.starts[1:])


def test_branches_stop_outside_the_host() -> None:
    rng = np.random.default_rng(1)
    tree = grow_tree(rng, [[0, 0, 0]], [[0, 0, 1]], 2.0, lambda p: np.abs(p[:, 0]) < 5)
    inside_starts = np.abs(tree.starts[:, 0]) < 5
    assert inside_starts.all()  # children only grow from ends inside the host


def test_centre_line_is_dense_enough_to_be_continuous() -> None:
    segments = Segments(
        np.array([[0.0, 0, 0], [10, 0, 0]]),
        np.array([[10.0, 0, 0], [10, 7, 3]]),
        np.array([3.0, 0.5]),
    )
    points, radii = centre_line(segments, (0.7, 0.7, 1.5))
    for r, start, end in zip((3.0, 0.5), segments.starts, segments.ends, strict=True):
        line = points[radii == r]
        assert np.allclose(line[0], start) and np.allclose(line[-1], end)
        gaps = np.linalg.norm(np.diff(line, axis=0), axis=1)
        assert gaps.max() <= max(0.5 * r, 0.7 * 0.7) + 1e-9


def test_draw_vessels_paints_only_the_host() -> None:
    grid = Grid((64, 64, 32), (1.0, 1.0, 1.0))
    tissue = np.full(grid.shape, Tissue.SOFT, np.uint8)
    tissue[:, :, 32:] = Tissue.LUNG
    tree = grow_tree(np.random.default_rng(3), [[0, 0, 0]], [[1, 0, 0]], 2.0, _everywhere)
    draw_vessels(tissue, grid, tree)
    assert (tissue[:, :, :32] == Tissue.SOFT).all()
    assert (tissue == Tissue.VESSEL).sum() > 50
