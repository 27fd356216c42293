"""Batched random flips (SPEC §2), applied to inputs and targets alike.

Batches are ``(N, C, D, H, W)``.  Each sample draws up to 3 flips, each while
U < ``flip_rate``, with the axis uniform among three candidates: faithful mode uses the
reference's (C, X, Y) = batch dims (1, 4, 3), so Z never flips and the channel "flip" is a
no-op for one channel (it reverses the channels of a multi-channel cube, as the reference
does); fixed mode uses (D, H, W) = dims (2, 3, 4).  Only the parity per
candidate matters for the result, so each sample is flipped at most once per axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from genesis_core.transforms.config import TransformConfig
from genesis_core.transforms.geometry import MAX_FLIPS
from genesis_core.transforms.sampling import continuing, uniform

FAITHFUL_FLIP_DIMS = (1, 4, 3)
FIXED_FLIP_DIMS = (2, 3, 4)


@dataclass(frozen=True)
class FlipPlan:
    """Per-sample flips: ``counts`` (N,) in 0..3, ``parity`` (N, 3) bool over ``dims``."""

    dims: tuple[int, int, int]
    counts: Tensor
    parity: Tensor


def draw_flips(
    n: int, generator: torch.Generator, device: torch.device, config: TransformConfig
) -> FlipPlan:
    """Sample the flips of ``n`` samples."""
    dims = FAITHFUL_FLIP_DIMS if config.mode == "faithful" else FIXED_FLIP_DIMS
    u = uniform((n, MAX_FLIPS, 2), generator, device)
    active = continuing(u[..., 0] < config.flip_rate)
    choice = (u[..., 1] * len(dims)).long().clamp_(max=len(dims) - 1)
    hits = torch.nn.functional.one_hot(choice, len(dims)) * active[..., None]
    return FlipPlan(dims=dims, counts=active.sum(dim=1), parity=hits.sum(dim=1) % 2 == 1)


def flip_codes(plan: FlipPlan) -> Tensor:
    """(N,) int64: the set of flipped candidate dims of each sample as a bit mask."""
    weights = torch.tensor([1, 2, 4], device=plan.parity.device)
    return (plan.parity.long() * weights).sum(dim=1)


def code_dims(plan: FlipPlan, code: int, shape: torch.Size) -> list[int]:
    """Batch dims flipped by ``code``; a flip along a length-1 dim (the channel of a
    1-channel cube) changes nothing and is left out."""
    return [d for k, d in enumerate(plan.dims) if code >> k & 1 and shape[d] > 1]


def apply_flips(batch: Tensor, plan: FlipPlan, out: Tensor | None = None) -> Tensor:
    """``batch`` with each sample flipped as ``plan`` says, written to ``out`` (default: new).

    Samples are grouped by their set of flipped dims (≤ 8 groups), so each is copied once.
    """
    out = torch.empty_like(batch) if out is None else out
    pattern = flip_codes(plan)
    for code in pattern.unique().tolist():
        dims = code_dims(plan, code, batch.shape)
        index = (pattern == code).nonzero().flatten()
        if index.numel() == batch.shape[0]:
            out.copy_(batch.flip(dims) if dims else batch)
        else:
            chosen = batch.index_select(0, index)
            out.index_copy_(0, index, chosen.flip(dims) if dims else chosen)
    return out


def flip_cube_into(cube: Tensor, dims: list[int], out: Tensor) -> None:
    """One sample (C, D, H, W) flipped along batch ``dims`` (from :func:`code_dims`) into ``out``."""
    out.copy_(cube.flip([d - 1 for d in dims]) if dims else cube)


class Flip:
    """Flips (SPEC §2) as a :class:`~genesis_core.transforms.corruption.Corruption`: applied to
    input and target alike, over the whole batch at once on the batched path."""

    name = "flip"
    gates = 0
    on_target = True

    def draw(
        self, gates: Tensor, batch, generator: torch.Generator, config: TransformConfig
    ) -> FlipPlan:
        return draw_flips(batch.n, generator, batch.device, config)

    def prepare(self, part: FlipPlan, config: TransformConfig, per_cube: bool):
        return (flip_codes(part).tolist(), {}) if per_cube else None

    def apply_batch(
        self,
        x: Tensor,
        out: Tensor,
        first: int,
        part: FlipPlan,
        prepared,
        generator: torch.Generator,
        config: TransformConfig,
    ) -> Tensor:
        return apply_flips(x, part, out=out)

    def apply_cube(
        self, i: int, x: Tensor, out: Tensor, part: FlipPlan, prepared, config: TransformConfig
    ) -> Tensor:
        codes, dims = prepared
        if codes[i] not in dims:
            dims[codes[i]] = code_dims(part, codes[i], (1, *x.shape))
        flip_cube_into(x, dims[codes[i]], out)
        return out
