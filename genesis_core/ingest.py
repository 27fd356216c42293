"""Ingest, per scan and per dataset, with no orchestration (the flow wires these).

Layers, nnU-Net style: :func:`rows_for_source` reads one source into catalog
rows (never raises for bad data); :func:`plan` decides which sources need
reading; :func:`commit` merges rows into the catalog and writes it atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from genesis_core import catalog
from genesis_core.io.checks import CheckConfig, check_volume, hu_range
from genesis_core.io.layout import ScanSource
from genesis_core.io.readers import ReadResult, content_sha256, read_source


def rows_for_source(
    src: ScanSource,
    cache_dir: Path,
    storage_options: Mapping[str, Any] | None = None,
    checks: CheckConfig = CheckConfig(),
) -> list[dict[str, Any]]:
    """Read one source and return its catalog rows (quarantined ones included)."""
    now = datetime.now(UTC)
    return [_row(src, r, now, checks) for r in read_source(src, cache_dir, storage_options)]


def _row(src: ScanSource, r: ReadResult, now: datetime, checks: CheckConfig) -> dict[str, Any]:
    row: dict[str, Any] = {c: None for c in catalog.COLUMNS}
    row.update(
        scan_id=r.scan_id,
        source_uri=r.source_uri,
        source_key=src.source_uri,
        fingerprint=src.fingerprint,
        format=src.format,
        label_uri=src.label_uri,
        subset=src.subset,
        ingested_at=now,
        revision=0,
    )
    if r.volume is None:
        row.update(status=catalog.QUARANTINED, reason=r.reason)
        return row
    v = r.volume
    lo, hi = hu_range(v)
    row.update(
        shape_xyz=list(v.shape_xyz),
        spacing_xyz=[float(s) for s in v.spacing],
        origin_xyz=[float(o) for o in v.origin],
        direction=[float(d) for d in v.direction],
        hu_min=lo,
        hu_max=hi,
        sha256=content_sha256(v),
    )
    reason = check_volume(v, checks) or _label_problem(r)
    row.update(status=catalog.QUARANTINED if reason else catalog.OK, reason=reason)
    return row


def _label_problem(r: ReadResult) -> str:
    if r.label is None or r.volume is None:
        return ""
    if r.label.array.shape != r.volume.array.shape:
        return f"label {r.label.shape_xyz} and image {r.volume.shape_xyz} shapes differ"
    return ""


def plan(scans: list[ScanSource], existing: pd.DataFrame, force: bool = False) -> list[ScanSource]:
    """Sources to (re)read: new ones and those whose fingerprint changed."""
    if force or existing.empty:
        return list(scans)
    known = dict(zip(existing["source_key"], existing["fingerprint"], strict=True))
    return [s for s in scans if known.get(s.source_uri) != s.fingerprint]


def commit(
    uri: str,
    rows: list[dict[str, Any]],
    reread: list[ScanSource],
    storage_options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Merge fresh rows into the catalog at ``uri`` and write it atomically.

    When nothing was re-read the catalog is left byte-for-byte untouched.
    """
    existing = catalog.load(uri, storage_options)
    if not reread and catalog.storage.exists(uri, storage_options):
        return existing
    df = catalog.merge(existing, rows, {s.source_uri for s in reread})
    catalog.save(df, uri, storage_options)
    return df


def ingest_sequential(
    source: str,
    catalog_uri: str,
    cache_dir: Path,
    storage_options: Mapping[str, Any] | None = None,
    force: bool = False,
) -> pd.DataFrame:
    """The whole ingest in one process, no orchestration (tests, notebooks, baselines)."""
    from genesis_core.io.layout import list_source

    listing = list_source(source, storage_options)
    todo = plan(listing.scans, catalog.load(catalog_uri, storage_options), force=force)
    rows = [r for src in todo for r in rows_for_source(src, cache_dir, storage_options)]
    return commit(catalog_uri, rows, todo, storage_options)
