"""Resampling keeps world geometry: a sphere at a known world point stays there."""

from __future__ import annotations

import numpy as np
import pytest

from genesis_core.cubes.targets import candidate_cubes
from genesis_core.resample import output_size, resample, resample_label
from genesis_core.volume import Volume

SPACING = (0.7, 0.8, 2.5)
ORIGIN = (-30.0, 12.5, -100.0)


def _rotated_flipped_direction() -> tuple[float, ...]:
    """Rotation by 35° about (1, 1, 1)/√3, composed with a flip of Y (det = -1)."""
    axis = np.ones(3) / np.sqrt(3.0)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = np.deg2rad(35.0)
    rot = np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * (k @ k)
    return tuple((rot @ np.diag([1.0, -1.0, 1.0])).ravel())


def _sphere_volume(shape_zyx=(24, 70, 60), center_index_xyz=(31.3, 35.7, 11.4), radius=9.0):
    """int16 scan (-1000 air, 200 HU sphere) with anisotropic spacing, rotated+flipped axes."""
    geo = Volume(np.zeros(shape_zyx, np.int16), SPACING, ORIGIN, _rotated_flipped_direction())
    center = geo.index_to_world(center_index_xyz)
    zz, yy, xx = np.indices(shape_zyx, dtype=np.float64)
    idx_xyz = np.stack([xx, yy, zz], -1) * np.asarray(SPACING)
    world = idx_xyz @ np.asarray(geo.direction).reshape(3, 3).T + np.asarray(ORIGIN)
    inside = np.linalg.norm(world - center, axis=-1) <= radius
    arr = np.where(inside, 200, -1000).astype(np.int16)
    return Volume(arr, geo.spacing, geo.origin, geo.direction), center


def _centroid_zyx(mask: np.ndarray) -> np.ndarray:
    return np.argwhere(mask).mean(axis=0)


def test_output_size_rule():
    assert output_size((512, 512, 300), (0.7, 0.7, 2.5), (1, 1, 1)) == (358, 358, 750)
    assert output_size((3, 5, 1), (1.0, 1.0, 1.0), (2.0, 2.0, 4.0)) == (2, 3, 1)  # half up, >= 1


def test_native_spacing_returns_the_volume_itself():
    vol = Volume(np.zeros((2, 3, 4), np.int16), (1.0, 2.0, 3.0))
    assert resample(vol, None) is vol
    assert resample(vol, (1.0, 2.0, 3.0)) is vol
    with pytest.raises(ValueError):
        resample(vol, (1.0, 0.0, 1.0))


def test_sphere_lands_on_its_world_point_after_resampling():
    vol, center = _sphere_volume()
    out = resample(vol, (1.0, 1.0, 1.0))
    assert out.origin == vol.origin and out.direction == vol.direction
    assert out.spacing == (1.0, 1.0, 1.0) and out.array.dtype == np.int16
    assert out.shape_xyz == output_size(vol.shape_xyz, vol.spacing, (1, 1, 1))
    expected_zyx = out.world_to_index(center)[::-1]
    assert np.abs(_centroid_zyx(out.array > -400) - expected_zyx).max() < 0.25
    # volume of the sphere is preserved (mm³)
    assert abs((out.array > -400).sum() - (vol.array > -400).sum() * 0.7 * 0.8 * 2.5) < 0.08 * (
        4 / 3 * np.pi * 9.0**3
    )


def test_candidate_cube_on_the_resampled_sphere_is_centred():
    vol, center = _sphere_volume()
    out = resample(vol, (1.0, 1.0, 1.0))
    cubes, centers = candidate_cubes(out, np.asarray([center]), cube_xyz=(32, 32, 24))
    assert cubes.shape == (1, 24, 32, 32)
    cube_center = np.array([12, 16, 16])
    assert cubes[0][tuple(cube_center)] == out.array[tuple(centers[0])] > -400
    assert np.abs(_centroid_zyx(cubes[0] > -400) - cube_center).max() < 1.0


