"""Training-loop configuration: plain dataclasses (no pydantic, so a bare CUDA image works).

Flow parameters are validated with pydantic at the edges and converted to these.
Units: ``*_steps`` count optimizer steps; ``*_epochs`` count passes over the training
reader; ``patience`` counts validations without improvement (one validation per epoch
when ``val_every_steps`` is ``None``, as in the reference).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("step", "plateau", "none")
SAMPLINGS = ("random", "blocks")


@dataclass
class LoopConfig:
    """Everything the shared loop needs; see :class:`PretrainConfig`, :class:`FinetuneConfig`."""

    batch_size: int = 6
    max_steps: int | None = None
    max_epochs: int | None = 10_000
    optimizer: str = "sgd"
    lr: float = 1.0
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "step"
    lr_gamma: float = 0.5
    lr_step_epochs: float | None = 40
    lr_step_steps: int | None = None
    plateau_patience: int = 6
    patience: int | None = 50
    min_delta: float = 0.0
    grad_clip_norm: float | None = None
    val_every_steps: int | None = None
    checkpoint_every_steps: int | None = None
    log_every_steps: int = 10
    seed: int = 0
    val_seed: int = 20190101
    device: str = "auto"
    bf16: bool = True
    channels_last: bool = True
    compile: bool | str = False
    cudnn_benchmark: bool = True
    prefetch_batches: int = 3
    sampling: str = "random"  # or "blocks": see genesis_core.training.loader
    block_scans: int = 16
    loader_workers: int = 2
    drop_last: bool = True
    restore_best: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        if self.max_steps is None and self.max_epochs is None:
            raise ValueError("set max_steps or max_epochs (or both)")
        for name in (
            "batch_size",
            "log_every_steps",
            "val_every_steps",
            "checkpoint_every_steps",
            "block_scans",
            "loader_workers",
        ):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON- and ``weights_only``-safe) for checkpoints and tracking."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LoopConfig:
        """Inverse of :meth:`to_dict`; unknown keys are ignored (older checkpoints)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


@dataclass
class PretrainConfig(LoopConfig):
    """SPEC §3: SGD lr 1.0, momentum 0.9, no weight decay, lr halves every 40 epochs,
    batch 6, up to 10 000 epochs, early stop after 50 validations without improvement."""


@dataclass
class FinetuneConfig(LoopConfig):
    """SPEC §4: Adam lr 1e-3, ReduceLROnPlateau(factor 0.5, patience 6), early stopping,
    best checkpoint by validation loss (restored into the model at the end)."""

    max_epochs: int | None = 1_000
    optimizer: str = "adam"
    lr: float = 1e-3
    scheduler: str = "plateau"
    patience: int | None = 20
    restore_best: bool = True
