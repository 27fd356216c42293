"""A DICOM image's stored pixels checked against its pixel-format fields; padding to air.

GDCM decodes what the fields say without a word when they lie: it masks stored values
to ``BitsStored`` (12-bit data holding 40000 decodes as 40000 & 0xFFF), reads signed data
labelled unsigned as huge positives, and ignores surplus pixel bytes.  So the fields
are read from the file (:mod:`.dicom_elements`), checked against each other and, for
uncompressed data, against the stored values themselves; each contradiction names
both values.  ``PixelPaddingValue`` (and ``PixelPaddingRangeLimit``) marks voxels
outside the reconstruction (often −2000 or −3024 HU after rescale): they become air.
"""

from __future__ import annotations

import struct

import numpy as np

from genesis_core.io.dicom_elements import PIXEL_DATA, Dataset, Element, text, uint16

FIELDS = {
    "Rows": (0x00280010, "0028,0010"),
    "Columns": (0x00280011, "0028,0011"),
    "BitsAllocated": (0x00280100, "0028,0100"),
    "BitsStored": (0x00280101, "0028,0101"),
    "HighBit": (0x00280102, "0028,0102"),
    "PixelRepresentation": (0x00280103, "0028,0103"),
}
SAMPLES, FRAMES = 0x00280002, 0x00280008
PADDING, PADDING_LIMIT = 0x00280120, 0x00280121
INTERCEPT, SLOPE = 0x00281052, 0x00281053
AIR_HU = -1000


def format_problem(ds: Dataset) -> str:
    """Why the pixel-format fields contradict each other or the pixel data ('' if they agree)."""
    f = {k: uint16(ds.get(tag)) for k, (tag, _) in FIELDS.items()}
    for k, v in f.items():
        if v is None:
            return f"no {k} ({FIELDS[k][1]}): the stored pixel format is unknown"
    ba, bs, hb, pr = f["BitsAllocated"], f["BitsStored"], f["HighBit"], f["PixelRepresentation"]
    if ba not in (8, 16, 32):
        return f"BitsAllocated = {ba}, expected 8, 16 or 32 for CT"
    if not 1 <= bs <= ba:
        return f"BitsStored = {bs} but BitsAllocated = {ba} (stored bits must fit the allocated)"
    if hb != bs - 1:
        return f"HighBit = {hb} but BitsStored = {bs} (HighBit must be BitsStored - 1)"
    if pr not in (0, 1):
        return f"PixelRepresentation = {pr}, must be 0 (unsigned) or 1 (signed)"
    px = ds.get(PIXEL_DATA)
    if px is None or px.encapsulated:  # compressed: GDCM's decoder checks the stream
        return ""
    return _data_problem(ds, px, f["Rows"], f["Columns"], ba, bs, pr)


def frames(ds: Dataset) -> int:
    txt = text(ds.get(FRAMES))
    return int(txt) if txt.isdigit() and int(txt) > 0 else 1


def _data_problem(ds: Dataset, px: Element, rows: int, cols: int, ba: int, bs: int, pr: int):
    n_frames, samples = frames(ds), uint16(ds.get(SAMPLES)) or 1
    need = rows * cols * n_frames * samples * ba // 8
    if len(px.value) not in (need, need + 1):  # one pad byte keeps an odd length even
        return (
            f"pixel data holds {len(px.value)} bytes but Rows × Columns × NumberOfFrames × "
            f"BitsAllocated/8 = {rows} × {cols} × {n_frames} × {ba}/8 = {need}"
        )
    values = np.frombuffer(px.value[:need], dtype=f"<{'iu'[pr == 0]}{ba // 8}")
    lo, hi = (-(1 << (bs - 1)), (1 << (bs - 1)) - 1) if pr else (0, (1 << bs) - 1)
    vmin, vmax = (int(values.min()), int(values.max())) if values.size else (0, 0)
    if vmax > hi:
        return (
            f"BitsStored = {bs} but stored values reach {vmax} (at most {hi} with "
            f"PixelRepresentation = {pr})"
        )
    if vmin < lo:
        return (
            f"BitsStored = {bs} but stored values go down to {vmin} (at least {lo} with "
            f"PixelRepresentation = {pr})"
        )
    return ""


def _stored(el: Element | None, signed: bool) -> int | None:
    if el is None or len(el.value) < 2:
        return None
    return struct.unpack_from("<h" if signed else "<H", el.value)[0]


def padding_hu(ds: Dataset) -> tuple[float, float, str] | None:
    """(low, high) HU of the padding values, and how the header states them; None if none."""
    pr = uint16(ds.get(FIELDS["PixelRepresentation"][0])) or 0
    el = ds.get(PADDING)
    signed = el is not None and (el.vr == "SS" or (el.vr != "US" and pr == 1))
    pad = _stored(el, signed)
    if pad is None:
        return None
    limit = _stored(ds.get(PADDING_LIMIT), signed)
    slope, intercept = _number(ds.get(SLOPE), 1.0), _number(ds.get(INTERCEPT), 0.0)
    stored = (pad, pad if limit is None else limit)
    hu = sorted(v * slope + intercept for v in stored)
    what = f"PixelPaddingValue = {pad}" + (
        f", PixelPaddingRangeLimit = {limit}" if limit is not None else ""
    )
    return hu[0] - 0.5 * abs(slope), hu[1] + 0.5 * abs(slope), what


def _number(el: Element | None, default: float) -> float:
    """RescaleSlope/Intercept; their DICOM defaults (1, 0) when absent, as GDCM applies."""
    try:
        return float(text(el).split("\\")[0])
    except ValueError:
        return default


def map_padding(arr: np.ndarray, ds: Dataset) -> tuple[np.ndarray, int, str]:
    """``arr`` (HU, as GDCM decoded it) with padding voxels set to air, their count and why."""
    pad = padding_hu(ds)
    if pad is None:
        return arr, 0, ""
    lo, hi, what = pad
    mask = (arr >= lo) & (arr <= hi)
    n = int(np.count_nonzero(mask))
    if n:
        arr = arr.astype(np.result_type(arr.dtype, np.int16), copy=True)
        arr[mask] = AIR_HU
    return arr, n, what
