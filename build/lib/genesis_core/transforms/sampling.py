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


def bulk_uniform(shape: Sequence[int], generator: torch.Generator, device: torch.device) -> Tensor:
    """U[0, 1) float32 of a large ``shape``: :func:`uniform` on a GPU; on a CPU one NumPy
    PCG64 stream seeded by one draw of ``generator`` (~0.6× the time of ``torch.rand``)."""
    if device.type != "cpu":
        return uniform(shape, generator, device)
    stream = np.random.Generator(np.random.PCG64(_seed(generator)))
    return torch.from_numpy(stream.random(tuple(shape), dtype=np.float32))


def random_keys(shape: Sequence[int], generator: torch.Generator, device: torch.device) -> Tensor:
    """Uniform int32 sort keys in [0, 2**30) of ``shape`` (on a CPU from one PCG64 stream)."""
    if device.type != "cpu":
        keys = torch.empty(tuple(shape), dtype=torch.int32, device=device)
        return keys.random_(0, 2**30, generator=generator)
    count = math.prod(shape)
    raw = np.random.PCG64(_seed(generator)).random_raw(-(-count // 2)).view(np.uint32)
    return torch.from_numpy((raw[:count] >> 2).view(np.int32)).view(tuple(shape))


def stream_seeds(n: int, generator: torch.Generator) -> list[int]:
    """``n`` PCG64 seeds drawn from ``generator`` (one per NumPy stream, e.g. per sample)."""
    return torch.randint(0, 2**62, (n,), generator=generator, device=generator.device).tolist()


def _seed(generator: torch.Generator) -> int:
    return stream_seeds(1, generator)[0]


def sample_noise(seed: int, shape: Sequence[int], out: Tensor | None = None) -> Tensor:
    """One sample's painting noise on the CPU, from the PCG64 stream ``seed``; see :func:`noise`.

    Written to ``out`` (a contiguous CPU float tensor of ``shape``) when given, else to a
    new float32 tensor.
    """
    if out is not None and out.dtype not in (torch.float32, torch.float64):  # no NumPy twin
        return out.copy_(sample_noise(seed, shape))
    count = math.prod(shape)
    raw = np.random.PCG64(seed).random_raw(-(-count // 4)).view(np.uint16)
    out = torch.empty(tuple(shape), dtype=torch.float32) if out is None else out
    flat = out.view(-1).numpy()
    np.add(raw[:count], 0.5, out=flat, dtype=flat.dtype)  # (k + ½) / 65536, exact
    flat *= 1.0 / 65536
    return out


def noise(
    shape: Sequence[int],
    generator: torch.Generator,
    device: torch.device,
    dtype: torch.dtype,
    seeds: Sequence[int] | None = None,
) -> Tensor:
    """U(0, 1) fill values for painting, ``shape`` of ``dtype``.

    On a GPU, ``torch.rand``.  On a CPU, torch's Mersenne Twister costs ~4 ns a value and
    painting fills ~10⁵ voxels per cube, so the values come from NumPy's PCG64, one stream
    per sample seeded from ``generator`` (or given as ``seeds``, one per sample): still a
    pure function of the generator's state, and a sample's field does not depend on how a
    batch is split.  16 bits a value (four per raw 64-bit draw, ~1 ns a value): bin centres
    (k + ½)/65536, a resolution far finer than any CT intensity step in the [0, 1] window.
    """
    if device.type != "cpu":
        return torch.rand(tuple(shape), generator=generator, device=device, dtype=dtype)
    seeds = stream_seeds(shape[0], generator) if seeds is None else seeds
    out = torch.empty(tuple(shape), dtype=dtype)
    for row, seed in zip(out, seeds, strict=True):
        sample_noise(seed, shape[1:], out=row)
    return out


def uniform_int(u: Tensor, low: Tensor | int, high: Tensor | int) -> Tensor:
    """Integers uniform on ``[low, high]`` (inclusive, broadcast) from U[0, 1) ``u``; int64."""
    span = high - low + 1
    drawn = low + (u * span).long()
    # float rounding can reach ``high + 1`` when u is within an ulp of 1
    return torch.minimum(drawn, torch.as_tensor(high, device=u.device))


def continuing(go: Tensor) -> Tensor:
    """``active[..., k]`` = all of ``go[..., :k+1]``: a ``while go`` loop, unrolled (bool)."""
    return go.to(torch.int8).cumprod(dim=-1).bool()
