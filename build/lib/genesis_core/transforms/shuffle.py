"""Batched local pixel shuffling (SPEC §2), with no Python loop over the blocks.

Batches are ``(M, C, D, H, W)``; a cube has V = D·H·W voxels, linear index d·H·W + h·W + w.
Semantics, as the reference: B blocks per cube (10 000), sides uniform in [1, S//10] per
axis, origin uniform inside the cube; each block takes its voxels from the *unshuffled*
cube, permutes them uniformly and writes them back, later blocks overwriting earlier ones.
So a voxel covered by a block receives what its *last* covering block moves there, and
keeps its value otherwise.  That is computed in three vectorised steps:

* **Last writer.**  Every block voxel ("slot") proposes ``block << bits | source`` for its
  destination voxel and a ``scatter_reduce(amax)`` keeps the last block's proposal.  Max is
  order-independent, so the result is deterministic on every device; the low bits are the
  source voxel.
* **Width classes.**  Block shapes, sorted by volume, are split into a few classes padded
  to a common width (see :mod:`~genesis_core.transforms.blocks`): a few tensor ops per
  class.
* **Permutation pool.**  Sorting random keys is the expensive part on a CPU, so each call
  draws, per block shape, P uniform permutations, P being the largest number of blocks of
  that shape in one cube.  Within a cube, the blocks of one shape take *distinct* pool
  entries (consecutive rows from a random start), so each cube's block permutations are
  independent and uniform: every sample follows the reference's distribution exactly.
  Cubes of one call share the pool, so samples of a batch are weakly dependent (one
  permutation pattern may recur at unrelated places of two cubes).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from genesis_core.transforms.blocks import (
    Catalogue,
    ShapeClass,
    ShuffleBlocks,
    catalogue,
    draw_blocks,
)
from genesis_core.transforms.config import TransformConfig
from genesis_core.transforms.corruption import chosen, on_rows
from genesis_core.transforms.sampling import random_keys, uniform


def _packing(n_blocks: int, n_voxels: int) -> tuple[int, torch.dtype]:
    """Bits of the source field and the smallest integer type holding every proposal."""
    bits = max(1, (n_voxels - 1).bit_length())
    return bits, torch.int32 if (n_blocks + 2) << bits < 2**31 else torch.int64


KEY_PAD = 2**31 - 1  # sort key of padding slots; real keys are drawn below 2**30
CPU_CUBES_PER_CHUNK = 4  # the slot tensors of a few cubes stay in a CPU's L2 cache


def _argsort_rows(keys: Tensor, stable: bool = False) -> Tensor:
    """Argsort along the last dim (int64); on a CPU via NumPy's SIMD sort, ~5× torch's speed."""
    if keys.device.type == "cpu":
        return torch.from_numpy(
            np.argsort(keys.numpy(), axis=-1, kind="stable" if stable else None)
        )
    return keys.argsort(dim=-1, stable=stable)


def _pool(
    cls: ShapeClass, size: int, generator: torch.Generator, neg: int, dtype: torch.dtype
) -> Tensor:
    """``size`` uniform permutations per shape of ``cls`` as slot offsets, (k·size, width).

    Permutations are argsorts of random 31-bit keys; padding slots sort last and get ``neg``,
    so that their proposals never win the amax.
    """
    valid = cls.valid[:, None, :]
    keys = random_keys((valid.shape[0], size, valid.shape[2]), generator, valid.device)
    keys.masked_fill_(~valid, KEY_PAD)
    pool = cls.offsets[:, None, :].expand_as(keys).gather(-1, _argsort_rows(keys))
    return pool.masked_fill_(~valid, neg).to(dtype).reshape(-1, valid.shape[2])


@dataclass(frozen=True)
class ShufflePlan:
    """All the randomness of shuffling M cubes: their blocks, the permutation pools (one
    per width class, see :func:`_pool`) and a U[0, 1) pool offset per (shape, cube)."""

    spatial: tuple[int, int, int]
    blocks: ShuffleBlocks
    pools: tuple[Tensor, ...]
    pool_size: Tensor  # (S,) int64: pool rows per shape (P of its class)
    offsets: Tensor  # (S, M)


@dataclass(frozen=True)
class _GroupedBlocks:
    """Blocks of some cubes grouped by (shape, cube).  Per block, in grouped order: its
    shape's index within its class (``local``), its pool row (``entry``) and packing bases."""

    local: Tensor
    entry: Tensor
    dest: Tensor  # cube·V + origin voxel
    value: Tensor  # block << bits | origin voxel
    starts: Tensor  # first position of each (shape, cube) group, plus the total


