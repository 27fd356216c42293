"""Supervised fine-tuning on a target task (SPEC §4) with the same loop as pre-training.

The reader yields ``(inputs, targets)``; inputs (n, D, H, W) gain a channel axis, as do
(n, D, H, W) masks and (n,) labels (→ (n, 1), the classifier's logit shape). ``loss_fn``
is e.g. :func:`~genesis_core.training.losses.bce_with_logits_loss` (classification) or
:func:`~genesis_core.training.losses.soft_dice_loss` (segmentation). An optional
``augment(inputs, targets, generator) -> (inputs, targets)`` runs on training batches only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from genesis_core.training.config import FinetuneConfig
from genesis_core.training.loop import LoopTask, Pair, TrainingLoop
from genesis_core.training.readers import PairReader
from genesis_core.training.sinks import MetricsSink
from genesis_core.training.state import TrainResult

Augment = Callable[[Tensor, Tensor, torch.Generator], Pair]


def to_model_layout(inputs: Tensor, targets: Tensor) -> Pair:
    """Add the channel axis: inputs (N, D, H, W) → (N, 1, D, H, W); targets likewise,
    and (N,) labels → (N, 1)."""
    if inputs.ndim == 4:
        inputs = inputs.unsqueeze(1)
    if targets.ndim in (1, 4):
        targets = targets.unsqueeze(1)
    return inputs, targets


def finetune_task(loss_fn: Callable[[Tensor, Tensor], Tensor], augment: Augment | None) -> LoopTask:
    """The :class:`LoopTask` of supervised fine-tuning."""

    def train_pair(batch: tuple[Tensor, Tensor], generator: torch.Generator) -> Pair:
        inputs, targets = to_model_layout(*batch)
        return augment(inputs, targets, generator) if augment else (inputs, targets)

    def val_pair(batch: tuple[Tensor, Tensor], index: int) -> Pair:
        return to_model_layout(*batch)

    return LoopTask(train_pair=train_pair, val_pair=val_pair, loss=loss_fn)


def finetune(
    model: nn.Module,
    train_reader: PairReader,
    val_reader: PairReader | None,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    config: FinetuneConfig,
    sink: MetricsSink | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    augment: Augment | None = None,
) -> TrainResult:
    """Fine-tune ``model`` in place; with ``config.restore_best`` (default) it ends holding
    the weights of the best validation loss (also in ``best.pt``)."""
    task = finetune_task(loss_fn, augment)
    loop = TrainingLoop(
        model, train_reader, val_reader, task, config, sink=sink, checkpoint_dir=checkpoint_dir
    )
    return loop.run(resume=resume)
