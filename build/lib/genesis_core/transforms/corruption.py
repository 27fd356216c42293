"""The `Corruption` protocol: what every corruption of the torch pipeline implements.

A corruption decides for a whole batch first (:meth:`Corruption.draw`), before any voxel is
touched, then applies those decisions either to a chunk of the batch at once
(:meth:`Corruption.apply_batch`, the GPU path) or to one cube at a time
(:meth:`Corruption.apply_cube`, the CPU path); both give the same values.  The pipeline
(:mod:`genesis_core.transforms.pipeline`) loops over :func:`pipeline`'s list in order
(:data:`genesis_core.transforms.plan.PIPELINE`); nothing else knows which corruptions exist.

Randomness, in a fixed order so that a seeded generator fixes the output: first one
uniform per sample for each *gate* row the corruptions declare (:attr:`Corruption.gates`,
allocated in pipeline order), then each corruption's own :meth:`~Corruption.draw` in
pipeline order, then whatever an ``apply`` draws (the painting noise).  A new corruption
should draw its gate inside ``draw`` (``gates = 0``): adding rows to the shared gates
changes every later draw, and with it the seeded output of existing configurations.

Each corruption lives in its own module next to the functions it calls; the NumPy
reference (:mod:`.reference`) stays separate on purpose: it is the oracle.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor

from genesis_core.transforms.config import TransformConfig


@dataclass(frozen=True)
class Batch:
    """What a corruption may know of the batch it plans for."""

    n: int
    channels: int
    spatial: tuple[int, int, int]  # (D, H, W)
    device: torch.device
    dtype: torch.dtype


class Corruption(Protocol):
    name: ClassVar[str]
    gates: ClassVar[int]  # rows of the batch's shared per-sample uniforms it decides with
    # True: applied to input and target alike (the flip); the target is the cube after
    # every such corruption, the input continues from it through the others.
    on_target: ClassVar[bool]

    def draw(
        self, gates: Tensor, batch: Batch, generator: torch.Generator, config: TransformConfig
    ) -> Any:
        """This corruption's decisions for the batch (its part of the plan)."""

    def prepare(self, part: Any, config: TransformConfig, per_cube: bool) -> Any:
        """Per-batch work shared by every chunk or cube (e.g. shuffling sources)."""

    def apply_batch(
        self,
        x: Tensor,
        out: Tensor,
        first: int,
        part: Any,
        prepared: Any,
        generator: torch.Generator,
        config: TransformConfig,
    ) -> Tensor:
        """Samples ``first, first + 1, …`` of the plan: ``x`` corrupted; may write to and
        return ``out`` (the chunk's output), never modifies ``x``."""

    def apply_cube(
        self, i: int, x: Tensor, out: Tensor, part: Any, prepared: Any, config: TransformConfig
    ) -> Tensor:
        """Sample ``i`` (C, D, H, W): ``x`` itself when it is untouched, else ``out`` written."""


def pipeline() -> tuple[Corruption, ...]:
    """The corruptions in the order of SPEC §2: flip → local shuffling → non-linear
    intensity → in-/out-painting."""
    from genesis_core.transforms.flip import Flip
    from genesis_core.transforms.intensity import NonlinearIntensity
    from genesis_core.transforms.painting import Painting
    from genesis_core.transforms.shuffle import LocalShuffle

    steps = (Flip(), LocalShuffle(), NonlinearIntensity(), Painting())
    check_order(steps)
    return steps


def check_order(steps: tuple[Corruption, ...]) -> None:
    """Corruptions of the target come first: the target is the cube after all of them."""
    flags = [s.on_target for s in steps]
    if flags != sorted(flags, reverse=True):
        raise ValueError(f"target corruptions must come first: {[s.name for s in steps]}")


def on_rows(batch: Tensor, selected: list[int], first: int, step: Any) -> Tensor:
    """Apply ``step(sub_batch, plan_rows)`` to the samples of ``batch`` (starting at sample
    ``first``) that appear in ``selected`` (ascending); the others pass through unchanged.
    ``plan_rows`` indexes ``selected``: the rows of the corruption's own plan."""
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


def chosen(gate: Tensor, probability: float) -> list[int]:
    """Samples whose gate uniform falls under ``probability``, ascending."""
    return (gate < probability).nonzero().flatten().tolist()
