"""The LUNA16 writer: layout, MetaImage geometry, annotations and candidates in world mm."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
import SimpleITK as sitk

from genesis_core.synth import write_luna16

SIZE = (64, 64, 32)
UID = re.compile(r"^1\.3\.6\.1\.4\.1\.14519\.5\.2\.1\.6279\.6001\.[1-9]\d{29}$")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_luna16(tmp_path_factory.mktemp("luna16"), scans=10, seed=11, size_xyz=SIZE)


def _rows(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _to_index(image: sitk.Image, row: dict) -> tuple[int, int, int]:
    point = tuple(float(row[c]) for c in ("coordX", "coordY", "coordZ"))
    return tuple(int(round(v)) for v in image.TransformPhysicalPointToContinuousIndex(point))


def test_layout_spreads_ten_scans_over_the_ten_subsets(dataset) -> None:
    root = dataset.root
    for k in range(10):
        mhds = sorted((root / f"subset{k}").glob("*.mhd"))
        assert len(mhds) == 1 and UID.match(mhds[0].stem)
        assert mhds[0].with_suffix(".raw").is_file()
    # every split early: train, val, test, train, val, test, train, test, train, train
    assert [s.subset for s in dataset.scans] == [0, 5, 7, 1, 6, 8, 2, 9, 3, 4]
    assert (root / "annotations.csv").is_file() and (root / "candidates.csv").is_file()
    assert len({s.uid for s in dataset.scans}) == 10


def test_metaimage_is_uncompressed_int16_with_separate_raw(dataset) -> None:
    scan = dataset.scans[0]
    header = dict(
        line.split(" = ", 1) for line in scan.mhd.read_text().splitlines() if " = " in line
    )
    assert header["CompressedData"] == "False" and header["ElementType"] == "MET_SHORT"
    assert header["ElementDataFile"] == f"{scan.uid}.raw"
    assert scan.raw.stat().st_size == 2 * np.prod(SIZE)


def test_geometry_reads_back(dataset) -> None:
    spacings = set()
    for scan in dataset.scans:
        image = sitk.ReadImage(str(scan.mhd))
        sx, sy, sz = image.GetSpacing()
        ox, oy, oz = image.GetOrigin()
        assert image.GetSize() == SIZE and image.GetPixelID() == sitk.sitkInt16
        assert np.allclose(image.GetSpacing(), scan.geometry.spacing_xyz, atol=1e-6)
        assert np.allclose(image.GetOrigin(), scan.geometry.origin_xyz, atol=1e-6)
        assert image.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
        assert 0.6 <= sx == sy <= 0.9 and 0.7 <= sz <= 2.5
        assert -200 <= ox <= -150 and -200 <= oy <= -150 and -300 <= oz <= -100
        spacings.add((sx, sz))
    assert len(spacings) == 10  # spacing varies per scan


def test_annotations_map_to_nodules_inside_the_lungs(dataset) -> None:
    rows = _rows(dataset.annotations_csv)
    assert list(rows[0]) == ["seriesuid", "coordX", "coordY", "coordZ", "diameter_mm"]
    assert len(rows) == sum(len(s.nodules) for s in dataset.scans) >= 10
    scans = {s.uid: s for s in dataset.scans}
    for row in rows:
        image = sitk.ReadImage(str(scans[row["seriesuid"]].mhd))
        hu = sitk.GetArrayFromImage(image)
        x, y, z = _to_index(image, row)
        assert hu[z, y, x] > -200
        assert (x, y, z) in [n.center_index_xyz for n in scans[row["seriesuid"]].nodules]
        r = int(np.ceil(float(row["diameter_mm"]) / 2 / min(image.GetSpacing()))) + 3
        around = hu[max(z - r, 0) : z + r, max(y - r, 0) : y + r, max(x - r, 0) : x + r]
        assert (around < -700).sum() > 20  # lung parenchyma around the nodule


def test_candidates_hold_the_nodules_and_body_negatives(dataset) -> None:
    rows = _rows(dataset.candidates_csv)
    assert list(rows[0]) == ["seriesuid", "coordX", "coordY", "coordZ", "class"]
    positives = [r for r in rows if r["class"] == "1"]
    annotations = _rows(dataset.annotations_csv)
    coords = ("seriesuid", "coordX", "coordY", "coordZ")
    assert [[p[c] for c in coords] for p in positives] == [
        [a[c] for c in coords] for a in annotations
    ]
    for scan in dataset.scans:
        negatives = [r for r in rows if r["seriesuid"] == scan.uid and r["class"] == "0"]
        assert 5 * max(1, len(scan.nodules)) <= len(negatives) <= 10 * max(1, len(scan.nodules))
        image = sitk.ReadImage(str(scan.mhd))
        hu = sitk.GetArrayFromImage(image)
        for row in negatives:
            x, y, z = _to_index(image, row)
            assert hu[z, y, x] > -940  # inside the body or lungs, never outside air


def test_deterministic_and_stable_per_scan(tmp_path, dataset) -> None:
    again = write_luna16(tmp_path / "a", scans=3, seed=11, size_xyz=SIZE, subsets=2)
    assert [s.uid for s in again.scans] == [s.uid for s in dataset.scans[:3]]
    assert [s.subset for s in again.scans] == [0, 1, 0]
    for a, b in zip(again.scans, dataset.scans, strict=False):
        assert a.raw.read_bytes() == b.raw.read_bytes()
    other = write_luna16(tmp_path / "b", scans=1, seed=12, size_xyz=SIZE)
    assert other.scans[0].uid != dataset.scans[0].uid
