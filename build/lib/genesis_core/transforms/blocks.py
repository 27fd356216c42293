"""Shuffling blocks (SPEC §2): the catalogue of block shapes and the block draw.

A block has sides uniform in [1, S//10] per axis (64×64×32 → [1,3]×[1,6]×[1,6] in
(D, H, W)) and an origin uniform among the positions where it fits; all shapes are
equally likely, as in the reference.  The catalogue lists the shapes by volume, with the
linear voxel offset of every slot of a block from its origin, and splits them into a few
width classes padded to a common width, which the batched shuffle processes together.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from genesis_core.transforms.geometry import shuffle_block_max
from genesis_core.transforms.sampling import bulk_uniform, uniform_int

MAX_CLASSES = 8


@dataclass(frozen=True)
class ShapeClass:
    """Shapes ``first:end`` of a catalogue padded to one width.

    ``offsets`` (k, width): linear offset of each slot from the block origin (0 for padding);
    ``valid`` (k, width): real slots.
    """

    first: int
    end: int
    offsets: Tensor
    valid: Tensor


@dataclass(frozen=True)
class Catalogue:
    """Every block shape of a cube size: ``sides`` (S, 3) in (D, H, W), by volume; classes;
    ``positions`` (3, S) float32: the number of possible origins per axis."""

    sides: Tensor
    classes: tuple[ShapeClass, ...]
    positions: Tensor
    class_local: Tensor  # (S,) int64: each shape's index within its class


def _class_edges(volume: Sequence[int], max_classes: int) -> list[int]:
    """Split increasing volumes into ≤ ``max_classes`` runs minimising padded slots (DP)."""
    n, vol = len(volume), np.asarray(volume, dtype=np.int64)
    cost = np.full((max_classes + 1, n + 1), np.iinfo(np.int64).max // 4)
    cut = np.zeros((max_classes + 1, n + 1), dtype=np.int64)
    cost[0, 0] = 0
    for k in range(1, max_classes + 1):
        for i in range(1, n + 1):
            total = cost[k - 1, :i] + (i - np.arange(i)) * vol[i - 1]
            cut[k, i] = int(total.argmin())
            cost[k, i] = total[cut[k, i]]
    k, edges = int(cost[1:, n].argmin()) + 1, [n]
    while k > 0:
        edges.append(int(cut[k, edges[-1]]))
        k -= 1
    return edges[::-1]


@functools.lru_cache(maxsize=32)
def catalogue(spatial: tuple[int, int, int], device: torch.device) -> Catalogue:
    """The :class:`Catalogue` of a (D, H, W) cube size, on ``device`` (cached)."""
    grid = [torch.arange(1, shuffle_block_max(s) + 1) for s in spatial]
    sides = torch.stack(torch.meshgrid(*grid, indexing="ij"), dim=-1).reshape(-1, 3)
    sides = sides[sides.prod(dim=1).argsort(stable=True)]
    volume = sides.prod(dim=1)
    edges = _class_edges(volume.tolist(), MAX_CLASSES)
    classes = []
    for first, end in zip(edges[:-1], edges[1:], strict=True):
        slot = torch.arange(int(volume[end - 1]))
        bh, bw = sides[first:end, 1:2], sides[first:end, 2:3]
        offset = (slot // (bh * bw) * spatial[1] + slot // bw % bh) * spatial[2] + slot % bw
        valid = slot < volume[first:end, None]
        offsets = torch.where(valid, offset, 0)
        classes.append(ShapeClass(first, end, offsets.to(device), valid.to(device)))
    positions = (torch.tensor(spatial)[:, None] - sides.t() + 1).float()
    local = torch.tensor([s - c.first for c in classes for s in range(c.first, c.end)])
    return Catalogue(sides.to(device), tuple(classes), positions.to(device), local.to(device))


@dataclass(frozen=True)
class ShuffleBlocks:
    """Blocks of M cubes in drawing order: ``shape`` (M, B) int64 catalogue index and
    ``origin`` (M, B) int32, the linear index d·H·W + h·W + w of the block's first voxel."""

    shape: Tensor
    origin: Tensor

    def __getitem__(self, rows: slice) -> ShuffleBlocks:
        return ShuffleBlocks(self.shape[rows], self.origin[rows])


def draw_blocks(
    m: int, spatial: Sequence[int], n_blocks: int, generator: torch.Generator, device: torch.device
) -> ShuffleBlocks:
    """Sample ``n_blocks`` blocks per cube; all shapes equally likely, as the reference."""
    cat = catalogue(tuple(spatial), device)
    u = bulk_uniform((4, m, n_blocks), generator, device)
    shape = uniform_int(u[0], 0, cat.sides.shape[0] - 1)
    # origins: floor(u · number of positions), in float32 then clamped (u·n may round to n);
    # whole numbers below 2**24, so the linear index is exact in float32 too
    positions = cat.positions.index_select(1, shape.flatten()).view(3, m, n_blocks)
    d, h, w = torch.minimum(u[1:].mul_(positions), positions.sub_(1)).floor_()
    origin = d.mul_(spatial[1]).add_(h).mul_(spatial[2]).add_(w).int()
    return ShuffleBlocks(shape=shape, origin=origin)
