"""The preprocess stage's results: the committed cube store and the flow's report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Self

from tasks.contracts.base import Contract, ScanIssue, issues


@dataclass(frozen=True)
class StoreCommit(Contract):
    """The cube store after a run's commit, and what the run did to it."""

    store_uri: str
    manifest_version: int
    scans_in_store: int
    cubes_in_store: int
    done: int
    failed: tuple[ScanIssue, ...]
    empty: tuple[ScanIssue, ...]
    cubes_written: int
    store_bytes: int
    scan_seconds: float
    peak_rss_mb: float

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        d = {**d, "failed": issues(d.get("failed", ())), "empty": issues(d.get("empty", ()))}
        return super().from_dict(d)


@dataclass(frozen=True)
class PreprocessResult(StoreCommit):
    """The preprocess flow's report: the commit, plus the run's plan and speed."""

    dataset: str = ""
    planned: int = 0
    wall_seconds: float = 0.0
    scans_per_second: float = 0.0
    config_hash: str = ""

    @classmethod
    def of(cls, commit: StoreCommit, **more: Any) -> PreprocessResult:
        return cls(**{f.name: getattr(commit, f.name) for f in fields(commit)}, **more)
