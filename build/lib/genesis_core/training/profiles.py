"""Named pre-training profiles, read from ``genesis_core/presets/pretrain.toml``:
``tiny`` (a CPU run in minutes) and ``paper`` (SPEC §3), or a user's edited copy
(``GENESIS_PRESETS_DIR``, see :mod:`genesis_core.presets`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from genesis_core.models import UNet3DConfig
from genesis_core.models.networks import DEFAULT, network
from genesis_core.presets import build, none_values, preset
from genesis_core.training.config import PretrainConfig


@dataclass(frozen=True)
class Profile:
    name: str
    model: UNet3DConfig  # the network's config (a UNet3DConfig for "unet3d")
    loop: PretrainConfig = field(default_factory=PretrainConfig)
    network: str = DEFAULT  # genesis_core.models.networks


def profile(
    name: str, steps: int | None = None, device: str = "auto", seed: int = 0, mode: str = "fixed"
) -> Profile:
    """The profile ``name``; ``steps`` caps optimizer steps (``None``: the profile's own limit).

    ``mode="faithful"`` (the transforms' mode) also reproduces the reference network's
    BatchNorm quirk: batch statistics even in eval mode (SPEC §3).
    """
    table = preset("pretrain", name)
    where = f"{table['source']} [{name}]"
    loop = none_values(table.get("loop", {}))
    if steps is not None:
        loop["max_steps"] = steps
    loop.update(device=device, seed=seed)
    model = {**table.get("model", {}), "bn_always_batch_stats": mode == "faithful"}
    net = network(table.get("network", DEFAULT))
    return Profile(
        name, build(net.config, model, where), build(PretrainConfig, loop, where), net.name
    )
