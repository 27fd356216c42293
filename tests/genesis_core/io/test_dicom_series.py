"""A DICOM series is checked as one volume: gaps, duplicates, undecodable slices and
per-slice changes quarantine it with a reason; a regular series reads exactly as
SimpleITK's series reader reads it; odd folder names pass ingest and preprocess."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from genesis_core.ingest import ingest_sequential
from genesis_core.io.dicom import GAP_TOLERANCE
from genesis_core.io.readers import read_catalogued
from genesis_core.preprocess import PreprocessConfig, preprocess_scan
from tests.helpers import volumes
from tests.helpers.dicom import write_series

UID = "1.2.3.77"
SPACING = (1.0, 1.0, 2.05)


def _ingest(src: Path) -> dict[str, dict]:
    df = ingest_sequential(str(src), str(src.parent / "c.parquet"), src.parent / "cache")
    return {r["scan_id"]: r for r in df.to_dict("records")}


def _series(folder: Path, n: int = 20, **kw) -> list[Path]:
    return write_series(folder, volumes.ct_like((n, 70, 66)), SPACING, series_uid=UID, **kw)


def _quarantined(src: Path, *fragments: str) -> str:
    row = _ingest(src)[UID]
    assert row["status"] == "quarantined", row
    for f in fragments:
        assert f in row["reason"], row["reason"]
    return row["reason"]


def test_regular_series_is_ok_with_the_exact_spacing(tmp_path: Path) -> None:
    _series(tmp_path / "src" / "ser")
    row = _ingest(tmp_path / "src")[UID]
    assert row["status"] == "ok", row["reason"]
    np.testing.assert_allclose(row["spacing_xyz"], SPACING, atol=1e-6)


def test_missing_slice_is_a_gap_not_a_stretch(tmp_path: Path) -> None:
    paths = _series(tmp_path / "src" / "ser")
    paths[7].unlink()
    reason = _quarantined(tmp_path / "src", "slice gap of 4.1 mm", "expected 2.05 mm")
    assert "slice006.dcm" in reason and "slice008.dcm" in reason
    # SimpleITK alone averages the gap into the spacing: the silent stretch
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path / "src" / "ser"))
    stretched = sitk.ImageSeriesReader()
    stretched.SetFileNames(files)
    assert stretched.Execute().GetSpacing()[2] == pytest.approx(2.05 * 19 / 18, abs=1e-3)


def test_uneven_spacing_beyond_the_tolerance(tmp_path: Path) -> None:
    step = SPACING[2] * (1 + 3 * GAP_TOLERANCE)

    def shifted(z: int) -> dict:
        pos = -50.0 + z * SPACING[2] + (step - SPACING[2] if z >= 10 else 0)
        return {"0020|0032": f"-100\\-120\\{pos:.4f}"}

    _series(tmp_path / "src" / "ser", slice_tags=shifted)
    _quarantined(tmp_path / "src", "slice gap of", "uneven")


def test_jitter_within_the_tolerance_is_accepted(tmp_path: Path) -> None:
    def jitter(z: int) -> dict:
        return {"0020|0032": f"-100\\-120\\{-50.0 + z * SPACING[2] + (0.004 if z % 2 else 0):.4f}"}

    _series(tmp_path / "src" / "ser", slice_tags=jitter)
    assert _ingest(tmp_path / "src")[UID]["status"] == "ok"


def test_duplicated_position(tmp_path: Path) -> None:
    folder = tmp_path / "src" / "ser"
    _series(folder)
    odd = volumes.ct_like((1, 70, 66), seed=9)
    write_series(
        folder,
        odd,
        SPACING,
        origin_xyz=(-100.0, -120.0, -50.0 + 5 * SPACING[2]),
        series_uid=UID,
        prefix="dup",
    )
    _quarantined(tmp_path / "src", "duplicated slice position")


def test_undecodable_slice_inside_the_series(tmp_path: Path) -> None:
    paths = _series(tmp_path / "src" / "ser")
    data = paths[12].read_bytes()
    paths[12].write_bytes(data[: len(data) - 4000])
    rows = _ingest(tmp_path / "src")
    assert rows[UID]["status"] == "quarantined"
    assert "slice012.dcm of this series cannot be decoded" in rows[UID]["reason"]
    leftover = [r for sid, r in rows.items() if sid.endswith("slice012.dcm")]
    assert leftover and "truncated or damaged" in leftover[0]["reason"]


@pytest.mark.parametrize(
    "tag,value,what",
    [
        ("0020|0037", "1\\0\\0\\0\\0.995037\\0.0995037", "ImageOrientationPatient"),
        ("0008|0060", "MR", "Modality"),
    ],
)
def test_a_field_that_changes_across_slices(tmp_path: Path, tag: str, value: str, what) -> None:
    _series(tmp_path / "src" / "ser", slice_tags=lambda z: {tag: value} if z == 4 else {})
    _quarantined(tmp_path / "src", what, "changes across slices")


@pytest.mark.parametrize(
    "shape,spacing,what",
    [((1, 60, 66), SPACING, "slice size"), ((1, 70, 66), (0.9, 1.0, 2.05), "PixelSpacing")],
)
def test_slice_size_or_pixel_spacing_that_changes(tmp_path: Path, shape, spacing, what) -> None:
    folder = tmp_path / "src" / "ser"
    _series(folder)
    top = (-100.0, -120.0, -50.0 + 20 * SPACING[2])
    write_series(folder, volumes.ct_like(shape), spacing, top, series_uid=UID, prefix="z")
    _quarantined(tmp_path / "src", what)


def test_real_series_reads_as_simpleitk_and_a_removed_slice_is_caught(
    tmp_path: Path, real_data: Path
) -> None:
    src = real_data / "dicom_chest_ct" / "series_B40f"
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(src))
    ref = sitk.ImageSeriesReader()
    ref.SetFileNames(files)
    img = ref.Execute()
    vol = read_catalogued(str(src), "dicom", tmp_path / "cache")
    np.testing.assert_array_equal(vol.array, sitk.GetArrayFromImage(img))
    np.testing.assert_allclose(vol.spacing, img.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(vol.origin, img.GetOrigin(), atol=1e-6)
    np.testing.assert_allclose(vol.direction, img.GetDirection(), atol=1e-6)
    copy = tmp_path / "src" / "series_B40f"
    shutil.copytree(src, copy)
    (copy / Path(files[len(files) // 2]).name).unlink()
    row = next(iter(_ingest(tmp_path / "src").values()))
    assert row["status"] == "quarantined" and "slice gap of 16 mm" in row["reason"], row["reason"]
    assert "expected 8 mm" in row["reason"]


@pytest.mark.parametrize("name", ["scan #1", "100% lung", "a#b%20c"])
def test_odd_folder_names_pass_ingest_and_preprocess(tmp_path: Path, name: str) -> None:
    _series(tmp_path / "src" / name, n=34)
    row = _ingest(tmp_path / "src")[UID]
    assert row["status"] == "ok", row["reason"]
    assert row["source_uri"].endswith(name)
    out = preprocess_scan(row, PreprocessConfig(), str(tmp_path / "store"), str(tmp_path / "cache"))
    assert out["status"] != "failed", out["reason"]


def test_multi_frame_object_is_one_volume(tmp_path: Path) -> None:
    vol = volumes.volume()
    folder = tmp_path / "mf"
    folder.mkdir()
    img = sitk.Cast(vol.to_sitk(), sitk.sitkUInt16)
    img.SetMetaData("0008|0060", "CT")
    sitk.WriteImage(img, str(folder / "vol.dcm"))
    got = read_catalogued(str(folder), "dicom", tmp_path / "cache")
    assert got.array.shape == vol.array.shape
    np.testing.assert_allclose(got.spacing, vol.spacing, atol=1e-6)
