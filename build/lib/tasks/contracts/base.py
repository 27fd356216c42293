"""The shared base of stage contracts: ``to_dict``/``from_dict`` with the on-disk keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Self


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: contracts as dicts, tuples as lists."""
    if isinstance(value, Contract):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Contract:
    """A frozen result: its fields, in order, are its dict's keys."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """The fields ``d`` has (keys this class does not know are ignored); a field
        missing from ``d`` takes its default."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class ScanIssue(Contract):
    """A scan a stage could not use (failed) or that gave nothing (empty), and why."""

    scan_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ScanReport(Contract):
    """One scan's outcome, as a Dask worker reported it (``preprocess_scan`` or
    ``build_target_scan``): ``ok``, ``empty`` (nothing to write) or ``failed`` with the
    ``reason``; for a written scan, where its arrays are (``path``, ``checksum``)."""

    scan_id: str
    status: str
    reason: str = ""
    n_cubes: int = 0
    n_positive: int = 0  # targets: positives (ncc) or foreground samples (segmentation)
    subset: int | None = None
    source_sha256: str = ""
    path: str = ""
    checksum: str = ""
    task: str = ""
    seconds: float = 0.0
    peak_rss_mb: float = 0.0

    @property
    def issue(self) -> ScanIssue:
        return ScanIssue(self.scan_id, self.reason)


def reports_with(reports: Sequence[ScanReport], *statuses: str) -> list[ScanReport]:
    return [r for r in reports if r.status in statuses]


def issues(rows: Any) -> tuple[ScanIssue, ...]:
    return tuple(r if isinstance(r, ScanIssue) else ScanIssue.from_dict(r) for r in rows)
