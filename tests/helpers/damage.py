"""Build damaged and unusual scan files byte by byte (for the untrusted-input tests)."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from genesis_core.volume import Volume
from tests.helpers import volumes

# NIfTI-1 field offsets (little-endian, 348-byte header)
NIFTI1 = {
    "dim": (40, "8h"),
    "datatype": (70, "h"),
    "bitpix": (72, "h"),
    "pixdim": (76, "8f"),
    "vox_offset": (108, "f"),
    "scl": (112, "2f"),
    "codes": (252, "2h"),  # qform_code, sform_code
    "quatern": (256, "3f"),
    "qoffset": (268, "3f"),
    "srow": (280, "12f"),
}


def nifti_bytes(vol: Volume) -> bytes:
    """An uncompressed NIfTI-1 file of ``vol`` as SimpleITK writes it."""
    tmp = Path(f"/tmp/_genesis_damage_{id(vol)}.nii")
    sitk.WriteImage(vol.to_sitk(), str(tmp))
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def patch(data: bytes, field: str, values) -> bytes:
    off, fmt = NIFTI1[field]
    out = bytearray(data)
    values = values if isinstance(values, tuple | list) else (values,)
    struct.pack_into("<" + fmt, out, off, *values)
    return bytes(out)


def read_field(data: bytes, field: str):
    off, fmt = NIFTI1[field]
    return struct.unpack_from("<" + fmt, data, off)


def write_nifti(path: Path, data: bytes) -> Path:
    """Write ``data`` (a whole .nii) as-is, gzip-compressed when the name ends in .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def float_ct(seed: int = 0, shape=(40, 72, 72)) -> np.ndarray:
    return volumes.ct_like(shape, seed).astype(np.float32)


def mhd_text(
    dims_xyz,
    etype: str = "MET_SHORT",
    data_file: str = "data.raw",
    spacing: str = "1 1 2",
    extra: str = "",
    matrix: str = "1 0 0 0 1 0 0 0 1",
    offset: str = "0 0 0",
) -> str:
    """A MetaImage header (``extra`` lines go before ElementDataFile, which must be last)."""
    return (
        "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
        f"TransformMatrix = {matrix}\nOffset = {offset}\nElementSpacing = {spacing}\n"
        f"DimSize = {' '.join(map(str, dims_xyz))}\nElementType = {etype}\n{extra}"
        f"ElementDataFile = {data_file}\n"
    )


def write_mhd(folder: Path, name: str, arr: np.ndarray, **kw) -> Path:
    """``arr`` (Z, Y, X) little-endian in ``name.raw`` beside ``name.mhd`` (kw → :func:`mhd_text`)."""
    folder.mkdir(parents=True, exist_ok=True)
    types = {"i2": "MET_SHORT", "f4": "MET_FLOAT", "i8": "MET_LONG_LONG"}
    etype = kw.pop("etype", None) or types[arr.dtype.str[1:]]
    (folder / f"{name}.raw").write_bytes(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
    header = mhd_text(arr.shape[::-1], etype, f"{name}.raw", **kw)
    (folder / f"{name}.mhd").write_text(header)
    return folder / f"{name}.mhd"


def write_zraw(folder: Path, name: str, arr: np.ndarray, claim_zyx=None) -> Path:
    """A compressed MetaImage whose well-formed zlib stream holds ``arr``; the header may
    claim another shape (``claim_zyx``) to make the stream short."""
    folder.mkdir(parents=True, exist_ok=True)
    comp = zlib.compress(arr.astype("<i2").tobytes())
    (folder / f"{name}.zraw").write_bytes(comp)
    shape = claim_zyx or arr.shape
    extra = f"CompressedData = True\nCompressedDataSize = {len(comp)}\n"
    (folder / f"{name}.mhd").write_text(
        mhd_text(shape[::-1], "MET_SHORT", f"{name}.zraw", extra=extra)
    )
    return folder / f"{name}.mhd"
