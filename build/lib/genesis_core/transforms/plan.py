"""`CorruptionPlan`: every random decision for a batch, drawn before any voxel is touched.

For a batch ``(N, C, D, H, W)``: one part per corruption of the pipeline
(:func:`~genesis_core.transforms.corruption.pipeline`), each drawn by the corruption itself
from the shared per-sample gate uniforms and the generator, in pipeline order.  Only the
painting noise is drawn later, while applying.  Draw order is fixed, so a seeded generator
fixes the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genesis_core.transforms.config import TransformConfig
from genesis_core.transforms.corruption import Batch, Corruption, pipeline
from genesis_core.transforms.sampling import uniform

PIPELINE: tuple[Corruption, ...] = pipeline()


@dataclass(frozen=True)
class CorruptionPlan:
    """The batch's decisions: ``parts[k]`` belongs to ``steps[k]``."""

    steps: tuple[Corruption, ...]
    parts: tuple[Any, ...]

    def part(self, name: str) -> Any:
        return self.parts[[s.name for s in self.steps].index(name)]

    # the four of SPEC §2 by name (tests and statistics read them)
    flips = property(lambda self: self.part("flip"))
    shuffled = property(lambda self: self.part("local_shuffle").samples)
    shuffle = property(lambda self: self.part("local_shuffle").plan)
    curved = property(lambda self: self.part("nonlinear_intensity").samples)
    tables = property(lambda self: self.part("nonlinear_intensity").tables)
    painted = property(lambda self: self.part("painting").samples)
    paint = property(lambda self: self.part("painting").plan)


def draw_plan(
    shape: Sequence[int],
    generator: torch.Generator,
    config: TransformConfig,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    steps: tuple[Corruption, ...] = PIPELINE,
) -> CorruptionPlan:
    """Sample the corruption of a batch of ``shape`` (N, C, D, H, W)."""
    batch = Batch(shape[0], shape[1], tuple(shape[2:]), device, dtype)  # type: ignore[arg-type]
    gates: Tensor = uniform((sum(s.gates for s in steps), batch.n), generator, device)
    parts, row = [], 0
    for step in steps:
        parts.append(step.draw(gates[row : row + step.gates], batch, generator, config))
        row += step.gates
    return CorruptionPlan(steps, tuple(parts))
