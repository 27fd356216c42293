"""The Models Genesis 3D U-Net (SPEC §3), readable in one file.

Layout: inputs and outputs are ``(N, C, D, H, W)`` tensors (``D = Z``, see
:mod:`genesis_core.axes`); D, H and W must each be divisible by 8 (three max-pools).
Any batch size works (BatchNorm in training mode needs more than one value per
channel, which every cube of at least 8³ voxels provides).

Architecture at ``width = 1``::

    level 0  in  → 32 → 64   ─────────────────────────skip──┐
    level 1  64  → 64 → 128  ─────────────skip──┐           │
    level 2  128 → 128 → 256 ──skip──┐          │           │
    level 3  256 → 256 → 512         │          │           │
    up 256   512 ↑ 512, cat 256 → 768 → 256 → 256           │
    up 128                 256 ↑ 256, cat 128 → 384 → 128 → 128
    up 64                              128 ↑ 128, cat 64 → 192 → 64 → 64
    head     64 → out_channels (1×1×1 conv) → sigmoid

Each arrow is Conv3d(k3, pad 1, bias) → BatchNorm3d → ReLU; ``↑`` is
ConvTranspose3d(k2, s2) keeping channels. 19 073 665 trainable parameters.

Module names mirror the reference ``MrGiovanni/ModelsGenesis/pytorch/unet3d.py`` so
its released weights load unchanged (``down_tr64.ops.0.conv1.weight``,
``up_tr256.up_conv.weight``, ``out_tr.final_conv.weight``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ENCODER_NAMES = ("down_tr64", "down_tr128", "down_tr256", "down_tr512")
DECODER_NAMES = ("up_tr256", "up_tr128", "up_tr64")


@dataclass(frozen=True)
class UNet3DConfig:
    """Hyper-parameters of :class:`UNet3D`.

    ``width`` scales every channel count (``0.25`` gives a CPU-sized model with the
    same topology). ``bn_always_batch_stats=True`` reproduces the reference quirk
    ("faithful" mode): BatchNorm normalises with batch statistics even in eval mode.
    ``output_activation`` is ``"sigmoid"`` (SPEC: restoration in [0, 1]) or ``"none"``
    (logits, e.g. for a BCE segmentation loss).
    """

    in_channels: int = 1
    out_channels: int = 1
    width: float = 1.0
    bn_always_batch_stats: bool = False
    output_activation: str = "sigmoid"
    # Running-statistics momentum of every BatchNorm (torch's default 0.1).  Short runs
    # (the ``tiny`` profile) raise it so eval-mode statistics catch up with the weights.
    bn_momentum: float = 0.1

    def channels(self, reference: int) -> int:
        """Channel count for a layer that has ``reference`` channels at width 1."""
        return max(1, int(round(reference * self.width)))


class GenesisBatchNorm3d(nn.BatchNorm3d):
    """BatchNorm3d whose eval mode can be told to use batch statistics.

    With ``always_batch_stats=False`` it is a plain :class:`torch.nn.BatchNorm3d`.
    With ``True`` it normalises with the statistics of the current batch in eval mode
    too, like the reference ``ContBatchNorm3d``; unlike the reference, eval mode then
    leaves the running buffers untouched (they are never read in that mode).
    """

    def __init__(self, num_features: int, always_batch_stats: bool = False) -> None:
        super().__init__(num_features)
        self.always_batch_stats = always_batch_stats

    def forward(self, x: Tensor) -> Tensor:
        if self.training or not self.always_batch_stats:
            return super().forward(x)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


class LUConv(nn.Module):
    """Conv3d(k3, pad 1, bias) → BatchNorm3d → ReLU; (N, C_in, ...) → (N, C_out, ...)."""

    def __init__(self, in_channels: int, out_channels: int, always_batch_stats: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(in_channels, out_channels, kernel_size=3, padding=1)
        self.bn1 = GenesisBatchNorm3d(out_channels, always_batch_stats)
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.bn1(self.conv1(x)))


def _double_conv(c_in: int, c_mid: int, c_out: int, batch_stats: bool) -> nn.Sequential:
    return nn.Sequential(LUConv(c_in, c_mid, batch_stats), LUConv(c_mid, c_out, batch_stats))


class DownTransition(nn.Module):
    """Encoder level: two LUConvs, then (except at the deepest level) a 2× max-pool.

    Returns ``(pooled, skip)``: ``skip`` is the pre-pool feature map (N, C_out, D, H, W);
    ``pooled`` is (N, C_out, D/2, H/2, W/2), or ``skip`` itself at the deepest level.
    """

    def __init__(self, c_in: int, c_mid: int, c_out: int, deepest: bool, batch_stats: bool):
        super().__init__()
        self.ops = _double_conv(c_in, c_mid, c_out, batch_stats)
        self.maxpool = nn.MaxPool3d(2)
        self.deepest = deepest

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        skip = self.ops(x)
        return (skip if self.deepest else self.maxpool(skip)), skip


class UpTransition(nn.Module):
    """Decoder level: 2× transposed conv (channels kept), concat the skip, two LUConvs."""

    def __init__(self, c_in: int, c_skip: int, c_out: int, batch_stats: bool) -> None:
        super().__init__()
        self.up_conv = nn.ConvTranspose3d(c_in, c_in, kernel_size=2, stride=2)
        self.ops = _double_conv(c_in + c_skip, c_out, c_out, batch_stats)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.ops(torch.cat((self.up_conv(x), skip), dim=1))


class OutputTransition(nn.Module):
    """1×1×1 conv to ``out_channels``, then the configured activation."""

    def __init__(self, c_in: int, c_out: int, activation: str) -> None:
        super().__init__()
        if activation not in ("sigmoid", "none"):
            raise ValueError(f"output_activation must be 'sigmoid' or 'none', got {activation!r}")
        self.final_conv = nn.Conv3d(c_in, c_out, kernel_size=1)
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        out = self.final_conv(x)
        return torch.sigmoid(out) if self.activation == "sigmoid" else out


def build_encoder_levels(config: UNet3DConfig) -> list[DownTransition]:
    """The four encoder levels, in order (shared by :class:`UNet3D` and the classifier)."""
    ch, bs = config.channels, config.bn_always_batch_stats
    levels, c_in = [], config.in_channels
    for depth in range(4):
        c_mid, c_out = ch(32 * 2**depth), ch(64 * 2**depth)
        levels.append(DownTransition(c_in, c_mid, c_out, deepest=depth == 3, batch_stats=bs))
        c_in = c_out
    return levels


def run_encoder(module: nn.Module, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Run ``module.down_tr*`` on x (N, C_in, D, H, W).

    Returns the deepest features (N, 512·w, D/8, H/8, W/8) and the three skips of
    levels 0–2, shallowest first.
    """
    if x.ndim != 5 or any(s % 8 for s in x.shape[2:]):
        raise ValueError(
            f"expected (N, C, D, H, W) with D, H, W divisible by 8, got {tuple(x.shape)}"
        )
    skips = []
    for name in ENCODER_NAMES:
        x, skip = getattr(module, name)(x)
        skips.append(skip)
    return x, skips[:3]


