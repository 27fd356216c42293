"""Negative (class 0) candidate positions for a LUNA16-style ``candidates.csv``.

LUNA16 candidates are detector hits, mostly vessels and other lung structures;
here they are voxels drawn uniformly from the lungs (and some from the rest of
the body), kept away from every nodule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genesis_core.synth.placement import Ball
from genesis_core.synth.tissue import Tissue, membership

LUNG_TISSUES = (Tissue.LUNG, Tissue.VESSEL)
BODY_TISSUES = tuple(t for t in Tissue if t not in (Tissue.AIR, Tissue.NODULE))


def negative_positions(
    tissue: np.ndarray,
    spacing_xyz: Sequence[float],
    rng: np.random.Generator,
    count: int,
    nodules: Sequence[Ball],
    lung_share: float = 0.7,
) -> np.ndarray:
    """``count`` voxel indices (N, 3) int (X, Y, Z): ~``lung_share`` in the lungs, the rest in the body.

    Every position is farther than one diameter (and ≥ 5 mm) from each nodule centre.
    Positions the lungs cannot hold (tiny grids) are taken from the body instead.
    """
    lung = _sample(tissue, spacing_xyz, rng, int(round(count * lung_share)), LUNG_TISSUES, nodules)
    body = _sample(tissue, spacing_xyz, rng, count - len(lung), BODY_TISSUES, nodules)
    return np.concatenate([lung, body])


def _sample(tissue, spacing_xyz, rng, count, tissues, nodules, batches=100) -> np.ndarray:
    """Rejection-sample ``count`` indices whose tissue is in ``tissues``, clear of nodules."""
    allowed = membership(tissues)
    size = np.asarray(tissue.shape[::-1])
    found = [np.empty((0, 3), np.int64)]
    for _ in range(batches):
        if sum(len(f) for f in found) >= count:
            break
        idx = rng.integers(0, size, (max(64, 4 * count), 3))
        idx = idx[allowed[tissue[idx[:, 2], idx[:, 1], idx[:, 0]]]]
        found.append(idx[_clear_of(idx, spacing_xyz, nodules)])
    return np.concatenate(found)[:count]  # fewer only when the tissue (nearly) is absent


def _clear_of(index_xyz: np.ndarray, spacing_xyz, nodules: Sequence[Ball]) -> np.ndarray:
    """bool (N,): farther than max(diameter, 5 mm) from every nodule centre."""
    ok = np.ones(len(index_xyz), bool)
    for centre, diameter in nodules:
        offset_mm = (index_xyz - np.asarray(centre)) * np.asarray(spacing_xyz)
        ok &= np.linalg.norm(offset_mm, axis=1) > max(diameter, 5.0)
    return ok
