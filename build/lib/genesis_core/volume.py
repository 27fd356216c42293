"""`Volume`: a voxel array with its exact physical geometry.

Array order is (Z, Y, X) (see :mod:`genesis_core.axes`); ``spacing``,
``origin`` are (X, Y, Z) in millimetres and ``direction`` is the 3×3 direction
cosine matrix flattened row-major, exactly as SimpleITK reports them.  Keeping
geometry exact through resampling is what lets world-mm annotations (LUNA16
candidates) map to the right voxel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # SimpleITK is imported only by the functions that need it
    import SimpleITK as sitk

IDENTITY_DIRECTION: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class Volume:
    """A 3D scan: ``array`` (Z, Y, X), geometry in (X, Y, Z) millimetres."""

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = field(default=IDENTITY_DIRECTION)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"Volume array must be 3D (Z, Y, X), got shape {self.array.shape}")
        if len(self.spacing) != 3 or len(self.origin) != 3 or len(self.direction) != 9:
            raise ValueError("spacing/origin need 3 values and direction 9")

    @property
    def shape_xyz(self) -> tuple[int, int, int]:
        z, y, x = self.array.shape
        return (x, y, z)

    def to_sitk(self) -> sitk.Image:
        import SimpleITK as sitk

        img = sitk.GetImageFromArray(self.array)
        img.SetSpacing(tuple(float(s) for s in self.spacing))
        img.SetOrigin(tuple(float(o) for o in self.origin))
        img.SetDirection(tuple(float(d) for d in self.direction))
        return img

    @classmethod
    def from_sitk(cls, img: sitk.Image) -> Volume:
        import SimpleITK as sitk

        if img.GetDimension() != 3:
            raise ValueError(f"expected a 3D image, got {img.GetDimension()}D")
        return cls(
            array=sitk.GetArrayFromImage(img),
            spacing=tuple(img.GetSpacing()),  # type: ignore[arg-type]
            origin=tuple(img.GetOrigin()),  # type: ignore[arg-type]
            direction=tuple(img.GetDirection()),
        )

    def world_to_index(self, point_xyz: tuple[float, float, float]) -> np.ndarray:
        """World mm (X, Y, Z) → continuous voxel index (X, Y, Z), as SimpleITK computes it."""
        d = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)
        rel = np.asarray(point_xyz, dtype=np.float64) - np.asarray(self.origin, dtype=np.float64)
        return np.linalg.solve(d * np.asarray(self.spacing, dtype=np.float64), rel)

    def index_to_world(self, index_xyz: tuple[float, float, float]) -> np.ndarray:
        """Continuous voxel index (X, Y, Z) → world mm (X, Y, Z)."""
        d = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)
        idx = np.asarray(index_xyz, dtype=np.float64) * np.asarray(self.spacing, dtype=np.float64)
        return np.asarray(self.origin, dtype=np.float64) + d @ idx
