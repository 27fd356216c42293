"""Cube picking: determinism, borders, acceptance of every returned cube, HU/unit paths."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from genesis_core.cubes.acceptance import (
    ACCEPT_ALL,
    AcceptanceConfig,
    accept_windows,
    reference_accept,
)
from genesis_core.cubes.extract import extract, extract_padded
from genesis_core.cubes.rng import rng_for, scan_entropy
from genesis_core.cubes.sampling import (
    SamplingConfig,
    borders_zyx,
    origin_bounds,
    sample_cubes,
)
from genesis_core.intensity import window

SMALL = SamplingConfig(cube_xyz=(32, 32, 16), n=8, border_xyz=(20, 20, 5))


def _windows(unit: np.ndarray, origins: np.ndarray, cfg: SamplingConfig) -> np.ndarray:
    return extract(unit, origins, cfg.window_zyx)


def test_rng_for_is_stable_and_scan_specific():
    a = rng_for(3, "1.3.6.1.4.1.14519").integers(0, 2**31, size=4)
    b = rng_for(3, "1.3.6.1.4.1.14519").integers(0, 2**31, size=4)
    assert a.tolist() == b.tolist()
    assert a.tolist() != rng_for(4, "1.3.6.1.4.1.14519").integers(0, 2**31, size=4).tolist()
    assert a.tolist() != rng_for(3, "1.3.6.1.4.1.14520").integers(0, 2**31, size=4).tolist()
    # sha256-based, not Python's randomised hash: pinned value
    assert scan_entropy(0, "abc")[:2] == [0, 0xBF1678BA]
    with pytest.raises(ValueError):
        rng_for(-1, "x")


def test_same_seed_and_scan_give_identical_cubes(chest_small):
    unit = window(chest_small)
    first = sample_cubes(unit, rng_for(0, "scan-a"), SMALL)
    again = sample_cubes(unit, rng_for(0, "scan-a"), SMALL)
    other_seed = sample_cubes(unit, rng_for(1, "scan-a"), SMALL)
    other_scan = sample_cubes(unit, rng_for(0, "scan-b"), SMALL)
    assert len(first.origins_zyx) == SMALL.n and first.reason is None
    assert np.array_equal(first.origins_zyx, again.origins_zyx) and first.draws == again.draws
    assert not np.array_equal(first.origins_zyx, other_seed.origins_zyx)
    assert not np.array_equal(first.origins_zyx, other_scan.origins_zyx)


def test_result_does_not_depend_on_batch_size(chest_small):
    unit = window(chest_small)
    ref = sample_cubes(unit, rng_for(5, "s"), SMALL)
    for batch in (1, 7, 500):
        cfg = replace(SMALL, batch=batch)
        got = sample_cubes(unit, rng_for(5, "s"), cfg)
        assert np.array_equal(got.origins_zyx, ref.origins_zyx) and got.draws == ref.draws


def test_every_cube_passes_the_test_and_respects_borders(chest_small):
    unit = window(chest_small)
    res = sample_cubes(unit, rng_for(2, "scan"), SMALL)
    low, high = origin_bounds(unit.shape, SMALL)
    assert ((res.origins_zyx >= low) & (res.origins_zyx <= high)).all()
    wins = _windows(unit, res.origins_zyx, SMALL)
    assert accept_windows(wins, SMALL.acceptance).all()
    assert all(reference_accept(w, SMALL.acceptance) for w in wins[:2])


def test_rejected_draws_fail_the_test_in_draw_order(chest_small):
    unit = window(chest_small)
    cfg = replace(SMALL, n=3)
    res = sample_cubes(unit, rng_for(9, "scan"), cfg)
    low, high = origin_bounds(unit.shape, cfg)
    draws = rng_for(9, "scan").integers(low, high, endpoint=True, size=(cfg.max_draws, 3))
    ok = accept_windows(_windows(unit, draws[: res.draws], cfg), cfg.acceptance)
    assert np.array_equal(draws[: res.draws][ok], res.origins_zyx)
    assert ok[-1]  # stopped at the n-th acceptance


def test_hu_input_gives_the_same_cubes_as_unit_input(chest_small):
    unit = window(chest_small)
    from_unit = sample_cubes(unit, rng_for(0, "x"), SMALL)
    from_int = sample_cubes(chest_small, rng_for(0, "x"), SMALL, hu_window=(-1000, 1000))
    from_float = sample_cubes(
        chest_small.astype(np.float32), rng_for(0, "x"), SMALL, hu_window=(-1000, 1000)
    )
    assert np.array_equal(from_unit.origins_zyx, from_int.origins_zyx)
    assert np.array_equal(from_unit.origins_zyx, from_float.origins_zyx)


def test_hu_threshold_boundary_is_exact():
    cfg = SamplingConfig(cube_xyz=(4, 4, 2), n=5, border_xyz=(0, 0, 0))
    cfg = replace(cfg, acceptance=AcceptanceConfig(max_fraction=0.0))
    for hu, accepted in [(-151, True), (-150, False)]:
        scan = np.full((8, 8, 8), hu, dtype=np.int16)
        res = sample_cubes(scan, rng_for(0, "t"), cfg, hu_window=(-1000, 1000))
        assert (len(res.origins_zyx) == 5) is accepted
        res_unit = sample_cubes(window(scan), rng_for(0, "t"), cfg)
        assert np.array_equal(res.origins_zyx, res_unit.origins_zyx)


def test_scan_without_lung_gives_no_cubes_and_a_reason():
    tissue = np.full((60, 120, 120), 0.52, dtype=np.float32)
    cfg = replace(SMALL, n=2)
    res = sample_cubes(tissue, rng_for(0, "t"), cfg)
    assert res.origins_zyx.shape == (0, 3) and res.draws == cfg.max_draws
    assert "no window accepted" in res.reason


def test_too_small_scan_is_skipped_with_a_reason():
    scan = np.zeros((60, 300, 300), dtype=np.float32)  # Z: 60 - 35 - 1 - 30 < 30
    res = sample_cubes(scan, rng_for(0, "t"))
    assert res.origins_zyx.shape == (0, 3) and res.draws == 0
    assert "too small" in res.reason


def test_reference_bounds_for_a_luna_sized_scan():
    low, high = origin_bounds((300, 512, 512), SamplingConfig())
    assert low.tolist() == [30, 100, 100]
    assert high.tolist() == [300 - 35 - 1 - 30, 512 - 64 - 1 - 100, 512 - 64 - 1 - 100]


def test_auto_borders_shrink_for_small_scans_only():
    auto = SamplingConfig(border_xyz="auto")
    assert borders_zyx((300, 512, 512), auto).tolist() == [30, 100, 100]
    assert borders_zyx((750, 358, 358), auto).tolist() == [30, 69, 69]
    assert borders_zyx((80, 160, 160), auto).tolist() == [8, 31, 31]


def test_default_cube_size_with_auto_borders(chest_medium):
    cfg = SamplingConfig(n=4, border_xyz="auto")
    res = sample_cubes(chest_medium, rng_for(0, "big"), cfg, hu_window=(-1000, 1000))
    cubes = extract(chest_medium, res.origins_zyx, cfg.cube_zyx)
    assert cubes.shape == (4, 32, 64, 64) and cubes.dtype == np.int16


def test_mode_none_takes_the_first_draws(chest_small):
    cfg = replace(SMALL, acceptance=ACCEPT_ALL)
    res = sample_cubes(window(chest_small), rng_for(0, "n"), cfg)
    low, high = origin_bounds(chest_small.shape, cfg)
    draws = rng_for(0, "n").integers(low, high, endpoint=True, size=(cfg.max_draws, 3))
    assert np.array_equal(res.origins_zyx, draws[: cfg.n]) and res.draws == cfg.n


def test_extract_and_extract_padded():
    arr = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    cubes = extract(arr, [[1, 2, 3], [0, 0, 0]], (2, 3, 4))
    assert np.array_equal(cubes[0], arr[1:3, 2:5, 3:7]) and cubes.shape == (2, 2, 3, 4)
    with pytest.raises(ValueError):
        extract(arr, [[4, 0, 0]], (2, 3, 4))
    padded = extract_padded(arr, [[4, -1, 5], [10, 10, 10]], (2, 3, 4), fill=-1000)
    assert np.array_equal(padded[0, 0, 1:, :2], arr[4, 0:2, 5:7])
    assert (padded[0, 1] == -1000).all() and (padded[0, :, 0] == -1000).all()
    assert (padded[1] == -1000).all()
