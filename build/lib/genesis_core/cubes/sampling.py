"""Choosing pre-training cubes in one scan (SPEC §1), vectorised and deterministic.

Input: a (Z, Y, X) array, either unit intensities in [0, 1] (``hu_window=None``)
or raw HU with the window that defines the unit scale (``hu_window=(lo, hi)``;
integer HU is then thresholded with an exact integer HU cut-off, no float copy
of the scan is made).  Output: cube origins ``(k, 3)`` int64 voxel indices
(Z, Y, X); cube ``i`` is ``array[z:z+Z, y:y+Y, x:x+X]`` (see :mod:`.extract`).

Candidate origins are uniform with borders as in the reference: per axis
``origin ∈ [border, size - cube - extra - 1 - border]`` (inclusive), with
``extra = look_ahead`` (3) slices below the cube on Z and 0 on X/Y; the window
of ``Z + extra`` slices feeds the acceptance test, the first ``Z`` are the cube.
A scan too small for the borders yields no cubes and a reason.

Borders: SPEC default (100, 100, 30) voxels (X, Y, Z).  ``"auto"`` uses
``min(default, floor(default · size / (512, 512, 300)))`` per axis: the SPEC
borders for scans at least the size of a typical LUNA16 scan, proportionally
smaller ones for smaller grids (tiny test volumes; a 0.7-mm 512² scan resampled
to 1 mm is 358² and gets 69 voxels ≈ the 70 mm the SPEC border covers natively).

Determinism: all ``max_draws`` candidates are drawn from ``rng`` up front, then
tested in batches; accepted origins are the first ``n`` accepted in draw order, so
the result does not depend on the batch size.  Use :func:`.rng.rng_for`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

from ..axes import xyz_to_zyx
from ..intensity import unit_threshold_to_hu, window
from .acceptance import LUNG, AcceptanceConfig, accept_dense

SPEC_BORDER_XYZ = (100, 100, 30)
AUTO_REFERENCE_SIZE_XYZ = (512, 512, 300)

DenseOp = Callable[[np.ndarray, np.ndarray], object]


@dataclass(frozen=True)
class SamplingConfig:
    """Cube picking parameters; defaults are the reference's (SPEC §1).

    ``cube_xyz``: cube size (X, Y, Z) voxels; ``n``: cubes wanted per scan (``scale``);
    ``draws_per_cube``: at most ``draws_per_cube · n`` candidates; ``border_xyz``:
    voxels kept free at each side, or ``"auto"``; ``batch``: windows tested at once.
    """

    cube_xyz: tuple[int, int, int] = (64, 64, 32)
    n: int = 32
    draws_per_cube: int = 50
    border_xyz: tuple[int, int, int] | Literal["auto"] = SPEC_BORDER_XYZ
    acceptance: AcceptanceConfig = field(default=LUNG)
    batch: int = 64

    @property
    def max_draws(self) -> int:
        return self.draws_per_cube * self.n

    @property
    def cube_zyx(self) -> tuple[int, int, int]:
        return xyz_to_zyx(self.cube_xyz)  # type: ignore[return-value]

    @property
    def window_zyx(self) -> tuple[int, int, int]:
        """Shape of a candidate window: the cube plus ``look_ahead`` slices."""
        z, y, x = self.cube_zyx
        return (z + self.acceptance.look_ahead, y, x)


class CubeSample(NamedTuple):
    """Result of :func:`sample_cubes`.

    ``origins_zyx``: int64 ``(k, 3)``, k ≤ n, in draw order; ``draws``: candidates
    consumed; ``reason``: why no cube came out (``None`` when k > 0).
    """

    origins_zyx: np.ndarray
    draws: int
    reason: str | None


def borders_zyx(shape_zyx: tuple[int, ...], config: SamplingConfig) -> np.ndarray:
    """Border widths (Z, Y, X) voxels for a scan of array shape ``shape_zyx``."""
    if config.border_xyz != "auto":
        return np.asarray(xyz_to_zyx(config.border_xyz), dtype=np.int64)
    spec = xyz_to_zyx(SPEC_BORDER_XYZ)
    ref = xyz_to_zyx(AUTO_REFERENCE_SIZE_XYZ)
    auto = [min(b, math.floor(b * s / r)) for b, s, r in zip(spec, shape_zyx, ref, strict=True)]
    return np.asarray(auto, dtype=np.int64)


def origin_bounds(
    shape_zyx: tuple[int, ...], config: SamplingConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive (low, high) origin bounds (Z, Y, X); any ``high < low`` = too small."""
    border = borders_zyx(shape_zyx, config)
    win = np.asarray(config.window_zyx, dtype=np.int64)
    high = np.asarray(shape_zyx, dtype=np.int64) - win - 1 - border
    return border, high


