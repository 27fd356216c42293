"""The ingest stage's results: the catalog commit, annotation tables, the flow's report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Self

from tasks.contracts.base import Contract


@dataclass(frozen=True)
class QuarantinedScan(Contract):
    scan_id: str
    source_uri: str
    reason: str


@dataclass(frozen=True)
class AnnotationTable(Contract):
    """A LUNA16 CSV checked against the catalog and saved as parquet at ``uri``; or, with
    ``error``, why it was not."""

    kind: str
    rows: int = 0
    invalid: tuple[str, ...] = ()
    n_invalid: int = 0
    orphans: int = 0
    orphan_ids: tuple[str, ...] = ()
    uri: str | None = None
    error: str | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        d = dict(d)
        for k in ("invalid", "orphan_ids"):
            if k in d:
                d[k] = tuple(d[k])
        return super().from_dict(d)


@dataclass(frozen=True)
class CatalogCommit(Contract):
    """The committed catalog: counts by status and format, and the scans quarantined."""

    catalog_uri: str
    scans: int
    ok: int
    quarantined: int
    by_format: dict[str, int]
    changed: int
    read: int
    quarantine: tuple[QuarantinedScan, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        d = {
            **d,
            "quarantine": tuple(QuarantinedScan.from_dict(q) for q in d.get("quarantine", ())),
        }
        return super().from_dict(d)


@dataclass(frozen=True)
class IngestResult(CatalogCommit):
    """The ingest flow's report: the commit, plus what was listed and the annotation tables."""

    dataset: str = ""
    layout: str = ""
    listed: int = 0
    annotations: tuple[AnnotationTable, ...] = ()

    @classmethod
    def of(cls, commit: CatalogCommit, **more: Any) -> IngestResult:
        return cls(**{f.name: getattr(commit, f.name) for f in fields(commit)}, **more)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        d = {
            **d,
            "annotations": tuple(AnnotationTable.from_dict(a) for a in d.get("annotations", ())),
        }
        return super().from_dict(d)
