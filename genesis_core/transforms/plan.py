"""`CorruptionPlan`: every random decision for a batch, drawn before any voxel is touched.

For a batch ``(N, C, D, H, W)``: per-sample flips, which samples are shuffled (and their
:class:`~genesis_core.transforms.shuffle.ShufflePlan`), which get an intensity curve (and
the curves' lookup tables), and the painting boxes.  Only the painting noise is drawn
later, while applying.  Draw order is fixed, so a seeded generator fixes the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from genesis_core.transforms.config import TransformConfig
from genesis_core.transforms.flip import FlipPlan, draw_flips
from genesis_core.transforms.intensity import curve_tables, curves_per_cube, draw_curves
from genesis_core.transforms.painting import PaintPlan, draw_painting
from genesis_core.transforms.sampling import uniform
from genesis_core.transforms.shuffle import ShufflePlan, draw_shuffle


@dataclass(frozen=True)
class CorruptionPlan:
    """Random decisions for N samples; ``shuffled``/``curved``/``painted`` are sample indices
    in increasing order, and row r of ``shuffle``/``tables`` belongs to the r-th of them
    (``tables`` has ``curves_per_cube`` rows per sample: values and slopes, (R, size))."""

    flips: FlipPlan
    shuffled: list[int]
    shuffle: ShufflePlan
    curved: list[int]
    tables: tuple[Tensor, Tensor]
    painted: list[int]
    paint: PaintPlan


def draw_plan(
    shape: Sequence[int],
    generator: torch.Generator,
    config: TransformConfig,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> CorruptionPlan:
    """Sample the corruption of a batch of ``shape`` (N, C, D, H, W)."""
    n, channels, spatial = shape[0], shape[1], tuple(shape[2:])
    u = uniform((4, n), generator, device)
    flips = draw_flips(n, generator, device, config)
    shuffled = (u[0] < config.local_probability).nonzero().flatten().tolist()
    shuffle = draw_shuffle(len(shuffled), spatial, config.shuffle_blocks, generator, device)
    curved = (u[1] < config.nonlinear_probability).nonzero().flatten().tolist()
    curves = draw_curves(len(curved) * curves_per_cube(channels, config), generator, device)
    values, slopes = curve_tables(curves, config.bezier_table_size)
    painting = u[2] < config.paint_probability
    inpaint = painting & (u[3] < config.inpaint_given_paint)
    paint = draw_painting(inpaint, painting & ~inpaint, spatial, generator)
    painted = painting.nonzero().flatten().tolist()
    tables = (values.to(dtype), slopes.to(dtype))
    return CorruptionPlan(flips, shuffled, shuffle, curved, tables, painted, paint)
