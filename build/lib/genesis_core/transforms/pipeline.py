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

import numpy as np
import torch
from torch import Tensor

from genesis_core.transforms.config import TransformConfig
from genesis_core.transforms.corruption import Corruption, check_order
from genesis_core.transforms.geometry import check_paintable
from genesis_core.transforms.plan import PIPELINE, CorruptionPlan, draw_plan

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
    """The CPU path: every cube through the pipeline into ``targets`` and ``inputs``, in
    place, one cube at a time; the same values as :func:`_corrupt_chunks`."""
    steps = [
        (s, part, s.prepare(part, config, per_cube=True))
        for s, part in zip(plan.steps, plan.parts, strict=True)
    ]
    for i, (x, target) in enumerate(zip(inputs, targets, strict=True)):
        current = cubes[i]  # the cube as corrupted so far
        for step, part, prepared in steps:
            out = target if step.on_target else x
            current = step.apply_cube(i, current, out, part, prepared, config)
            if step.on_target and current is not target:
                target.copy_(current)
                current = target
        if current is not x:
            x.copy_(current)


def _corrupt_chunks(
    cubes: Tensor,
    targets: Tensor,
    inputs: Tensor,
    plan: CorruptionPlan,
    generator: torch.Generator,
    config: TransformConfig,
    chunk: int,
) -> None:
    """The batched path: the target steps over the whole batch (their per-call overheads
    dominate), then the others chunk by chunk, each vectorised over the chunk's samples."""
    steps = list(zip(plan.steps, plan.parts, strict=True))
    current = cubes
    for step, part in steps:
        if step.on_target:
            prepared = step.prepare(part, config, per_cube=False)
            current = step.apply_batch(current, targets, 0, part, prepared, generator, config)
    if current is not targets:
        targets.copy_(current)
    later = [(s, p, s.prepare(p, config, per_cube=False)) for s, p in steps if not s.on_target]
    for first in range(0, cubes.shape[0], chunk):
        rows = slice(first, first + chunk)
        x, out = targets[rows], inputs[rows]
        for step, part, prepared in later:
            x = step.apply_batch(x, out, first, part, prepared, generator, config)
        if x is not out:
            out.copy_(x)


@torch.no_grad()
def make_pairs(
    cubes: Tensor,
    generator: torch.Generator,
    config: TransformConfig | None = None,
    chunk_size: int | None = None,
    steps: tuple[Corruption, ...] = PIPELINE,
) -> tuple[Tensor, Tensor]:
    """``(inputs, targets)``, both new ``(N, C, D, H, W)`` tensors of ``cubes``' dtype in [0, 1].

    ``chunk_size``: cubes corrupted together.  Default: the whole batch on a GPU, cube by
    cube on a CPU; a CPU given a ``chunk_size`` runs the chunked (GPU) code instead, with
    the same result.  ``steps``: the corruptions, in order (default: SPEC §2's four; any
    :class:`~genesis_core.transforms.corruption.Corruption` may be added).  Runs outside
    autocast.
    """
    config = config or TransformConfig()
    _check(cubes, generator, config)
    with torch.autocast(cubes.device.type, enabled=False):
        return _make_pairs(cubes, generator, config, chunk_size, steps)


def _make_pairs(
    cubes: Tensor,
    generator: torch.Generator,
    config: TransformConfig,
    chunk_size: int | None,
    steps: tuple[Corruption, ...],
) -> tuple[Tensor, Tensor]:
    """Plan the batch, flip it, then corrupt (shuffling sources for the whole batch at once
    on a GPU, a few cubes at a time on a CPU)."""
    if steps is not PIPELINE:
        check_order(steps)
    plan = draw_plan(cubes.shape, generator, config, cubes.device, cubes.dtype, steps)
    targets, inputs = _empty(cubes), _empty(cubes)
    if cubes.device.type == "cpu" and chunk_size is None:
        _corrupt_cube_by_cube(cubes, targets, inputs, plan, config)
    else:
        _corrupt_chunks(
            cubes, targets, inputs, plan, generator, config, chunk_size or max(cubes.shape[0], 1)
        )
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
