"""The evaluation stage's result: the table of an init × label fraction × seed experiment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.contracts.base import Contract
from tasks.contracts.finetune import FitResult, FitsRegistration


@dataclass(frozen=True, kw_only=True)
class EvaluationResult(Contract):
    """``rows``: one per (fraction, init) as :func:`genesis_core.evaluation.summarize` makes
    them (mean ± std, p-values, test counts); ``markdown`` the same as a table; the fits;
    where the table, CSV and curve were written; the MLflow parent run; the registration
    (``None`` when models were not registered)."""

    task: str
    metric: str
    rows: tuple[dict[str, Any], ...]
    markdown: str
    fits: tuple[FitResult, ...]
    out_dir: str
    parent_run_id: str
    registration: FitsRegistration | None = None
