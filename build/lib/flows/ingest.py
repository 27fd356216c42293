"""The ingest flow: list a SOURCE, read new/changed scans in parallel, commit the catalog."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from flows.options import Source, reveal
from genesis_core import catalog
from tasks.contracts.ingest import IngestResult
from tasks.ingest import commit_catalog, ingest_annotations, list_scans, plan_ingest, read_scan
from tasks.privacy import shown
from tasks.progress import progress_bar
from tasks.services import check_storage
from tasks.settings import get_settings


@flow(name="ingest", task_runner=ThreadPoolTaskRunner(max_workers=4), log_prints=True)
def ingest_flow(
    source: Source, dataset: str, root: str | None = None, force: bool = False
) -> IngestResult:
    """Catalog every scan under ``source`` into ``ROOT/catalog/DATASET.parquet``.

    Only new or changed files are read (``force`` re-reads all); bad scans are
    quarantined with a reason and the run goes on.  ``source`` may be a ``SecretStr``
    (:func:`flows.options.private`): Prefect then records it masked.
    """
    settings = get_settings(root)
    source, name = reveal(source), dataset
    check_storage(source, settings.root_uri, root=root)
    uri = catalog.catalog_uri(settings.root_uri, name)
    listing = list_scans(source, root=root)
    todo = plan_ingest(listing, uri, force, root=root)
    rows: list[dict[str, Any]] = []
    futures = read_scan.map(todo, root=root)
    with progress_bar(f"ingest {name}", total=len(todo)) as advance:
        for fut in as_completed(futures):
            new = fut.result()
            rows.extend(new)
            advance(info=shown(new[0]["scan_id"], root) if new else "")
    report = IngestResult.of(
        commit_catalog(uri, rows, todo, root=root),
        dataset=name,
        layout=listing.layout,
        listed=len(listing.scans),
        annotations=ingest_annotations(listing, uri, root=root),
    )
    get_run_logger().info(
        "catalog %s: %d scans (%d ok, %d quarantined), %d read this run",
        uri,
        report.scans,
        report.ok,
        report.quarantined,
        report.read,
    )
    return report
