"""The vectorised acceptance test equals the straight port of the reference loop."""

from __future__ import annotations

import numpy as np
import pytest

from genesis_core.cubes.acceptance import (
    ACCEPT_ALL,
    LUNG,
    LUNG_THRESHOLD,
    AcceptanceConfig,
    accept_dense,
    accept_windows,
    reference_accept,
    weighted_dense_sum,
)

T32 = np.float32(LUNG_THRESHOLD)
BELOW = np.nextafter(T32, np.float32(0))


def _random_window(rng: np.random.Generator, look_ahead: int) -> np.ndarray:
    """Small (Z + L, Y, X) float32 window mixing exact-threshold values and blobs."""
    z, y, x = int(rng.integers(1, 9)), int(rng.integers(1, 10)), int(rng.integers(1, 10))
    shape = (z + look_ahead, y, x)
    p_dense = rng.random()
    kind = rng.integers(3)
    if kind == 0:  # independent voxels, values on both sides of the threshold, and on it
        choices = np.array([0.0, BELOW, T32, np.float32(0.9)], dtype=np.float32)
        probs = np.array([1 - p_dense, 1 - p_dense, p_dense, p_dense])
        return rng.choice(choices, size=shape, p=probs / probs.sum())
    if kind == 1:  # continuous values
        return rng.random(shape, dtype=np.float32) * np.float32(2 * p_dense + 0.05)
    cols = rng.random((1, y, x)) < p_dense  # vertical structures plus slice noise
    return np.where(cols | (rng.random(shape) < 0.2 * p_dense), T32, BELOW).astype(np.float32)


def test_vectorised_equals_reference_on_many_random_windows():
    rng = np.random.default_rng(1234)
    fractions = [0.0, 0.05, 0.15, 0.2, 0.3, 0.5, 0.8, 1.0]
    n_reject = n_accept = 0
    for case in range(400):
        look_ahead = int(rng.choice([2, 3, 3, 3, 5]))
        frac = float(rng.choice(fractions)) if case % 2 else float(rng.random())
        cfg = AcceptanceConfig(max_fraction=frac, look_ahead=look_ahead)
        win = _random_window(rng, look_ahead)
        expected = reference_accept(win, cfg)
        assert bool(accept_windows(win, cfg)) == expected, (case, cfg, win.shape)
        n_accept += expected
        n_reject += not expected
    assert n_accept > 50 and n_reject > 50  # both outcomes exercised


def test_batched_equals_one_by_one():
    rng = np.random.default_rng(7)
    wins = np.stack([_random_window_fixed(rng) for _ in range(40)])
    batched = accept_windows(wins, LUNG)
    assert batched.shape == (40,) and batched.dtype == bool
    assert [bool(accept_windows(w)) for w in wins] == batched.tolist()
    assert [reference_accept(w) for w in wins] == batched.tolist()


def _random_window_fixed(rng: np.random.Generator) -> np.ndarray:
    p = rng.random() * 0.3
    return np.where(rng.random((8 + 3, 6, 5)) < p, T32, BELOW).astype(np.float32)


def test_threshold_is_inclusive_in_float32():
    dense = np.full((1 + 3, 1, 1), T32, dtype=np.float32)
    below = np.full((1 + 3, 1, 1), BELOW, dtype=np.float32)
    cfg = AcceptanceConfig(max_fraction=0.5)
    assert not accept_windows(dense, cfg) and not reference_accept(dense, cfg)  # Σw = 1 > 0.5
    assert accept_windows(below, cfg) and reference_accept(below, cfg)  # Σw = 0


def test_weights_follow_first_dense_slice():
    # one column, Z = 1, L = 3: first dense at k = 0, 1, 2, none → w = 1, ½, 0, 0 → S = 2, 1, 0, 0
    for k, s in [(0, 2), (1, 1), (2, 0), (None, 0)]:
        col = np.zeros((1, 4, 1, 1), dtype=bool)
        if k is not None:
            col[0, k] = True
        assert weighted_dense_sum(col, 3).tolist() == [s]
    # the extra slice (index Z + L - 1) is never looked at
    col = np.zeros((1, 4, 1, 1), dtype=bool)
    col[0, 3] = True
    assert weighted_dense_sum(col, 3).tolist() == [0]


def _window_with_weight(full_cols: int, ones: int, halves: int) -> np.ndarray:
    """64×64×32 (+3) window with Σw = 32·full_cols + ones + ½·halves, below-threshold elsewhere.

    A full dense column adds 32; a column dense only at slice 0 adds 1 (d = 0, k = 0);
    a column dense only at slice 32 adds ½ (d = 31, k = 1).
    """
    win = np.full((35, 64, 64), BELOW, dtype=np.float32)
    cols = win.reshape(35, -1)
    cols[:, :full_cols] = T32
    cols[0, full_cols : full_cols + ones] = T32
    cols[32, full_cols + ones : full_cols + ones + halves] = T32
    return win


@pytest.mark.parametrize(
    ("ones", "halves", "accepted"),
    [(12, 1, True), (13, 0, False), (12, 0, True), (12, 2, False)],
)
def test_full_size_windows_at_the_15_percent_boundary(ones, halves, accepted):
    # 0.15 · 64·64·32 = 19660.8; 614 full columns = 19648
    win = _window_with_weight(614, ones, halves)
    sigma = weighted_dense_sum((win >= LUNG_THRESHOLD)[None], 3)[0] / 2
    assert sigma == 19648 + ones + halves / 2
    assert bool(accept_windows(win)) is accepted
    assert reference_accept(win) is accepted


def test_mode_none_accepts_everything():
    wins = np.ones((3, 35, 8, 8), dtype=np.float32)
    assert accept_windows(wins, ACCEPT_ALL).all()
    assert accept_dense(wins > 0, ACCEPT_ALL).all()
    assert reference_accept(wins[0], ACCEPT_ALL)


def test_min_fraction_for_other_organs():
    tissue = np.full((1, 8 + 3, 4, 4), 0.6, dtype=np.float32)
    air = np.zeros_like(tissue)
    cfg = AcceptanceConfig(max_fraction=None, min_fraction=0.5)
    assert accept_windows(np.concatenate([tissue, air]), cfg).tolist() == [True, False]
    lung = accept_windows(np.concatenate([tissue, air]), LUNG)
    assert lung.tolist() == [False, True]


def test_invalid_configs_and_shapes():
    with pytest.raises(ValueError):
        AcceptanceConfig(look_ahead=1)
    with pytest.raises(ValueError):
        AcceptanceConfig(mode="liver")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        weighted_dense_sum(np.zeros((1, 3, 4, 4), dtype=bool), 3)
