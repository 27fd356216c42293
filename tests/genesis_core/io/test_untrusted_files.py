"""File-level trust: every damaged file is refused with a reason naming it and the problem;
every valid file (rarer MetaImage features included) reads exactly as SimpleITK reads it.

Each test builds its own file byte by byte (tests/helpers/damage.py).
"""

from __future__ import annotations

import gzip
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from genesis_core.io.readers import ScanReadError, read_image
from genesis_core.volume import Volume
from tests.helpers import damage, volumes


def _refused(path: Path, *fragments: str) -> str:
    with pytest.raises(ScanReadError) as e:
        read_image(path)
    msg = str(e.value)
    assert path.name in msg or any(p in msg for p in (path.stem,)), msg
    for f in fragments:
        assert f in msg, msg
    return msg


def _same_as_sitk(path: Path) -> Volume:
    ours = read_image(path)
    img = sitk.ReadImage(str(path))
    ref = sitk.GetArrayFromImage(img)
    assert ours.array.dtype == ref.dtype
    np.testing.assert_array_equal(ours.array, ref)
    np.testing.assert_allclose(ours.spacing, img.GetSpacing(), atol=1e-12)
    np.testing.assert_allclose(ours.origin, img.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(ours.direction, img.GetDirection(), atol=1e-9)
    return ours


# 1. Complete voxel data ---------------------------------------------------------------


def test_gzip_nifti_cut_short(tmp_path: Path) -> None:
    data = damage.nifti_bytes(volumes.volume())
    gz = gzip.compress(data)
    path = tmp_path / "cut.nii.gz"
    path.write_bytes(gz[: len(gz) // 2])
    _refused(path, "truncated", "header needs 414720")
    # SimpleITK reads the same file without a word, zero-filled: the hazard we guard against
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(path))).shape == (40, 72, 72)


def test_zraw_with_a_well_formed_but_short_stream(tmp_path: Path) -> None:
    arr = volumes.ct_like()
    path = damage.write_zraw(tmp_path, "short", arr, claim_zyx=(48, 72, 72))
    msg = _refused(path, "decompressed 414720 bytes", "header needs 497664")
    assert "No such file" not in msg


def test_zraw_truncated_mid_stream(tmp_path: Path) -> None:
    path = damage.write_zraw(tmp_path, "cut", volumes.ct_like())
    raw = tmp_path / "cut.zraw"
    raw.write_bytes(raw.read_bytes()[:5000])
    _refused(path, "truncated")


def test_data_offset_past_end_of_file(tmp_path: Path) -> None:
    data = damage.patch(damage.nifti_bytes(volumes.volume()), "vox_offset", 10_000_000.0)
    _refused(damage.write_nifti(tmp_path / "far.nii", data), "vox_offset", "past the end")
    _refused(damage.write_nifti(tmp_path / "far.nii.gz", data), "past the end")
    arr = volumes.ct_like()
    mhd = damage.write_mhd(tmp_path, "hs", arr, extra="HeaderSize = 999999999\n")
    _refused(mhd, "offset 999999999", "past the end")


def test_plain_data_with_extra_bytes_is_refused(tmp_path: Path) -> None:
    data = damage.nifti_bytes(volumes.volume())
    _refused(damage.write_nifti(tmp_path / "long.nii", data + b"\0" * 10), "larger than the header")
    _refused(damage.write_nifti(tmp_path / "long.nii.gz", data + b"\0" * 10), "larger than")


# 2. Non-finite voxels, in every format ---------------------------------------------------


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".mhd", ".nrrd"])
def test_nan_and_inf_found_in_every_format(tmp_path: Path, suffix: str) -> None:
    arr = damage.float_ct()
    arr[3, 4, 5], arr[6, 7, 8], arr[9, 9, 9] = np.nan, np.inf, -np.inf
    path = volumes.write(Volume(arr, (1.0, 1.0, 2.0)), tmp_path / f"nan{suffix}")
    from genesis_core.ingest import ingest_sequential

    df = ingest_sequential(str(tmp_path), str(tmp_path / "c.parquet"), tmp_path / "cache")
    row = df.iloc[0]
    assert row["status"] == "quarantined"
    assert "3 NaN/inf voxels" in row["reason"] and path.name in row["reason"]


