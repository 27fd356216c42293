"""Torch vs the NumPy reference where they can be compared value for value.

* Intensity: the same control points give the same map (reference: np.interp on a
  100 000-point curve; torch: a 2048-knot table, the default).
* Shuffling: the batched last-writer scatter equals the reference's block loop
  semantics: each voxel takes a value from its *last* covering block, the values a
  block writes are distinct voxels of that block, uncovered voxels keep theirs.
* Painting boxes: sides, margins and counts drawn by torch obey the shared size rules.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genesis_core.transforms import TransformConfig
from genesis_core.transforms.blocks import catalogue, draw_blocks
from genesis_core.transforms.geometry import inpaint_size_range, outpaint_size_range
from genesis_core.transforms.intensity import BezierCurves, apply_tables, curve_tables
from genesis_core.transforms.painting import draw_boxes
from genesis_core.transforms.reference import bezier_lookup
from genesis_core.transforms.shuffle import draw_shuffle, plan_sources
from tests.genesis_core.transforms.conftest import FULL

CPU = torch.device("cpu")


def test_intensity_tables_match_the_reference_interp() -> None:
    rng = np.random.default_rng(0)
    control, inverted = rng.random((40, 4)), rng.random(40) < 0.5
    size = TransformConfig().bezier_table_size
    tables = curve_tables(BezierCurves(torch.tensor(control), torch.tensor(inverted)), size)
    values = rng.random(5000)
    errors = []
    for k in range(40):
        xp, fp = bezier_lookup(control[k], bool(inverted[k]), 100_000)
        ours = apply_tables(
            torch.tensor(values).view(1, 1, 1, 1, -1), (tables[0][k : k + 1], tables[1][k : k + 1])
        )
        errors.append(np.abs(ours.numpy().ravel() - np.interp(values, xp, fp)))
    errors = np.concatenate(errors)
    assert np.median(errors) < 1e-7 and np.quantile(errors, 0.999) < 3e-5 and errors.max() < 2e-2


def last_writer_check(sources: np.ndarray, sides: np.ndarray, origin: np.ndarray, spatial) -> None:
    """Replay the blocks in order, as the reference loop, and check ``sources`` of one cube."""
    last = -np.ones(spatial, dtype=int)
    for i, ((bd, bh, bw), (d, h, w)) in enumerate(zip(sides, origin, strict=True)):
        last[d : d + bd, h : h + bh, w : w + bw] = i
    src = sources.reshape(spatial)
    identity = np.arange(src.size).reshape(spatial)
    np.testing.assert_array_equal(src[last < 0], identity[last < 0])
    for i in np.unique(last[last >= 0]):
        (bd, bh, bw), (d, h, w) = sides[i], origin[i]
        moved = src[last == i]
        assert len(np.unique(moved)) == moved.size  # a permutation never duplicates
        z, y, x = np.unravel_index(moved, spatial)
        inside = (z >= d) & (z < d + bd) & (y >= h) & (y < h + bh) & (x >= w) & (x < w + bw)
        assert inside.all()


def origin_coords(linear: torch.Tensor, spatial: tuple[int, int, int]) -> np.ndarray:
    """(M, B) linear block origins → (M, B, 3) (D, H, W) coordinates."""
    return np.stack(np.unravel_index(linear.numpy(), spatial), axis=-1)


def test_shuffle_sources_follow_the_reference_loop() -> None:
    spatial, g = (20, 30, 40), torch.Generator().manual_seed(1)
    plan = draw_shuffle(4, spatial, 1000, g, CPU)
    sources = plan_sources(plan).numpy()
    sides = catalogue(spatial, CPU).sides[plan.blocks.shape].numpy()
    origin = origin_coords(plan.blocks.origin, spatial)
    for m in range(4):
        last_writer_check(sources[m], sides[m], origin[m], spatial)
    assert (sources != np.arange(np.prod(spatial))).mean() > 0.2  # blocks did move voxels


def test_shuffle_sources_do_not_depend_on_chunking() -> None:
    g = torch.Generator().manual_seed(2)
    plan = draw_shuffle(6, FULL, 2000, g, CPU)
    whole = plan_sources(plan)
    pieces = torch.cat([plan_sources(plan, slice(0, 1)), plan_sources(plan, slice(1, 6))])
    assert torch.equal(whole, pieces)


def test_block_shapes_and_origins_are_uniform() -> None:
    blocks = draw_blocks(2, FULL, 20_000, torch.Generator().manual_seed(3), CPU)
    sides = catalogue(FULL, CPU).sides[blocks.shape]
    for axis, top in enumerate((3, 6, 6)):
        counts = torch.bincount(sides[..., axis].flatten(), minlength=top + 1)[1:].double()
        assert (counts / counts.sum()).tolist() == pytest.approx([1 / top] * top, abs=0.01)
    origin = torch.from_numpy(origin_coords(blocks.origin, FULL))
    end = origin + sides
    assert int(origin.min()) == 0 and bool((end <= torch.tensor(FULL)).all())
    assert bool((end == torch.tensor(FULL)).any(dim=(0, 1)).all())  # the far faces are reachable


@pytest.mark.parametrize(
    ("size_range", "first_always"), [(inpaint_size_range, False), (outpaint_size_range, True)]
)
def test_painting_boxes_obey_the_size_rules(size_range, first_always: bool) -> None:
    boxes = draw_boxes(4000, FULL, size_range, first_always, torch.Generator().manual_seed(4), CPU)
    sides = (boxes.stop - boxes.start).view(-1, 3)
    for axis, size in enumerate(FULL):
        low, high = size_range(size)
        assert (int(sides[:, axis].min()), int(sides[:, axis].max())) == (low, high)
        assert (
            int(boxes.start[..., axis].min()) == 3 and int(boxes.stop[..., axis].max()) == size - 3
        )
    assert bool(boxes.active[:, 0].all()) == first_always
