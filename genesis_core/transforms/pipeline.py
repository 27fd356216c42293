"""`make_pairs`: the batched Models Genesis corruption, on whatever device the batch is on.

``cubes`` is ``(N, C, D, H, W)`` float in [0, 1] (D = Z, H = Y, W = X), never modified.
Per sample, as the reference (SPEC §2): flip (input and target) → local shuffling
(p = ``local_rate``) → non-linear intensity (p = ``nonlinear_rate``) → with p =
``paint_rate`` in-painting (p = ``inpaint_rate``) or else out-painting.  The target is the
flipped original.  All decisions are drawn first (:func:`~.plan.draw_plan`), per sample;
on a GPU, flips and shuffling sources are then computed for the whole batch and the rest
runs chunk by chunk (the whole batch by default), each transformation vectorised over the
chunk's samples that drew it.  On a CPU everything after the plan runs cube by cube, in
place in the outputs (shuffling sources a few cubes at a time), so a cube's intermediates
stay in cache and nothing is copied twice; that path gives exactly the values of the
chunked one (tested).  Every random number comes from ``generator`` (on the batch's
device) in a fixed order: a seed fixes the output for a given batch, device and
configuration.  Global RNG state is never touched.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from genesis_core.transforms.config import TransformConfig
from genesis_core.transforms.flip import apply_flips, code_dims, flip_codes, flip_cube_into
from genesis_core.transforms.geometry import check_paintable
from genesis_core.transforms.intensity import apply_tables
from genesis_core.transforms.painting import box_regions, paint, paint_cube_
from genesis_core.transforms.plan import CorruptionPlan, draw_plan
from genesis_core.transforms.shuffle import (
    apply_shuffle,
    cube_sources,
    plan_sources,
    shuffle_cube_into,
)

_NUMPY_DTYPES = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


def _check(cubes: Tensor, generator: torch.Generator, config: TransformConfig) -> None:
    if cubes.ndim != 5 or not cubes.is_floating_point():
        raise ValueError(
            f"expected float (N, C, D, H, W) cubes, got {cubes.dtype} {tuple(cubes.shape)}"
        )
    if generator.device.type != cubes.device.type:
        raise ValueError(f"generator on {generator.device}, cubes on {cubes.device}")
    if config.paint_probability > 0:
        check_paintable(cubes.shape[2:])


def _on_rows(batch: Tensor, selected: list[int], first: int, step: Callable[..., Tensor]) -> Tensor:
    """Apply ``step(sub_batch, plan_rows)`` to the samples of ``batch`` (starting at sample
    ``first``) that appear in ``selected``; the others pass through unchanged."""
    lo = bisect.bisect_left(selected, first)
    hi = bisect.bisect_left(selected, first + batch.shape[0])
    if hi == lo:
        return batch
    if hi - lo == batch.shape[0]:
        return step(batch, slice(lo, hi))
    index = torch.tensor(selected[lo:hi], device=batch.device) - first
    out = batch.clone()
    out[index] = step(batch[index], slice(lo, hi))
    return out


def _corrupt_chunk(
    targets: Tensor,
    inputs: Tensor,
    first: int,
    plan: CorruptionPlan,
    sources: Tensor,
    generator: torch.Generator,
    config: TransformConfig,
) -> None:
    """Write ``inputs`` from the (flipped) ``targets`` of samples ``first, first + 1, …`` of
    ``plan``; ``sources`` are the shuffling sources of the plan's shuffled samples."""
    rows = slice(first, first + targets.shape[0])
    fixed = config.mode == "fixed"
    per_cube = plan.tables[0].shape[0] // max(len(plan.curved), 1)

    def shuffle(sub: Tensor, r: slice) -> Tensor:
        return apply_shuffle(sub, sources[r], all_channels=fixed)

    def curve(sub: Tensor, r: slice) -> Tensor:
        t = slice(r.start * per_cube, r.stop * per_cube)
        return apply_tables(sub, (plan.tables[0][t], plan.tables[1][t]))

    x = _on_rows(targets, plan.shuffled, first, shuffle)
    x = _on_rows(x, plan.curved, first, curve)
    if bisect.bisect_left(plan.painted, rows.stop) > bisect.bisect_left(plan.painted, first):
        paint(x, plan.paint[rows], generator, config, out=inputs)
    else:
        inputs.copy_(x)


