"""Quality checks that decide whether a readable volume is usable CT.

Each check returns a reason string (empty when fine).  Thresholds live in
:class:`CheckConfig` so other modalities can relax them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genesis_core.volume import Volume


@dataclass(frozen=True)
class CheckConfig:
    """Limits for catalog admission.

    ``min_extent_xyz`` is the smallest cube the pipeline cuts, in voxels at the
    default 1 mm target spacing: a scan's physical extent must hold it.  (Native
    voxel counts are checked later, by the sampler, for ``native`` spacing.)
    ``ct_min_below`` : CT always contains air; a volume whose minimum is above
    it (−500 HU by default) has no air and is flagged as not CT (likely MRI).
    ``hu_floor`` / ``hu_ceiling``: the physical range of CT after rescale.  Nothing is
    less dense than air (−1000 HU); noise and the scanners' −1024 floor stay above
    −1200.  The densest metal fits Siemens' extended CT scale, which ends at 30 710 HU;
    above 31 000 the rescale is wrong.  Below the floor, one constant value is accepted:
    the fill outside the reconstructed circle (−2000, −3024, −32768 …) that files without
    a padding tag carry (DICOM's ``PixelPaddingValue`` is already air when read).
    """

    min_extent_xyz: tuple[int, int, int] = (64, 64, 32)
    max_spacing_mm: float = 20.0
    ct_min_below: float = -500.0
    ct_max_above: float = 0.0
    hu_floor: float = -1200.0
    hu_ceiling: float = 31000.0


def check_volume(vol: Volume, cfg: CheckConfig = CheckConfig()) -> str:
    for check in (_finite, _spacing, _size, _physical_hu, _ct_range):
        reason = check(vol, cfg)
        if reason:
            return reason
    return ""


def count_nonfinite(arr: np.ndarray) -> int:
    """NaN/inf voxels of a floating array (0 for integer types)."""
    if not np.issubdtype(arr.dtype, np.floating):
        return 0
    return int(arr.size - np.count_nonzero(np.isfinite(arr)))


def _finite(vol: Volume, cfg: CheckConfig) -> str:
    bad = count_nonfinite(vol.array)
    return f"{bad} NaN/inf voxels" if bad else ""


def _spacing(vol: Volume, cfg: CheckConfig) -> str:
    sp = np.asarray(vol.spacing, dtype=float)
    if np.any(sp <= 0) or np.any(sp > cfg.max_spacing_mm) or not np.all(np.isfinite(sp)):
        return (
            f"spacing {tuple(round(float(s), 4) for s in sp)} mm outside (0, {cfg.max_spacing_mm}]"
        )
    return ""


def _size(vol: Volume, cfg: CheckConfig) -> str:
    shape = np.asarray(vol.shape_xyz)
    extent = shape * np.asarray(vol.spacing, dtype=float)
    need = np.asarray(cfg.min_extent_xyz)
    if np.any(extent < need):
        return (
            f"too small for one cube: {tuple(int(s) for s in shape)} voxels, "
            f"{tuple(round(float(e), 1) for e in extent)} mm; a cube needs "
            f"{tuple(int(n) for n in need)} voxels at 1 mm"
        )
    return ""


def _ct_range(vol: Volume, cfg: CheckConfig) -> str:
    lo, hi = hu_range(vol)
    if lo > cfg.ct_min_below or hi <= cfg.ct_max_above:
        return (
            f"intensity range [{lo:g}, {hi:g}] is not CT (no air below {cfg.ct_min_below:g} HU): "
            "likely MRI or an unscaled image"
        )
    return ""


def _physical_hu(vol: Volume, cfg: CheckConfig) -> str:
    arr = vol.array
    hi = float(arr.max()) if arr.size else 0.0
    if hi > cfg.hu_ceiling:
        n = int(np.count_nonzero(arr > cfg.hu_ceiling))
        return (
            f"HU values reach {hi:g} ({n} voxels above {cfg.hu_ceiling:g} HU): denser than any "
            "metal CT can show; a wrong rescale?"
        )
    low = arr[arr < cfg.hu_floor]
    fill = np.unique(low[:100_000])  # a sample tells a fill value from a spread
    if len(fill) > 1 or (len(fill) == 1 and np.any(low != fill[0])):
        return (
            f"HU values down to {float(low.min()):g} ({low.size} voxels below {cfg.hu_floor:g} "
            "HU, not one padding value): far below air (-1000 HU); a wrong rescale?"
        )
    return ""


def hu_range(vol: Volume) -> tuple[float, float]:
    arr = vol.array
    if np.issubdtype(arr.dtype, np.floating):
        finite = arr[np.isfinite(arr)]
        if finite.size == 0:
            return (float("nan"), float("nan"))
        return float(finite.min()), float(finite.max())
    return float(arr.min()), float(arr.max())
