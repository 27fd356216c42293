"""Random draws for the batched corruptions: everything comes from one ``torch.Generator``.

The generator must live on the device of the batch; nothing here touches global RNG state.
Integer draws use ``low + floor(u · (high − low + 1))`` with float32 ``u``, so bounds can
differ per element; the bias is below 1e-5 for the small ranges used here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def uniform(shape: Sequence[int], generator: torch.Generator, device: torch.device) -> Tensor:
    """U[0, 1) float32 of ``shape``."""
    return torch.rand(tuple(shape), generator=generator, device=device)


def noise(
    shape: Sequence[int], generator: torch.Generator, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """U(0, 1) fill values for painting, ``shape`` of ``dtype``.

    On a GPU, ``torch.rand``.  On a CPU, torch's Mersenne Twister costs ~4 ns a value and
    painting fills ~10⁵ voxels per cube, so the values come from NumPy's PCG64 (one stream
    per sample, seeded from ``generator``: still a pure function of its state), 16 bits
    each (four per raw 64-bit draw, ~1 ns a value): bin centres (k + ½)/65536, a resolution
    far finer than any CT intensity step in the [0, 1] window.
    """
    if device.type != "cpu":
        return torch.rand(tuple(shape), generator=generator, device=device, dtype=dtype)
    # one PCG64 stream per sample, seeded in order: the values do not depend on how a
    # batch is split into chunks (the seeds are consecutive draws of ``generator``)
    per_sample = math.prod(shape[1:])
    seeds = torch.randint(0, 2**62, (shape[0],), generator=generator, device=device).tolist()
    raw = np.empty((shape[0], -(-per_sample // 4) * 4), dtype=np.uint16)
    for row, seed in zip(raw, seeds, strict=True):
        row.view(np.uint64)[:] = np.random.PCG64(seed).random_raw(row.size // 4)
    out = torch.from_numpy(raw[:, :per_sample].astype(np.float32)).view(tuple(shape))
    return out.add_(0.5).mul_(1.0 / 65536).to(dtype)


def uniform_int(u: Tensor, low: Tensor | int, high: Tensor | int) -> Tensor:
    """Integers uniform on ``[low, high]`` (inclusive, broadcast) from U[0, 1) ``u``; int64."""
    span = high - low + 1
    drawn = low + (u * span).long()
    # float rounding can reach ``high + 1`` when u is within an ulp of 1
    return torch.minimum(drawn, torch.as_tensor(high, device=u.device))


def continuing(go: Tensor) -> Tensor:
    """``active[..., k]`` = all of ``go[..., :k+1]``: a ``while go`` loop, unrolled (bool)."""
    return go.to(torch.int8).cumprod(dim=-1).bool()
