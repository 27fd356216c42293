"""Target-task cubes: candidates at world points, image/mask pairs, sphere masks."""

from __future__ import annotations

import numpy as np
import pytest

from genesis_core.cubes.rng import rng_for
from genesis_core.cubes.targets import (
    candidate_cubes,
    nearest_voxel_zyx,
    segmentation_pairs,
    sphere_mask,
    world_to_index_zyx,
)
from genesis_core.volume import Volume

FLIP_SWAP = (0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0)  # 90° about Z, then flip Z


def _volume(shape_zyx=(20, 30, 40), direction=FLIP_SWAP) -> Volume:
    arr = np.arange(np.prod(shape_zyx), dtype=np.int64).reshape(shape_zyx).astype(np.int16)
    return Volume(arr, (0.8, 0.9, 2.0), (10.0, -20.0, 30.0), direction)


def test_world_to_index_matches_volume_method():
    vol = _volume()
    pts = np.array([[1.0, 2.0, 3.0], [-7.5, 4.0, 12.0]])
    got = world_to_index_zyx(vol, pts)
    for p, g in zip(pts, got, strict=True):
        assert np.allclose(g, vol.world_to_index(p)[::-1])


def test_candidate_cube_is_centred_on_the_world_point():
    vol = _volume()
    center_zyx = (9, 14, 21)
    world = vol.index_to_world(center_zyx[::-1])
    cubes, centers = candidate_cubes(vol, world[None], cube_xyz=(8, 6, 4))
    assert centers.tolist() == [list(center_zyx)]
    assert cubes.shape == (1, 4, 6, 8) and cubes.dtype == np.int16
    assert cubes[0, 2, 3, 4] == vol.array[center_zyx]
    assert np.array_equal(cubes[0], vol.array[7:11, 11:17, 17:25])


def test_candidates_near_or_beyond_the_border_are_padded_not_dropped():
    vol = _volume()
    corner = vol.index_to_world((0.0, 0.0, 0.0))
    outside = vol.index_to_world((-100.0, 5.0, 5.0))
    cubes, centers = candidate_cubes(vol, np.stack([corner, outside]), cube_xyz=(8, 6, 4))
    assert cubes.shape == (2, 4, 6, 8)
    assert centers[0].tolist() == [0, 0, 0]
    assert (cubes[0, :2] == -1000).all() and (cubes[0, :, :3] == -1000).all()
    assert np.array_equal(cubes[0, 2:, 3:, 4:], vol.array[:2, :3, :4])
    assert (cubes[1] == -1000).all()


def test_rounding_to_the_nearest_voxel():
    vol = _volume(direction=(1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    w = vol.index_to_world((3.49, 4.5, 5.51))
    assert nearest_voxel_zyx(vol, w[None]).tolist() == [[6, 5, 3]]


def _labelled(shape=(30, 40, 40)) -> tuple[Volume, Volume]:
    lab = np.zeros(shape, np.uint8)
    lab[10:16, 10:20, 12:22] = 1  # liver
    lab[12:14, 14:16, 15:17] = 2  # tumour
    img = np.where(lab > 0, 60, -100).astype(np.int16)
    geo = dict(spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    return Volume(img, **geo), Volume(lab, **geo)


def test_segmentation_pairs_shapes_ratio_and_masks():
    img, lab = _labelled()
    pairs = segmentation_pairs(
        img, lab, (16, 16, 8), n=10, rng=rng_for(0, "liver"), foreground_ratio=0.6, labels={1, 2}
    )
    assert pairs.images.shape == (10, 8, 16, 16) and pairs.images.dtype == np.int16
    assert pairs.masks.shape == (10, 8, 16, 16) and pairs.masks.dtype == np.uint8
    assert set(np.unique(pairs.masks).tolist()) <= {0, 1}
    centred = [m[4, 8, 8] == 1 for m in pairs.masks]
    assert sum(centred) >= 6
    for im, m in zip(pairs.images, pairs.masks, strict=True):
        assert np.array_equal(m == 1, im == 60)  # mask aligned with the image cube


def test_segmentation_pairs_label_subset_and_determinism():
    img, lab = _labelled()
    a = segmentation_pairs(img, lab, (8, 8, 4), 6, rng_for(1, "x"), 1.0, labels={2})
    b = segmentation_pairs(img, lab, (8, 8, 4), 6, rng_for(1, "x"), 1.0, labels={2})
    assert np.array_equal(a.origins_zyx, b.origins_zyx) and np.array_equal(a.masks, b.masks)
    assert all(m[2, 4, 4] == 1 for m in a.masks)  # tumour-centred
    assert a.masks.sum() <= 6 * 2 * 2 * 2  # only tumour voxels count


def test_segmentation_pairs_without_foreground_and_small_scans():
    img, lab = _labelled(shape=(6, 10, 10))
    empty = Volume(np.zeros_like(lab.array), lab.spacing)
    pairs = segmentation_pairs(img, empty, (16, 16, 8), 4, rng_for(0, "e"), 0.5)
    assert pairs.masks.sum() == 0 and pairs.images.shape == (4, 8, 16, 16)
    assert (pairs.images == -1000).any()  # padded: the scan is smaller than the cube
    with pytest.raises(ValueError):
        segmentation_pairs(
            img, Volume(np.zeros((1, 2, 3), np.uint8), lab.spacing), (4, 4, 4), 1, rng_for(0, "e")
        )


@pytest.mark.parametrize("direction", [(1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0), FLIP_SWAP])
def test_sphere_mask_volume_and_distances(direction):
    vol = Volume(np.zeros((40, 60, 60), np.int16), (0.7, 0.7, 1.25), (5.0, -3.0, 40.0), direction)
    center = vol.index_to_world((30.2, 28.6, 19.7))
    mask = sphere_mask(vol, center[None], [12.0])
    assert mask.dtype == np.uint8 and mask.shape == vol.array.shape
    voxel_mm3 = 0.7 * 0.7 * 1.25
    assert abs(mask.sum() * voxel_mm3 / (4 / 3 * np.pi * 6.0**3) - 1) < 0.05
    marked = np.argwhere(mask)[:, ::-1]
    dist = [np.linalg.norm(vol.index_to_world(m) - center) for m in marked[::25]]
    assert max(dist) <= 6.0 + 1e-9


def test_tiny_and_outside_spheres():
    vol = Volume(np.zeros((10, 10, 10), np.int16), (1.0, 1.0, 1.0))
    mask = sphere_mask(vol, np.array([[4.2, 5.4, 6.0], [100.0, 0, 0]]), [0.1, 5.0], value=3)
    assert np.argwhere(mask).tolist() == [[6, 5, 4]] and mask.max() == 3
