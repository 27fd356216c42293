"""NumPy reference of the Models Genesis corruptions, one sample at a time (SPEC §2).

A sample is ``(C, D, H, W) = (C, Z, Y, X)`` float in [0, 1] (see :mod:`genesis_core.axes`);
the reference code's ``(C, X, Y, Z)`` axes 0, 1, 2 are our axes 0 (C), 3 (W = X), 2 (H = Y).
This module follows the reference's ``generate_pair`` step by step, including its
10 000-iteration block loop: it is the benchmark baseline and the parity oracle of the
batched torch implementation.  Differences that leave the distribution unchanged: an
explicit ``np.random.Generator`` instead of the global ``random``/``np.random`` state,
shuffling block geometry drawn in one vectorised call, inputs never mutated.  Dtype is kept.

Per sample: flip (x and y) → local shuffling on x → non-linear intensity on x →
painting (in- or out-) on x; the target y is the flipped original.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from genesis_core.transforms.config import TransformConfig
from genesis_core.transforms.geometry import (
    BOX_CONTINUE_RATE,
    MARGIN,
    MAX_FLIPS,
    MAX_INPAINT_BOXES,
    MAX_OUTPAINT_BOXES,
    check_paintable,
    inpaint_size_range,
    outpaint_size_range,
    shuffle_block_max,
)

FAITHFUL_FLIP_AXES = (0, 3, 2)  # reference axes (C, X, Y) of (C, X, Y, Z): Z never flips
FIXED_FLIP_AXES = (1, 2, 3)  # D, H, W

Region = tuple[slice, ...]  # one slice per spatial axis (D, H, W)


def flip_axes(rng: np.random.Generator, config: TransformConfig) -> tuple[int, ...]:
    """The sample axes to flip, in order: up to 3 draws, each made while U < flip_rate."""
    axes = FAITHFUL_FLIP_AXES if config.mode == "faithful" else FIXED_FLIP_AXES
    chosen: list[int] = []
    while len(chosen) < MAX_FLIPS and rng.random() < config.flip_rate:
        chosen.append(axes[int(rng.integers(len(axes)))])
    return tuple(chosen)


def apply_flips(sample: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """A contiguous copy of ``sample`` flipped along each axis of ``axes`` in turn."""
    out = sample
    for axis in axes:
        out = np.flip(out, axis=axis)
    return out.copy()


def shuffle_blocks(
    rng: np.random.Generator, spatial: Sequence[int], n_blocks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Block sizes and origins, each ``(n_blocks, 3)`` in (D, H, W) order."""
    high = np.array([shuffle_block_max(s) for s in spatial])
    sizes = rng.integers(1, high + 1, size=(n_blocks, 3))
    origins = rng.integers(0, np.asarray(spatial) - sizes + 1)
    return sizes, origins


def local_pixel_shuffle(
    x: np.ndarray, rng: np.random.Generator, config: TransformConfig
) -> np.ndarray:
    """Blocks of the input, voxels permuted, written in turn (later blocks overwrite).

    Faithful mode shuffles channel 0 only (the reference indexes ``[0, ...]``); fixed mode
    moves the voxels of every channel with the same permutation.
    """
    channels = slice(0, 1) if config.mode == "faithful" else slice(None)
    n_channels = 1 if config.mode == "faithful" else x.shape[0]
    out = x.copy()
    sizes, origins = shuffle_blocks(rng, x.shape[1:], config.shuffle_blocks)
    for (bd, bh, bw), (d, h, w) in zip(sizes.tolist(), origins.tolist(), strict=True):
        region = (channels, slice(d, d + bd), slice(h, h + bh), slice(w, w + bw))
        window = x[region].reshape(n_channels, -1)
        out[region] = window[:, rng.permutation(bd * bh * bw)].reshape(n_channels, bd, bh, bw)
    return out


def bezier_curve(
    control: Sequence[float] | np.ndarray, n_points: int
) -> tuple[np.ndarray, np.ndarray]:
    """The reference's sampled cubic through (0,0), (a,b), (c,d), (1,1); runs from (1,1) to (0,0).

    ``control = (a, b, c, d)``; Bernstein weights as the reference writes them.
    """
    a, b, c, d = control
    t = np.linspace(0.0, 1.0, n_points)
    weights = np.stack([t**3, 3 * t**2 * (1 - t), 3 * t * (1 - t) ** 2, (1 - t) ** 3])
    return np.array([0.0, a, c, 1.0]) @ weights, np.array([0.0, b, d, 1.0]) @ weights


def bezier_lookup(
    control: Sequence[float] | np.ndarray, inverted: bool, n_points: int
) -> tuple[np.ndarray, np.ndarray]:
    """Knots ``(xp, fp)`` of the intensity map, ``xp`` increasing; ``fp`` decreasing if inverted.

    The reference sorts ``xvals`` only (inverted: f(0)=1, f(1)=0) or both coordinates.
    """
    xvals, yvals = bezier_curve(control, n_points)
    return np.sort(xvals), (yvals if inverted else np.sort(yvals))


