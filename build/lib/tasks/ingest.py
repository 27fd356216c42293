"""Prefect tasks for the ingest stage: thin wiring around :mod:`genesis_core.ingest`.

Tasks pass references and small dicts (catalog rows), never voxel arrays.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from genesis_core import catalog, ingest
from genesis_core.io.annotations import AnnotationError, load_annotations
from genesis_core.io.layout import Listing, ScanSource, list_source
from tasks.contracts.ingest import AnnotationTable, CatalogCommit, QuarantinedScan
from tasks.settings import get_settings


@task(name="list-source", cache_policy=NO_CACHE)
def list_scans(source: str, root: str | None = None) -> Listing:
    return list_source(get_settings(root).location(source))


@task(name="plan-ingest", cache_policy=NO_CACHE)
def plan_ingest(
    listing: Listing, catalog_uri: str, force: bool = False, root: str | None = None
) -> list[ScanSource]:
    existing = catalog.load(get_settings(root).location(catalog_uri))
    return ingest.plan(listing.scans, existing, force=force)


# Bad data never raises here (it becomes a quarantined row): what does is an I/O fault,
# retried with backoff, then failing the run.
@task(name="read-scan", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def read_scan(src: ScanSource, root: str | None = None) -> list[dict[str, Any]]:
    s = get_settings(root)
    return ingest.rows_for_source(src, s.cache_path, s.location(src.source_uri))


@task(name="commit-catalog", cache_policy=NO_CACHE)
def commit_catalog(
    catalog_uri: str,
    rows: list[dict[str, Any]],
    reread: list[ScanSource],
    root: str | None = None,
) -> CatalogCommit:
    df = ingest.commit(get_settings(root).location(catalog_uri), rows, reread)
    quarantined = df[df["status"] == catalog.QUARANTINED]
    return CatalogCommit(
        catalog_uri=catalog_uri,
        **catalog.summary(df),
        read=len(reread),
        quarantine=tuple(
            QuarantinedScan(r.scan_id, r.source_uri, r.reason) for r in quarantined.itertuples()
        ),
    )


@task(name="ingest-annotations", cache_policy=NO_CACHE)
def ingest_annotations(
    listing: Listing, catalog_uri: str, root: str | None = None
) -> tuple[AnnotationTable, ...]:
    """Validate LUNA16 CSVs against the catalog; save them beside it as parquet."""
    s = get_settings(root)
    scans = catalog.load(s.location(catalog_uri))
    scan_ids = set(scans["scan_id"])
    reports = []
    for kind, uri in (
        ("annotations", listing.annotations_uri),
        ("candidates", listing.candidates_uri),
    ):
        if uri is None:
            continue
        try:
            df, rep = load_annotations(s.location(uri), kind, scan_ids, scans)
        except AnnotationError as e:
            reports.append(AnnotationTable(kind, error=str(e)))
            continue
        out = catalog_uri.removesuffix(".parquet") + f".{kind}.parquet"
        s.location(out).write_bytes_atomic(df.to_parquet(index=False))
        reports.append(AnnotationTable.from_dict({**asdict(rep), "uri": out}))
    return tuple(reports)
