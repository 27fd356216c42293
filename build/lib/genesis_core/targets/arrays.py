"""`TargetArrays`: what a per-scan builder returns, and the shared resampling step.

Layouts (array order (Z, Y, X), see :mod:`genesis_core.axes`):

* ``images`` int16 HU ``(n, D, H, W)``;
* ``masks`` uint8 {0, 1} ``(n, D, H, W)`` for segmentation tasks, else None;
* ``labels`` int8 ``(n,)`` for classification tasks, else None;
* ``origins_zyx`` int64 ``(n, 3)``: each cube's first voxel in the resampled grid
  (``centers_zyx = origins_zyx + cube // 2`` is the voxel the cube is centred on);
* ``grid``: the resampled volume's geometry (its array is not kept);
* ``rows`` int64 ``(n,)``: for candidate-based tasks, which input row each cube came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from genesis_core.resample import resample, resample_label
from genesis_core.volume import Volume


@dataclass(frozen=True)
class Grid:
    """Geometry of the grid cubes were cut from: (X, Y, Z) mm and the 3×3 direction."""

    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]
    shape_zyx: tuple[int, ...]

    @classmethod
    def of(cls, vol: Volume) -> Grid:
        return cls(
            tuple(map(float, vol.spacing)),
            tuple(map(float, vol.origin)),
            tuple(map(float, vol.direction)),
            tuple(int(s) for s in vol.array.shape),
        )


@dataclass(frozen=True)
class TargetArrays:
    """One scan's target samples (see the module docstring for layouts)."""

    images: np.ndarray
    origins_zyx: np.ndarray
    grid: Grid
    masks: np.ndarray | None = None
    labels: np.ndarray | None = None
    rows: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def attrs(self, cube_zyx: Sequence[int]) -> dict[str, Any]:
        """JSON provenance: origins/centres (z, y, x) and the grid's geometry."""
        half = np.asarray(cube_zyx, dtype=np.int64) // 2
        extra = {} if self.rows is None else {"source_rows": self.rows.tolist()}
        return {
            **extra,
            "origins_zyx": self.origins_zyx.tolist(),
            "centers_zyx": (self.origins_zyx + half).tolist(),
            "spacing_xyz": list(self.grid.spacing),
            "origin_xyz": list(self.grid.origin),
            "direction": list(self.grid.direction),
            "grid_shape_zyx": list(self.grid.shape_zyx),
        }


def as_int16_hu(array: np.ndarray) -> np.ndarray:
    """HU of any real dtype → int16 (rounded half to even, clipped); int16 passes through."""
    if array.dtype == np.int16:
        return array
    return np.clip(np.rint(array), -32768, 32767).astype(np.int16)


def resample_image(
    vol: Volume, spacing_xyz: Sequence[float] | None, interpolation: str = "linear"
) -> Volume:
    """Resample an intensity volume (air outside) and make it int16 HU."""
    res = resample(vol, spacing_xyz, interpolation)  # type: ignore[arg-type]
    return Volume(as_int16_hu(res.array), res.spacing, res.origin, res.direction)


def resample_pair(
    image: Volume, label: Volume, spacing_xyz: Sequence[float] | None, interpolation: str = "linear"
) -> tuple[Volume, Volume]:
    """Image (linear) and label map (nearest) onto the same new grid.

    The label is first put on the image's geometry when it differs only by header
    rounding (≤ 0.01 mm / 0.1 %), so both share one grid; a real mismatch raises.
    """
    if image.array.shape != label.array.shape:
        raise ValueError(f"image {image.array.shape} and label {label.array.shape} differ")
    for name in ("spacing", "origin", "direction"):
        a, b = getattr(image, name), getattr(label, name)
        if not np.allclose(a, b, rtol=1e-3, atol=1e-2):
            raise ValueError(f"image and label {name} differ: {tuple(a)} vs {tuple(b)}")
    label = Volume(label.array, image.spacing, image.origin, image.direction)
    return resample_image(image, spacing_xyz, interpolation), resample_label(label, spacing_xyz)


WORLD_COLUMNS = ["coordX", "coordY", "coordZ"]


def world_columns(table: Any, extra: str) -> tuple[np.ndarray, np.ndarray]:
    """World centres (m, 3) mm and the ``extra`` column (m,) of a LUNA16 CSV slice (a pandas
    frame); empty for None or no rows."""
    if table is None or len(table) == 0:
        return np.empty((0, 3)), np.empty(0)
    missing = [c for c in [*WORLD_COLUMNS, extra] if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks columns {missing}")
    return table[WORLD_COLUMNS].to_numpy(np.float64), table[extra].to_numpy()
