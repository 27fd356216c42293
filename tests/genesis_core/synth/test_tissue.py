"""Rendering tissue maps to noisy HU."""

from __future__ import annotations

import numpy as np

from genesis_core.synth.tissue import MEAN_HU, Tissue, render_hu


def test_render_hu_means_noise_and_range() -> None:
    tissue = np.repeat(np.arange(len(Tissue), dtype=np.uint8), 20_000).reshape(
        len(Tissue), 100, 200
    )
    hu = render_hu(tissue, np.random.default_rng(0), sigma=20.0)
    assert hu.dtype == np.int16 and hu.shape == tissue.shape
    for t in Tissue:
        values = hu[tissue == t]
        if t != Tissue.AIR:  # air is clipped at −1024 on one side
            assert abs(values.mean() - MEAN_HU[t]) < 1.0
            assert abs(values.std() - 20.0) < 1.0
    assert hu.min() >= -1024 and hu.max() <= 3071


def test_render_hu_is_deterministic_and_does_not_touch_input() -> None:
    tissue = np.random.default_rng(1).integers(0, 16, (8, 16, 16)).astype(np.uint8)
    before = tissue.copy()
    a = render_hu(tissue, np.random.default_rng(5))
    b = render_hu(tissue, np.random.default_rng(5))
    assert np.array_equal(a, b) and np.array_equal(tissue, before)
