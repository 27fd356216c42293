"""Device placement helpers: CUDA gets bf16 autocast, channels-last and pinned transfers;
the CPU runs plain float32 so tests are deterministic."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor


def resolve_device(name: str) -> torch.device:
    """``"auto"`` → ``cuda`` if available, else ``cpu``; anything else as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when enabled; a no-op elsewhere."""
    if device.type == "cuda" and bf16:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a tensor, or a tuple of tensors, to ``device`` (non-blocking from pinned memory)."""
    if isinstance(batch, tuple | list):
        return tuple(to_device(b, device) for b in batch)
    return batch.to(device, non_blocking=True)


def memory_format(device: torch.device, channels_last: bool) -> torch.memory_format:
    """``channels_last_3d`` on CUDA when enabled (faster cuDNN 3D convs), else contiguous."""
    if device.type == "cuda" and channels_last:
        return torch.channels_last_3d
    return torch.contiguous_format


def as_format(x: Tensor, fmt: torch.memory_format) -> Tensor:
    """``x`` in memory format ``fmt`` if it is 5-D, unchanged otherwise."""
    return x.contiguous(memory_format=fmt) if x.ndim == 5 else x