def _empty(cubes: Tensor) -> Tensor:
    """A new contiguous tensor like ``cubes``.  On a CPU from NumPy's allocator, which asks
    the kernel for transparent huge pages on large arrays (torch's does not): writing a
    fresh 16 MB batch then takes hundreds of page faults instead of thousands (≈10 % of
    the corruption time for 32 cubes of 64×64×32, see benchmarks/RESULTS.md)."""
    if cubes.device.type == "cpu" and cubes.dtype in _NUMPY_DTYPES:
        return torch.from_numpy(np.empty(tuple(cubes.shape), dtype=_NUMPY_DTYPES[cubes.dtype]))
    return torch.empty(cubes.shape, dtype=cubes.dtype, device=cubes.device)


def _corrupt_cube_by_cube(
    cubes: Tensor, targets: Tensor, inputs: Tensor, plan: CorruptionPlan, config: TransformConfig
) -> None:
    """The CPU path: flip every cube into ``targets`` and corrupt it into ``inputs`` in place,
    one cube at a time; the same values as :func:`_corrupt_chunk` (same plan and noise)."""
    fixed = config.mode == "fixed"
    codes = flip_codes(plan.flips).tolist()
    dims = {code: code_dims(plan.flips, code, cubes.shape) for code in set(codes)}
    shuffled, sources = set(plan.shuffled), cube_sources(plan.shuffle)
    curve_row = {sample: row for row, sample in enumerate(plan.curved)}
    per_cube = plan.tables[0].shape[0] // max(len(plan.curved), 1)
    regions = box_regions(plan.paint)
    inpaint, outpaint = plan.paint.inpaint.tolist(), plan.paint.outpaint.tolist()
    seeds = plan.paint.seeds or []
    for i, (x, target) in enumerate(zip(inputs, targets, strict=True)):
        flip_cube_into(cubes[i], dims[codes[i]], target)
        current = target  # the cube as corrupted so far: the target, or x once written
        if i in shuffled:
            shuffle_cube_into(target, next(sources), x, all_channels=fixed)
            current = x
        row = curve_row.get(i)
        if row is not None:
            t = slice(row * per_cube, (row + 1) * per_cube)
            apply_tables(current[None], (plan.tables[0][t], plan.tables[1][t]), out=x[None])
            current = x
        if inpaint[i] or outpaint[i]:
            paint_cube_(current, x, regions[i], inpaint[i], seeds[i], config)
        elif current is not x:
            x.copy_(current)


@torch.no_grad()
def make_pairs(
    cubes: Tensor,
    generator: torch.Generator,
    config: TransformConfig | None = None,
    chunk_size: int | None = None,
) -> tuple[Tensor, Tensor]:
    """``(inputs, targets)``, both new ``(N, C, D, H, W)`` tensors of ``cubes``' dtype in [0, 1].

    ``chunk_size``: cubes corrupted together.  Default: the whole batch on a GPU, cube by
    cube on a CPU; a CPU given a ``chunk_size`` runs the chunked (GPU) code instead, with
    the same result.  Runs outside autocast.
    """
    config = config or TransformConfig()
    _check(cubes, generator, config)
    with torch.autocast(cubes.device.type, enabled=False):
        return _make_pairs(cubes, generator, config, chunk_size)


def _make_pairs(
    cubes: Tensor, generator: torch.Generator, config: TransformConfig, chunk_size: int | None
) -> tuple[Tensor, Tensor]:
    """Plan the batch, flip it, then corrupt (shuffling sources for the whole batch at once
    on a GPU, a few cubes at a time on a CPU)."""
    n = cubes.shape[0]
    plan = draw_plan(cubes.shape, generator, config, cubes.device, cubes.dtype)
    targets, inputs = _empty(cubes), _empty(cubes)
    if cubes.device.type == "cpu" and chunk_size is None:
        _corrupt_cube_by_cube(cubes, targets, inputs, plan, config)
        return inputs, targets
    # flips and shuffling sources for the whole batch: their per-call overheads dominate
    apply_flips(cubes, plan.flips, out=targets)
    sources = plan_sources(plan.shuffle)
    chunk = chunk_size or max(n, 1)
    for first in range(0, n, chunk):
        rows = slice(first, first + chunk)
        _corrupt_chunk(targets[rows], inputs[rows], first, plan, sources, generator, config)
    return inputs, targets


def make_validation_pairs(
    cubes: Tensor, seed: int, config: TransformConfig | None = None
) -> tuple[Tensor, Tensor]:
    """:func:`make_pairs` with a fresh generator seeded by ``seed``: the same pairs every call.

    Give every validation batch its own seed (e.g. derived from a base seed and the batch
    index) so validation losses are comparable across epochs without storing the pairs.
    """
    generator = torch.Generator(device=cubes.device).manual_seed(seed)
    return make_pairs(cubes, generator, config)
