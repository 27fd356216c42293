"""What a stage still has to do: the catalog's ``ok`` scans that a store lacks.

Pure functions of a loaded catalog and a store's manifest, shared by the Prefect
planning tasks and the ``genesis`` command line, which uses them to say "nothing to
do" (and why) without starting the orchestration.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from genesis_core import catalog
from genesis_core.store.manifest import Manifest, check_same_config
from genesis_core.target_tasks import target_task

PREPROCESS_FIELDS = ("scan_id", "source_uri", "format", "sha256", "subset")
TARGET_FIELDS = ("scan_id", "source_uri", "format", "label_uri", "sha256", "subset")


def _require(df: pd.DataFrame, catalog_uri: str) -> None:
    if df.empty:
        raise FileNotFoundError(
            f"no catalog at {catalog_uri}: run `genesis ingest SOURCE --dataset NAME` first"
        )


def preprocess_rows(
    df: pd.DataFrame,
    catalog_uri: str,
    manifest: Manifest,
    store_uri: str,
    config: dict,
    force: bool = False,
) -> list[dict[str, Any]]:
    """``ok`` scans (and transiently quarantined ones, retried) the store lacks; all with
    ``force``.  Another config on a committed store is refused, naming the fields."""
    _require(df, catalog_uri)
    ok = df[(df["status"] == catalog.OK) | catalog.transient_quarantine(df, "preprocess")]
    if manifest.version and not force:
        check_same_config(store_uri, manifest.config, config)
    return catalog.pending(ok, {} if force else manifest.scans, PREPROCESS_FIELDS)


def target_rows(
    df: pd.DataFrame, catalog_uri: str, manifest: Manifest, task: str, force: bool = False
) -> list[dict[str, Any]]:
    """``ok`` scans (with a label map where the task needs one) the target store lacks."""
    _require(df, catalog_uri)
    ok = df[df["status"] == catalog.OK]
    if target_task(task).label_map:
        ok = ok[ok["label_uri"].fillna("") != ""]
    return catalog.pending(ok, {} if force else manifest.scans, TARGET_FIELDS)
