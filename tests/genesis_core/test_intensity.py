"""Intensity normalisation: the SPEC window, MRI scalings, exact HU thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from genesis_core.intensity import (
    IntensityConfig,
    hu_to_unit,
    minmax,
    normalize,
    percentile,
    unit_threshold_to_hu,
    window,
)


def test_window_maps_the_spec_values():
    hu = np.array([-3000, -1000, -150, 0, 1000, 2500], dtype=np.int16)
    v = window(hu)
    assert v.dtype == np.float32
    assert v.tolist() == pytest.approx([0.0, 0.0, 0.425, 0.5, 1.0, 1.0])
    assert v[2] == np.float32(0.425)
    assert hu_to_unit(-150) == pytest.approx(0.425)
    assert hu_to_unit(-2000) == 0.0 and hu_to_unit(5000) == 1.0


def test_window_does_not_modify_its_input_and_keeps_shape():
    hu = np.linspace(-1200, 1200, 24, dtype=np.float32).reshape(2, 3, 4)
    before = hu.copy()
    v = window(hu, -500, 500)
    assert np.array_equal(hu, before) and v.shape == hu.shape
    assert v.min() == 0.0 and v.max() == 1.0
    with pytest.raises(ValueError):
        window(hu, 5, 5)


def test_unit_threshold_to_hu_is_exact_for_integer_scans():
    rng = np.random.default_rng(0)
    hu = np.arange(-3000, 3000, dtype=np.int16)
    for case in range(200):
        lo = float(rng.integers(-1500, 0)) + (0.5 if case % 3 == 0 else 0.0)
        hi = lo + float(rng.integers(1, 3000))
        t = (
            float(rng.random())
            if case % 4
            else float(window(np.array([rng.integers(-1500, 1500)]), lo, hi)[0])
        )
        h = unit_threshold_to_hu(t, lo, hi)
        assert np.array_equal(hu >= h, window(hu, lo, hi) >= t), (lo, hi, t, h)
    assert unit_threshold_to_hu(0.425) == -150
    assert (hu >= unit_threshold_to_hu(0.0)).all() and not (hu >= unit_threshold_to_hu(1.5)).any()


def test_minmax_and_percentile():
    a = np.array([2.0, 4.0, 6.0, 10.0])
    assert minmax(a).tolist() == [0.0, 0.25, 0.5, 1.0]
    assert minmax(np.full(5, 7)).tolist() == [0.0] * 5
    rng = np.random.default_rng(1)
    mri = rng.gamma(2.0, 100.0, size=(20, 30, 30))
    mri[0, 0, 0] = 1e6  # a hot voxel ruins min–max, not the percentile scaling
    p = percentile(mri, 0.5, 99.5)
    assert p.dtype == np.float32 and p.min() == 0.0 and p.max() == 1.0
    assert np.median(p) > 0.1 and np.median(minmax(mri)) < 0.001
    assert np.mean(p == 1.0) == pytest.approx(0.005, abs=0.002)


def test_normalize_dispatches_on_the_spec():
    a = np.array([-1000, 0, 1000, 3000], dtype=np.int16)
    assert np.array_equal(normalize(a, IntensityConfig()), window(a))
    assert np.array_equal(normalize(a, IntensityConfig(mode="minmax")), minmax(a))
    spec = IntensityConfig(mode="percentile", pct_lo=0.0, pct_hi=100.0)
    assert np.array_equal(normalize(a, spec), minmax(a))
    assert np.array_equal(
        normalize(a, IntensityConfig(hu_lo=-100, hu_hi=100)), window(a, -100, 100)
    )
    for bad in (dict(mode="z"), dict(hu_lo=1, hu_hi=0), dict(pct_lo=50, pct_hi=10)):
        with pytest.raises(ValueError):
            IntensityConfig(**bad)
