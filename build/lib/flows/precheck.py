"""Before a command starts the orchestration: is there anything to do, and why not?

Each check reads only what the stage's own planning reads (a listing, the catalog, a
store's manifest, a finished run's record) with the same ``genesis_core`` functions, and
imports neither Prefect nor Dask nor MLflow, so a rerun with nothing new answers in about
a second: ``None`` means "run the stage", a string is the reason there is nothing to do.
"""

from __future__ import annotations

import json
from pathlib import Path

from genesis_core import catalog, ingest, planning
from genesis_core.io.layout import list_source
from genesis_core.io.storage import Location
from genesis_core.store import read_latest
from tasks.contracts.pretrain import PretrainResult


def ingest_noop(source: Location, cat: Location, force: bool) -> str | None:
    """Every listed file is catalogued with an unchanged fingerprint and the annotation
    tables are newer than their CSVs."""
    if force or not cat.exists():
        return None
    listing = list_source(source)
    existing = catalog.load(cat)
    if ingest.plan(listing.scans, existing, force=False):
        return None
    for kind, csv in (
        ("annotations", listing.annotations_uri),
        ("candidates", listing.candidates_uri),
    ):
        table = cat.at(cat.uri.removesuffix(".parquet") + f".{kind}.parquet")
        if csv is not None and not _newer(table, cat.at(csv)):
            return None
    return (
        f"all {len(listing.scans)} sources under {source} are catalogued, unchanged since they "
        f"were read ({cat}); --force re-reads them"
    )


def _newer(target: Location, source: Location) -> bool:
    """``target`` exists and was written after ``source`` last changed."""
    fs, path = target.filesystem()
    sfs, spath = source.filesystem()
    try:
        return fs.modified(path) >= sfs.modified(spath)
    except (FileNotFoundError, NotImplementedError):
        return False


def preprocess_noop(cat: Location, store: Location, config: dict, force: bool) -> str | None:
    """Every ``ok`` scan of the catalog is committed, from the same content and config."""
    catalog_uri, store_uri = cat.uri, store.uri
    df, manifest = catalog.load(cat), read_latest(store)
    # raises, naming the fix, for a missing catalog or another config on this store
    if planning.preprocess_rows(df, catalog_uri, manifest, store_uri, config, force) or force:
        return None
    return (
        f"all {len(manifest.scans)} ok scans of {catalog_uri} are in {store_uri} "
        f"(manifest v{manifest.version}, same config); --force rebuilds them"
    )


def targets_noop(cat: Location, store: Location, task: str, force: bool) -> str | None:
    """Every eligible scan is committed to the target store from the same content."""
    catalog_uri, store_uri = cat.uri, store.uri
    df, manifest = catalog.load(cat), read_latest(store)
    todo = planning.target_rows(df, catalog_uri, manifest, task, force)  # no catalog: raises
    if todo or force or not manifest.version:
        return None
    return (
        f"all {len(manifest.scans)} eligible scans of {catalog_uri} are in {store_uri} "
        f"(manifest v{manifest.version}); --force rebuilds them"
    )


def finished_run(run_dir: Path) -> PretrainResult | None:
    """The record a finished, registered pre-training run left (see ``flows.pretrain``);
    ``None`` when there is none, or none this version can read."""
    try:
        return PretrainResult.from_dict(json.loads((run_dir / "registered.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def require_store(store: Location, fix: str) -> int:
    """The store's committed manifest version; a missing store is an error naming the fix."""
    version = read_latest(store).version
    if not version:
        raise FileNotFoundError(f"no committed store at {store}: {fix}")
    return version
