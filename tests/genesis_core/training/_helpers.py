"""Tiny models, data and a local corruption for fast CPU training tests."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from genesis_core.models import UNet3D, UNet3DConfig
from genesis_core.training import ArrayCubeReader, PretrainConfig

TINY = UNet3DConfig(width=0.125)


def tiny_model(seed: int = 0) -> UNet3D:
    torch.manual_seed(seed)
    return UNet3D(TINY)


def smooth_cubes(n: int, seed: int = 0, size: int = 16) -> np.ndarray:
    """(n, size, size, size) float32 in [0, 1]: low-frequency blobs, easy to restore."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 2 * np.pi, size, dtype=np.float32)
    z, y, x = np.meshgrid(grid, grid, grid, indexing="ij")
    phases = rng.uniform(0, 2 * np.pi, size=(n, 3)).astype(np.float32)
    cubes = [np.sin(z + a) * np.cos(y + b) * np.sin(x + c) for a, b, c in phases]
    return ((np.stack(cubes) + 1) / 2).astype(np.float32)


def readers(n_train: int = 16, n_val: int = 8) -> tuple[ArrayCubeReader, ArrayCubeReader]:
    return ArrayCubeReader(smooth_cubes(n_train, 0)), ArrayCubeReader(smooth_cubes(n_val, 1))


def noise_corrupt(cubes: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Additive noise plus a random zeroed mask; target is the clean cube."""
    noise = torch.rand(cubes.shape, generator=generator, device=cubes.device)
    mask = torch.rand(cubes.shape, generator=generator, device=cubes.device) < 0.2
    inputs = (0.8 * cubes + 0.2 * noise).masked_fill(mask, 0.0)
    return inputs, cubes


def config(**overrides) -> PretrainConfig:
    values = dict(
        batch_size=4,
        max_steps=12,
        optimizer="adamw",
        lr=3e-3,
        scheduler="none",
        val_every_steps=4,
        log_every_steps=2,
        device="cpu",
        prefetch_batches=2,
    )
    return PretrainConfig(**(values | overrides))


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module, atol: float = 1e-6) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], atol=atol, rtol=0, msg=key)