def test_nifti_nan_is_counted_in_the_stored_type(tmp_path: Path) -> None:
    arr = damage.float_ct()
    arr[0, 0, 0] = np.nan
    path = volumes.write(Volume(arr, (1.0, 1.0, 2.0)), tmp_path / "n.nii")
    _refused(path, "1 NaN/inf voxels (stored as float32)")
    # SimpleITK alone would have returned 0 there
    assert not np.isnan(sitk.GetArrayFromImage(sitk.ReadImage(str(path)))).any()


# 3. Geometry fields are never replaced by defaults ----------------------------------------


@pytest.mark.parametrize("value", [0.0, -1.5, float("nan"), float("inf")])
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_pixdim_must_be_finite_and_positive(tmp_path: Path, value: float, suffix) -> None:
    data = damage.nifti_bytes(volumes.volume())
    pixdim = list(damage.read_field(data, "pixdim"))
    pixdim[2] = value
    path = damage.write_nifti(tmp_path / f"sp{suffix}", damage.patch(data, "pixdim", pixdim))
    _refused(path, "pixdim[1..3]", "finite and > 0")


@pytest.mark.parametrize("spacing", ["0 1.1 2", "1 -1 2", "1 nan 2", "1 1"])
def test_mhd_element_spacing_must_be_finite_and_positive(tmp_path: Path, spacing: str) -> None:
    path = damage.write_mhd(tmp_path, "sp", volumes.ct_like(), spacing=spacing)
    _refused(path, "ElementSpacing")


def test_mhd_without_spacing_is_refused(tmp_path: Path) -> None:
    path = damage.write_mhd(tmp_path, "nosp", volumes.ct_like())
    path.write_text("\n".join(ln for ln in path.read_text().splitlines() if "Spacing" not in ln))
    _refused(path, "no ElementSpacing")


def test_nan_origin_is_refused(tmp_path: Path) -> None:
    data = damage.nifti_bytes(volumes.volume())
    bad_q = damage.patch(damage.patch(data, "codes", (1, 0)), "qoffset", (float("nan"), 0, 0))
    _refused(damage.write_nifti(tmp_path / "q.nii", bad_q), "qoffset", "not finite")
    srow = list(damage.read_field(data, "srow"))
    srow[3] = float("inf")
    _refused(damage.write_nifti(tmp_path / "s.nii", damage.patch(data, "srow", srow)), "srow")
    mhd = damage.write_mhd(tmp_path, "o", volumes.ct_like(), offset="0 nan 0")
    _refused(mhd, "Offset", "not finite")


@pytest.mark.parametrize(
    "matrix,word",
    [
        ("1 0 0 1 0 0 0 0 1", "singular"),
        ("1 0.2 0 0 1 0 0 0 1", "not orthonormal"),
        ("0 0 0 0 0 0 0 0 0", "singular"),
        ("1 0 0 0 nan 0 0 0 1", "not finite"),
    ],
)
def test_mhd_direction_must_be_a_rotation(tmp_path: Path, matrix: str, word: str) -> None:
    path = damage.write_mhd(tmp_path, "d", volumes.ct_like(), matrix=matrix)
    msg = _refused(path, "TransformMatrix", word)
    assert "(0 0 0)" not in msg


