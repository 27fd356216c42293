"""Intensity normalisation: HU windows for CT, per-volume scaling for MRI.

Every normaliser maps an array of any real dtype and any layout to a new
``float32`` array in [0, 1] of the same shape; inputs are never modified.

* ``window``: the Models Genesis CT mapping ``v = (clip(HU, lo, hi) - lo) / (hi - lo)``
  with the default window [-1000, 1000] HU (SPEC §1), so -150 HU → 0.425.
* ``minmax``: per-volume ``(a - min) / (max - min)`` (MRI).
* ``percentile``: per-volume robust min–max between two percentiles, e.g. 0.5–99.5 (MRI).

The arithmetic is float32 throughout and element-wise, so ``window`` of a value gives
bit-identical results whatever array it sits in; :func:`unit_threshold_to_hu` relies
on that to turn a [0, 1] threshold into an exact integer HU threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

HU_LO = -1000.0
HU_HI = 1000.0

Mode = Literal["window", "minmax", "percentile"]


@dataclass(frozen=True)
class IntensityConfig:
    """How scans are mapped to [0, 1].

    ``hu_lo``/``hu_hi`` (HU) are used by ``mode="window"``; ``pct_lo``/``pct_hi``
    (percent, 0–100) by ``mode="percentile"``; ``minmax`` uses neither.
    """

    mode: Mode = "window"
    hu_lo: float = HU_LO
    hu_hi: float = HU_HI
    pct_lo: float = 0.5
    pct_hi: float = 99.5

    def __post_init__(self) -> None:
        if self.mode not in ("window", "minmax", "percentile"):
            raise ValueError(f"unknown intensity mode {self.mode!r}")
        if not self.hu_lo < self.hu_hi:
            raise ValueError(f"need hu_lo < hu_hi, got {self.hu_lo}, {self.hu_hi}")
        if not 0.0 <= self.pct_lo < self.pct_hi <= 100.0:
            raise ValueError(f"need 0 <= pct_lo < pct_hi <= 100, got {self.pct_lo}, {self.pct_hi}")


def _scale(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """New float32 array ``(clip(arr, lo, hi) - lo) / (hi - lo)``; zeros when ``hi == lo``."""
    out = np.array(arr, dtype=np.float32, copy=True)
    np.clip(out, lo, hi, out=out)
    out -= np.float32(lo)
    if hi > lo:
        out /= np.float32(hi - lo)
    return out


def window(hu: np.ndarray, lo: float = HU_LO, hi: float = HU_HI) -> np.ndarray:
    """HU (any dtype) → float32 in [0, 1]: ``(clip(hu, lo, hi) - lo) / (hi - lo)``."""
    if not lo < hi:
        raise ValueError(f"need lo < hi, got {lo}, {hi}")
    return _scale(np.asarray(hu), lo, hi)


def minmax(arr: np.ndarray) -> np.ndarray:
    """Per-volume min–max to float32 [0, 1]; a constant volume maps to zeros."""
    a = np.asarray(arr)
    return _scale(a, float(a.min()), float(a.max()))


def percentile(arr: np.ndarray, lo: float = 0.5, hi: float = 99.5) -> np.ndarray:
    """Per-volume robust min–max: clip to the ``lo``/``hi`` percentiles, scale to [0, 1]."""
    a = np.asarray(arr)
    p_lo, p_hi = np.percentile(a, [lo, hi])
    return _scale(a, float(p_lo), float(p_hi))


def normalize(arr: np.ndarray, spec: IntensityConfig) -> np.ndarray:
    """Apply ``spec`` to ``arr`` (any layout) → new float32 array in [0, 1]."""
    if spec.mode == "window":
        return window(arr, spec.hu_lo, spec.hu_hi)
    if spec.mode == "minmax":
        return minmax(arr)
    return percentile(arr, spec.pct_lo, spec.pct_hi)


def hu_to_unit(hu: float, lo: float = HU_LO, hi: float = HU_HI) -> float:
    """One HU value → its windowed value (``-150`` → ``0.425`` with the default window)."""
    return (min(max(float(hu), lo), hi) - lo) / (hi - lo)


def unit_threshold_to_hu(t: float, lo: float = HU_LO, hi: float = HU_HI) -> int:
    """Smallest integer HU ``h`` with ``window(h, lo, hi) >= t``.

    For integer HU arrays ``hu >= h`` is then exactly ``window(hu) >= t``, without
    windowing the array (``window`` is monotone). ``t <= 0`` gives a value below any
    int32 (all pass); ``t > 1`` one above any int32 (none pass).
    """
    if t <= 0.0:
        return -(2**40)
    if t > 1.0:
        return 2**40
    h0 = math.ceil(lo + t * (hi - lo))
    cands = np.arange(h0 - 3, h0 + 4, dtype=np.int64)
    passes = window(cands, lo, hi) >= t
    return int(cands[np.argmax(passes)])
