"""Self-supervised pre-training: restore corrupted cubes (SPEC §3), MSE loss.

The corruption is injected: ``corrupt(cubes, generator) -> (inputs, targets)`` with
cubes (N, 1, D, H, W) float32 in [0, 1] on the training device (in the pipeline,
``genesis_core.transforms.make_pairs`` bound to its config). Training corruptions draw
from the loop's checkpointed generator; validation corruptions of batch ``i`` draw from a
generator seeded by ``(val_seed, i)``, so every validation scores the same pairs without
keeping them in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from genesis_core.training.config import PretrainConfig
from genesis_core.training.loop import LoopTask, Pair, TrainingLoop
from genesis_core.training.losses import mse_loss
from genesis_core.training.readers import CubeReader
from genesis_core.training.sinks import MetricsSink
from genesis_core.training.state import TrainResult

Corrupt = Callable[[Tensor, torch.Generator], Pair]


def validation_generator(device: torch.device, val_seed: int, batch_index: int) -> torch.Generator:
    """The generator for validation batch ``batch_index``: a pure function of its arguments."""
    seed = int(np.random.SeedSequence([val_seed, batch_index]).generate_state(1)[0])
    return torch.Generator(device=device).manual_seed(seed)


def add_channel_axis(cubes: Tensor) -> Tensor:
    """(N, D, H, W) → (N, 1, D, H, W); 5-D input is returned unchanged."""
    return cubes.unsqueeze(1) if cubes.ndim == 4 else cubes


def pretrain_task(corrupt: Corrupt, val_seed: int) -> LoopTask:
    """The :class:`LoopTask` of restoration pre-training."""

    def train_pair(cubes: Tensor, generator: torch.Generator) -> Pair:
        return corrupt(add_channel_axis(cubes), generator)

    def val_pair(cubes: Tensor, index: int) -> Pair:
        return corrupt(add_channel_axis(cubes), validation_generator(cubes.device, val_seed, index))

    return LoopTask(train_pair=train_pair, val_pair=val_pair, loss=mse_loss)


def train(
    model: nn.Module,
    train_reader: CubeReader,
    val_reader: CubeReader | None,
    corrupt: Corrupt,
    config: PretrainConfig,
    sink: MetricsSink | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
) -> TrainResult:
    """Pre-train ``model`` (in place) to restore corrupted cubes.

    Reports ``train_loss``, ``val_loss``, ``best_val_loss``, ``lr``, ``cubes_per_s`` and
    ``epoch`` to ``sink``. With ``checkpoint_dir``, writes ``last.pt`` every
    ``checkpoint_every_steps`` and at the end, ``best.pt`` on each validation improvement;
    ``resume=True`` continues from ``last.pt`` when present.
    """
    task = pretrain_task(corrupt, config.val_seed)
    loop = TrainingLoop(
        model, train_reader, val_reader, task, config, sink=sink, checkpoint_dir=checkpoint_dir
    )
    return loop.run(resume=resume)


@torch.no_grad()
def validation_loss(
    model: nn.Module, val_reader: CubeReader, corrupt: Corrupt, config: PretrainConfig
) -> float:
    """Mean MSE of ``model`` on the fixed validation pairs that :func:`train` scores.

    Same batches, same per-batch generators (``val_seed``), so the number is
    comparable with a run's ``val_loss`` — used to decide whether a new model
    beats the current champion on today's validation set.
    """
    from genesis_core.training.device import autocast, resolve_device, to_device
    from genesis_core.training.loader import BatchLoader

    device = resolve_device(config.device)
    task = pretrain_task(corrupt, config.val_seed)
    loader = BatchLoader(val_reader, config.batch_size, shuffle=False, drop_last=False, prefetch=2)
    was_training = model.training
    model.to(device).eval()
    total, count = 0.0, 0
    try:
        for index, batch in enumerate(loader.one_pass()):
            inputs, targets = task.val_pair(to_device(batch, device), index)
            with autocast(device, config.bf16):
                outputs = model(inputs)
            total += float(mse_loss(outputs.float(), targets)) * len(inputs)
            count += len(inputs)
    finally:
        model.train(was_training)
    return total / max(count, 1)
