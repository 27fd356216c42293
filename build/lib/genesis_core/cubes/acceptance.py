"""The cube acceptance test of SPEC §1, vectorised over a batch of candidate windows.

A candidate *window* is cut with ``L = look_ahead`` extra slices: array layout
``(Z + L, Y, X)`` (batched ``(n, Z + L, Y, X)``), of which the first ``Z`` slices
become the cube.  A voxel is *dense* when its intensity is ``>= threshold``
(unit intensities in [0, 1]; 0.425 = -150 HU in the default window).  For every
voxel (d, y, x) of the cube, ``k`` is the index of the first dense slice among
``d, d+1, …, d+L-1`` (``k = L-1`` if none) and its weight is ``w = 1 - k/(L-1)``;
with ``L = 3`` that is w ∈ {1, ½, 0}.  The reference rejects a window when
``Σw > max_fraction · X·Y·Z`` (0.15): cubes must be mostly lung, not body wall.

Implementation: with ``S = Σ (L-1-k)`` an exact integer, ``Σw = S / (L-1)``, so
the comparison is done exactly on integers against a cut-off computed with
:class:`fractions.Fraction`.  ``reference_accept`` is a line-by-line port of the
reference's 4-deep Python loop, kept for tests and benchmarks only.

Other organs: ``min_fraction`` rejects windows with too *little* dense tissue
(e.g. abdomen), ``threshold`` and ``look_ahead`` are free, and ``mode="none"``
accepts everything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np

from ..intensity import hu_to_unit

LUNG_THRESHOLD = hu_to_unit(-150.0)  # 0.425


@dataclass(frozen=True)
class AcceptanceConfig:
    """Parameters of the acceptance test; defaults are the reference's lung test.

    ``threshold``: unit intensity in [0, 1]; ``max_fraction``/``min_fraction``: bounds
    on ``Σw / (X·Y·Z)`` (``None`` = unbounded); ``look_ahead``: slices inspected per
    voxel, also the number of extra slices cut below each cube (reference: 3).
    """

    mode: Literal["lung", "none"] = "lung"
    threshold: float = LUNG_THRESHOLD
    max_fraction: float | None = 0.15
    min_fraction: float | None = None
    look_ahead: int = 3

    def __post_init__(self) -> None:
        if self.mode not in ("lung", "none"):
            raise ValueError(f"unknown acceptance mode {self.mode!r}")
        if self.look_ahead < 2:
            raise ValueError(f"look_ahead must be >= 2, got {self.look_ahead}")


LUNG = AcceptanceConfig()
ACCEPT_ALL = AcceptanceConfig(mode="none")


def _count_per_window(mask: np.ndarray) -> np.ndarray:
    """Number of True voxels per window of a bool ``(n, ...)`` array → int64 ``(n,)``."""
    # One count_nonzero per window is ~4x faster than count_nonzero(axis=...).
    return np.fromiter((np.count_nonzero(m) for m in mask), dtype=np.int64, count=len(mask))


def weighted_dense_sum(dense: np.ndarray, look_ahead: int = 3) -> np.ndarray:
    """``S = (L-1)·Σw`` per window, exact int64.

    ``dense``: bool ``(n, Z + L, Y, X)`` (``dense = window >= threshold``).
    Returns int64 ``(n,)``.  A voxel's first dense slice is ``k`` where slice ``d+k``
    is dense and none before it is, i.e. ``dense[d+k] > found`` (bool ``a & ~b``).
    """
    if dense.ndim != 4 or dense.shape[1] <= look_ahead:
        raise ValueError(f"expected (n, Z + {look_ahead}, Y, X) windows, got {dense.shape}")
    depth = dense.shape[1] - look_ahead
    total = np.zeros(dense.shape[0], dtype=np.int64)
    found: np.ndarray | None = None
    for k in range(look_ahead - 1):  # k = L-1 carries weight 0: never needed
        layer = dense[:, k : k + depth]
        hit = layer if found is None else np.greater(layer, found)
        total += (look_ahead - 1 - k) * _count_per_window(hit)
        if k < look_ahead - 2:
            found = layer if found is None else found | hit
    return total


def _cutoffs(config: AcceptanceConfig, n_voxels: int) -> tuple[float, float]:
    """Integer bounds on S: accept iff ``lo <= S <= hi`` (exact on the float fractions)."""
    scale = n_voxels * (config.look_ahead - 1)
    hi = (
        math.inf
        if config.max_fraction is None
        else math.floor(Fraction(config.max_fraction) * scale)
    )
    lo = (
        -math.inf
        if config.min_fraction is None
        else math.ceil(Fraction(config.min_fraction) * scale)
    )
    return lo, hi


def accept_dense(dense: np.ndarray, config: AcceptanceConfig = LUNG) -> np.ndarray:
    """Acceptance from precomputed dense masks: bool ``(n, Z+L, Y, X)`` → bool ``(n,)``."""
    if config.mode == "none":
        return np.ones(dense.shape[0], dtype=bool)
    s = weighted_dense_sum(dense, config.look_ahead)
    n_voxels = (dense.shape[1] - config.look_ahead) * dense.shape[2] * dense.shape[3]
    lo, hi = _cutoffs(config, n_voxels)
    return (s >= lo) & (s <= hi)


def accept_windows(windows: np.ndarray, config: AcceptanceConfig = LUNG) -> np.ndarray:
    """Acceptance of unit-intensity windows ``(n, Z+L, Y, X)`` (or one ``(Z+L, Y, X)``).

    Returns bool ``(n,)`` (a 0-d bool for a single window).
    """
    w = np.asarray(windows)
    single = w.ndim == 3
    batch = w[None] if single else w
    if config.mode == "none":
        out = np.ones(batch.shape[0], dtype=bool)
    else:
        out = accept_dense(batch >= config.threshold, config)
    return out[0] if single else out


def reference_accept(window: np.ndarray, config: AcceptanceConfig = LUNG) -> bool:
    """Straight port of the reference's loop (``infinite_generator_3D.py``) — slow.

    ``window``: unit intensities ``(Z + L, Y, X)``.  Only ``max_fraction`` applies,
    as in the reference.  Used to test :func:`accept_windows` and to benchmark it.
    """
    if config.mode == "none" or config.max_fraction is None:
        return True
    crop_window = np.asarray(window).transpose(2, 1, 0)  # the reference's (X, Y, Z) view
    len_depth = config.look_ahead
    rows, cols, deps = crop_window.shape[0], crop_window.shape[1], crop_window.shape[2] - len_depth
    t_img = np.zeros((rows, cols, deps), dtype=float)
    d_img = np.zeros((rows, cols, deps), dtype=float)
    for d in range(deps):
        for i in range(rows):
            for j in range(cols):
                for k in range(len_depth):
                    if crop_window[i, j, d + k] >= config.threshold:
                        t_img[i, j, d] = crop_window[i, j, d + k]
                        d_img[i, j, d] = k
                        break
                    if k == len_depth - 1:
                        d_img[i, j, d] = k
    d_img = d_img.astype("float32")
    d_img /= len_depth - 1
    d_img = 1.0 - d_img
    return not bool(np.sum(d_img) > config.max_fraction * rows * cols * deps)
