"""The LiTS writer: volume-N/segmentation-N NIfTI pairs with shared geometry."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from genesis_core.synth import write_lits

SIZE = (80, 80, 32)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_lits(tmp_path_factory.mktemp("lits"), scans=2, seed=5, size_xyz=SIZE)


def test_layout(dataset) -> None:
    names = sorted(p.name for p in dataset.root.iterdir())
    assert names == [
        "segmentation-0.nii.gz",
        "segmentation-1.nii.gz",
        "volume-0.nii.gz",
        "volume-1.nii.gz",
    ]


def test_pairs_read_back_with_shared_geometry(dataset) -> None:
    for case in dataset.cases:
        volume = sitk.ReadImage(str(case.volume))
        seg = sitk.ReadImage(str(case.segmentation))
        assert volume.GetPixelID() == sitk.sitkInt16 and seg.GetPixelID() == sitk.sitkUInt8
        assert volume.GetSize() == seg.GetSize() == SIZE
        for image in (volume, seg):
            assert np.allclose(image.GetSpacing(), case.geometry.spacing_xyz, atol=1e-4)
            assert np.allclose(image.GetOrigin(), case.geometry.origin_xyz, atol=1e-3)
            assert np.allclose(image.GetDirection(), np.eye(3).ravel())
        sx, sy, sz = volume.GetSpacing()
        assert 0.6 <= sx <= 0.9 and abs(sx - sy) < 1e-6 and 0.8 <= sz <= 2.5
        assert all(abs(o) > 1 for o in volume.GetOrigin())


def test_labels_and_intensities(dataset) -> None:
    for case in dataset.cases:
        hu = sitk.GetArrayFromImage(sitk.ReadImage(str(case.volume)))
        label = sitk.GetArrayFromImage(sitk.ReadImage(str(case.segmentation)))
        assert set(np.unique(label).tolist()) <= {0, 1, 2} and (label == 1).any()
        assert abs(hu[label == 1].mean() - 60) < 5
        assert np.median(hu[:, :5, :5]) < -950


def test_deterministic(tmp_path, dataset) -> None:
    again = write_lits(tmp_path, scans=1, seed=5, size_xyz=SIZE)
    for name in ("volume", "segmentation"):
        a = sitk.GetArrayFromImage(sitk.ReadImage(str(getattr(again.cases[0], name))))
        b = sitk.GetArrayFromImage(sitk.ReadImage(str(getattr(dataset.cases[0], name))))
        assert np.array_equal(a, b)
