"""Tissue classes of the phantoms and their rendering to Hounsfield units.

A phantom is first drawn as a uint8 tissue map (Z, Y, X) of :class:`Tissue`
codes, then :func:`render_hu` turns it into int16 HU with Gaussian noise.
Mean values are typical non-contrast CT numbers.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from scipy.special import ndtri

HU_MIN, HU_MAX = -1024, 3071
_NOISE_BITS = 12  # leaves 4 bits of a uint16 index for the tissue code


class Tissue(IntEnum):
    """Tissue codes of the uint8 tissue map."""

    AIR = 0
    FAT = 1
    MUSCLE = 2
    SOFT = 3
    LUNG = 4
    VESSEL = 5
    CORTICAL_BONE = 6
    CANCELLOUS_BONE = 7
    DISC = 8
    CSF = 9
    NODULE = 10
    LIVER = 11
    LESION = 12
    KIDNEY = 13
    SPLEEN = 14
    BOWEL_GAS = 15  # codes must stay < 16: render_hu packs them into 4 bits


#: Mean HU of every tissue code.
MEAN_HU: dict[Tissue, int] = {
    Tissue.AIR: -1000,
    Tissue.FAT: -100,
    Tissue.MUSCLE: 45,
    Tissue.SOFT: 35,
    Tissue.LUNG: -850,
    Tissue.VESSEL: 40,
    Tissue.CORTICAL_BONE: 750,
    Tissue.CANCELLOUS_BONE: 300,
    Tissue.DISC: 80,
    Tissue.CSF: 10,
    Tissue.NODULE: 50,
    Tissue.LIVER: 60,
    Tissue.LESION: 20,
    Tissue.KIDNEY: 32,
    Tissue.SPLEEN: 50,
    Tissue.BOWEL_GAS: -950,
}


def hu_table() -> np.ndarray:
    """Lookup table tissue code → mean HU: int16 (256,)."""
    table = np.zeros(256, np.int16)
    for tissue, hu in MEAN_HU.items():
        table[tissue] = hu
    return table


def membership(tissues: object) -> np.ndarray:
    """Lookup table code → bool (256,), True for the given tissue code(s)."""
    table = np.zeros(256, bool)
    table[np.atleast_1d(np.asarray(tissues, dtype=np.int64))] = True
    return table


def render_hu(tissue_map: np.ndarray, rng: np.random.Generator, sigma: float = 20.0) -> np.ndarray:
    """Tissue map uint8 (Z, Y, X) → int16 HU (Z, Y, X) = mean HU + N(0, ``sigma``²) noise.

    One gather does it all: the index is ``code << 12 | 12 random bits`` into a
    table holding, per tissue, its mean plus 4096 Gaussian quantiles (±3.5 σ),
    already clipped to the scanner range [−1024, 3071] HU.  That is about 2×
    faster than ``standard_normal`` plus two passes on a 512×512×300 volume.
    """
    index = tissue_map.astype(np.uint16)
    index <<= _NOISE_BITS
    bits = rng.integers(0, 1 << 16, tissue_map.shape, dtype=np.uint16)
    bits >>= 16 - _NOISE_BITS
    index |= bits
    return _noise_table(sigma)[index]


def _noise_table(sigma: float) -> np.ndarray:
    """int16 (16 · 4096,): row ``code`` = its mean HU + ``sigma`` × Gaussian quantiles."""
    levels = 1 << _NOISE_BITS
    quantiles = ndtri((np.arange(levels) + 0.5) / levels)
    means = hu_table()[: 1 << (16 - _NOISE_BITS)].astype(float)
    table = np.rint(means[:, None] + sigma * quantiles[None, :])
    return np.clip(table, HU_MIN, HU_MAX).astype(np.int16).ravel()
