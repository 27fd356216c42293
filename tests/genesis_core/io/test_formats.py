"""Readers and layout detection on tiny volumes written in each format.

Geometry in the catalog must equal what SimpleITK reports for the same file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from genesis_core import catalog
from genesis_core.ingest import ingest_sequential
from genesis_core.io.layout import list_source
from tests.helpers import volumes
from tests.helpers.dicom import write_series

ROTATED = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def _assert_geometry(row: dict, img: sitk.Image) -> None:
    arr = sitk.GetArrayFromImage(img)
    assert tuple(row["shape_xyz"]) == img.GetSize()
    np.testing.assert_allclose(row["spacing_xyz"], img.GetSpacing(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(row["origin_xyz"], img.GetOrigin(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(row["direction"], img.GetDirection(), rtol=0, atol=1e-9)
    assert row["hu_min"] == arr.min() and row["hu_max"] == arr.max()


@pytest.mark.parametrize("suffix,fmt", [(".mhd", "mhd"), (".nii.gz", "nifti"), (".nrrd", "nrrd")])
def test_plain_folder_each_format(tmp_path: Path, suffix: str, fmt: str) -> None:
    vol = volumes.volume(direction=ROTATED)
    path = volumes.write(vol, tmp_path / "src" / f"scan_a{suffix}")
    listing = list_source(str(tmp_path / "src"))
    assert listing.layout == "plain" and [s.scan_id for s in listing.scans] == ["scan_a"]
    df = ingest_sequential(str(tmp_path / "src"), str(tmp_path / "c.parquet"), tmp_path / "cache")
    row = df.iloc[0].to_dict()
    assert row["status"] == "ok", row["reason"]
    assert row["format"] == fmt
    _assert_geometry(row, sitk.ReadImage(str(path)))


def test_luna16_layout(tmp_path: Path) -> None:
    for i, sub in enumerate([0, 0, 3]):
        volumes.write(volumes.volume(seed=i), tmp_path / f"subset{sub}" / f"1.2.3.{i}.mhd")
    (tmp_path / "annotations.csv").write_text("seriesuid,coordX,coordY,coordZ,diameter_mm\n")
    listing = list_source(str(tmp_path))
    assert listing.layout == "luna16"
    assert {s.scan_id: s.subset for s in listing.scans} == {
        "1.2.3.0": 0,
        "1.2.3.1": 0,
        "1.2.3.2": 3,
    }
    assert all(len(s.files) == 2 and s.files[1].endswith(".raw") for s in listing.scans)
    assert listing.annotations_uri and listing.annotations_uri.endswith("annotations.csv")


def test_lits_layout_pairs_segmentations(tmp_path: Path) -> None:
    for n in (0, 7):
        vol = volumes.volume(seed=n)
        volumes.write(vol, tmp_path / f"volume-{n}.nii.gz")
        seg = (vol.array > 0).astype(np.uint8)
        volumes.write(
            type(vol)(seg, vol.spacing, vol.origin), tmp_path / f"segmentation-{n}.nii.gz"
        )
    listing = list_source(str(tmp_path))
    assert listing.layout == "lits"
    assert sorted(s.scan_id for s in listing.scans) == ["volume-0", "volume-7"]
    assert all(
        s.label_uri.endswith(s.scan_id.replace("volume", "segmentation") + ".nii.gz")
        for s in listing.scans
    )


def test_msd_layout(tmp_path: Path) -> None:
    (tmp_path / "dataset.json").write_text("{}")
    vol = volumes.volume()
    volumes.write(vol, tmp_path / "imagesTr" / "liver_1.nii.gz")
    volumes.write(vol, tmp_path / "labelsTr" / "liver_1.nii.gz")
    volumes.write(volumes.volume(seed=3), tmp_path / "imagesTs" / "liver_9.nii.gz")
    listing = list_source(str(tmp_path))
    assert listing.layout == "msd"
    by_id = {s.scan_id: s for s in listing.scans}
    assert by_id["liver_1"].label_uri.endswith("labelsTr/liver_1.nii.gz")
    assert by_id["liver_9"].label_uri is None


@pytest.mark.parametrize("compressor", [None, "JPEG2000", "JPEG"])
def test_dicom_series_sorted_by_position(tmp_path: Path, compressor: str | None) -> None:
    hu = volumes.ct_like((34, 70, 66))
    paths = write_series(tmp_path / "pat1" / "ser", hu, (1.0, 1.1, 2.0), compressor=compressor)
    # Shuffle file names so that sorting by name would be wrong: position must decide.
    for p, q in zip(paths, reversed(paths), strict=True):
        p.rename(p.with_name("x" + q.name))
    if compressor:
        # The transfer syntax UID of an encapsulated (compressed) JPEG family: 1.2.840.10008.1.2.4.x
        assert b"1.2.840.10008.1.2.4." in next((tmp_path / "pat1" / "ser").iterdir()).read_bytes()
    df = ingest_sequential(str(tmp_path), str(tmp_path / "c.parquet"), tmp_path / "cache")
    row = df.iloc[0].to_dict()
    assert row["status"] == "ok", row["reason"]
    assert row["format"] == "dicom" and row["scan_id"] == "1.2.826.0.1.3680043.2.1125.1.1"
    assert tuple(row["shape_xyz"]) == (66, 70, 34)
    np.testing.assert_allclose(row["origin_xyz"], (-100.0, -120.0, -50.0), atol=1e-3)
    np.testing.assert_allclose(row["spacing_xyz"], (1.0, 1.1, 2.0), atol=1e-3)
    assert row["hu_min"] == hu.min() and row["hu_max"] == hu.max()


def test_catalog_schema_round_trip(tmp_path: Path) -> None:
    volumes.write(volumes.volume(), tmp_path / "src" / "a.nii.gz")
    uri = str(tmp_path / "c.parquet")
    df = ingest_sequential(str(tmp_path / "src"), uri, tmp_path / "cache")
    again = catalog.load(uri)
    assert list(again.columns) == catalog.COLUMNS
    assert again["sha256"].tolist() == df["sha256"].tolist()
    assert len(again.iloc[0]["direction"]) == 9
