"""Per-scan randomness for the dataset writers: generators, voxel geometry, series UIDs.

Every scan draws from its own generator, derived from ``(seed, dataset, index)``
with :class:`numpy.random.SeedSequence`, so scan *i* is identical whether a
dataset holds 3 scans or 300.  Geometry is (X, Y, Z) in mm with the identity
direction, like LUNA16 and LiTS volumes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LUNA16_UID_ROOT = "1.3.6.1.4.1.14519.5.2.1.6279.6001."


@dataclass(frozen=True)
class ScanGeometry:
    """Voxel spacing and world origin of one scan, (X, Y, Z) mm."""

    spacing_xyz: tuple[float, float, float]
    origin_xyz: tuple[float, float, float]


def scan_rng(seed: int, dataset: str, index: int) -> np.random.Generator:
    """The generator of scan ``index`` of ``dataset`` for ``seed``."""
    key = int.from_bytes(dataset.encode(), "little")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key, index)))


def random_geometry(
    rng: np.random.Generator,
    inplane_mm=(0.6, 0.9),
    slice_mm=(0.7, 2.5),
    origin_xy_mm=(-200.0, -150.0),
    origin_z_mm=(-300.0, -100.0),
) -> ScanGeometry:
    """Square in-plane pixels and a slice thickness drawn from the ranges; a random origin.

    Values are rounded (spacing to 1e-4 mm, origin to 1e-3 mm) so they survive
    a text header (MetaImage) unchanged.
    """
    inplane = round(float(rng.uniform(*inplane_mm)), 4)
    thickness = round(float(rng.uniform(*slice_mm)), 4)
    ox, oy = (round(float(v), 3) for v in rng.uniform(*origin_xy_mm, 2))
    oz = round(float(rng.uniform(*origin_z_mm)), 3)
    return ScanGeometry((inplane, inplane, thickness), (ox, oy, oz))


def series_uid(rng: np.random.Generator, root: str = LUNA16_UID_ROOT) -> str:
    """A DICOM-style series UID: ``root`` + 30 digits (the first non-zero), as in LUNA16."""
    digits = rng.integers(0, 10, 30)
    digits[0] = rng.integers(1, 10)
    return root + "".join(str(d) for d in digits)
