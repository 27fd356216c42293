"""MetaImage (``.mhd`` + data file, or inline ``LOCAL`` data) read and checked field by field.

The header is parsed here, every geometry field is checked (nothing replaced by a
default), and the voxels are read to the exact byte (:mod:`genesis_core.io.payload`):
a ``.zraw`` whose well-formed zlib stream holds fewer bytes than ``DimSize`` needs is
an error with both numbers, never zero-filled as SimpleITK does.

Supported: ``ElementDataFile`` = a file name, ``LOCAL``, ``LIST`` (one file per slice
or sub-volume, in order) or a ``%d`` pattern with ``min max step``; ``HeaderSize``
(bytes to skip, ``-1`` = the data is the end of the file); ``CompressedData`` (zlib);
every MetaIO scalar type incl. ``MET_LONG_LONG``; either byte order.  Data files must
lie in the header's folder.  Geometry follows ITK's MetaImageIO: spacing from
``ElementSpacing`` (else ``ElementSize``), origin from ``Offset``/``Origin``/``Position``,
direction = ``TransformMatrix`` transposed (ITK reads it column by column).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from genesis_core.io import payload
from genesis_core.io.geometry import check_direction, check_origin, check_spacing, floats

# MetaIO's sizes: MET_LONG/MET_ULONG are 4 bytes (MetaIO's own table), not C's long.
ELEMENT_TYPES = {
    "MET_CHAR": "i1",
    "MET_UCHAR": "u1",
    "MET_SHORT": "i2",
    "MET_USHORT": "u2",
    "MET_INT": "i4",
    "MET_UINT": "u4",
    "MET_LONG": "i4",
    "MET_ULONG": "u4",
    "MET_LONG_LONG": "i8",
    "MET_ULONG_LONG": "u8",
    "MET_FLOAT": "f4",
    "MET_DOUBLE": "f8",
}
HEADER_LIMIT = 1 << 20  # a MetaImage header is text of a few hundred bytes


class MetaImageError(ValueError):
    """The header or its data disagree or use something unsupported; the message says which."""


@dataclass(frozen=True)
class Header:
    fields: dict[str, str]
    data_files: tuple[str, ...]  # relative names; empty for LOCAL
    header_bytes: int  # length of the header text (where LOCAL data starts)


def _true(v: str | None) -> bool:
    return (v or "").strip().lower() == "true"


def read_header(path: Path) -> Header:
    """Parse the header up to and including ``ElementDataFile`` (and a ``LIST``'s names)."""
    payload.regular_file_size(path)
    with open(path, "rb") as f:
        head = f.read(HEADER_LIMIT)
    return parse_header(head, path.name)


def header_text(raw: bytes) -> str:
    """One header line as text: UTF-8 (what writers use today for a name like
    ``scän.raw``), else latin-1.  ITK keeps the bytes and opens the file by them, so
    decoding a UTF-8 name as latin-1 would name a file that does not exist."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse_header(head: bytes, name: str) -> Header:
    fields: dict[str, str] = {}
    pos, lines = 0, head.split(b"\n")
    for i, raw in enumerate(lines):
        pos += len(raw) + 1
        line = header_text(raw).strip()
        if "=" not in line:
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        fields[key] = value
        if key == "ElementDataFile":
            files = _data_files(value, lines[i + 1 :], name)
            if value.split()[0].upper() == "LIST":
                pos += sum(len(ln) + 1 for ln in lines[i + 1 : i + 1 + len(files)])
            return Header(fields, files, pos)
    raise MetaImageError(f"{name}: not a MetaImage header (no ElementDataFile line)")


def _data_files(value: str, rest: list[bytes], name: str) -> tuple[str, ...]:
    words = value.split()
    if not words:
        raise MetaImageError(f"{name}: ElementDataFile is empty")
    if words[0].upper() == "LOCAL":
        return ()
    if words[0].upper() == "LIST":
        files = []
        for raw in rest:
            s = header_text(raw).strip()
            if not s:
                break
            files.append(s)
        if not files:
            raise MetaImageError(f"{name}: ElementDataFile = LIST names no files")
        return tuple(files)
    if "%" in words[0] and len(words) >= 3:
        try:
            lo, hi = int(words[1]), int(words[2])
            step = int(words[3]) if len(words) > 3 else 1
            return tuple(words[0] % k for k in range(lo, hi + 1, step or 1))
        except (ValueError, TypeError) as e:
            raise MetaImageError(f"{name}: ElementDataFile pattern {value!r} is malformed") from e
    return (value,)


def safe_data_path(folder: Path, rel: str, name: str) -> Path:
    """A data file named by the header, refused when it points outside ``folder``."""
    p = PurePosixPath(rel.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (len(rel) > 1 and rel[1] == ":"):
        raise MetaImageError(
            f"{name}: data file {rel!r} lies outside the source folder "
            "(absolute path or '..' is refused)"
        )
    return folder / p


@dataclass(frozen=True)
class Layout:
    """What the header says about the voxels: shape (Z, Y, X), dtype, where they are."""

    shape_zyx: tuple[int, int, int]
    dtype: np.dtype
    compressed: bool
    skip: int  # bytes to skip in the (first) data file
    files: tuple[Path, ...]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape_zyx)) * self.dtype.itemsize


def layout(path: Path, h: Header) -> Layout:
    f, name = h.fields, path.name
    dims = _dims(f, name)
    etype = f.get("ElementType", "")
    if etype not in ELEMENT_TYPES:
        raise MetaImageError(
            f"{name}: ElementType {etype or '(missing)'} is not supported "
            f"(supported: {', '.join(ELEMENT_TYPES)})"
        )
    channels = f.get("ElementNumberOfChannels", "1")
    if channels.strip() != "1":
        raise MetaImageError(
            f"{name}: {channels} components per voxel (a 4D/vector image), "
            "expected a scalar 3D volume"
        )
    if not _true(f.get("BinaryData", "True")):
        raise MetaImageError(f"{name}: ASCII voxel data (BinaryData = False) is not supported")
    msb = _true(f.get("BinaryDataByteOrderMSB")) or _true(f.get("ElementByteOrderMSB"))
    dtype = np.dtype(("<" if not msb else ">") + ELEMENT_TYPES[etype])
    files = tuple(safe_data_path(path.parent, r, name) for r in h.data_files) or (path,)
    missing = [r for r, p in zip(h.data_files, files, strict=False) if not p.exists()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise MetaImageError(f"data file {missing[0]!r} named by {name} is missing{more}")
    compressed = _true(f.get("CompressedData"))
    if compressed and len(files) > 1:
        raise MetaImageError(f"{name}: compressed data split over several files is not supported")
    skip = h.header_bytes if not h.data_files else _header_size(f, name)
    return Layout((dims[2], dims[1], dims[0]), dtype, compressed, skip, files)


def _dims(f: dict[str, str], name: str) -> list[int]:
    try:
        dims = [int(v) for v in f["DimSize"].split()]
    except (KeyError, ValueError) as e:
        raise MetaImageError(f"{name}: DimSize missing or not integers") from e
    ndims = int(f.get("NDims", len(dims)) or len(dims))
    if ndims != len(dims):
        raise MetaImageError(f"{name}: NDims = {ndims} but DimSize has {len(dims)} values")
    if ndims == 2 or (ndims == 3 and 1 in dims[2:]):
        raise MetaImageError(f"{name}: 2D image (DimSize {dims}), expected a 3D volume")
    if ndims != 3:
        raise MetaImageError(f"{name}: {ndims}D image (DimSize {dims}), expected a 3D volume")
    if min(dims) < 1:
        raise MetaImageError(f"{name}: DimSize {dims} has a size < 1")
    return dims


def _header_size(f: dict[str, str], name: str) -> int:
    raw = f.get("HeaderSize", "0")
    try:
        n = int(raw)
    except ValueError as e:
        raise MetaImageError(f"{name}: HeaderSize {raw!r} is not an integer") from e
    if n < -1:
        raise MetaImageError(f"{name}: HeaderSize {n} is negative")
    return n


def geometry(h: Header, name: str) -> tuple[list[float], list[float], list[float]]:
    """(spacing, origin, direction row-major) as ITK reports them, every field checked."""
    f = h.fields
    sp_key = "ElementSpacing" if "ElementSpacing" in f else "ElementSize"
    if sp_key not in f:
        raise MetaImageError(f"{name}: header has no ElementSpacing (voxel size unknown)")
    spacing = floats(f[sp_key], 3, sp_key, name)
    check_spacing(spacing, sp_key, name)
    origin = [0.0, 0.0, 0.0]
    for key in ("Offset", "Origin", "Position"):
        if key in f:
            origin = floats(f[key], 3, key, name)
            check_origin(origin, key, name)
            break
    matrix = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    for key in ("TransformMatrix", "Rotation", "Orientation"):
        if key in f:
            matrix = floats(f[key], 9, key, name)
            check_direction(matrix, key, name)
            break
    direction = np.asarray(matrix, dtype=np.float64).reshape(3, 3).T.ravel().tolist()
    return spacing, origin, direction


def read_voxels(path: Path, lay: Layout, fields: dict[str, str]) -> np.ndarray:
    """The voxels in their stored type, (Z, Y, X), read to the exact byte."""
    name = path.name
    want = lay.nbytes
    if lay.compressed:
        size = payload.regular_file_size(lay.files[0])
        declared = fields.get("CompressedDataSize")
        if declared and declared.strip().isdigit() and size - lay.skip < int(declared):
            raise payload.PayloadError(
                f"{name}: {lay.files[0].name} is truncated: holds {size - lay.skip} compressed "
                f"bytes, CompressedDataSize says {int(declared)}"
            )
        if lay.skip < 0:
            raise MetaImageError(f"{name}: HeaderSize = -1 with compressed data is not supported")
        buf = payload.read_inflated_file(lay.files[0], lay.skip, want, name)
    else:
        skip = lay.skip
        if skip == -1:  # the data is the last DimSize×ElementType bytes of the file
            skip = max(payload.regular_file_size(lay.files[0]) - want, 0)
        parts = [(lay.files[0], skip)] + [(p, 0) for p in lay.files[1:]]
        buf = payload.read_plain(parts, want, name)
    return np.frombuffer(buf, dtype=lay.dtype).reshape(lay.shape_zyx)


def data_files(path: Path) -> list[Path]:
    """The files a header reads its voxels from (itself for LOCAL); checked to be inside."""
    h = read_header(path)
    return [safe_data_path(path.parent, r, path.name) for r in h.data_files]
