"""Prefect tasks for target-task datasets (ncc, lcs, ncs): plan, fan out on Dask, commit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from genesis_core import catalog, planning
from genesis_core.io.annotations import valid_rows
from genesis_core.io.storage import Location
from genesis_core.store import read_latest
from genesis_core.store.committer import Committer
from genesis_core.store.lock import StoreLock
from genesis_core.store.manifest import read_version
from genesis_core.store.writer import new_generation
from genesis_core.target_tasks import target_task
from genesis_core.targets import TargetConfig, build_target_scan, committable, rows_for_scan
from tasks.contracts.base import ScanReport, reports_with
from tasks.contracts.targets import TargetCommit
from tasks.fanout import run_per_scan
from tasks.settings import get_settings


def _table(cat: Location, task_name: str) -> pd.DataFrame | None:
    kind = target_task(task_name).catalog_table
    if kind is None:
        return None
    table = cat.at(cat.uri.removesuffix(".parquet") + f".{kind}.parquet")
    if not table.exists():
        raise FileNotFoundError(
            f"task {task_name} needs {kind}.csv; {table} is missing (ingest a LUNA16 dataset)"
        )
    import io

    return valid_rows(pd.read_parquet(io.BytesIO(table.read_bytes())))


@task(name="plan-targets", cache_policy=NO_CACHE)
def plan_targets(
    catalog_uri: str,
    store_uri: str,
    task_name: str,
    force: bool = False,
    version: int | None = None,
    root: str | None = None,
) -> list[dict]:
    """``ok`` scans (with a label map for lcs/seg) not yet committed; each carries its CSV
    rows.  ``version``: the store version the writer's lease holds (default: the latest)."""
    s = get_settings(root)
    store = s.location(store_uri)
    manifest = read_latest(store) if version is None else read_version(store, version)
    df = catalog.load(s.location(catalog_uri))
    rows = planning.target_rows(df, catalog_uri, manifest, task_name, force)
    table = _table(s.location(catalog_uri), task_name)
    for r in rows:
        r["table"] = None if table is None else rows_for_scan(table, r["scan_id"])
    return rows


def _build(row: dict, **kw: Any) -> dict[str, Any]:
    table = row.pop("table", None)
    return build_target_scan(kw.pop("task_name"), row, table, **kw)


@task(name="build-targets-on-dask", cache_policy=NO_CACHE)
def build_targets(
    rows: list[dict],
    config: dict,
    store_uri: str,
    scheduler: str | None,
    workers: int | None,
    lease: StoreLock | None = None,
    root: str | None = None,
) -> tuple[ScanReport, ...]:
    """Build every row's samples on Dask, committing each finished scan at once (fenced by
    the store's ``lease``), so a crash loses at most the scans in flight."""
    s = get_settings(root)
    cfg = TargetConfig.from_dict(config)
    committer = Committer(
        s.location(store_uri),
        cfg.to_dict(),
        cfg.hash(),
        every_n=s.commit_every,
        lease=lease,
        accept=committable,
    )
    results = run_per_scan(
        _build,
        rows,
        f"targets-{cfg.task}",
        scheduler,
        workers,
        task_name=cfg.task,
        config=cfg,
        store=s.location(store_uri),
        cache_dir=str(s.cache_path),
        root=root,
        generation=new_generation(),
        on_result=committer.add,
    )
    committer.close()
    return tuple(ScanReport.from_dict(r) for r in results)


@task(name="commit-targets", cache_policy=NO_CACHE)
def commit_target_store(
    store_uri: str, results: Sequence[ScanReport], version: int, root: str | None = None
) -> TargetCommit:
    """Report the store version this run committed (its lease's, never a later writer's)."""
    manifest = read_version(get_settings(root).location(store_uri), version)
    return TargetCommit(
        store_uri=store_uri,
        manifest_version=manifest.version,
        scans_in_store=len(manifest.scans),
        samples_in_store=manifest.n_cubes,
        done=len(reports_with(results, "ok")),
        failed=tuple(r.issue for r in reports_with(results, "failed")),
        empty=tuple(r.issue for r in reports_with(results, "empty")),
        positives_written=sum(r.n_positive for r in results),
    )