def test_nifti_singular_sform_is_refused(tmp_path: Path) -> None:
    data = damage.nifti_bytes(volumes.volume())
    flat = damage.patch(data, "srow", [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    _refused(damage.write_nifti(tmp_path / "flat.nii", flat), "sform", "singular")


def test_nrrd_zero_spacing_is_refused(tmp_path: Path) -> None:
    path = volumes.write(volumes.volume(), tmp_path / "z.nrrd")
    raw = path.read_bytes()
    head, sep, body = raw.partition(b"\n\n")
    lines = [
        b"space directions: (0,0,0) (0,1.1,0) (0,0,2)" if ln.startswith(b"space directions") else ln
        for ln in head.split(b"\n")
    ]
    path.write_bytes(b"\n".join(lines) + sep + body)
    _refused(path, "space directions", "finite and > 0")


# 7. Claims larger than the file could hold are refused before allocating ------------------


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_huge_nifti_claim_refused_at_once(tmp_path: Path, suffix: str) -> None:
    data = damage.nifti_bytes(volumes.volume(shape_zyx=(4, 8, 8)))
    data = damage.patch(data, "dim", (3, 2048, 2048, 512, 1, 1, 1, 1))  # 4 GiB of int16
    path = damage.write_nifti(tmp_path / f"huge{suffix}", data)
    t0 = time.perf_counter()
    _refused(path, "4294967296 bytes")
    assert time.perf_counter() - t0 < 2


def test_huge_zraw_claim_refused_at_once(tmp_path: Path) -> None:
    path = damage.write_zraw(tmp_path, "bomb", volumes.ct_like((4, 8, 8)), claim_zyx=(4096,) * 3)
    t0 = time.perf_counter()
    _refused(path, "header claims", "compressed bytes")
    assert time.perf_counter() - t0 < 2


def test_data_file_outside_the_folder_is_refused(tmp_path: Path) -> None:
    arr = volumes.ct_like()
    (tmp_path / "outside.raw").write_bytes(arr.tobytes())
    inner = tmp_path / "src"
    inner.mkdir()
    for i, ref in enumerate(["../outside.raw", str(tmp_path / "outside.raw")]):
        path = inner / f"x{i}.mhd"
        path.write_text(damage.mhd_text(arr.shape[::-1], data_file=ref))
        _refused(path, "outside the source folder")


# 8. Valid but rarer MetaImage features are read ---------------------------------------------


def test_header_size_positive_and_minus_one(tmp_path: Path) -> None:
    arr = volumes.ct_like()
    for n, hs in (("pos", "200"), ("end", "-1")):
        path = damage.write_mhd(tmp_path, n, arr, extra=f"HeaderSize = {hs}\n")
        raw = tmp_path / f"{n}.raw"
        raw.write_bytes(b"\x07" * 200 + raw.read_bytes())
        vol = _same_as_sitk(path)
        np.testing.assert_array_equal(vol.array, arr)


def test_element_data_file_list_and_pattern(tmp_path: Path) -> None:
    arr = volumes.ct_like((6, 20, 24))
    for z in range(arr.shape[0]):
        (tmp_path / f"sl{z:02d}.raw").write_bytes(arr[z].astype("<i2").tobytes())
    names = "\n".join(f"sl{z:02d}.raw" for z in range(arr.shape[0]))
    lst = tmp_path / "list.mhd"
    lst.write_text(damage.mhd_text(arr.shape[::-1], data_file="LIST 2D") + names + "\n")
    np.testing.assert_array_equal(_same_as_sitk(lst).array, arr)
    pat = tmp_path / "pattern.mhd"
    pat.write_text(damage.mhd_text(arr.shape[::-1], data_file="sl%02d.raw 0 5 1"))
    np.testing.assert_array_equal(read_image(pat).array, arr)


@pytest.mark.parametrize(
    "etype,dtype",
    [("MET_LONG_LONG", "<i8"), ("MET_ULONG_LONG", "<u8"), ("MET_LONG", "<i4"), ("MET_CHAR", "i1")],
)
def test_every_metaio_type(tmp_path: Path, etype: str, dtype: str) -> None:
    arr = np.abs(volumes.ct_like((5, 9, 11))).astype(dtype) % 100
    path = damage.write_mhd(tmp_path, "t", arr, etype=etype)
    vol = _same_as_sitk(path)
    np.testing.assert_array_equal(vol.array, arr)


def test_big_endian_and_local_data(tmp_path: Path) -> None:
    arr = volumes.ct_like((5, 9, 11))
    msb = tmp_path / "msb.mhd"
    (tmp_path / "msb.raw").write_bytes(arr.astype(">i2").tobytes())
    msb.write_text(
        damage.mhd_text(arr.shape[::-1], data_file="msb.raw").replace(
            "BinaryDataByteOrderMSB = False", "BinaryDataByteOrderMSB = True"
        )
    )
    np.testing.assert_array_equal(_same_as_sitk(msb).array, arr)
    local = tmp_path / "local.mhd"
    local.write_bytes(
        damage.mhd_text(arr.shape[::-1], data_file="LOCAL").encode() + arr.astype("<i2").tobytes()
    )
    np.testing.assert_array_equal(_same_as_sitk(local).array, arr)


def test_unsupported_feature_is_named(tmp_path: Path) -> None:
    path = damage.write_mhd(tmp_path, "a", volumes.ct_like(), extra="BinaryData = False\n")
    path.write_text(path.read_text().replace("BinaryData = True\n", ""))
    _refused(path, "ASCII voxel data (BinaryData = False) is not supported")
    path = damage.write_mhd(tmp_path, "c", volumes.ct_like(), extra="ElementNumberOfChannels = 3\n")
    _refused(path, "3 components per voxel")


# The exact readers agree with SimpleITK on valid files ------------------------------------


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".mhd", ".nrrd"])
@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.uint8])
def test_valid_files_read_as_simpleitk_reads_them(tmp_path: Path, suffix: str, dtype) -> None:
    arr = (np.abs(volumes.ct_like()) % 250).astype(dtype)
    rotated = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    path = volumes.write(
        Volume(arr, (0.7, 0.8, 2.5), (-10.0, 5.0, 3.0), rotated), tmp_path / f"v{suffix}"
    )
    _same_as_sitk(path)


