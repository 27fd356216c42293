"""Optimizer and learning-rate scheduler from a :class:`~genesis_core.training.config.LoopConfig`.

The step scheduler is advanced after every optimizer step; an epoch-based period is
converted to steps (``lr_step_epochs × batches_per_epoch``), which halves the rate at
the same moments as the reference's per-epoch ``StepLR`` without coupling the loop to
epoch boundaries. The plateau scheduler is advanced with each validation loss.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau, StepLR

from genesis_core.training.config import LoopConfig

Scheduler = LRScheduler | ReduceLROnPlateau | None


def build_optimizer(model: nn.Module, config: LoopConfig) -> torch.optim.Optimizer:
    """SGD (with momentum), Adam or AdamW over the trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def lr_step_size(config: LoopConfig, batches_per_epoch: int) -> int:
    """Optimizer steps between two decays of the step scheduler."""
    if config.lr_step_steps is not None:
        return max(1, int(config.lr_step_steps))
    if config.lr_step_epochs is None:
        raise ValueError("scheduler 'step' needs lr_step_steps or lr_step_epochs")
    return max(1, round(config.lr_step_epochs * batches_per_epoch))


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: LoopConfig, batches_per_epoch: int
) -> Scheduler:
    """``StepLR`` (per step), ``ReduceLROnPlateau`` (per validation) or ``None``."""
    if config.scheduler == "step":
        step_size = lr_step_size(config, batches_per_epoch)
        return StepLR(optimizer, step_size=step_size, gamma=config.lr_gamma)
    if config.scheduler == "plateau":
        return ReduceLROnPlateau(
            optimizer, mode="min", factor=config.lr_gamma, patience=config.plateau_patience
        )
    return None


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """Learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])
