"""Ingest, per scan and per dataset, with no orchestration (the flow wires these).

Layers, nnU-Net style: :func:`rows_for_source` reads one source into catalog
rows (never raises for bad data); :func:`plan` decides which sources need
reading; :func:`commit` merges rows into the catalog and writes it atomically.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genesis_core import catalog
from genesis_core.io.checks import CheckConfig, check_volume, hu_range
from genesis_core.io.isolation import ReaderCrashed, run_isolated
from genesis_core.io.layout import ScanSource
from genesis_core.io.readers import ReadResult, content_sha256, fetched, read_fetched
from genesis_core.io.storage import Location, LocationLike
from genesis_core.volume import Volume

log = logging.getLogger(__name__)


def rows_for_source(
    src: ScanSource,
    cache_dir: Path,
    dataset: LocationLike = "",
    checks: CheckConfig = CheckConfig(),
    isolate: bool = True,
) -> list[dict[str, Any]]:
    """Read one source and return its catalog rows (quarantined ones included).

    ``dataset``: the listed location, whose options reach the source's files.

    Files are fetched here (an ``OSError`` propagates, to be retried); they are read and
    checked in a child process with a time limit when ``isolate`` (the default), so a
    native crash or a hang in a reader costs this source one quarantined row.
    """
    now = datetime.now(UTC)
    if src.problem:
        return [_row(src, ReadResult(src.scan_id, src.source_uri, reason=src.problem), now, checks)]
    with fetched(src, cache_dir, dataset) as (paths, label):
        if not isolate:
            return rows_from_files(src, paths, label, now, checks)
        try:
            args = (src, paths, label, now, checks)
            return run_isolated(rows_from_files, args, _time_limit(paths))
        except ReaderCrashed as e:
            why = e
    name = src.source_uri.rstrip("/").rsplit("/", 1)[-1]
    result = ReadResult(src.scan_id, src.source_uri, reason=f"{name}: {why}")
    return [_row(src, result, now, checks)]


# A child gets this long to read and check a source: a base plus 10 s per 100 MB of files.
READ_TIME_BASE_S = 30.0
READ_TIME_PER_MB_S = 0.1


def _time_limit(paths: list[Path]) -> float:
    size = sum(p.stat().st_size for p in paths if p.exists())
    return READ_TIME_BASE_S + READ_TIME_PER_MB_S * size / 1e6


def rows_from_files(
    src: ScanSource, paths: list[Path], label: Path | None, now: datetime, checks: CheckConfig
) -> list[dict[str, Any]]:
    """Catalog rows from already-local files: read, check, hash (voxels never leave here)."""
    return [_row(src, r, now, checks) for r in read_fetched(src, paths, label)]


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
        row.update(status=catalog.QUARANTINED, reason=_named(r.reason, r.source_uri))
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
    reason = check_volume(v, checks) or _label_problem(r, src.label_values)
    if reason:
        reason = _named(reason, r.source_uri if "label" not in reason else src.label_uri or "")
        row.update(status=catalog.QUARANTINED, reason=reason)
    else:
        row.update(status=catalog.OK, reason=_note(r))
    return row


# An ok row's reason says what reading changed in it (padding set to air, a localizer
# dropped): the catalog records it, so the change is never silent.
NOTE_PREFIX = "note: "


def _note(r: ReadResult) -> str:
    if not r.notes:
        return ""
    note = NOTE_PREFIX + _named(r.notes, r.source_uri)
    log.warning("%s: %s", r.scan_id, note)
    return note


def _named(reason: str, uri: str) -> str:
    """Every reason names the file: prefix the file's name when the message lacks it."""
    name = uri.rstrip("/").rsplit("/", 1)[-1].split("#", 1)[0]
    return reason if not name or name in reason else f"{name}: {reason}"


# A label map must share its image's grid: spacing and direction to these tolerances,
# origin to a hundredth of a voxel.
LABEL_SPACING_RTOL = 1e-4
LABEL_DIRECTION_ATOL = 1e-4
LABEL_ORIGIN_VOXELS = 0.01


def _label_problem(r: ReadResult, expected: tuple[int, ...] | None) -> str:
    if r.label is None or r.volume is None:
        return ""
    return label_problem(r.volume, r.label, expected)


