"""The NumPy reference (sample by sample): invariants and the SPEC §2 statistics."""

from __future__ import annotations

import numpy as np
import pytest

from genesis_core.transforms import TransformConfig, reference_pair, reference_pairs
from genesis_core.transforms import reference as ref
from tests.genesis_core.transforms.conftest import FULL, SMALL, matching_flip, ramp

MODES = ["faithful", "fixed"]
ALLOWED = {"faithful": (0, 2, 3), "fixed": (1, 2, 3)}  # (C, D, H, W) axes a flip may touch


@pytest.mark.parametrize("mode", MODES)
def test_pair_invariants(mode: str) -> None:
    """Shape, dtype and range kept; input untouched; target is a flip of the input."""
    config = TransformConfig(mode=mode)
    rng = np.random.default_rng(0)
    cube = ramp((1, *SMALL))
    before = cube.copy()
    for _ in range(6):
        x, y = reference_pair(cube, rng, config)
        assert x.shape == y.shape == cube.shape and x.dtype == y.dtype == cube.dtype
        assert 0.0 <= x.min() and x.max() <= 1.0
        assert matching_flip(y, cube, ALLOWED[mode]) is not None
        assert not np.shares_memory(x, cube) and not np.shares_memory(y, cube)
    np.testing.assert_array_equal(cube, before)


def test_same_seed_same_pairs_and_batches() -> None:
    config = TransformConfig(mode="faithful", shuffle_blocks=500)
    cubes = np.random.default_rng(1).random((3, 1, *SMALL))
    a = reference_pairs(cubes, np.random.default_rng(7), config)
    b = reference_pairs(cubes, np.random.default_rng(7), config)
    c = reference_pairs(cubes, np.random.default_rng(8), config)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("mode", MODES)
def test_flip_counts_and_axes(mode: str) -> None:
    rng, config = np.random.default_rng(2), TransformConfig(mode=mode)
    draws = [ref.flip_axes(rng, config) for _ in range(20_000)]
    counts = np.bincount([len(d) for d in draws], minlength=4) / len(draws)
    np.testing.assert_allclose(counts, [0.6, 0.24, 0.096, 0.064], atol=0.012)
    used = {a for d in draws for a in d}
    assert used == ({0, 3, 2} if mode == "faithful" else {1, 2, 3})  # faithful: never Z (1)


def test_painting_split() -> None:
    rng, config = np.random.default_rng(3), TransformConfig()
    kinds = [ref.paint_kind(rng, config) for _ in range(20_000)]
    shares = [kinds.count(k) / len(kinds) for k in ("outpaint", "inpaint", None)]
    np.testing.assert_allclose(shares, [0.72, 0.18, 0.10], atol=0.012)


def test_box_counts_and_geometry() -> None:
    rng = np.random.default_rng(4)
    inner = [ref.inpaint_boxes(rng, FULL) for _ in range(4000)]
    outer = [ref.outpaint_boxes(rng, FULL) for _ in range(4000)]
    assert abs(np.mean([len(b) for b in inner]) - 4.30) < 0.06  # Σ 0.95^k, k ≤ 5
    assert abs(np.mean([len(b) for b in outer]) - 4.52) < 0.06  # 1 + Σ 0.95^k, k ≤ 4
    assert min(len(b) for b in outer) == 1 and max(len(b) for b in inner) == 5
    for boxes, (lo64, hi64), (lo32, hi32) in (
        (inner, (10, 21), (5, 10)),
        (outer, (28, 37), (14, 19)),
    ):
        regions = [r for b in boxes for r in b]
        sides = np.array([[s.stop - s.start for s in r] for r in regions])
        assert sides[:, 0].min() == lo32 and sides[:, 0].max() == hi32
        assert sides[:, 1:].min() == lo64 and sides[:, 1:].max() == hi64
        assert min(s.start for r in regions for s in r) == 3
        assert all(s.stop <= n - 3 for r in regions for s, n in zip(r, FULL, strict=True))


@pytest.mark.parametrize("mode", MODES)
def test_painting_fractions(mode: str) -> None:
    """Out-painting keeps ≈32 % of voxels (≥ one 28×28×14 box); in-painting masks ≈5.6 %."""
    rng, config = np.random.default_rng(5), TransformConfig(mode=mode)
    cubes = rng.random((100, 1, *FULL)).astype(np.float32)
    kept = np.array([(ref.out_painting(c, rng, config) == c).mean() for c in cubes])
    masked = np.array([(ref.in_painting(c, rng, config) != c).mean() for c in cubes])
    assert abs(kept.mean() - 0.32) < 0.03 and kept.min() >= 28 * 28 * 14 / (64 * 64 * 32)
    assert kept.max() < 0.6
    assert abs(masked.mean() - 0.056) < 0.008


@pytest.mark.parametrize("mode", MODES)
def test_shuffling_changes_79_percent_of_noise(mode: str) -> None:
    rng, config = np.random.default_rng(6), TransformConfig(mode=mode)
    cubes = rng.random((2, 1, *FULL))
    changed = [(ref.local_pixel_shuffle(c, rng, config) != c).mean() for c in cubes]
    assert abs(np.mean(changed) - 0.79) < 0.02


def test_shuffling_keeps_each_blocks_values() -> None:
    """One block: its voxels are permuted, nothing else moves."""
    config = TransformConfig(shuffle_blocks=1)
    cube = ramp((1, 30, 60, 60))
    out = ref.local_pixel_shuffle(cube, np.random.default_rng(9), config)
    changed = out != cube
    assert np.array_equal(np.sort(out[changed]), np.sort(cube[changed]))


@pytest.mark.parametrize("mode", MODES)
def test_multichannel_quirks(mode: str) -> None:
    """Faithful: shuffle touches channel 0 only, one curve and one in-paint noise for all
    channels.  Fixed: every channel shuffled alike, its own curve and noise."""
    rng, config = np.random.default_rng(10), TransformConfig(mode=mode, bezier_points=1000)
    two = np.repeat(rng.random((1, *SMALL)), 2, axis=0)
    shuffled = ref.local_pixel_shuffle(two, rng, config)
    curved = ref.nonlinear_intensity(two, rng, config)
    painted = ref.in_painting(two, rng, config)
    faithful = mode == "faithful"
    assert np.array_equal(shuffled[1], two[1]) == faithful
    assert np.array_equal(shuffled[0], shuffled[1]) == (not faithful)
    assert np.array_equal(curved[0], curved[1]) == faithful
    assert np.array_equal(painted[0], painted[1]) == faithful


def test_bezier_curves_monotone_and_half_inverted() -> None:
    rng, config = np.random.default_rng(11), TransformConfig(bezier_points=1000)
    for _ in range(50):
        control, inverted = rng.random(4), bool(rng.random() < 0.5)
        xp, fp = ref.bezier_lookup(control, inverted, 1000)
        steps = np.diff(fp)
        assert (steps <= 1e-12).all() if inverted else (steps >= -1e-12).all()
        assert (fp[0], fp[-1]) == ((1.0, 0.0) if inverted else (0.0, 1.0))
        assert (xp[0], xp[-1]) == (0.0, 1.0)
    line = np.linspace(0, 1, 64).reshape(1, 4, 4, 4)
    outs = [ref.nonlinear_intensity(line, rng, config).ravel() for _ in range(400)]
    falling = np.mean([o[0] > o[-1] for o in outs])
    assert abs(falling - 0.5) < 0.08
    assert all((np.diff(o) >= -1e-12).all() or (np.diff(o) <= 1e-12).all() for o in outs)
