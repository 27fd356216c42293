"""Delete generations no manifest will read again (``genesis store gc``).

Committed data is immutable, so old data is only ever removed, never rewritten:

* a generation some older manifest listed but the latest does not is *superseded*: no
  writer ever writes it again, so it is removed at once;
* a generation no manifest ever listed is a crashed or in-flight attempt: it is removed
  only once older than ``grace_seconds`` (default a day), so a writer still working on
  it is never robbed.

Readers holding an older manifest can lose superseded generations; that is the point of
collecting them, and why it is a separate, explicit step.
"""

from __future__ import annotations

import time

from genesis_core.io.storage import Location, LocationLike
from genesis_core.store.manifest import all_groups, read_latest

LEGACY_ARRAYS = ("cubes", "images", "masks", "labels")  # stores written before generations


def _newest_mtime(fs, path: str) -> float:
    stamps = []
    for info in fs.find(path, detail=True).values():
        m = info.get("mtime") or info.get("LastModified")
        if m is not None:
            stamps.append(m.timestamp() if hasattr(m, "timestamp") else float(m))
    return max(stamps, default=0.0)


def gc_store(
    store: LocationLike,
    grace_seconds: float = 86400.0,
    dry_run: bool = False,
) -> dict[str, list[str]]:
    """Remove superseded and stale uncommitted generations; returns what was (or would be) removed."""
    store = Location.of(store)
    latest = read_latest(store)
    live = {e.group for e in latest.scans.values()}
    ever = all_groups(store)
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
