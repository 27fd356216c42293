"""Per-scan builders (arrays in, arrays out) on small synthetic scans."""

from __future__ import annotations

import numpy as np
import pytest

from genesis_core.cubes.extract import extract_padded
from genesis_core.io.readers import read_image
from genesis_core.resample import resample, resample_label
from genesis_core.synth import abdomen_phantom, chest_phantom
from genesis_core.targets import TargetConfig, lcs_arrays, ncc_arrays, ncs_arrays
from genesis_core.targets.ncc import keep_candidates
from genesis_core.volume import Volume

SMALL = (32, 32, 16)  # cube (X, Y, Z) → arrays (16, 32, 32)
CENTRE = (8, 16, 16)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_ncc_positive_cube_contains_the_nodule(luna, candidates) -> None:
    scan = luna.scans[0]
    rows = candidates[candidates.seriesuid == scan.uid]
    vol = read_image(scan.mhd)
    arr = ncc_arrays(
        vol,
        rows[["coordX", "coordY", "coordZ"]].to_numpy(),
        rows["class"].to_numpy(),
        TargetConfig(task="ncc"),
        _rng(),
    )
    assert arr.images.shape == (len(rows), 32, 64, 64) and arr.images.dtype == np.int16
    np.testing.assert_array_equal(arr.labels, rows["class"].to_numpy())
    assert arr.labels.dtype == np.int8 and arr.masks is None
    pos = np.flatnonzero(arr.labels == 1)
    assert len(pos) == 1
    assert arr.images[pos[0], 16, 32, 32] > -300  # a 10 mm nodule at the cube centre
    assert arr.grid.spacing == (1.0, 1.0, 1.0)
    # cubes are cut from the 1 mm grid, centred on the nearest voxel of each candidate
    res = resample(vol, (1.0, 1.0, 1.0))
    np.testing.assert_array_equal(
        arr.images[pos[0]], _cut(res.array, arr.origins_zyx[pos], (32, 64, 64))
    )
    centre_world = [res.index_to_world(tuple(c[::-1])) for c in arr.origins_zyx + (16, 32, 32)]
    points = rows[["coordX", "coordY", "coordZ"]].to_numpy()
    assert np.abs(np.asarray(centre_world) - points).max() <= 0.5 + 1e-9


def _cut(array: np.ndarray, origins: np.ndarray, cube_zyx) -> np.ndarray:
    return extract_padded(array, origins, cube_zyx, -1000)[0]


def test_ncc_border_and_outside_candidates_are_padded_not_dropped() -> None:
    vol = Volume(np.full((20, 40, 40), 40, np.int16), (1.0, 1.0, 1.0), (-5.0, 7.0, 2.0))
    corner = vol.index_to_world((0, 0, 0))
    far = vol.index_to_world((500, 0, 0))
    arr = ncc_arrays(
        vol, np.stack([corner, far]), np.array([0, 1]), TargetConfig(cube_xyz=SMALL), _rng()
    )
    assert len(arr) == 2 and arr.labels.tolist() == [0, 1]
    cube = arr.images[0]
    assert cube[CENTRE] == 40
    assert np.count_nonzero(cube == 40) == 8 * 16 * 16  # only the in-scan octant
    assert np.count_nonzero(cube == -1000) == cube.size - 8 * 16 * 16
    assert (arr.images[1] == -1000).all()


def test_keep_candidates_caps_negatives_keeps_positives() -> None:
    classes = np.array([0, 1, 0, 0, 1, 0, 0])
    kept = keep_candidates(classes, 2, _rng(1))
    assert set(np.flatnonzero(classes == 1)) <= set(kept) and len(kept) == 4
    assert (np.diff(kept) > 0).all()
    np.testing.assert_array_equal(kept, keep_candidates(classes, 2, _rng(1)))
    assert len(keep_candidates(classes, None, _rng(1))) == 7


def test_ncc_rejects_bad_classes() -> None:
    vol = Volume(np.zeros((8, 8, 8), np.int16), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="0/1"):
        ncc_arrays(vol, np.zeros((1, 3)), np.array([2]), TargetConfig(cube_xyz=SMALL), _rng())


