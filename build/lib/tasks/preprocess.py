"""Prefect tasks for preprocessing: plan (catalog minus manifest), fan out on Dask, commit."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE

from genesis_core import catalog, planning
from genesis_core.io.storage import Location
from genesis_core.preprocess import PreprocessConfig, preprocess_scan
from genesis_core.store import read_latest
from genesis_core.store.committer import Committer
from genesis_core.store.lock import StoreLock
from genesis_core.store.manifest import read_version
from genesis_core.store.writer import new_generation
from tasks.contracts.base import ScanReport, reports_with
from tasks.contracts.preprocess import StoreCommit
from tasks.fanout import run_per_scan
from tasks.settings import get_settings


@task(name="plan-preprocess", cache_policy=NO_CACHE)
def plan_preprocess(
    catalog_uri: str,
    store_uri: str,
    config: dict,
    force: bool = False,
    version: int | None = None,
    root: str | None = None,
) -> list[dict]:
    """``ok`` scans of the catalog that the store's manifest lacks (or all, with ``force``);
    a scan whose content hash changed since it was committed is redone.  ``version``: the
    store version the writer's lease holds (default: the latest)."""
    s = get_settings(root)
    store = s.location(store_uri)
    manifest = read_latest(store) if version is None else read_version(store, version)
    df = catalog.load(s.location(catalog_uri))
    return planning.preprocess_rows(df, catalog_uri, manifest, store_uri, config, force)


@task(name="preprocess-scans-on-dask", cache_policy=NO_CACHE)
def process_scans(
    rows: list[dict],
    config: dict,
    store_uri: str,
    scheduler: str | None,
    workers: int | None,
    force: bool = False,
    lease: StoreLock | None = None,
    root: str | None = None,
) -> tuple[ScanReport, ...]:
    """Run :func:`preprocess_scan` for every row on Dask; each scan's report comes back.

    Finished scans are committed as they arrive (each one, by default), so a crash loses
    at most the scans in flight; the last commit happens before this returns.  With the
    store's ``lease`` every commit is fenced (a writer that lost it never commits).
    """
    s = get_settings(root)
    cfg = PreprocessConfig.from_dict(config)
    committer = Committer(
        s.location(store_uri),
        cfg.to_dict(),
        cfg.hash(),
        replace=force,
        every_n=s.commit_every,
        lease=lease,
    )
    results = run_per_scan(
        preprocess_scan,
        rows,
        "preprocess",
        scheduler,
        workers,
        config=cfg,
        store=s.location(store_uri),
        cache_dir=str(s.cache_path),
        generation=new_generation(),
        on_result=committer.add,
        root=root,
    )
    committer.close()
    return tuple(ScanReport.from_dict(r) for r in results)


@task(name="record-store", cache_policy=NO_CACHE)
def commit_store(
    store_uri: str,
    catalog_uri: str,
    results: Sequence[ScanReport],
    version: int,
    root: str | None = None,
) -> StoreCommit:
    """Record the run in the catalog (failed scans quarantined) and report the store
    version this run committed (its lease's: never a later writer's)."""
    s = get_settings(root)
    store, cat = s.location(store_uri), s.location(catalog_uri)
    good = reports_with(results, "ok", "empty")
    manifest = read_version(store, version)
    failed = reports_with(results, "failed")
    if failed or good:
        _record(cat, failed, [r.scan_id for r in good])
    return StoreCommit(
        store_uri=store_uri,
        manifest_version=manifest.version,
        scans_in_store=len(manifest.scans),
        cubes_in_store=manifest.n_cubes,
        done=len(good),
        failed=tuple(r.issue for r in failed),
        empty=tuple(r.issue for r in reports_with(results, "empty")),
        cubes_written=sum(r.n_cubes for r in good),
        store_bytes=_size(store),
        scan_seconds=sum(r.seconds for r in results),
        peak_rss_mb=max((r.peak_rss_mb for r in results), default=0),
    )


def _record(cat: Location, failed: list[ScanReport], done: list[str]) -> None:
    """Quarantine scans that failed on bad data; restore those an I/O fault had quarantined
    (under the catalog's lease: an ingest running meanwhile keeps its rows)."""
    with catalog.lease(cat, "preprocess") as lease:
        df = catalog.load(cat)
        restore = catalog.transient_quarantine(df, "preprocess") & df["scan_id"].isin(done)
        reasons = {r.scan_id: f"preprocess failed: {r.reason}" for r in failed}
        hit = df["scan_id"].isin(reasons)
        if not (hit.any() or restore.any()):
            return
        df.loc[restore, ["status", "reason"]] = [catalog.OK, ""]
        df.loc[hit, "status"] = catalog.QUARANTINED
        df.loc[hit, "reason"] = df.loc[hit, "scan_id"].map(reasons)
        lease.check()
        catalog.save(df, cat)


def _size(store: Location) -> int:
    fs, path = store.filesystem()
    return int(fs.du(path)) if fs.exists(path) else 0
