"""Size rules of the corruptions, per spatial axis of length ``size`` (SPEC §2).

Shared by the NumPy reference and the torch implementation so both read the same
numbers.  All ranges are inclusive ``(low, high)`` integer pairs; a box of length ``b``
starts at an origin in ``[MARGIN, size - b - MARGIN]`` (the reference's 3-voxel margin).
Spatial shapes are (D, H, W) = (Z, Y, X), see :mod:`genesis_core.axes`.
"""

from __future__ import annotations

from collections.abc import Sequence

MARGIN = 3
BOX_CONTINUE_RATE = 0.95  # another painting box is added while U < 0.95
MAX_INPAINT_BOXES = 5
MAX_OUTPAINT_BOXES = 5  # one box always, up to 4 more
MAX_FLIPS = 3


def shuffle_block_max(size: int) -> int:
    """Largest shuffling block side: ``size // 10`` (64 → 6, 32 → 3), at least 1.

    The reference would fail for axes shorter than 10; clamping to 1 only matters there.
    """
    return max(1, size // 10)


def inpaint_size_range(size: int) -> tuple[int, int]:
    """In-painting box side: ``[size // 6, size // 3]`` (64 → [10, 21], 32 → [5, 10])."""
    return size // 6, size // 3


def outpaint_size_range(size: int) -> tuple[int, int]:
    """Out-painting box side ``size - randint(3·size//7, 4·size//7)`` (64 → [28, 37])."""
    return size - 4 * size // 7, size - 3 * size // 7


def check_paintable(spatial: Sequence[int]) -> None:
    """Raise if a painting box plus both margins cannot fit on some axis (needs ≥ 14)."""
    for size in spatial:
        for low, high in (inpaint_size_range(size), outpaint_size_range(size)):
            if low < 1 or high + 2 * MARGIN > size:
                raise ValueError(f"cube spatial shape {tuple(spatial)} too small to paint")