@pytest.fixture(scope="module")
def abdomen() -> tuple[Volume, Volume]:
    hu, label = abdomen_phantom((80, 80, 32), (0.8, 0.8, 1.5), _rng(7), lesions=[20.0])
    origin = (-30.0, -40.0, -200.0)
    return Volume(hu, (0.8, 0.8, 1.5), origin), Volume(label, (0.8, 0.8, 1.5), origin)


@pytest.mark.parametrize("labels", [(1,), (1, 2)])
def test_lcs_masks_match_the_resampled_labels(abdomen, labels) -> None:
    image, label = abdomen
    cfg = TargetConfig(task="lcs", cube_xyz=SMALL, n=6, foreground_ratio=0.5, labels=labels)
    arr = lcs_arrays(image, label, cfg, _rng(2))
    assert arr.images.shape == arr.masks.shape == (6, 16, 32, 32)
    assert arr.masks.dtype == np.uint8 and arr.labels is None
    lab = resample_label(label, (1.0, 1.0, 1.0)).array
    img = resample(image, (1.0, 1.0, 1.0)).array
    cut = extract_padded(lab, arr.origins_zyx, cfg.cube_zyx, 0)
    np.testing.assert_array_equal(arr.masks, np.isin(cut, labels).astype(np.uint8))
    np.testing.assert_array_equal(
        arr.images, extract_padded(img, arr.origins_zyx, cfg.cube_zyx, -1000)
    )
    centred = arr.masks[:, CENTRE[0], CENTRE[1], CENTRE[2]]
    assert centred.sum() >= 3  # round(6 · 0.5) cubes centred on foreground
    if labels == (1,):
        assert not arr.masks[cut == 2].any()  # tumour excluded


def test_lcs_with_tumour_label_covers_the_lesion(abdomen) -> None:
    image, label = abdomen
    cfg = TargetConfig(task="lcs", cube_xyz=SMALL, n=4, foreground_ratio=1.0, labels=(2,))
    arr = lcs_arrays(image, label, cfg, _rng(3))
    assert arr.masks[:, CENTRE[0], CENTRE[1], CENTRE[2]].all()


def test_lcs_is_deterministic_in_the_generator(abdomen) -> None:
    cfg = TargetConfig(task="lcs", cube_xyz=SMALL, n=3)
    a, b = (lcs_arrays(*abdomen, cfg, _rng(9)) for _ in range(2))
    np.testing.assert_array_equal(a.origins_zyx, b.origins_zyx)
    np.testing.assert_array_equal(a.masks, b.masks)


def test_ncs_mask_is_the_annotated_sphere() -> None:
    spacing = (0.7, 0.7, 1.25)
    hu, nodules = chest_phantom((96, 96, 48), spacing, _rng(11), nodules=[10.0])
    vol = Volume(hu, spacing, (-30.0, -30.0, -30.0))
    centre_xyz, diameter = nodules[0]
    world = vol.index_to_world(tuple(float(c) for c in centre_xyz))[None]
    cfg = TargetConfig(task="ncs", cube_xyz=SMALL, n_random=2)
    arr = ncs_arrays(vol, world, np.array([diameter]), cfg, _rng())
    assert arr.images.shape == arr.masks.shape == (3, 16, 32, 32)
    expected = 4.0 / 3.0 * np.pi * (diameter / 2.0) ** 3  # mm³ = voxels at 1 mm
    assert abs(int(arr.masks[0].sum()) - expected) < 0.08 * expected
    assert arr.masks[0][CENTRE] == 1 and arr.images[0][CENTRE] > -300
    assert set(np.unique(arr.masks)) <= {0, 1}


def test_ncs_without_annotations_gives_only_random_cubes() -> None:
    vol = Volume(np.zeros((20, 40, 40), np.int16), (1.0, 1.0, 1.0))
    cfg = TargetConfig(task="ncs", cube_xyz=SMALL, n_random=3)
    arr = ncs_arrays(vol, np.empty((0, 3)), np.empty(0), cfg, _rng())
    assert len(arr) == 3 and not arr.masks.any()
    assert (arr.origins_zyx >= 0).all() and (arr.origins_zyx + cfg.cube_zyx <= (20, 40, 40)).all()
