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
from genesis_core.store.writer import new_generation
from genesis_core.target_tasks import target_task
from genesis_core.targets import TargetConfig, build_target_scan, commit_targets, rows_for_scan
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
    root: str | None = None,
) -> list[dict]:
    """``ok`` scans (with a label map for lcs/seg) not yet committed; each carries its CSV rows."""
    s = get_settings(root)
    df, manifest = catalog.load(s.location(catalog_uri)), read_latest(s.location(store_uri))
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
    root: str | None = None,
) -> tuple[ScanReport, ...]:
    s = get_settings(root)
    cfg = TargetConfig.from_dict(config)
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
    )
    return tuple(ScanReport.from_dict(r) for r in results)


@task(name="commit-targets", cache_policy=NO_CACHE)
def commit_target_store(
    store_uri: str, results: Sequence[ScanReport], config: dict, root: str | None = None
) -> TargetCommit:
    manifest = commit_targets(
        get_settings(root).location(store_uri),
        [r.to_dict() for r in results],
        TargetConfig.from_dict(config),
    )
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
