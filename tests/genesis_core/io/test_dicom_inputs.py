"""DICOM inputs that decode but lie (#25): pixel-format fields against the stored values,
a modality that is not CT, padding, localizers sharing the series UID, and an enhanced
(multi-frame) CT checked frame by frame like a series.  Damaged inputs are built from
a copy of the real series (tags edited in place) or from a written multi-frame file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from genesis_core.ingest import ingest_sequential
from genesis_core.io.readers import read_catalogued
from tests.helpers import volumes
from tests.helpers.dicom import element, rewrite, ss, us

PIXELS = 0x7FE00010
BITS_STORED, HIGH_BIT, PIXEL_REP = 0x00280101, 0x00280102, 0x00280103
SLICE = "1-05.dcm"


def _ingest(src: Path) -> list[dict]:
    df = ingest_sequential(str(src), str(src.parent / "c.parquet"), src.parent / "cache")
    return df.to_dict("records")


def _series_row(src: Path) -> dict:
    rows = [r for r in _ingest(src) if not r["scan_id"].endswith(".dcm")]
    assert len(rows) == 1, rows
    return rows[0]


def _real_copy(real_data: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "src" / "series_B40f"
    shutil.copytree(real_data / "dicom_chest_ct" / "series_B40f", folder)
    return folder


def _set_pixel(els: dict, value: int, fmt: str = "<u2", at: int = 1000) -> None:
    px = np.frombuffer(bytes(els[PIXELS].value), dtype=fmt).copy()
    px[at] = value
    els[PIXELS] = element(PIXELS, "OW", px.tobytes())


def _set(tag: int, vr: str, value: bytes):
    return lambda els: els.__setitem__(tag, element(tag, vr, value))


def _reason(src: Path, *fragments: str) -> str:
    row = _series_row(src)
    assert row["status"] == "quarantined", row
    for f in fragments:
        assert f in row["reason"], row["reason"]
    return row["reason"]


# --- 1. pixel-format fields against the data --------------------------------------


def _long_pixels(els: dict) -> None:
    els[PIXELS] = element(PIXELS, "OW", bytes(els[PIXELS].value) + b"\0" * 512)


def _signed_below(els: dict) -> None:
    els[PIXEL_REP] = element(PIXEL_REP, "US", us(1))
    els[BITS_STORED] = element(BITS_STORED, "US", us(13))
    els[HIGH_BIT] = element(HIGH_BIT, "US", us(12))
    _set_pixel(els, -5000, "<i2")


@pytest.mark.parametrize(
    "edit,fragments",
    [
        (_set(HIGH_BIT, "US", us(15)), ["HighBit = 15 but BitsStored = 12"]),
        (_set(BITS_STORED, "US", us(17)), ["BitsStored = 17 but BitsAllocated = 16"]),
        (lambda els: _set_pixel(els, 40000), ["BitsStored = 12 but stored values reach 40000"]),
        (lambda els: _set_pixel(els, 64512), ["stored values reach 64512"]),  # -1024 as int16
        (_signed_below, ["BitsStored = 13 but stored values go down to -5000"]),
        (_long_pixels, ["pixel data holds 524800 bytes", "= 524288"]),
    ],
    ids=["highbit", "stored>allocated", "40000", "negative-as-unsigned", "signed-low", "length"],
)
def test_pixel_format_contradiction_names_both_values(
    tmp_path: Path, real_data: Path, edit, fragments
) -> None:
    folder = _real_copy(real_data, tmp_path)
    rewrite(folder / SLICE, edit)
    assert SLICE in _reason(folder.parent, *fragments)


# --- 3. modality ----------------------------------------------------------------------


@pytest.mark.parametrize("modality", ["MR", "PT", "SEG", "SR"])
def test_a_series_that_is_not_ct_is_quarantined(tmp_path: Path, real_data: Path, modality) -> None:
    folder = _real_copy(real_data, tmp_path)
    for p in folder.glob("*.dcm"):
        rewrite(p, _set(0x00080060, "CS", modality.encode()))
    _reason(folder.parent, f"Modality is '{modality}', not CT")


# --- 5. padding ---------------------------------------------------------------------


def _padded(els: dict) -> None:
    """Signed storage with a padded corner: stored -2000..-1990 (-3024..-3014 HU)."""
    els[PIXEL_REP] = element(PIXEL_REP, "US", us(1))
    els[BITS_STORED] = element(BITS_STORED, "US", us(16))
    els[HIGH_BIT] = element(HIGH_BIT, "US", us(15))
    px = np.frombuffer(bytes(els[PIXELS].value), dtype="<i2").reshape(512, 512).copy()
    px[:40, :40] = -2000 + np.arange(40)[:, None] % 11
    els[PIXELS] = element(PIXELS, "OW", px.tobytes())
    els[0x00280120] = element(0x00280120, "SS", ss(-2000))
    els[0x00280121] = element(0x00280121, "SS", ss(-1990))


def test_padding_is_air_and_said_in_the_row(tmp_path: Path, real_data: Path) -> None:
    folder = _real_copy(real_data, tmp_path)
    for p in folder.glob("*.dcm"):
        rewrite(p, _padded)
    row = _series_row(folder.parent)
    assert row["status"] == "ok", row["reason"]
    assert row["hu_min"] >= -1024, row["hu_min"]
    assert "48000 padding voxels" in row["reason"] and "set to air (-1000 HU)" in row["reason"]
    assert "PixelPaddingValue = -2000, PixelPaddingRangeLimit = -1990" in row["reason"]
    vol = read_catalogued(str(folder), "dicom", tmp_path / "cache")
    assert (vol.array[:, :40, :40] == -1000).all()


# --- 6. localizer -------------------------------------------------------------------


@pytest.mark.parametrize(
    "image_type,orientation,why",
    [
        ("ORIGINAL\\PRIMARY\\LOCALIZER", "1\\0\\0\\0\\0\\-1", "ImageType LOCALIZER"),
        ("ORIGINAL\\PRIMARY\\AXIAL", "0\\1\\0\\0\\0\\-1", "is not the series'"),
        ("ORIGINAL\\PRIMARY\\LOCALIZER", "1\\0\\0\\0\\1\\0", "ImageType LOCALIZER"),
    ],
    ids=["coronal-scout", "sagittal-untagged", "axial-scout"],
)
def test_a_localizer_sharing_the_uid_is_dropped_and_named(
    tmp_path: Path, real_data: Path, image_type: str, orientation: str, why: str
) -> None:
    folder = _real_copy(real_data, tmp_path)
    scout = folder / "scout.dcm"
    shutil.copyfile(folder / SLICE, scout)

    def as_scout(els: dict) -> None:
        els[0x00080008] = element(0x00080008, "CS", image_type)
        els[0x00200037] = element(0x00200037, "DS", orientation)
        els[0x00200032] = element(0x00200032, "DS", "-170\\-300\\0")
        els[0x00080018] = element(0x00080018, "UI", "1.2.3.4.5.6.7.8.9")

    rewrite(scout, as_scout)
    row = _series_row(folder.parent)
    assert row["status"] == "ok", row["reason"]
    assert "localizer scout.dcm dropped" in row["reason"] and why in row["reason"]
    assert tuple(row["shape_xyz"]) == (512, 512, 30)


# --- 2. enhanced / multi-frame CT ---------------------------------------------------

PER_FRAME, SHARED = 0x52009230, 0x52009229


def _multi_frame(folder: Path) -> tuple[Path, tuple]:
    vol = volumes.volume()
    folder.mkdir(parents=True)
    img = sitk.Cast(vol.to_sitk(), sitk.sitkInt16)
    img.SetMetaData("0008|0060", "CT")
    sitk.WriteImage(img, str(folder / "vol.dcm"))
    return folder / "vol.dcm", vol.spacing


def _drop_frame(k: int):
    def edit(els: dict) -> None:
        frames = int(bytes(els[0x00280008].value).strip(b"\0 "))
        size = len(els[PIXELS].value) // frames
        px = bytes(els[PIXELS].value)
        els[PIXELS] = element(PIXELS, "", px[: k * size] + px[(k + 1) * size :])
        els[0x00280008] = element(0x00280008, "IS", str(frames - 1))
        del els[PER_FRAME].items[k]

    return edit


def _drop_spacing(els: dict) -> None:
    del els[SHARED].items[0][0x00289110]


def _drop_position(els: dict) -> None:
    del els[PER_FRAME].items[4][0x00209113]


def test_multi_frame_regular_reads_with_its_spacing(tmp_path: Path) -> None:
    path, spacing = _multi_frame(tmp_path / "src" / "mf")
    row = _series_row(tmp_path / "src")
    assert row["status"] == "ok", row["reason"]
    np.testing.assert_allclose(row["spacing_xyz"], spacing, atol=1e-6)


@pytest.mark.parametrize(
    "edit,fragments",
    [
        (_drop_frame(7), ["slice gap of 4 mm", "vol.dcm frame 7 and vol.dcm frame 8"]),
        (_drop_spacing, ["vol.dcm", "40 frames", "no PixelSpacing"]),
        (_drop_position, ["vol.dcm frame 5 has no ImagePositionPatient"]),
    ],
    ids=["missing-frame", "no-spacing", "no-position"],
)
def test_multi_frame_checked_like_a_series(tmp_path: Path, edit, fragments) -> None:
    path, _ = _multi_frame(tmp_path / "src" / "mf")
    rewrite(path, edit)
    _reason(tmp_path / "src", *fragments)
