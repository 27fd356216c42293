"""One target-task scan: read → resample → build samples → write (uncommitted) → report.

:func:`build_target_scan` mirrors :func:`genesis_core.preprocess.preprocess_scan`: a
plain function Dask workers run directly, returning a small dict and never raising
for a bad scan.  :func:`commit_targets` then lists the good scans in a manifest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genesis_core.cubes.rng import rng_for
from genesis_core.faults import is_transient
from genesis_core.io import storage
from genesis_core.io.annotations import WORLD
from genesis_core.io.geometry import inside_extent
from genesis_core.io.readers import read_catalogued, read_image
from genesis_core.io.storage import Location, LocationLike
from genesis_core.store.manifest import Manifest, ScanEntry, commit_scans
from genesis_core.target_tasks import target_task
from genesis_core.targets.arrays import TargetArrays
from genesis_core.targets.config import TargetConfig
from genesis_core.targets.writer import write_target_scan
from genesis_core.volume import Volume


def rows_for_scan(
    table: pd.DataFrame | None, scan_id: str, column: str = "seriesuid"
) -> pd.DataFrame | None:
    """The rows of a LUNA16 CSV (candidates/annotations) that belong to ``scan_id``."""
    if table is None:
        return None
    return table.loc[table[column].astype(str) == scan_id]


def _present(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _subset(v: Any) -> int | None:
    return int(v) if _present(v) else None


def target_arrays(
    config: TargetConfig,
    image: Volume,
    label: Volume | None,
    table: pd.DataFrame | None,
    rng: np.random.Generator,
) -> TargetArrays:
    """The task's builder (arrays in, arrays out): :data:`~genesis_core.target_tasks.TARGET_TASKS`.

    Rows whose world point lies outside ``image`` never make a sample (ingest marks them
    invalid; a table saved before that check is filtered here)."""
    return target_task(config.task).build(image, label, rows_inside(table, image), config, rng)


def rows_inside(table: pd.DataFrame | None, image: Volume) -> pd.DataFrame | None:
    """The rows of ``table`` whose world point (coordX, coordY, coordZ) lies inside ``image``."""
    if table is None or len(table) == 0 or not set(WORLD).issubset(table.columns):
        return table
    points = table[WORLD].to_numpy(np.float64)
    keep = inside_extent(points, image.origin, image.spacing, image.direction, image.shape_xyz)
    return table.loc[keep]


def _read_label(row: Mapping[str, Any], cache_dir: Path, store: Location) -> Volume | None:
    uri = row.get("label_uri")
    if not _present(uri) or not uri:
        return None
    with storage.staged([store.at(uri)], cache_dir) as (path,):
        return read_image(path)


def _report(row: Mapping[str, Any], config: TargetConfig) -> dict[str, Any]:
    return {
        "scan_id": row["scan_id"],
        "task": config.task,
        "subset": _subset(row.get("subset")),
        "n_cubes": 0,
        "n_positive": 0,
        "source_sha256": row.get("sha256") or "",
        "status": "ok",
        "reason": "",
    }


def build_target_scan(
    task: str,
    row: Mapping[str, Any],
    table: pd.DataFrame | None,
    config: TargetConfig,
    store: LocationLike,
    cache_dir: str | Path,
    generation: str | None = None,
) -> dict[str, Any]:
    """Build and write one catalogued scan's samples; report, never raise for a bad scan.

    The scan and its label are reached with the store's options (one endpoint per run).

    ``row``: a catalog row (scan_id, source_uri, format, label_uri, sha256, subset);
    ``table``: this scan's candidates (ncc) or annotations (ncs) rows, world mm.
    Returns ``status`` ok / empty (nothing to write) / failed with ``reason``, and
    ``n_cubes`` (``n_positive``: positives for ncc, foreground cubes for segmentation).
    """
    if task != config.task:
        raise ValueError(f"task {task!r} does not match config.task {config.task!r}")
    t0 = time.perf_counter()
    out = _report(row, config)
    try:
        cache, store = Path(cache_dir), Location.of(store)
        image = read_catalogued(
            store.at(row["source_uri"]), row["format"], cache, row.get("sha256")
        )
        label = _read_label(row, cache, store) if target_task(task).label_map else None
        arrays = target_arrays(config, image, label, table, rng_for(config.seed, row["scan_id"]))
        attrs = {
            **arrays.attrs(config.cube_zyx),
            "task": task,
            "config_hash": config.hash(),
            "source_sha256": out["source_sha256"],
        }
        written = write_target_scan(store, row["scan_id"], arrays, attrs, generation)
        out.update(n_cubes=written.n, path=written.path, checksum=written.checksum)
        out["n_positive"] = _positives(arrays)
        if not out["n_cubes"]:
            out.update(status="empty", reason=f"no {task} samples for this scan")
    except Exception as e:  # noqa: BLE001 - bad data is recorded, never fatal
        if is_transient(e):
            raise  # an I/O fault: retried by Dask, then it fails the run; never a quarantine
        out.update(
            status="failed",
            reason=f"{row['scan_id']} ({row.get('source_uri')}): {type(e).__name__}: {e}",
        )
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def _positives(arrays: TargetArrays) -> int:
    if arrays.labels is not None:
        return int(np.count_nonzero(arrays.labels))
    if arrays.masks is not None and len(arrays):
        return int(np.count_nonzero(arrays.masks.reshape(len(arrays), -1).any(axis=1)))
    return 0


def committable(result: Mapping[str, Any]) -> bool:
    """Whether a per-scan report is committed: ``ok`` with at least one sample."""
    return result.get("status") == "ok" and int(result.get("n_cubes", 0)) > 0


def commit_targets(
    store: LocationLike,
    results: Sequence[Mapping[str, Any]],
    config: TargetConfig,
    expect: int | None = None,
) -> Manifest:
    """Commit every ``ok`` result with samples in one version (``expect``: fenced, see
    :func:`genesis_core.store.manifest.commit_scans`)."""
    entries = [ScanEntry.from_result(r) for r in results if committable(r)]
    return commit_scans(store, entries, config.to_dict(), config.hash(), expect=expect)