def _group_blocks(
    plan: ShufflePlan, c0: int, c1: int, bits: int, dtype: torch.dtype
) -> _GroupedBlocks:
    """Group the blocks of cubes ``c0:c1`` by (shape, cube), drawing order within a group.

    The blocks of a group take consecutive pool rows from a random start in
    ``[0, P − count]``: distinct within the cube, so its permutations are independent.
    Per-group quantities live in small (shape, cube) tables read once per block.
    """
    blocks, spatial = plan.blocks[c0:c1], plan.spatial
    (m, n_blocks), device = blocks.shape.shape, blocks.shape.device
    cat = catalogue(spatial, device)
    n_keys = cat.sides.shape[0] * m
    key = (blocks.shape * m + torch.arange(m, device=device)[:, None]).flatten()
    small = torch.int16 if n_keys <= 2**15 else torch.int32  # NumPy radix-sorts int16
    order = _argsort_rows(key.to(small), stable=True)  # within a group: drawing order
    counts = torch.bincount(key, minlength=n_keys)
    starts = counts.cumsum(0) - counts
    size = plan.pool_size.repeat_interleave(m)  # (shape, cube) tables, flattened like key
    room = (size - counts + 1).float()
    first = torch.minimum(plan.offsets[:, c0:c1].flatten() * room, room - 1).long()
    local = cat.class_local.repeat_interleave(m)
    shift = local * size + first - starts  # + position in the sorted order = pool row
    key = key.index_select(0, order)
    entry = shift.index_select(0, key).add_(torch.arange(key.numel(), device=device))
    n_voxels = math.prod(spatial)
    cube_base = torch.arange(0, m * n_voxels, n_voxels, device=device)[:, None]
    dest = (blocks.origin + cube_base).flatten().index_select(0, order)
    value = (blocks.origin + (torch.arange(n_blocks, device=device) << bits)).to(dtype)
    value = value.flatten().index_select(0, order)
    bounds = torch.cat([starts, counts.sum().view(1)])
    return _GroupedBlocks(local.index_select(0, key), entry, dest, value, bounds)


def draw_shuffle(
    m: int, spatial: Sequence[int], n_blocks: int, generator: torch.Generator, device: torch.device
) -> ShufflePlan:
    """Sample the shuffling of ``m`` cubes of (D, H, W) size ``spatial``."""
    d, h, w = (int(s) for s in spatial)
    spatial = (d, h, w)
    cat = catalogue(spatial, device)
    blocks = draw_blocks(m, spatial, n_blocks, generator, device)
    bits, dtype = _packing(n_blocks, math.prod(spatial))
    sizes = _pool_sizes(cat, blocks) if n_blocks and m else [1] * len(cat.classes)
    neg = -((n_blocks + 1) << bits)
    pools = tuple(
        _pool(c, p, generator, neg, dtype) for c, p in zip(cat.classes, sizes, strict=True)
    )
    per_shape = [p for c, p in zip(cat.classes, sizes, strict=True) for _ in range(c.first, c.end)]
    pool_size = torch.tensor(per_shape, device=device)
    offsets = uniform((cat.sides.shape[0], m), generator, device)
    return ShufflePlan(spatial, blocks, pools, pool_size, offsets)


def plan_sources(plan: ShufflePlan, rows: slice | None = None) -> Tensor:
    """``(c, V)`` int64 for the plan's cubes ``rows`` (default all): for every voxel, the
    voxel of the same cube whose value it receives.

    Works through a few cubes at a time on a CPU (the slot tensors then stay in cache);
    the result does not depend on how the cubes are split.
    """
    first, stop, _ = (rows or slice(None)).indices(plan.blocks.shape.shape[0])
    device = plan.offsets.device
    out = torch.empty((stop - first, math.prod(plan.spatial)), dtype=torch.long, device=device)
    chunk = CPU_CUBES_PER_CHUNK if device.type == "cpu" else max(stop - first, 1)
    for c0 in range(first, stop, chunk):
        c1 = min(c0 + chunk, stop)
        out[c0 - first : c1 - first] = _chunk_sources(plan, c0, c1)
    return out


def _chunk_sources(plan: ShufflePlan, c0: int, c1: int) -> Tensor:
    """:func:`plan_sources` of the plan's cubes ``c0:c1``, all in one go."""
    spatial, n_voxels = plan.spatial, math.prod(plan.spatial)
    part = plan.blocks[c0:c1]
    device, (c, n_blocks) = part.shape.device, part.shape.shape
    cat = catalogue(spatial, device)
    bits, dtype = _packing(n_blocks, n_voxels)
    # "block −1": a voxel no block covers keeps its own value
    packed = (torch.arange(n_voxels, device=device, dtype=dtype) - (1 << bits)).repeat(c)
    if n_blocks:
        g = _group_blocks(plan, c0, c1, bits, dtype)
        for cls, span, pool in zip(cat.classes, _class_spans(cat, g, c), plan.pools, strict=True):
            if span.stop > span.start:
                _scatter_class(packed, cls, g, span, pool)
    return packed.bitwise_and_((1 << bits) - 1).view(c, n_voxels)


