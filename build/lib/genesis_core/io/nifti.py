"""NIfTI-1/-2 (``.nii``, ``.nii.gz``) headers checked field by field, voxels read exactly.

SimpleITK's NIfTI reader turns NaN/inf voxels into 0, replaces a zero or NaN pixdim by
1 and a NaN offset by 0, and zero-fills a gzip file that ends early, all without a
word.  Here the header's raw fields are checked first (``pixdim[1..3]`` finite and > 0,
``vox_offset`` inside the file, quaternion and ``srow`` finite, the ``sform`` not
singular), the payload is inflated to the exact byte, and NaN/inf are counted in the
stored type before any cast.  Geometry itself is then taken from SimpleITK's header
read (its qform/sform rules), and checked once more by the caller.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genesis_core.io import payload
from genesis_core.io.geometry import GeometryError, check_origin, check_spacing

DATATYPES = {
    2: "u1",
    4: "i2",
    8: "i4",
    16: "f4",
    64: "f8",
    256: "i1",
    512: "u2",
    768: "u4",
    1024: "i8",
    1280: "u8",
}
NON_SCALAR = {
    32: "complex64",
    128: "RGB24",
    1536: "float128",
    1792: "complex128",
    2048: "complex256",
    2304: "RGBA32",
}


class NiftiError(ValueError):
    """The header is not a usable 3D scalar NIfTI volume; the message names the field."""


@dataclass(frozen=True)
class Header:
    endian: str  # "<" or ">"
    version: int  # 1 or 2
    dims: tuple[int, ...]  # dim[1..dim[0]]
    datatype: int
    pixdim: tuple[float, ...]  # pixdim[0..7]
    vox_offset: int
    slope: float
    inter: float
    qform_code: int
    sform_code: int
    quatern: tuple[float, float, float]
    qoffset: tuple[float, float, float]
    srow: tuple[float, ...]  # 12 values

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.endian + DATATYPES[self.datatype])

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        x, y, z = self.dims[:3]
        return (z, y, x)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape_zyx)) * self.dtype.itemsize

    @property
    def rescaled(self) -> bool:
        """ITK applies scl_slope/scl_inter when slope is a number ≠ 0 and (slope, inter) ≠ (1, 0).

        A slope of 0 or NaN means "no scaling" (nibabel writes NaN for unscaled images)."""
        s = self.slope
        return bool(np.isfinite(s)) and s != 0 and (s != 1 or self.inter != 0)


def parse_header(head: bytes, name: str) -> Header:
    if len(head) < 348:
        raise NiftiError(f"{name}: not a NIfTI file ({len(head)} bytes, a header needs 348)")
    for endian in ("<", ">"):
        size = struct.unpack(endian + "i", head[:4])[0]
        if size == 348:
            return _nifti1(head, endian, name)
        if size == 540 and len(head) >= 540:
            return _nifti2(head, endian, name)
    raise NiftiError(f"{name}: not a NIfTI file (sizeof_hdr is neither 348 nor 540)")


def _nifti1(h: bytes, e: str, name: str) -> Header:
    if h[344:347] not in (b"n+1", b"ni1"):
        raise NiftiError(f"{name}: NIfTI-1 magic {h[344:348]!r} is not 'n+1'")
    u = lambda fmt, off: struct.unpack_from(e + fmt, h, off)  # noqa: E731
    dim = u("8h", 40)
    return Header(
        e,
        1,
        _dims(dim, name),
        u("h", 70)[0],
        u("8f", 76),
        _offset(u("f", 108)[0], name),
        *u("2f", 112),
        *u("2h", 252),
        u("3f", 256),
        u("3f", 268),
        u("12f", 280),
    )


def _nifti2(h: bytes, e: str, name: str) -> Header:
    if h[4:7] != b"n+2":
        raise NiftiError(f"{name}: NIfTI-2 magic {h[4:12]!r} is not 'n+2'")
    u = lambda fmt, off: struct.unpack_from(e + fmt, h, off)  # noqa: E731
    dim = u("8q", 16)
    return Header(
        e,
        2,
        _dims(dim, name),
        u("h", 12)[0],
        u("8d", 104),
        _offset(u("q", 168)[0], name),
        *u("2d", 176),
        *u("2i", 344),
        u("3d", 352),
        u("3d", 376),
        u("12d", 400),
    )


def _offset(v: float, name: str) -> int:
    if not np.isfinite(v) or v < 0 or v != int(v):
        raise NiftiError(f"{name}: vox_offset {v} is not a non-negative integer")
    return int(v)


def _dims(dim: tuple[int, ...], name: str) -> tuple[int, ...]:
    n = dim[0]
    if not 1 <= n <= 7:
        raise NiftiError(f"{name}: dim[0] = {n} is not 1..7")
    dims = tuple(int(d) for d in dim[1 : n + 1])
    if min(dims) < 1:
        raise NiftiError(f"{name}: dim {list(dims)} has a size < 1")
    if n < 3 or (n == 3 and dims[2] == 1):
        raise NiftiError(f"{name}: 2D image (dim {list(dims)}), expected a 3D volume")
    if n > 3 and any(d != 1 for d in dims[3:]):
        raise NiftiError(f"{name}: {n}D image (dim {list(dims)}), expected a 3D volume")
    return dims


def check_header(h: Header, name: str) -> None:
    """Every field SimpleITK would silently replace, checked in its raw form."""
    if h.datatype in NON_SCALAR:
        raise NiftiError(f"{name}: datatype {NON_SCALAR[h.datatype]} is not a scalar volume")
    if h.datatype not in DATATYPES:
        raise NiftiError(f"{name}: datatype code {h.datatype} is not supported")
    check_spacing(h.pixdim[1:4], "pixdim[1..3]", name)
    if h.vox_offset < (348 if h.version == 1 else 540):
        raise NiftiError(f"{name}: vox_offset {h.vox_offset} lies inside the header")
    if np.isinf(h.slope) or (h.rescaled and not np.isfinite(h.inter)):
        raise NiftiError(f"{name}: scl_slope/scl_inter ({h.slope}, {h.inter}) are not finite")
    if h.qform_code > 0:
        check_origin(h.qoffset, "qoffset_x/y/z", name)
        b, c, d = h.quatern
        if not np.all(np.isfinite(h.quatern)) or b * b + c * c + d * d > 1 + 1e-6:
            raise GeometryError(
                f"{name}: direction quatern_b/c/d = ({b:.6g}, {c:.6g}, {d:.6g}) is not a rotation"
            )
    if h.sform_code > 0:
        rows = np.asarray(h.srow, dtype=np.float64).reshape(3, 4)
        check_origin(rows[:, 3], "srow_x/y/z[3]", name)
        if not np.all(np.isfinite(rows)):
            raise GeometryError(f"{name}: direction srow_x/y/z = {list(h.srow)} is not finite")
        if abs(np.linalg.det(rows[:, :3])) < 1e-9:
            raise GeometryError(f"{name}: direction srow_x/y/z (the sform) is singular")


def read(path: Path) -> tuple[Header, np.ndarray]:
    """Header and voxels in the stored type, (Z, Y, X), checked and read to the exact byte."""
    size = payload.regular_file_size(path)
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"  # by content: a plain .nii named .nii.gz reads too (as ITK)
        f.seek(0)
        if gz:
            inf = payload.Inflater(f, path.name)
            head = bytearray(540)
            head = bytes(head[: inf.readinto(memoryview(head))])
        else:
            head = f.read(540)
        h = parse_header(head, path.name)
        check_header(h, path.name)
        want = h.nbytes
        if gz:
            payload.check_claim(want, size, compressed=True, where=path.name)
            prefix = head[h.vox_offset :]
            skip = max(h.vox_offset - len(head), 0)
            buf = payload.read_inflated(inf, skip, want, path.name, prefix=prefix)
    if not gz:
        if h.vox_offset > size:
            raise payload.PayloadError(
                f"{path.name}: data offset vox_offset = {h.vox_offset} is past the end of the "
                f"file ({size} bytes)"
            )
        buf = payload.read_plain([(path, h.vox_offset)], want, path.name)
    return h, np.frombuffer(buf, dtype=h.dtype).reshape(h.shape_zyx)


def as_itk_reads(h: Header, stored: np.ndarray, itk_dtype: np.dtype) -> np.ndarray:
    """The voxels as SimpleITK returns them: scl_slope/scl_inter applied in its pixel type."""
    arr = stored.astype(stored.dtype.newbyteorder("="), copy=False)
    if h.rescaled:
        out = arr.astype(itk_dtype)
        out *= itk_dtype.type(h.slope)
        out += itk_dtype.type(h.inter)
        return out
    return arr.astype(itk_dtype, copy=False)