def nonlinear_intensity(
    x: np.ndarray, rng: np.random.Generator, config: TransformConfig
) -> np.ndarray:
    """Every voxel mapped through a random Bézier curve (one per channel in fixed mode)."""
    if config.mode == "faithful":
        groups = [slice(None)]  # one curve for the whole sample, as the reference
    else:
        groups = [slice(c, c + 1) for c in range(x.shape[0])]
    out = np.empty_like(x)
    for channels in groups:
        control = rng.random(4)
        inverted = bool(rng.random() < 0.5)
        xp, fp = bezier_lookup(control, inverted, config.bezier_points)
        out[channels] = np.interp(x[channels], xp, fp)
    return out


def _random_box(
    rng: np.random.Generator, spatial: Sequence[int], size_range: Callable[[int], tuple[int, int]]
) -> Region:
    """A box with sides drawn from ``size_range(size)`` and the 3-voxel margin."""
    sides = [int(rng.integers(lo, hi + 1)) for lo, hi in map(size_range, spatial)]
    starts = [
        int(rng.integers(MARGIN, s - b - MARGIN + 1)) for s, b in zip(spatial, sides, strict=True)
    ]
    return tuple(slice(o, o + b) for o, b in zip(starts, sides, strict=True))


def inpaint_boxes(rng: np.random.Generator, spatial: Sequence[int]) -> list[Region]:
    """Up to 5 in-painting boxes, each drawn while U < 0.95."""
    boxes: list[Region] = []
    while len(boxes) < MAX_INPAINT_BOXES and rng.random() < BOX_CONTINUE_RATE:
        boxes.append(_random_box(rng, spatial, inpaint_size_range))
    return boxes


def outpaint_boxes(rng: np.random.Generator, spatial: Sequence[int]) -> list[Region]:
    """One out-painting box, then up to 4 more, each drawn while U < 0.95."""
    boxes = [_random_box(rng, spatial, outpaint_size_range)]
    while len(boxes) < MAX_OUTPAINT_BOXES and rng.random() < BOX_CONTINUE_RATE:
        boxes.append(_random_box(rng, spatial, outpaint_size_range))
    return boxes


def in_painting(x: np.ndarray, rng: np.random.Generator, config: TransformConfig) -> np.ndarray:
    """Boxes filled with U[0, 1) noise (the reference draws each box's noise right after it).

    Faithful mode fills all channels with the same noise (the reference broadcasts it).
    """
    out = x.copy()
    noise_channels = 1 if config.mode == "faithful" else x.shape[0]
    for region in inpaint_boxes(rng, x.shape[1:]):
        sides = [s.stop - s.start for s in region]
        out[(slice(None), *region)] = rng.random((noise_channels, *sides))
    return out


def out_painting(x: np.ndarray, rng: np.random.Generator, config: TransformConfig) -> np.ndarray:
    """U[0, 1) noise everywhere except 1 box plus up to 4 more, which keep ``x``."""
    out = rng.random(x.shape).astype(x.dtype)
    for region in outpaint_boxes(rng, x.shape[1:]):
        out[(slice(None), *region)] = x[(slice(None), *region)]
    return out


def paint_kind(rng: np.random.Generator, config: TransformConfig) -> str | None:
    """``"inpaint"``, ``"outpaint"`` or ``None`` (0.18 / 0.72 / 0.10 with default rates)."""
    if rng.random() >= config.paint_probability:
        return None
    return "inpaint" if rng.random() < config.inpaint_given_paint else "outpaint"


PAINTERS = {"inpaint": in_painting, "outpaint": out_painting}


def reference_pair(
    cube: np.ndarray, rng: np.random.Generator, config: TransformConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` for one ``(C, D, H, W)`` cube: x corrupted input, y flipped original."""
    config = config or TransformConfig()
    if cube.ndim != 4:
        raise ValueError(f"expected one (C, D, H, W) cube, got shape {cube.shape}")
    if config.paint_probability > 0:
        check_paintable(cube.shape[1:])
    y = apply_flips(cube, flip_axes(rng, config))
    x = y
    if rng.random() < config.local_probability:
        x = local_pixel_shuffle(x, rng, config)
    if rng.random() < config.nonlinear_probability:
        x = nonlinear_intensity(x, rng, config)
    kind = paint_kind(rng, config)
    if kind is not None:
        x = PAINTERS[kind](x, rng, config)
    return (x.copy() if x is y else x), y


def reference_pairs(
    cubes: np.ndarray, rng: np.random.Generator, config: TransformConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`reference_pair` over a ``(N, C, D, H, W)`` batch, sample by sample."""
    pairs = [reference_pair(cube, rng, config) for cube in cubes]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
