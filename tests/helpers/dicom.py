"""Write small DICOM series with SimpleITK (for reader tests)."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from genesis_core.io import dicom_elements as de


def write_series(
    folder: Path,
    hu: np.ndarray,
    spacing_xyz=(0.7, 0.7, 2.0),
    origin_xyz=(-100.0, -120.0, -50.0),
    series_uid: str = "1.2.826.0.1.3680043.2.1125.1.1",
    compressor: str | None = None,
    prefix: str = "slice",
    slice_tags=None,
) -> list[Path]:
    """One file per slice of ``hu`` (Z, Y, X) int16, with positions and a series UID.

    ``slice_tags(z)`` may return tag overrides for slice ``z`` (e.g. another PixelSpacing).
    """
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    if compressor:
        writer.SetUseCompression(True)
        writer.SetCompressor(compressor)
    stamp = time.strftime("%Y%m%d")
    paths = []
    for z in range(hu.shape[0]):
        sl = sitk.GetImageFromArray(hu[z].astype(np.int16))
        sl.SetSpacing(spacing_xyz[:2])
        pos = (origin_xyz[0], origin_xyz[1], origin_xyz[2] + z * spacing_xyz[2])
        tags = {
            "0008|0060": "CT",
            "0008|0020": stamp,
            "0020|000d": series_uid + ".0",
            "0020|000e": series_uid,
            "0008|0018": f"{series_uid}.{z + 1}",
            "0020|0032": "\\".join(f"{v:.4f}" for v in pos),
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0020|0013": str(z + 1),
            "0018|0050": f"{spacing_xyz[2]:.4f}",
            "0028|0030": f"{spacing_xyz[1]:.4f}\\{spacing_xyz[0]:.4f}",
        }
        tags.update((slice_tags or (lambda _z: {}))(z))
        for k, v in tags.items():
            sl.SetMetaData(k, v)
        p = folder / f"{prefix}{z:03d}.dcm"
        writer.SetFileName(str(p))
        writer.Execute(sl)
        paths.append(p)
    return paths


def strip_pixel_data(path: Path) -> None:
    """Cut a DICOM file at its PixelData element: a valid header with no image."""
    data = path.read_bytes()
    cut = data.rfind(b"\xe0\x7f\x10\x00")
    assert cut > 132, "no PixelData tag found"
    path.write_bytes(data[:cut])


def rewrite(path: Path, edit) -> None:
    """Parse ``path``, let ``edit(elements)`` change its top-level elements (a dict of
    :class:`~genesis_core.io.dicom_elements.Element` by tag), write it back in its syntax."""
    data = path.read_bytes()
    ds = de.parse(data)
    assert ds is not None, f"{path} is not a DICOM file the parser reads"
    start = min(el.start for el in ds.elements.values())
    edit(ds.elements)
    path.write_bytes(data[:start] + encode(ds.elements, ds.syntax != de.IMPLICIT_LE))


def element(tag: int, vr: str, value: bytes | str | None = None, items=None) -> de.Element:
    raw = value.encode("latin-1") if isinstance(value, str) else (value or b"")
    return de.Element(tag, vr, raw, items)


def us(value: int) -> bytes:
    return struct.pack("<H", value)


def ss(value: int) -> bytes:
    return struct.pack("<h", value)


def encode(elements: dict, explicit: bool) -> bytes:
    return b"".join(_encode(elements[tag], explicit) for tag in sorted(elements))


def _encode(el: de.Element, explicit: bool) -> bytes:
    head = struct.pack("<HH", el.tag >> 16, el.tag & 0xFFFF)
    if el.items is not None:
        delim = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
        body = b"".join(
            struct.pack("<HHI", 0xFFFE, 0xE000, de.UNDEFINED) + encode(i, explicit) + delim
            for i in el.items
        ) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
        n, vr = de.UNDEFINED, "SQ"
    else:
        body = bytes(el.value)
        if len(body) % 2:
            body += b"\0" if el.vr in ("UI", "OB", "OW", "UN", "") else b" "
        n, vr = len(body), el.vr or "UN"
    if not explicit:
        return head + struct.pack("<I", n) + body
    if vr in de.LONG_VRS:
        return head + vr.encode() + b"\0\0" + struct.pack("<I", n) + body
    return head + vr.encode() + struct.pack("<H", n) + body