def _dense_op(
    array: np.ndarray, threshold: float, hu_window: tuple[float, float] | None
) -> DenseOp:
    """``op(win, out)`` writes ``unit(win) >= threshold`` into the bool array ``out``."""
    if hu_window is None:
        return lambda win, out: np.greater_equal(win, threshold, out=out)
    lo, hi = hu_window
    if np.issubdtype(array.dtype, np.integer):
        cut = unit_threshold_to_hu(threshold, lo, hi)  # exact for integer HU
        return lambda win, out: np.greater_equal(win, cut, out=out)
    return lambda win, out: np.greater_equal(window(win, lo, hi), threshold, out=out)


def _accepted_in(
    array: np.ndarray, cands: np.ndarray, config: SamplingConfig, op: DenseOp, buf: np.ndarray
) -> np.ndarray:
    """Acceptance of the candidate windows at ``cands`` (m, 3) → bool (m,)."""
    wz, wy, wx = config.window_zyx
    dense = buf[: len(cands)]
    for i, (z, y, x) in enumerate(cands):
        op(array[z : z + wz, y : y + wy, x : x + wx], dense[i])
    return accept_dense(dense, config.acceptance)


def _first_accepted(
    array: np.ndarray, origins: np.ndarray, config: SamplingConfig, op: DenseOp
) -> list[int]:
    """Indices (draw order) of the first ``n`` accepted candidates, batch by batch."""
    if config.acceptance.mode == "none":
        return list(range(min(config.n, len(origins))))
    buf = np.empty((config.batch, *config.window_zyx), dtype=bool)
    accepted: list[int] = []
    for b0 in range(0, len(origins), config.batch):
        ok = _accepted_in(array, origins[b0 : b0 + config.batch], config, op, buf)
        accepted.extend(int(i) + b0 for i in np.flatnonzero(ok))
        if len(accepted) >= config.n:
            break
    return accepted[: config.n]


def sample_cubes(
    array: np.ndarray,
    rng: np.random.Generator,
    config: SamplingConfig = SamplingConfig(),  # noqa: B008 (frozen dataclass)
    hu_window: tuple[float, float] | None = None,
) -> CubeSample:
    """Pick up to ``config.n`` accepted cube origins in ``array`` (Z, Y, X).

    ``array``: unit intensities in [0, 1] (``hu_window=None``) or HU with
    ``hu_window=(lo, hi)`` defining the unit scale.  See the module docstring.
    """
    low, high = origin_bounds(array.shape, config)
    if (high < low).any():
        reason = (
            f"scan too small for borders: shape_zyx={tuple(array.shape)}, "
            f"border_zyx={tuple(int(b) for b in low)}, window_zyx={config.window_zyx}"
        )
        return CubeSample(np.empty((0, 3), dtype=np.int64), 0, reason)
    origins = rng.integers(low, high, endpoint=True, size=(config.max_draws, 3), dtype=np.int64)
    op = _dense_op(array, config.acceptance.threshold, hu_window)
    accepted = _first_accepted(array, origins, config, op)
    draws = accepted[-1] + 1 if len(accepted) == config.n else config.max_draws
    reason = None if accepted else f"no window accepted in {config.max_draws} draws"
    return CubeSample(origins[accepted].reshape(-1, 3), draws, reason)
