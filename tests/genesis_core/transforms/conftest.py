"""Shared helpers for the corruption tests: cube shapes and flip bookkeeping."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

FULL = (32, 64, 64)  # (D, H, W) of a 64×64×32 cube
SMALL = (16, 20, 24)  # smallest-ish shape that still paints (≥ 14 per axis)


def flip_subsets(cube: np.ndarray, axes: Sequence[int]) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """``(axes, flipped)`` for every subset of ``axes`` (the empty one included)."""
    out = []
    for r in range(len(axes) + 1):
        for combo in itertools.combinations(axes, r):
            out.append((combo, np.flip(cube, combo) if combo else cube))
    return out


def matching_flip(
    target: np.ndarray, cube: np.ndarray, axes: Sequence[int]
) -> tuple[int, ...] | None:
    """The subset of ``axes`` whose flip turns ``cube`` into ``target``, or ``None``."""
    for combo, flipped in flip_subsets(cube, axes):
        if np.array_equal(target, flipped):
            return combo
    return None


def ramp(shape: Sequence[int]) -> np.ndarray:
    """A float32 cube in [0, 1] with all voxels distinct (so any flip is detectable)."""
    n = int(np.prod(shape))
    return (np.arange(n, dtype=np.float64) / n).astype(np.float32).reshape(shape)