@pytest.mark.parametrize("slope,inter", [(2.0, 0.0), (1.0, -1024.0), (0.5, 3.0), (0.0, 0.0)])
def test_nifti_scaling_applied_like_simpleitk(tmp_path: Path, slope: float, inter: float) -> None:
    data = damage.patch(damage.nifti_bytes(volumes.volume()), "scl", (slope, inter))
    _same_as_sitk(damage.write_nifti(tmp_path / "s.nii.gz", data))


def test_zraw_reads_exactly(tmp_path: Path) -> None:
    arr = volumes.ct_like()
    path = damage.write_zraw(tmp_path, "ok", arr)
    np.testing.assert_array_equal(_same_as_sitk(path).array, arr)
    assert zlib.decompress((tmp_path / "ok.zraw").read_bytes()) == arr.astype("<i2").tobytes()


def test_real_scans_read_as_simpleitk_reads_them(real_data: Path) -> None:
    for rel in ("luna16_style_chest_ct/subset0", "lits_style_abdomen_ct"):
        for path in sorted((real_data / rel).iterdir()):
            if path.name.endswith((".mhd", ".nii.gz")):
                _same_as_sitk(path)


def test_detached_nrrd_data_file_is_listed_and_read(tmp_path: Path) -> None:
    from genesis_core.io.layout import list_source

    vol = volumes.volume()
    sitk.WriteImage(vol.to_sitk(), str(tmp_path / "x.nhdr"))
    (src,) = list_source(str(tmp_path)).scans
    assert [Path(f).name for f in src.files] == ["x.nhdr", "x.raw"]
    np.testing.assert_array_equal(_same_as_sitk(tmp_path / "x.nhdr").array, vol.array)
    raw = tmp_path / "x.raw"
    raw.write_bytes(raw.read_bytes()[:-100])
    _refused(tmp_path / "x.nhdr", "x.raw is truncated")


def test_nifti_nan_slope_means_unscaled_and_plain_data_named_gz_reads(tmp_path: Path) -> None:
    """Valid files other writers make: nibabel writes scl_slope = NaN for "no scaling"; an
    uncompressed NIfTI named .nii.gz is read by ITK as it is."""
    data = damage.patch(damage.nifti_bytes(volumes.volume()), "scl", (float("nan"), float("nan")))
    _same_as_sitk(damage.write_nifti(tmp_path / "nan_slope.nii", data))
    plain = tmp_path / "plain.nii.gz"
    plain.write_bytes(damage.nifti_bytes(volumes.volume()))
    np.testing.assert_array_equal(_same_as_sitk(plain).array, volumes.volume().array)
    inf = damage.patch(damage.nifti_bytes(volumes.volume()), "scl", (float("inf"), 0.0))
    _refused(damage.write_nifti(tmp_path / "inf.nii", inf), "scl_slope")
