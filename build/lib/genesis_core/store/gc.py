"""Delete generations no manifest will read again (``genesis store gc``).

Committed data is immutable, so old data is only ever removed, never rewritten:

* a version is *retained* while it was the newest within the last ``retention_seconds``
  (default a day; like Delta's VACUUM retention or Iceberg's ``expire_snapshots``): a
  reader or a training run may still hold it, so every generation it lists is kept;
* a generation only versions older than that listed is *superseded*: no writer or
  reader needs it again, so it is removed;
* a generation no manifest ever listed is a crashed or in-flight attempt: it is removed
  only once older than ``grace_seconds`` (default a day), so a writer still working on
  it is never robbed.

A reader pinned to a version that expired can lose its data; that is the point of
collecting, and why it is a separate, explicit step.  Every record of the log is read
and checked first: gc never runs on a damaged log.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from genesis_core.io.storage import Location, LocationLike
from genesis_core.store.manifest import ScanEntry, log_records, record_entries

LEGACY_ARRAYS = ("cubes", "images", "masks", "labels")  # stores written before generations


def _newest_mtime(fs, path: str) -> float:
    stamps = []
    for info in fs.find(path, detail=True).values():
        m = info.get("mtime") or info.get("LastModified")
        if m is not None:
            stamps.append(m.timestamp() if hasattr(m, "timestamp") else float(m))
    return max(stamps, default=0.0)


def _created(record: dict) -> float:
    try:
        return datetime.fromisoformat(record["created"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return float("inf")  # no readable time: assume it is recent, never expire it


def retained_groups(records: Sequence[dict], retention_seconds: float, now: float) -> set[str]:
    """Groups listed by any version that was the newest at some time within the window."""
    horizon = now - retention_seconds
    # version i stopped being the newest when version i + 1 was created
    first = next(
        (
            i
            for i in range(len(records))
            if i + 1 == len(records) or _created(records[i + 1]) > horizon
        ),
        len(records),
    )
    scans: dict[str, str] = {}
    keep: set[str] = set()
    for i, r in enumerate(records):
        entries = {k: ScanEntry(**e).group for k, e in record_entries(r).items()}
        if r.get("kind") != "delta":
            scans = entries
        else:
            scans.update(entries)  # in place: a log of many small deltas stays linear
        keep |= (
            set(scans.values()) if i == first else (set(entries.values()) if i > first else set())
        )
    return keep


def gc_store(
    store: LocationLike,
    grace_seconds: float = 86400.0,
    dry_run: bool = False,
    retention_seconds: float = 86400.0,
) -> dict[str, list[str]]:
    """Remove superseded and stale uncommitted generations; returns what was (or would be) removed."""
    store = Location.of(store)
    records = log_records(store)
    live = retained_groups(records, retention_seconds, time.time())
    ever = {ScanEntry(**e).group for r in records for e in record_entries(r).values()}
    fs, root = store.filesystem()
    scans_dir = f"{root.rstrip('/')}/scans"
    report: dict[str, list[str]] = {"superseded": [], "stale": [], "kept": []}
    if not fs.exists(scans_dir):
        return report
    now = time.time()
    for scan_dir in sorted(fs.ls(scans_dir, detail=False)):
        sid = scan_dir.rstrip("/").rsplit("/", 1)[-1]
        if sid == "zarr.json":
            continue
        for child in sorted(fs.ls(scan_dir, detail=False)):
            name = child.rstrip("/").rsplit("/", 1)[-1]
            if name == "zarr.json":
                continue
            group = f"scans/{sid}" if name in LEGACY_ARRAYS else f"scans/{sid}/{name}"
            if group in live:
                report["kept"].append(group)
                continue
            kind = "superseded" if group in ever else "stale"
            if kind == "stale" and now - _newest_mtime(fs, child) < grace_seconds:
                report["kept"].append(group)
                continue
            report[kind].append(group if name not in LEGACY_ARRAYS else f"{group}/{name}")
            if not dry_run:
                fs.rm(child, recursive=True)
    report["kept"] = sorted(set(report["kept"]))
    return report
