"""The nightly flow's report: what each stage did tonight, and the pre-training if any."""

from __future__ import annotations

from dataclasses import dataclass

from tasks.contracts.base import Contract
from tasks.contracts.ingest import IngestResult
from tasks.contracts.preprocess import PreprocessResult
from tasks.contracts.pretrain import PretrainOutcome


@dataclass(frozen=True, kw_only=True)
class NightlyReport(Contract):
    """``pretrain`` is the run here (a :class:`PretrainResult`) or on a deployment (a
    :class:`DeployedPretrain`, read back from the registry); ``None`` with ``message``
    saying why nothing was trained."""

    ingest: tuple[IngestResult, ...]
    preprocess: PreprocessResult
    trained: bool
    pretrain: PretrainOutcome | None = None
    message: str | None = None
    wall_seconds: float = 0.0
