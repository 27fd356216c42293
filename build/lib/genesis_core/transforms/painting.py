"""Batched in-painting and out-painting (SPEC §2).

Batches are ``(M, C, D, H, W)``.  Boxes are drawn per cube (sides and 3-voxel margin from
:mod:`genesis_core.transforms.geometry`).  In-painting: up to 5 boxes, each added while
U < 0.95, filled with U[0, 1) noise.  Out-painting: U[0, 1) noise everywhere except 1 box
plus up to 4 more, which keep the input.  Overlapping in-painting boxes are filled once:
fresh i.i.d. noise has the same law as the reference's "later box overwrites earlier noise".

Both kinds (and "no painting") are one operation: ``lerp(noise, x, keep)`` with a per-voxel
``keep`` weight of exactly 0 or 1 (out-painting: the box union; in-painting: its
complement; no painting: 1), so a batch mixing kinds needs no per-kind copies, and lerp is
much faster than ``torch.where`` on a CPU.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from genesis_core.transforms.config import TransformConfig
from genesis_core.transforms.geometry import (
    BOX_CONTINUE_RATE,
    MARGIN,
    MAX_INPAINT_BOXES,
    MAX_OUTPAINT_BOXES,
    inpaint_size_range,
    outpaint_size_range,
)
from genesis_core.transforms.sampling import (
    continuing,
    noise,
    sample_noise,
    stream_seeds,
    uniform,
    uniform_int,
)


@dataclass(frozen=True)
class Boxes:
    """``start`` and ``stop`` (M, K, 3) in (D, H, W), half-open; ``active`` (M, K) bool."""

    start: Tensor
    stop: Tensor
    active: Tensor


def draw_boxes(
    m: int,
    spatial: Sequence[int],
    size_range: Callable[[int], tuple[int, int]],
    first_always: bool,
    generator: torch.Generator,
    device: torch.device,
) -> Boxes:
    """Up to 5 boxes per cube, each while U < 0.95 (the first one always if ``first_always``)."""
    k = MAX_OUTPAINT_BOXES if first_always else MAX_INPAINT_BOXES
    u = uniform((7, m, k), generator, device)
    low, high = (
        torch.tensor(v, device=device) for v in zip(*map(size_range, spatial), strict=True)
    )
    sides = uniform_int(u[1:4].permute(1, 2, 0), low, high)
    room = torch.tensor(list(spatial), device=device) - sides - MARGIN
    start = uniform_int(u[4:7].permute(1, 2, 0), MARGIN, room)
    go = u[0] < BOX_CONTINUE_RATE
    if first_always:
        go[:, 0] = True
    return Boxes(start=start, stop=start + sides, active=continuing(go))


@dataclass(frozen=True)
class PaintPlan:
    """Per sample: ``inpaint``, ``outpaint`` (N,) bool (never both), its ``boxes`` (N, 5)
    and, on a CPU, the seed of its noise stream (``seeds``, see :func:`.sampling.noise`)."""

    inpaint: Tensor
    outpaint: Tensor
    boxes: Boxes
    seeds: list[int] | None = None

    def __getitem__(self, rows: slice) -> PaintPlan:
        b = self.boxes
        return PaintPlan(
            self.inpaint[rows],
            self.outpaint[rows],
            Boxes(b.start[rows], b.stop[rows], b.active[rows]),
            None if self.seeds is None else self.seeds[rows],
        )


def draw_painting(
    inpaint: Tensor, outpaint: Tensor, spatial: Sequence[int], generator: torch.Generator
) -> PaintPlan:
    """Boxes for samples flagged ``inpaint`` or ``outpaint`` (both (N,) bool, disjoint).

    Both kinds are drawn for every sample and one is kept: cheap, and the draw order does
    not depend on the flags.  On a CPU the samples' noise seeds are drawn last.
    """
    n, device = inpaint.shape[0], inpaint.device
    inner = draw_boxes(n, spatial, inpaint_size_range, False, generator, device)
    outer = draw_boxes(n, spatial, outpaint_size_range, True, generator, device)
    pick = outpaint[:, None, None]
    active = torch.where(outpaint[:, None], outer.active, inner.active & inpaint[:, None])
    boxes = Boxes(
        torch.where(pick, outer.start, inner.start),
        torch.where(pick, outer.stop, inner.stop),
        active,
    )
    seeds = stream_seeds(n, generator) if device.type == "cpu" else None
    return PaintPlan(inpaint, outpaint, boxes, seeds)


def keep_weights(plan: PaintPlan, spatial: Sequence[int], dtype: torch.dtype) -> Tensor:
    """``(M, 1, D, H, W)``: 1 where the input survives painting, 0 where noise replaces it.

    One batched matrix product gives α·(number of boxes covering a voxel) + β, which
    clamped to [0, 1] is the box union for out-painting (α, β = 1, 0) and its complement
    for in-painting or no painting (α, β = −1, 1): rows are (z, y) membership (M, D·H, K)
    scaled by α plus a constant β row, columns x membership (M, K, W) plus a row of ones.
    """
    boxes = plan.boxes
    m, k = boxes.active.shape
    inside = []
    for axis, size in enumerate(spatial):
        coord = torch.arange(size, device=boxes.start.device)
        lo, hi = boxes.start[..., axis, None], boxes.stop[..., axis, None]
        inside.append(((coord >= lo) & (coord < hi)).to(dtype))  # (M, K, size)
    alpha = plan.outpaint.to(dtype) * 2 - 1
    inside[0] *= (boxes.active * alpha[:, None])[..., None]
    plane = (inside[0][..., None] * inside[1][:, :, None, :]).view(m, k, -1)
    beta = (1 - plan.outpaint.to(dtype))[:, None, None].expand(m, 1, plane.shape[2])
    rows = torch.cat([plane, beta], dim=1)
    columns = torch.cat([inside[2], inside[2].new_ones(m, 1, spatial[2])], dim=1)
    keep = torch.bmm(rows.transpose(1, 2), columns).clamp_(0.0, 1.0)
    return keep.view(m, 1, *spatial)


def paint(
    batch: Tensor,
    plan: PaintPlan,
    generator: torch.Generator,
    config: TransformConfig,
    out: Tensor | None = None,
) -> Tensor:
    """Apply ``plan`` (rows aligned with ``batch``), writing to ``out`` (default: a new tensor).

    Noise is drawn per channel; faithful mode gives in-painted samples one noise field for
    all channels, as the reference broadcasts it.
    """
    fill = noise(batch.shape, generator, batch.device, batch.dtype, plan.seeds)
    if config.mode == "faithful" and batch.shape[1] > 1:
        shared = plan.inpaint[:, None, None, None, None]
        fill = torch.where(shared, fill[:, :1].expand_as(fill), fill)
    return torch.lerp(fill, batch, keep_weights(plan, batch.shape[2:], batch.dtype), out=out)


def box_regions(plan: PaintPlan) -> list[list[tuple[slice, ...]]]:
    """Per sample, its active boxes as index tuples ``(:, d0:d1, h0:h1, w0:w1)``."""
    starts, stops = plan.boxes.start.tolist(), plan.boxes.stop.tolist()
    return [
        [(slice(None), *map(slice, lo, hi)) for lo, hi, on in zip(*sample, strict=True) if on]
        for sample in zip(starts, stops, plan.boxes.active.tolist(), strict=True)
    ]


def paint_cube_(
    x: Tensor,
    out: Tensor,
    regions: list[tuple[slice, ...]],
    inpaint: bool,
    seed: int,
    config: TransformConfig,
) -> None:
    """Paint one cube ``x`` (C, D, H, W) into ``out`` (may be ``x``) on a CPU, box by box:
    the values :func:`paint` gives that sample (same noise field, same kept or filled union)."""
    if not inpaint and out is not x:  # out-painting: noise straight into the output
        sample_noise(seed, x.shape, out=out)
        for region in regions:
            out[region] = x[region]
        return
    fill = sample_noise(seed, x.shape, out=torch.empty_like(x))
    if inpaint:
        if config.mode == "faithful":
            fill = fill[:1].expand_as(x)  # one field for all channels, as the reference
        if out is not x:
            out.copy_(x)
        for region in regions:
            out[region] = fill[region]
    else:
        for region in regions:
            fill[region] = x[region]
        out.copy_(fill)


def _paint_all(
    batch: Tensor, generator: torch.Generator, config: TransformConfig, out: bool
) -> Tensor:
    flags = torch.full((batch.shape[0],), out, dtype=torch.bool, device=batch.device)
    plan = draw_painting(~flags, flags, batch.shape[2:], generator)
    return paint(batch, plan, generator, config)


def in_painting(batch: Tensor, generator: torch.Generator, config: TransformConfig) -> Tensor:
    """In-paint every cube of ``batch``; a new tensor."""
    return _paint_all(batch, generator, config, out=False)


def out_painting(batch: Tensor, generator: torch.Generator, config: TransformConfig) -> Tensor:
    """Out-paint every cube of ``batch``; a new tensor."""
    return _paint_all(batch, generator, config, out=True)


@dataclass(frozen=True)
class PaintPart:
    samples: list[int]  # the painted samples, ascending
    plan: PaintPlan  # one row per sample of the batch


class Painting:
    """In-/out-painting (SPEC §2) as a :class:`~genesis_core.transforms.corruption.Corruption`;
    its noise is drawn while applying, chunk by chunk (or from per-sample seeds per cube)."""

    name = "painting"
    gates = 2  # painting at all; in- rather than out-painting
    on_target = False

    def draw(
        self, gates: Tensor, batch, generator: torch.Generator, config: TransformConfig
    ) -> PaintPart:
        painting = gates[0] < config.paint_probability
        inpaint = painting & (gates[1] < config.inpaint_given_paint)
        plan = draw_painting(inpaint, painting & ~inpaint, batch.spatial, generator)
        return PaintPart(painting.nonzero().flatten().tolist(), plan)

    def prepare(self, part: PaintPart, config: TransformConfig, per_cube: bool):
        if not per_cube:
            return None
        plan = part.plan
        return box_regions(plan), plan.inpaint.tolist(), plan.outpaint.tolist(), plan.seeds or []

    def apply_batch(
        self,
        x: Tensor,
        out: Tensor,
        first: int,
        part: PaintPart,
        prepared,
        generator: torch.Generator,
        config: TransformConfig,
    ) -> Tensor:
        stop = first + x.shape[0]
        if bisect.bisect_left(part.samples, stop) == bisect.bisect_left(part.samples, first):
            return x
        paint(x, part.plan[first:stop], generator, config, out=out)
        return out

    def apply_cube(
        self, i: int, x: Tensor, out: Tensor, part: PaintPart, prepared, config: TransformConfig
    ) -> Tensor:
        regions, inpaint, outpaint, seeds = prepared
        if not (inpaint[i] or outpaint[i]):
            return x
        paint_cube_(x, out, regions[i], inpaint[i], seeds[i], config)
        return out
