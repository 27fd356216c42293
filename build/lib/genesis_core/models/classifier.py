"""Encoder + classification head for the NCC / ECC target tasks (SPEC §4).

encoder → global average pool → Linear(512·w, 1024) → ReLU → Linear(1024, n_outputs).
The output is **logits** (N, n_outputs); pair it with ``BCEWithLogitsLoss``.

The encoder levels keep the reference names (``down_tr64`` … ``down_tr512``), so a
pre-trained :class:`~genesis_core.models.unet3d.UNet3D` state dict — or the released
reference weights — load into the classifier directly (the decoder keys are then
reported as unexpected and ignored).
"""

from __future__ import annotations

from torch import Tensor, nn

from genesis_core.models.unet3d import UNet3D, UNet3DConfig, build_encoder_levels, run_encoder


class ClassificationHead(nn.Module):
    """(N, C, d, h, w) features → (N, n_outputs) logits via global average pooling + MLP."""

    def __init__(self, in_features: int, hidden: int = 1024, n_outputs: int = 1) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc1 = nn.Linear(in_features, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, n_outputs)

    def forward(self, features: Tensor) -> Tensor:
        x = self.pool(features).flatten(1)
        return self.fc2(self.relu(self.fc1(x)))


class UNet3DClassifier(nn.Module):
    """U-Net encoder + :class:`ClassificationHead`: (N, C_in, D, H, W) → (N, n_outputs) logits."""

    def __init__(
        self, config: UNet3DConfig | None = None, hidden: int = 1024, n_outputs: int = 1
    ) -> None:
        super().__init__()
        self.config = config = config or UNet3DConfig()
        self.down_tr64, self.down_tr128, self.down_tr256, self.down_tr512 = build_encoder_levels(
            config
        )
        self.head = ClassificationHead(config.channels(512), hidden, n_outputs)

    @classmethod
    def from_unet(cls, unet: UNet3D, hidden: int = 1024, n_outputs: int = 1) -> UNet3DClassifier:
        """A classifier whose encoder is a copy of ``unet``'s (e.g. pre-trained) encoder."""
        model = cls(unet.config, hidden, n_outputs)
        encoder_state = {k: v for k, v in unet.state_dict().items() if k.startswith("down_tr")}
        model.load_state_dict(encoder_state, strict=False)
        return model

    def encode(self, x: Tensor) -> Tensor:
        """(N, C_in, D, H, W) → (N, 512·w, D/8, H/8, W/8)."""
        return run_encoder(self, x)[0]

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encode(x))
