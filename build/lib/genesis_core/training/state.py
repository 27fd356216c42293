"""The mutable progress of a training run, and what a finished run returns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genesis_core.training.loader import DataPosition


@dataclass
class LoopState:
    """Progress counters saved in every checkpoint (plain data only).

    ``position`` is where the next training batch comes from. ``bad_validations`` counts
    validations since the best one (early stopping). ``history`` holds one record per
    validation: ``{"step", "epoch", "train_loss", "val_loss", "lr"}``.
    """

    step: int = 0
    position: DataPosition = field(default_factory=DataPosition)
    best_val_loss: float = math.inf
    best_step: int = -1
    bad_validations: int = 0
    last_val_step: int = -1
    stop_reason: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.position.epoch,
            "batch": self.position.batch,
            "best_val_loss": self.best_val_loss,
            "best_step": self.best_step,
            "bad_validations": self.bad_validations,
            "last_val_step": self.last_val_step,
            "stop_reason": self.stop_reason,
            "history": [dict(h) for h in self.history],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoopState:
        return cls(
            step=int(d["step"]),
            position=DataPosition(int(d["epoch"]), int(d["batch"])),
            best_val_loss=float(d["best_val_loss"]),
            best_step=int(d["best_step"]),
            bad_validations=int(d["bad_validations"]),
            last_val_step=int(d["last_val_step"]),
            stop_reason=d.get("stop_reason"),
            history=[dict(h) for h in d.get("history", [])],
        )


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`~genesis_core.training.train` / :func:`~genesis_core.training.finetune`.

    ``best_val_loss`` is ``None`` without validation data. ``checkpoint_path`` is the
    resumable last checkpoint, ``best_checkpoint_path`` the weights with the best
    validation loss (``None`` when no checkpoint directory was given). ``stop_reason`` is
    one of ``"max_steps"``, ``"max_epochs"``, ``"early_stopping"``.
    """

    best_val_loss: float | None
    best_step: int | None
    steps: int
    epochs: int
    stop_reason: str
    checkpoint_path: Path | None
    best_checkpoint_path: Path | None
    history: list[dict[str, float]]