def _pool_sizes(cat: Catalogue, blocks: ShuffleBlocks) -> list[int]:
    """Per class, the largest number of blocks of one of its shapes in one cube."""
    m = blocks.shape.shape[0]
    cube = torch.arange(m, device=blocks.shape.device)[:, None]
    key = (blocks.shape * m + cube).flatten()
    counts = torch.bincount(key, minlength=cat.sides.shape[0] * m).view(-1, m)
    return torch.stack([counts[c.first : c.end].max() for c in cat.classes]).clamp(min=1).tolist()


def _class_spans(cat: Catalogue, s: _GroupedBlocks, m: int) -> list[slice]:
    """Per class, its slice of the sorted blocks (one device sync)."""
    edges = s.starts[[c.first * m for c in cat.classes] + [cat.classes[-1].end * m]].tolist()
    return [slice(lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def _scatter_class(
    packed: Tensor, cls: ShapeClass, g: _GroupedBlocks, span: slice, pool: Tensor
) -> None:
    """Propose every slot of the class's blocks; the last block wins each voxel (amax)."""
    dest = cls.offsets.index_select(0, g.local[span]).add_(g.dest[span, None])
    value = pool.index_select(0, g.entry[span]).add_(g.value[span, None])
    packed.scatter_reduce_(0, dest.flatten(), value.flatten(), "amax")


def apply_shuffle(batch: Tensor, sources: Tensor, all_channels: bool) -> Tensor:
    """A new tensor: every voxel takes the value at ``sources`` (channel 0 only, or all)."""
    m, c = batch.shape[:2]
    flat = batch.reshape(m, c, -1)
    if all_channels:
        return flat.gather(2, sources[:, None, :].expand(m, c, -1)).reshape(batch.shape)
    out = flat.clone()
    out[:, 0] = flat[:, 0].gather(1, sources)
    return out.reshape(batch.shape)


def cube_sources(plan: ShufflePlan) -> Iterator[Tensor]:
    """The sources of the plan's cubes one by one, (V,) int32, computed a few cubes at a
    time (the values of :func:`plan_sources`, without holding them all)."""
    m = plan.blocks.shape.shape[0]
    for c0 in range(0, m, CPU_CUBES_PER_CHUNK):
        yield from _chunk_sources(plan, c0, min(c0 + CPU_CUBES_PER_CHUNK, m)).to(torch.int32)


def shuffle_cube_into(cube: Tensor, sources: Tensor, out: Tensor, all_channels: bool) -> None:
    """One contiguous cube (C, D, H, W) shuffled by its ``sources`` (V,) into ``out``."""
    flat, dest = cube.view(cube.shape[0], -1), out.view(cube.shape[0], -1)
    for channel in range(flat.shape[0] if all_channels else 1):
        torch.index_select(flat[channel], 0, sources, out=dest[channel])
    if not all_channels:
        dest[1:] = flat[1:]


def local_shuffle(batch: Tensor, generator: torch.Generator, config: TransformConfig) -> Tensor:
    """Local pixel shuffling of every cube of ``batch`` (M, C, D, H, W); a new tensor."""
    m, spatial = batch.shape[0], tuple(batch.shape[2:])
    plan = draw_shuffle(m, spatial, config.shuffle_blocks, generator, batch.device)
    return apply_shuffle(batch, plan_sources(plan), all_channels=config.mode == "fixed")


@dataclass(frozen=True)
class ShufflePart:
    samples: list[int]  # the shuffled samples, ascending; row r of ``plan`` is samples[r]
    plan: ShufflePlan


class LocalShuffle:
    """Local pixel shuffling (SPEC §2) as a :class:`~genesis_core.transforms.corruption.Corruption`."""

    name = "local_shuffle"
    gates = 1
    on_target = False

    def draw(
        self, gates: Tensor, batch, generator: torch.Generator, config: TransformConfig
    ) -> ShufflePart:
        samples = chosen(gates[0], config.local_probability)
        plan = draw_shuffle(
            len(samples), batch.spatial, config.shuffle_blocks, generator, batch.device
        )
        return ShufflePart(samples, plan)

    def prepare(self, part: ShufflePart, config: TransformConfig, per_cube: bool):
        if per_cube:  # sources a few cubes at a time, as the cubes come
            return set(part.samples), cube_sources(part.plan)
        return plan_sources(part.plan)  # the whole batch at once: per-call overheads dominate

    def apply_batch(
        self,
        x: Tensor,
        out: Tensor,
        first: int,
        part: ShufflePart,
        prepared,
        generator: torch.Generator,
        config: TransformConfig,
    ) -> Tensor:
        fixed = config.mode == "fixed"
        return on_rows(
            x,
            part.samples,
            first,
            lambda sub, r: apply_shuffle(sub, prepared[r], all_channels=fixed),
        )

    def apply_cube(
        self, i: int, x: Tensor, out: Tensor, part: ShufflePart, prepared, config: TransformConfig
    ) -> Tensor:
        shuffled, sources = prepared
        if i not in shuffled:
            return x
        shuffle_cube_into(x, next(sources), out, all_channels=config.mode == "fixed")
        return out
