"""Losses of SPEC §3–4. Inputs are float32 tensors of identical shape unless stated.

``outputs``/``targets`` of the U-Net are (N, C, D, H, W); classifier logits are (N, 1)
with float {0, 1} targets of the same shape.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def mse_loss(outputs: Tensor, targets: Tensor) -> Tensor:
    """Mean squared error over all voxels (the restoration loss of pre-training)."""
    return F.mse_loss(outputs, targets)


def bce_with_logits_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Binary cross-entropy on logits (NCC/ECC classification)."""
    return F.binary_cross_entropy_with_logits(logits, targets)


def soft_dice_loss(probabilities: Tensor, targets: Tensor, smooth: float = 1.0) -> Tensor:
    """``1 − soft Dice`` over the whole batch (segmentation; probabilities in [0, 1]).

    Dice = (2·Σ p·t + smooth) / (Σ p + Σ t + smooth), sums over every voxel of the batch,
    as in the reference Keras code.
    """
    intersection = (probabilities * targets).sum()
    dice = (2 * intersection + smooth) / (probabilities.sum() + targets.sum() + smooth)
    return 1 - dice
