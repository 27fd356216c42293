"""Write small DICOM series with SimpleITK (for reader tests)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk


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