def label_problem(image: Volume, label: Volume, expected: tuple[int, ...] | None) -> str:
    """Why ``label`` cannot be ``image``'s segmentation ('' when it can)."""
    if label.array.shape != image.array.shape:
        return f"label size {label.shape_xyz} differs from the image's {image.shape_xyz}"
    sp_i, sp_l = np.asarray(image.spacing), np.asarray(label.spacing)
    if not np.allclose(sp_l, sp_i, rtol=LABEL_SPACING_RTOL, atol=0):
        return f"label spacing {_r(sp_l)} mm differs from the image's {_r(sp_i)} mm"
    off = np.abs(np.asarray(label.origin) - np.asarray(image.origin))
    if np.any(off > LABEL_ORIGIN_VOXELS * sp_i):
        return (
            f"label origin {_r(label.origin)} differs from the image's {_r(image.origin)} mm "
            f"(by more than {LABEL_ORIGIN_VOXELS} voxel)"
        )
    if not np.allclose(label.direction, image.direction, atol=LABEL_DIRECTION_ATOL, rtol=0):
        return (
            f"label direction {_r(label.direction)} differs from the image's {_r(image.direction)}"
        )
    return label_values_problem(label.array, expected)


def _r(v) -> str:
    return "(" + ", ".join(f"{float(x):.6g}" for x in v) + ")"


def label_values_problem(arr: np.ndarray, expected: tuple[int, ...] | None) -> str:
    """Label voxels must be integers (any stored type), from ``expected`` when known."""
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            return "label map has NaN/inf voxels"
        if not np.array_equal(arr, np.round(arr)):
            return "label map has non-integer values (a probability map, not labels?)"
    elif not np.issubdtype(arr.dtype, np.integer) and arr.dtype != np.bool_:
        return f"label map has voxel type {arr.dtype}, expected integers"
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0:
        return f"label map has negative value {lo:g}"
    if expected is None:
        return ""
    extra = [v for v in _present_values(arr, int(hi)) if v not in set(expected)]
    if extra:
        return f"label values {extra} are outside the expected set {sorted(expected)}"
    return ""


def _present_values(arr: np.ndarray, hi: int) -> list[int]:
    if hi <= 1 << 16:
        counts = np.bincount(arr.astype(np.int64, copy=False).ravel(), minlength=hi + 1)
        return [int(v) for v in np.flatnonzero(counts)][:20]
    return [int(v) for v in np.unique(arr)][:20]


def plan(scans: list[ScanSource], existing: pd.DataFrame, force: bool = False) -> list[ScanSource]:
    """Sources to (re)read: new ones and those whose fingerprint changed."""
    if force or existing.empty:
        return list(scans)
    known = dict(zip(existing["source_key"], existing["fingerprint"], strict=True))
    retry = set(existing.loc[catalog.transient_quarantine(existing, "ingest"), "source_key"])
    return [s for s in scans if known.get(s.source_uri) != s.fingerprint or s.source_uri in retry]


def commit(
    where: LocationLike, rows: list[dict[str, Any]], reread: list[ScanSource]
) -> pd.DataFrame:
    """Merge fresh rows into the catalog at ``where`` and write it atomically.

    The merge reads the catalog as it is now, under the catalog's lease, so a concurrent
    ingest's rows are merged, never overwritten.  When nothing was re-read the catalog is
    left byte-for-byte untouched.
    """
    where = Location.of(where)
    if not reread and where.exists():
        return catalog.load(where)
    with catalog.lease(where, "ingest") as lease:
        df = catalog.merge(catalog.load(where), rows, {s.source_uri for s in reread})
        lease.check()
        catalog.save(df, where)
    return df


def ingest_sequential(
    source: LocationLike,
    catalog_at: LocationLike,
    cache_dir: Path,
    force: bool = False,
    isolate: bool = True,
) -> pd.DataFrame:
    """The whole ingest in one process, no orchestration (tests, notebooks, baselines)."""
    from genesis_core.io.layout import list_source

    listing = list_source(source)
    todo = plan(listing.scans, catalog.load(catalog_at), force=force)
    rows = [r for src in todo for r in rows_for_source(src, cache_dir, source, isolate=isolate)]
    return commit(catalog_at, rows, todo)
