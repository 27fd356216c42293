"""Random draws for the batched corruptions: everything comes from one ``torch.Generator``.

The generator must live on the device of the batch; nothing here touches global RNG state.
Integer draws use ``low + floor(u · (high − low + 1))`` with float32 ``u``, so bounds can
differ per element; the bias is below 1e-5 for the small ranges used here.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def uniform(shape: Sequence[int], generator: torch.Generator, device: torch.device) -> Tensor:
    """U[0, 1) float32 of ``shape``."""
    return torch.rand(tuple(shape), generator=generator, device=device)


def uniform_int(u: Tensor, low: Tensor | int, high: Tensor | int) -> Tensor:
    """Integers uniform on ``[low, high]`` (inclusive, broadcast) from U[0, 1) ``u``; int64."""
    span = high - low + 1
    drawn = low + (u * span).long()
    # float rounding can reach ``high + 1`` when u is within an ulp of 1
    return torch.minimum(drawn, torch.as_tensor(high, device=u.device))


def continuing(go: Tensor) -> Tensor:
    """``active[..., k]`` = all of ``go[..., :k+1]``: a ``while go`` loop, unrolled (bool)."""
    return go.to(torch.int8).cumprod(dim=-1).bool()
