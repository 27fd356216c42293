"""NRRD (``.nrrd`` attached, ``.nhdr`` detached) headers checked, raw/gzip voxels read exactly.

Geometry fields (``space directions`` or ``spacings``, ``space origin``) are checked raw;
``raw`` and ``gzip`` payloads are read to the exact byte like the other formats.  Other
encodings (ascii, hex, bzip2) are left to SimpleITK, whose result is still checked for
size and finiteness by the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genesis_core.io import payload
from genesis_core.io.geometry import GeometryError, check_origin, check_spacing, floats
from genesis_core.io.metaimage import safe_data_path

_TYPES = {
    "i1": ("signed char", "int8", "int8_t"),
    "u1": ("uchar", "unsigned char", "uint8", "uint8_t"),
    "i2": ("short", "short int", "signed short", "signed short int", "int16", "int16_t"),
    "u2": ("ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"),
    "i4": ("int", "signed int", "int32", "int32_t"),
    "u4": ("uint", "unsigned int", "uint32", "uint32_t"),
    "i8": (
        "longlong",
        "long long",
        "long long int",
        "signed long long",
        "signed long long int",
        "int64",
        "int64_t",
    ),
    "u8": ("ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t"),
    "f4": ("float",),
    "f8": ("double",),
}
TYPES = {name: code for code, names in _TYPES.items() for name in names}
HEADER_LIMIT = 1 << 20


class NrrdError(ValueError):
    """The header is not a usable 3D scalar NRRD; the message names the field."""


@dataclass(frozen=True)
class Header:
    fields: dict[str, str]
    data_offset: int  # where attached data starts (after the blank line)


def read_header(path: Path) -> Header:
    payload.regular_file_size(path)
    with open(path, "rb") as f:
        head = f.read(HEADER_LIMIT)
    if not head.startswith(b"NRRD"):
        raise NrrdError(f"{path.name}: not a NRRD file (no NRRD magic)")
    end = head.find(b"\n\n")
    text = head[: end if end >= 0 else len(head)].decode("latin-1")
    fields = {}
    for line in text.splitlines()[1:]:
        if line.startswith("#") or ":=" in line or ":" not in line:
            continue
        k, v = line.split(":", 1)
        fields[k.strip().lower()] = v.strip()
    return Header(fields, end + 2 if end >= 0 else len(head))


def _vectors(text: str, name: str) -> list[list[float] | None]:
    out: list[list[float] | None] = []
    for tok in re.findall(r"\([^)]*\)|none", text):
        if tok == "none":
            out.append(None)
            continue
        out.append(floats(tok.strip("()"), 3, "space directions", name))
    return out


def check_header(h: Header, name: str) -> tuple[np.dtype, tuple[int, int, int], str]:
    """(dtype, shape (Z, Y, X), encoding) after checking every geometry field."""
    f = h.fields
    if f.get("type", "").lower() not in TYPES:
        raise NrrdError(f"{name}: type {f.get('type', '(missing)')!r} is not supported")
    try:
        sizes = [int(v) for v in f["sizes"].split()]
    except (KeyError, ValueError) as e:
        raise NrrdError(f"{name}: sizes missing or not integers") from e
    if len(sizes) != 3:
        kind = "2D" if len(sizes) < 3 else f"{len(sizes)}D"
        raise NrrdError(f"{name}: {kind} image (sizes {sizes}), expected a 3D volume")
    if "space directions" in f:
        vecs = _vectors(f["space directions"], name)
        spatial = [v for v in vecs if v is not None]
        if len(spatial) != 3:
            raise NrrdError(f"{name}: space directions has {len(spatial)} spatial axes, need 3")
        norms = [float(np.linalg.norm(v)) for v in spatial]
        check_spacing(norms, "space directions (vector lengths)", name)
        if abs(np.linalg.det(np.asarray(spatial))) < 1e-9 * float(np.prod(norms)):
            raise GeometryError(f"{name}: direction space directions {spatial} is singular")
    elif "spacings" in f:
        check_spacing(floats(f["spacings"], 3, "spacings", name), "spacings", name)
    if "space origin" in f:
        origin = floats(f["space origin"].strip("()"), 3, "space origin", name)
        check_origin(origin, "space origin", name)
    endian = "<" if f.get("endian", "little").lower() == "little" else ">"
    dtype = np.dtype(endian + TYPES[f["type"].lower()])
    return dtype, (sizes[2], sizes[1], sizes[0]), f.get("encoding", "raw").lower()


def read(path: Path) -> np.ndarray | None:
    """Voxels in the stored type (Z, Y, X) for raw/gzip payloads; None for other encodings."""
    h = read_header(path)
    dtype, shape, encoding = check_header(h, path.name)
    if encoding not in ("raw", "gzip", "gz"):
        return None
    f = h.fields
    data_name = f.get("data file") or f.get("datafile")
    if data_name and data_name.split()[0].upper() == "LIST":
        raise NrrdError(f"{path.name}: 'data file: LIST' is not supported")
    if data_name and "%" in data_name:
        raise NrrdError(f"{path.name}: a data file pattern is not supported")
    data = safe_data_path(path.parent, data_name, path.name) if data_name else path
    offset = 0 if data_name else h.data_offset
    if int(f.get("line skip", "0") or 0):
        raise NrrdError(f"{path.name}: 'line skip' is not supported")
    byte_skip = int(f.get("byte skip", "0") or 0)
    want = int(np.prod(shape)) * dtype.itemsize
    if encoding == "raw":
        if byte_skip == -1:
            offset = max(payload.regular_file_size(data) - want, 0)
        else:
            offset += byte_skip
        buf = payload.read_plain([(data, offset)], want, path.name)
    else:
        buf = payload.read_inflated_file(data, offset, want, path.name)
    return np.frombuffer(buf, dtype=dtype).reshape(shape)