class UNet3D(nn.Module):
    """The Models Genesis 3D U-Net: (N, C_in, D, H, W) → (N, C_out, D, H, W)."""

    def __init__(self, config: UNet3DConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or UNet3DConfig()
        ch, bs = config.channels, config.bn_always_batch_stats
        self.down_tr64, self.down_tr128, self.down_tr256, self.down_tr512 = build_encoder_levels(
            config
        )
        self.up_tr256 = UpTransition(ch(512), ch(256), ch(256), bs)
        self.up_tr128 = UpTransition(ch(256), ch(128), ch(128), bs)
        self.up_tr64 = UpTransition(ch(128), ch(64), ch(64), bs)
        self.out_tr = OutputTransition(ch(64), config.out_channels, config.output_activation)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.momentum = config.bn_momentum

    @property
    def encoder_channels(self) -> int:
        """Channels of :meth:`encode`'s output (512 at width 1)."""
        return self.config.channels(512)

    def encode(self, x: Tensor) -> Tensor:
        """Encoder features only: (N, C_in, D, H, W) → (N, 512·w, D/8, H/8, W/8)."""
        return run_encoder(self, x)[0]

    def forward(self, x: Tensor) -> Tensor:
        x, (skip64, skip128, skip256) = run_encoder(self, x)
        x = self.up_tr256(x, skip256)
        x = self.up_tr128(x, skip128)
        x = self.up_tr64(x, skip64)
        return self.out_tr(x)


def set_bn_always_batch_stats(model: nn.Module, enabled: bool) -> None:
    """Switch every :class:`GenesisBatchNorm3d` in ``model`` between faithful and normal BN."""
    for module in model.modules():
        if isinstance(module, GenesisBatchNorm3d):
            module.always_batch_stats = enabled


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
