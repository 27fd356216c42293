"""Named pre-training profiles: ``tiny`` (a CPU run in minutes) and ``paper`` (SPEC §3)."""

from __future__ import annotations

from dataclasses import dataclass, field

from genesis_core.models import UNet3DConfig
from genesis_core.training.config import PretrainConfig


@dataclass(frozen=True)
class Profile:
    name: str
    model: UNet3DConfig
    loop: PretrainConfig = field(default_factory=PretrainConfig)


def profile(
    name: str, steps: int | None = None, device: str = "auto", seed: int = 0, mode: str = "fixed"
) -> Profile:
    """The profile ``name``; ``steps`` caps optimizer steps (``None``: the profile's own limit).

    ``mode="faithful"`` (the transforms' mode) also reproduces the reference network's
    BatchNorm quirk: batch statistics even in eval mode (SPEC §3).
    """
    faithful = mode == "faithful"
    if name == "tiny":
        # Small width and AdamW so a CPU run learns visibly in a couple of minutes.
        loop = PretrainConfig(
            batch_size=8, max_steps=steps or 120, max_epochs=None, optimizer="adamw", lr=2e-3,
            scheduler="none", lr_step_epochs=None, patience=None, val_every_steps=20,
            checkpoint_every_steps=20, log_every_steps=5, device=device, seed=seed, grad_clip_norm=1.0,
        )  # fmt: skip
        model = UNet3DConfig(width=0.125, bn_momentum=0.5, bn_always_batch_stats=faithful)
        return Profile("tiny", model, loop)
    if name == "paper":
        loop = PretrainConfig(max_steps=steps, device=device, seed=seed)
        return Profile("paper", UNet3DConfig(width=1.0, bn_always_batch_stats=faithful), loop)
    raise ValueError(f"unknown profile {name!r}: use 'tiny' or 'paper'")
