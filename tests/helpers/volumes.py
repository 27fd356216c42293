"""Tiny test volumes written in every supported format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from genesis_core.volume import Volume


def ct_like(shape_zyx=(40, 72, 72), seed: int = 0) -> np.ndarray:
    """Int16 HU: air outside a body ellipse, soft tissue inside, some noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[: shape_zyx[0], : shape_zyx[1], : shape_zyx[2]]
    cy, cx = (shape_zyx[1] - 1) / 2, (shape_zyx[2] - 1) / 2
    body = ((y - cy) / (0.45 * shape_zyx[1])) ** 2 + ((x - cx) / (0.45 * shape_zyx[2])) ** 2 < 1
    hu = np.where(body, 40, -1000) + rng.normal(0, 20, shape_zyx)
    hu = np.broadcast_to(hu, shape_zyx)
    return np.asarray(hu, dtype=np.int16)


def volume(
    shape_zyx=(40, 72, 72),
    spacing=(1.2, 1.1, 2.0),
    origin=(-40.0, 12.5, -300.0),
    direction=(1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0),
    seed: int = 0,
) -> Volume:
    return Volume(ct_like(shape_zyx, seed), spacing, origin, direction)


def write(vol: Volume, path: Path) -> Path:
    """Write with SimpleITK; the suffix picks the format (.mhd+.raw, .nii.gz, .nrrd)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(vol.to_sitk(), str(path), useCompression=path.suffix == ".gz")
    return path
