"""The fine-tuning stage: one fit (its run folder's ``result.json``), the registration of
fits, and the finetune flow's result."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Self

from tasks.contracts.base import Contract

SCORES = ("auc", "dice", "iou", "mean_iou_paper")


@dataclass(frozen=True, kw_only=True)
class FitResult(Contract):
    """One fit (init × fraction × seed) scored on the validation and test splits.

    ``outcome`` is what :func:`genesis_core.finetuning.fit` reported (losses, steps, test
    counts, the task's scores: its keys depend on the task); the other fields are what the
    fit was.  ``to_dict`` is the flat ``result.json`` of a fit's run folder, ``from_dict``
    reads one back (any key that is not a field belongs to ``outcome``)."""

    task: str
    init: str
    fraction: float
    seed: int
    run_id: str
    checkpoint: str
    width: float
    network: str = "unet3d"
    train_scans: int = 0
    init_lineage: dict[str, str] = field(default_factory=dict)
    outcome: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.outcome)
        d.update({f.name: getattr(self, f.name) for f in fields(self) if f.name != "outcome"})
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        names = {f.name for f in fields(cls)} - {"outcome"}
        outcome = {k: v for k, v in d.items() if k not in names}
        return cls(**{k: v for k, v in d.items() if k in names}, outcome=outcome)

    def score(self, metric: str) -> float:
        """The test ``metric`` (nan when the fit has none): reported, never used to choose."""
        return float(self.outcome.get(metric, math.nan))

    def val_score(self, metric: str) -> float:
        """The validation ``metric`` (nan when the fit has none, e.g. a fit made before fits
        were scored on validation): what chooses a champion."""
        return float(self.outcome.get(f"val_{metric}", math.nan))

    @property
    def scores(self) -> dict[str, float]:
        """The test scores this task has (``auc``; or ``dice``, ``iou``, ``mean_iou_paper``)."""
        return {k: float(self.outcome[k]) for k in SCORES if k in self.outcome}

    @property
    def val_scores(self) -> dict[str, float]:
        """The same scores on the validation split."""
        return {k: float(self.outcome[f"val_{k}"]) for k in SCORES if f"val_{k}" in self.outcome}


@dataclass(frozen=True, kw_only=True)
class FitsRegistration(Contract):
    """Fits registered as versions of ``model_name``; the champion among full-label fits,
    chosen by ``chosen_by`` (a validation metric, e.g. ``val_auc``) at ``chosen_score``."""

    model_name: str
    versions: tuple[int, ...]
    champion_version: int | None
    champion_init: str | None
    chosen_by: str = ""
    chosen_score: float | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        return super().from_dict({**d, "versions": tuple(d.get("versions", ()))})


@dataclass(frozen=True)
class FinetuneResult:
    """The finetune flow's result: the fit and its registration."""

    fit: FitResult
    registration: FitsRegistration

    def to_dict(self) -> dict[str, Any]:
        return {**self.fit.to_dict(), **self.registration.to_dict()}
