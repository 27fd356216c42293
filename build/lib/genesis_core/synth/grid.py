"""`Grid`: the voxel lattice a phantom is drawn on, in millimetres about its centre.

Arrays are (Z, Y, X) (see :mod:`genesis_core.axes`); ``size_xyz`` and
``spacing_xyz`` are (X, Y, Z).  Anatomy is described in mm relative to the
centre of the field of view and scaled by the half extents, so the same phantom
recipe fills a 96×96×48 test grid and a 512×512×300 benchmark grid alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from genesis_core.axes import xyz_to_zyx


@dataclass(frozen=True)
class Grid:
    """A voxel grid: ``size_xyz`` voxels of ``spacing_xyz`` mm, centred on the origin."""

    size_xyz: tuple[int, int, int]
    spacing_xyz: tuple[float, float, float]

    def __post_init__(self) -> None:
        if len(self.size_xyz) != 3 or min(self.size_xyz) < 1:
            raise ValueError(f"size_xyz needs 3 positive ints, got {self.size_xyz!r}")
        if len(self.spacing_xyz) != 3 or min(self.spacing_xyz) <= 0:
            raise ValueError(f"spacing_xyz needs 3 positive mm values, got {self.spacing_xyz!r}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (Z, Y, X)."""
        return tuple(int(n) for n in xyz_to_zyx(self.size_xyz))  # type: ignore[return-value]

    @property
    def half_extent(self) -> np.ndarray:
        """Half the field of view in mm, (X, Y, Z)."""
        return np.asarray(self.size_xyz, float) * np.asarray(self.spacing_xyz, float) / 2

    @cached_property
    def axes_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voxel-centre coordinates in mm about the centre: float32 1-D arrays (x, y, z)."""
        return tuple(  # type: ignore[return-value]
            ((np.arange(n) - (n - 1) / 2) * s).astype(np.float32)
            for n, s in zip(self.size_xyz, self.spacing_xyz, strict=True)
        )

    def to_index(self, points_mm: np.ndarray) -> np.ndarray:
        """Points (N, 3) mm (X, Y, Z) → nearest voxel indices (N, 3) int64 (X, Y, Z)."""
        size = np.asarray(self.size_xyz, float)
        idx = np.asarray(points_mm, float) / np.asarray(self.spacing_xyz) + (size - 1) / 2
        return np.rint(idx).astype(np.int64)

    def to_mm(self, index_xyz: np.ndarray) -> np.ndarray:
        """Voxel indices (N, 3) (X, Y, Z) → mm about the centre (N, 3)."""
        size = np.asarray(self.size_xyz, float)
        return (np.asarray(index_xyz, float) - (size - 1) / 2) * np.asarray(self.spacing_xyz)

    def contains(self, index_xyz: np.ndarray) -> np.ndarray:
        """Which indices (N, 3) (X, Y, Z) lie inside the grid: bool (N,)."""
        idx = np.asarray(index_xyz)
        return np.all((idx >= 0) & (idx < np.asarray(self.size_xyz)), axis=-1)
