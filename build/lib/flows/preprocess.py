"""The preprocess flow: catalogued scans → cubes in a Zarr cube store, in parallel on Dask."""

from __future__ import annotations

import time
from typing import Literal

from prefect import flow, get_run_logger

from flows.options import Border, Cube, Spacing, build_config, store_uri_for
from genesis_core import catalog
from tasks.contracts.preprocess import PreprocessResult
from tasks.locks import store_writer
from tasks.preprocess import commit_store, plan_preprocess, process_scans
from tasks.services import check_storage
from tasks.settings import get_settings


@flow(name="preprocess", log_prints=True)
def preprocess_flow(
    dataset: str,
    root: str | None = None,
    store: str | None = None,
    spacing: Spacing | None = (1.0, 1.0, 1.0),
    cube: Cube = (64, 64, 32),
    cubes_per_scan: int = 32,
    seed: int = 0,
    acceptance: Literal["lung", "none"] = "lung",
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    border: Border = "auto",
    preset: Literal["default", "paper"] = "default",
) -> PreprocessResult:
    """Resample, window and cut cubes for every ``ok`` scan of ``dataset`` not yet in the store.

    ``preset="paper"`` reproduces the reference's cube geometry (native spacing, borders
    100/100/30, short scans skipped).  ``spacing`` is X,Y,Z mm (``None``: native), ``cube``
    X,Y,Z voxels, ``border`` X,Y,Z voxels or ``"auto"``; a deployment passes them as JSON
    lists (``"spacing": [1, 1, 1]``).

    Per-scan work runs as plain functions on Dask (a LocalCluster, or
    ``scheduler``/``GENESIS_DASK_ADDRESS``); the manifest is committed last.
    """
    t0 = time.perf_counter()
    settings = get_settings(root)
    cfg = build_config(spacing, cube, cubes_per_scan, seed, acceptance, border, preset)
    catalog_uri = catalog.catalog_uri(settings.root_uri, dataset)
    store_uri = store or store_uri_for(settings.root_uri, dataset)
    check_storage(settings.root_uri, store_uri, root=root)
    with store_writer(store_uri, f"preprocess {dataset}", root=root) as lock:
        rows = plan_preprocess(
            catalog_uri, store_uri, cfg.to_dict(), force, lock.version, root=root
        )
        results = process_scans(
            rows, cfg.to_dict(), store_uri, scheduler, workers, force, lock, root=root
        )
        commit = commit_store(store_uri, catalog_uri, results, lock.version, root=root)
    wall = time.perf_counter() - t0
    report = PreprocessResult.of(
        commit,
        dataset=dataset,
        planned=len(rows),
        wall_seconds=round(wall, 2),
        scans_per_second=round(len(rows) / wall, 3) if rows else 0.0,
        config_hash=cfg.hash(),
    )
    get_run_logger().info(
        "store %s: %d scans, %d cubes; this run %d done, %d failed in %.1fs",
        store_uri,
        report.scans_in_store,
        report.cubes_in_store,
        report.done,
        len(report.failed),
        wall,
    )
    return report
