"""The targets stage's results: the committed target store and the flow's report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Self

from tasks.contracts.base import Contract, ScanIssue, issues


@dataclass(frozen=True)
class TargetCommit(Contract):
    """The target store after a run's commit, and what the run did to it."""

    store_uri: str
    manifest_version: int
    scans_in_store: int
    samples_in_store: int
    done: int
    failed: tuple[ScanIssue, ...]
    empty: tuple[ScanIssue, ...]
    positives_written: int

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        d = {**d, "failed": issues(d.get("failed", ())), "empty": issues(d.get("empty", ()))}
        return super().from_dict(d)


@dataclass(frozen=True)
class TargetsResult(TargetCommit):
    """The targets flow's report: the commit, plus the run's plan, dataset and task."""

    planned: int = 0
    dataset: str = ""
    task: str = ""

    @classmethod
    def of(cls, commit: TargetCommit, **more: Any) -> TargetsResult:
        return cls(**{f.name: getattr(commit, f.name) for f in fields(commit)}, **more)
