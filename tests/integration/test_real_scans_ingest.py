"""The three real CT scans in ../shared/data/real: ingest each, check against SimpleITK."""

from __future__ import annotations

import numpy as np
import pandas as pd
import SimpleITK as sitk

from genesis_core.ingest import ingest_sequential
from genesis_core.volume import Volume


def _ingest(real_data, name, tmp_path):
    return ingest_sequential(
        str(real_data / name), str(tmp_path / f"{name}.parquet"), tmp_path / "c"
    )


def _check(row, img: sitk.Image) -> None:
    arr = sitk.GetArrayFromImage(img)
    assert row["status"] == "ok", row["reason"]
    assert tuple(row["shape_xyz"]) == img.GetSize()
    np.testing.assert_allclose(row["spacing_xyz"], img.GetSpacing(), atol=1e-9)
    np.testing.assert_allclose(row["origin_xyz"], img.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(row["direction"], img.GetDirection(), atol=1e-9)
    assert (row["hu_min"], row["hu_max"]) == (arr.min(), arr.max())


def test_luna16_style_scan_and_annotation(real_data, tmp_path) -> None:
    df = _ingest(real_data, "luna16_style_chest_ct", tmp_path)
    assert len(df) == 1
    row = df.iloc[0]
    mhd = next((real_data / "luna16_style_chest_ct" / "subset0").glob("*.mhd"))
    img = sitk.ReadImage(str(mhd))
    _check(row, img)
    assert row["subset"] == 0 and row["hu_min"] == -1024 and row["hu_max"] == 2976
    ann = pd.read_csv(real_data / "luna16_style_chest_ct" / "annotations.csv")
    assert ann.seriesuid.iloc[0] == row["scan_id"]
    vol = Volume.from_sitk(img)
    point = ann[["coordX", "coordY", "coordZ"]].iloc[0].to_numpy(float)
    idx = vol.world_to_index(tuple(point))
    np.testing.assert_allclose(idx, img.TransformPhysicalPointToContinuousIndex(point), atol=1e-6)
    assert np.all(idx >= 0) and np.all(idx < np.asarray(img.GetSize())), idx


def test_dicom_series(real_data, tmp_path) -> None:
    df = _ingest(real_data, "dicom_chest_ct", tmp_path)
    assert len(df) == 1, df[["scan_id", "reason"]]
    folder = real_data / "dicom_chest_ct" / "series_B40f"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
    _check(df.iloc[0], reader.Execute())
    assert tuple(df.iloc[0]["shape_xyz"]) == (512, 512, 30)


def test_lits_style_pair(real_data, tmp_path) -> None:
    df = _ingest(real_data, "lits_style_abdomen_ct", tmp_path)
    row = df.iloc[0]
    assert row["scan_id"] == "volume-0" and row["label_uri"].endswith("segmentation-0.nii.gz")
    _check(row, sitk.ReadImage(str(real_data / "lits_style_abdomen_ct" / "volume-0.nii.gz")))
