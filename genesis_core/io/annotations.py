"""LUNA16 annotation CSVs (``annotations.csv``, ``candidates.csv``): validated, linked to scans.

Coordinates are world millimetres (X, Y, Z).  Rows whose ``seriesuid`` has no
catalogued scan are kept with ``has_scan = False`` and reported, not dropped.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from genesis_core.io import storage

REQUIRED = {
    "annotations": ["seriesuid", "coordX", "coordY", "coordZ", "diameter_mm"],
    "candidates": ["seriesuid", "coordX", "coordY", "coordZ", "class"],
}


class AnnotationError(ValueError):
    """The CSV cannot be used at all (missing columns, unreadable)."""


@dataclass
class AnnotationReport:
    kind: str
    rows: int = 0
    invalid: list[str] = field(default_factory=list)
    orphans: int = 0
    orphan_ids: list[str] = field(default_factory=list)


def load_annotations(
    uri: str, kind: str, scan_ids: set[str], storage_options: Mapping[str, Any] | None = None
) -> tuple[pd.DataFrame, AnnotationReport]:
    """Read and validate one CSV; returns the valid rows with ``has_scan``."""
    try:
        df = pd.read_csv(io.BytesIO(storage.read_bytes(uri, storage_options)))
    except Exception as e:  # noqa: BLE001 - any parse failure is reported the same way
        raise AnnotationError(f"{uri}: cannot parse CSV ({e})") from e
    missing = [c for c in REQUIRED[kind] if c not in df.columns]
    if missing:
        raise AnnotationError(f"{uri}: missing columns {missing}; need {REQUIRED[kind]}")
    report = AnnotationReport(kind=kind)
    num_cols = REQUIRED[kind][1:]
    nums = df[num_cols].apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(nums.to_numpy(dtype=float)).all(axis=1)
    for i in np.flatnonzero(bad)[:20]:
        report.invalid.append(f"{uri} row {i + 2}: non-numeric or missing value in {num_cols}")
    df = df.loc[~bad].copy()
    df[num_cols] = nums.loc[~bad]
    df["seriesuid"] = df["seriesuid"].astype(str)
    df["has_scan"] = df["seriesuid"].isin(scan_ids)
    report.rows = int(len(df))
    report.orphans = int((~df["has_scan"]).sum())
    report.orphan_ids = sorted(set(df.loc[~df["has_scan"], "seriesuid"]))[:20]
    return df.reset_index(drop=True), report