def test_int16_is_rounded_not_truncated_and_outside_is_default():
    vol = Volume(np.array([[[0, 3, 0, -3, -3, 0]]], np.int16), (1.0, 1.0, 1.0))
    out = resample(vol, (0.5, 1.0, 1.0))
    assert out.array.ravel().tolist() == [0, 2, 3, 2, 0, -2, -3, -3, -3, -2, 0, -1000]
    padded = resample(vol, (0.5, 1.0, 1.0), default_hu=-7)
    assert padded.array.ravel()[-1] == -7


def test_threads_and_float_dtype():
    vol, _ = _sphere_volume(shape_zyx=(10, 30, 30), center_index_xyz=(15, 15, 5), radius=6.0)
    one = resample(vol, (1.2, 1.2, 1.2), threads=1)
    two = resample(vol, (1.2, 1.2, 1.2), threads=2)
    assert np.array_equal(one.array, two.array)
    as_float = Volume(vol.array.astype(np.float32), vol.spacing, vol.origin, vol.direction)
    f = resample(as_float, (1.2, 1.2, 1.2), interpolation="bspline")
    assert f.array.dtype == np.float32 and f.array.shape == one.array.shape
    b = resample(vol, (1.2, 1.2, 1.2), interpolation="bspline")
    assert b.array.dtype == np.int16


def test_label_resampling_keeps_only_label_values():
    rng = np.random.default_rng(0)
    lab = rng.choice(np.array([0, 5, 9], np.uint8), size=(12, 20, 20), p=[0.6, 0.3, 0.1])
    vol = Volume(lab, SPACING, ORIGIN, _rotated_flipped_direction())
    out = resample_label(vol, (0.5, 0.5, 1.0))
    assert out.array.dtype == np.uint8
    assert set(np.unique(out.array).tolist()) == {0, 5, 9}
    linear = resample(vol, (0.5, 0.5, 1.0))
    assert not set(np.unique(linear.array).tolist()) <= {0, 5, 9}  # why labels need nearest
    as_bool = resample_label(Volume(lab == 5, SPACING), (0.5, 0.5, 1.0))
    assert as_bool.array.dtype == np.bool_


@pytest.mark.parametrize(
    ("shape_zyx", "spacing", "new_spacing"),
    [
        ((30, 64, 50), (0.7, 0.7, 2.5), (1.0, 1.0, 1.0)),  # the usual CT case: up in Z
        ((17, 41, 23), (1.3, 0.6, 0.9), (0.5, 1.7, 0.9)),  # up, down and same per axis
        ((9, 12, 15), (1.0, 1.0, 1.0), (0.37, 2.9, 1.01)),  # awkward ratios, tiny volume
    ],
)
def test_numpy_linear_matches_simpleitk(shape_zyx, spacing, new_spacing):
    """The separable NumPy path gives ITK's values: ≤ 1 HU apart, almost all identical."""
    rng = np.random.default_rng(sum(shape_zyx))
    arr = rng.integers(-1024, 3000, size=shape_zyx).astype(np.int16)
    vol = Volume(arr, spacing, ORIGIN, _rotated_flipped_direction())
    ours = resample(vol, new_spacing)
    itk = resample(vol, new_spacing, engine="itk")
    assert ours.array.shape == itk.array.shape and ours.array.dtype == np.int16
    assert (ours.spacing, ours.origin, ours.direction) == (itk.spacing, itk.origin, itk.direction)
    diff = np.abs(ours.array.astype(np.int32) - itk.array)
    # float32 vs ITK's double arithmetic: values within ~2e-4 of x.5 may round either way
    assert diff.max() <= 1 and (diff > 0).mean() < 5e-3
    assert np.array_equal(ours.array == -1000, itk.array == -1000)  # same outside region
    as_float = Volume(arr.astype(np.float32), spacing, ORIGIN)
    f_ours = resample(as_float, new_spacing, default_hu=-5.0)
    f_itk = resample(as_float, new_spacing, default_hu=-5.0, engine="itk")
    np.testing.assert_allclose(f_ours.array, f_itk.array, atol=2e-3, rtol=0)


def test_unknown_engine_is_rejected():
    vol = Volume(np.zeros((4, 4, 4), np.int16), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="engine"):
        resample(vol, (0.5, 0.5, 0.5), engine="scipy")  # type: ignore[arg-type]
