"""Every kind of bad input ends quarantined with a reason naming the problem,
and the good scans beside it are catalogued."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from genesis_core.ingest import ingest_sequential
from genesis_core.volume import Volume
from tests.helpers import volumes
from tests.helpers.dicom import strip_pixel_data, write_series


def _float_volume(arr: np.ndarray) -> Volume:
    return Volume(arr.astype(np.float32), (1.0, 1.0, 2.0))


def build_bad_folder(src: Path) -> dict[str, str]:
    """Write good and bad scans; return {scan_id: expected reason fragment} ('' = ok)."""
    expect = {}
    good = volumes.volume(seed=1)
    volumes.write(good, src / "good_a.nii.gz")
    volumes.write(volumes.volume(seed=2), src / "good_b.mhd")
    expect.update(good_a="", good_b="")
    # .mhd whose .raw is missing / truncated / too long
    volumes.write(volumes.volume(seed=3), src / "no_raw.mhd")
    (src / "no_raw.raw").unlink()
    expect["no_raw"] = "no_raw.raw' named by no_raw.mhd is missing"
    volumes.write(volumes.volume(seed=4), src / "truncated.mhd")
    raw = src / "truncated.raw"
    raw.write_bytes(raw.read_bytes()[:1000])
    expect["truncated"] = "truncated"
    volumes.write(volumes.volume(seed=5), src / "padded.mhd")
    with open(src / "padded.raw", "ab") as f:
        f.write(b"\0" * 64)
    expect["padded"] = "header/data size mismatch"
    # 2D and 4D images
    sitk.WriteImage(sitk.GetImageFromArray(volumes.ct_like()[0]), str(src / "flat.nii.gz"))
    expect["flat"] = "2D image"
    img3 = volumes.volume(seed=6).to_sitk()
    sitk.WriteImage(sitk.JoinSeries([img3, img3]), str(src / "four_d.nii.gz"))
    expect["four_d"] = "4D image"
    # NaN/inf, spacing, size, MRI-like intensities, duplicate
    arr = volumes.ct_like(seed=7).astype(np.float32)
    arr[3, 4, 5], arr[6, 7, 8] = np.nan, np.inf
    # NIfTI writers zero NaNs; MetaImage keeps them
    volumes.write(_float_volume(arr), src / "nan_vox.mhd")
    expect["nan_vox"] = "2 NaN/inf voxels"
    volumes.write(Volume(volumes.ct_like(seed=8), (25.0, 1.0, 1.0)), src / "coarse.nrrd")
    expect["coarse"] = "spacing (25.0, 1.0, 1.0) mm outside (0, 20.0]"
    volumes.write(
        Volume(volumes.ct_like((10, 20, 20), seed=9), (1.0, 1.0, 1.0)), src / "tiny.nii.gz"
    )
    expect["tiny"] = "too small for one cube"
    volumes.write(volumes.volume(seed=10), src / "zero_sp.mhd")
    header = (src / "zero_sp.mhd").read_text()
    lines = [
        ln if not ln.startswith("ElementSpacing") else "ElementSpacing = 0 1.1 2"
        for ln in header.splitlines()
    ]
    (src / "zero_sp.mhd").write_text("\n".join(lines) + "\n")
    expect["zero_sp"] = "spacing"
    mri = np.random.default_rng(0).integers(0, 900, (40, 72, 72)).astype(np.int16)
    volumes.write(Volume(mri, (1.0, 1.0, 2.0)), src / "mri_like.nii.gz")
    expect["mri_like"] = "likely MRI"
    shutil.copy(src / "good_a.nii.gz", src / "zz_copy_of_a.nii.gz")
    expect["zz_copy_of_a"] = "exact duplicate of scan good_a"
    return expect


def build_bad_dicom(src: Path) -> dict[str, str]:
    expect = {}
    hu = volumes.ct_like((34, 70, 66))
    write_series(src / "dicom_ok", hu, (1.0, 1.0, 2.0), series_uid="1.2.3.100")
    expect["1.2.3.100"] = ""
    mixed = src / "dicom_mixed"
    write_series(mixed, hu, (1.0, 1.0, 2.0), series_uid="1.2.3.200", prefix="a")
    write_series(mixed, hu + 1, (1.0, 1.0, 2.0), series_uid="1.2.3.201", prefix="b")
    expect["1.2.3.200"] = expect["1.2.3.201"] = "mixes 2 DICOM series"
    broken = src / "dicom_broken"
    write_series(broken, hu + 2, (1.0, 1.0, 2.0), series_uid="1.2.3.300")
    (broken / "garbage.dcm").write_bytes(b"this is not dicom at all" * 10)
    expect["dicom_broken/garbage.dcm"] = "not a DICOM file"
    expect["1.2.3.300"] = ""
    nonimage = src / "dicom_nonimage"
    for p in write_series(nonimage, hu[:3], (1.0, 1.0, 2.0), series_uid="1.2.3.400"):
        strip_pixel_data(p)
    expect["dicom_nonimage/slice000.dcm"] = "DICOM file without image data"
    return expect


@pytest.fixture(scope="module")
def bad_catalog(tmp_path_factory):
    src = tmp_path_factory.mktemp("bad") / "src"
    src.mkdir()
    expect = build_bad_folder(src)
    expect.update(build_bad_dicom(src))
    tmp = src.parent
    df = ingest_sequential(str(src), str(tmp / "catalog.parquet"), tmp / "cache")
    return df, expect


def test_each_bad_input_is_quarantined_with_its_reason(bad_catalog) -> None:
    df, expect = bad_catalog
    rows = {r["scan_id"]: r for r in df.to_dict("records")}
    for scan_id, fragment in expect.items():
        hits = [r for sid, r in rows.items() if sid == scan_id or sid.endswith(scan_id)]
        assert hits, f"{scan_id} missing from the catalog: {sorted(rows)}"
        row = hits[0]
        if fragment:
            assert row["status"] == "quarantined", f"{scan_id} should be quarantined"
            assert fragment in row["reason"], f"{scan_id}: {row['reason']!r}"
        else:
            assert row["status"] == "ok", f"{scan_id}: {row['reason']}"
            assert row["reason"] == ""


def test_nothing_silently_dropped(bad_catalog) -> None:
    df, expect = bad_catalog
    assert len(df) >= len(expect)
    assert df["scan_id"].is_unique
    assert (df.loc[df.status == "quarantined", "reason"].str.len() > 0).all()
