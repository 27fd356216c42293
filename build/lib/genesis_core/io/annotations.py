"""LUNA16 annotation CSVs (``annotations.csv``, ``candidates.csv``): validated, linked to scans.

Coordinates are world millimetres (X, Y, Z).  Rows whose ``seriesuid`` has no
catalogued scan are kept with ``has_scan = False`` and reported, not dropped; rows
with invalid values are kept with ``valid = False`` and the ``problem``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from genesis_core.io.geometry import inside_extent
from genesis_core.io.storage import Location, LocationLike

REQUIRED = {
    "annotations": ["seriesuid", "coordX", "coordY", "coordZ", "diameter_mm"],
    "candidates": ["seriesuid", "coordX", "coordY", "coordZ", "class"],
}


WORLD = ["coordX", "coordY", "coordZ"]


class AnnotationError(ValueError):
    """The CSV cannot be used at all (missing columns, unreadable)."""


@dataclass
class AnnotationReport:
    kind: str
    rows: int = 0
    invalid: list[str] = field(default_factory=list)  # the first 20, with row numbers
    n_invalid: int = 0
    orphans: int = 0
    orphan_ids: list[str] = field(default_factory=list)


def load_annotations(
    where: LocationLike, kind: str, scan_ids: set[str], scans: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, AnnotationReport]:
    """Read and validate one CSV: every row kept, with ``valid``, ``problem`` and ``has_scan``.

    Invalid rows (non-numeric coordinates, a class other than 0/1, a diameter ≤ 0, a
    point outside its scan when ``scans``, the catalog, gives the scan's geometry) are
    saved as invalid and reported, never used; see :func:`valid_rows`.
    """
    where = Location.of(where)
    uri = where.uri
    try:
        df = pd.read_csv(io.BytesIO(where.read_bytes()))
    except Exception as e:  # noqa: BLE001 - any parse failure is reported the same way
        raise AnnotationError(f"{uri}: cannot parse CSV ({e})") from e
    missing = [c for c in REQUIRED[kind] if c not in df.columns]
    if missing:
        raise AnnotationError(f"{uri}: missing columns {missing}; need {REQUIRED[kind]}")
    report = AnnotationReport(kind=kind)
    num_cols = REQUIRED[kind][1:]
    nums = df[num_cols].apply(pd.to_numeric, errors="coerce")
    problem = pd.Series("", index=df.index, dtype=object)
    finite = np.isfinite(nums.to_numpy(dtype=float)).all(axis=1)
    problem[~finite] = f"non-numeric or missing value in {num_cols}"
    if kind == "candidates":
        bad_class = finite & ~nums["class"].isin([0, 1])
        problem[bad_class] = "class must be 0 or 1"
    else:
        bad_d = finite & ~(nums["diameter_mm"] > 0)
        problem[bad_d] = "diameter_mm must be > 0"
    if scans is not None:
        _outside_scans(df["seriesuid"].astype(str), nums, problem, scans)
    for i in np.flatnonzero(problem.to_numpy() != "")[:20]:
        report.invalid.append(f"{uri} row {i + 2}: {problem.iat[i]}")
    report.n_invalid = int((problem != "").sum())
    df = df.copy()
    df[num_cols] = nums
    df["seriesuid"] = df["seriesuid"].astype(str)
    df["valid"] = problem == ""
    df["problem"] = problem.astype(str)
    df["has_scan"] = df["seriesuid"].isin(scan_ids)
    report.rows = int(df["valid"].sum())
    report.orphans = int((~df["has_scan"] & df["valid"]).sum())
    report.orphan_ids = sorted(set(df.loc[~df["has_scan"], "seriesuid"]))[:20]
    return df.reset_index(drop=True), report


GEOMETRY = ["shape_xyz", "spacing_xyz", "origin_xyz", "direction"]


def _outside_scans(
    uids: pd.Series, nums: pd.DataFrame, problem: pd.Series, scans: pd.DataFrame
) -> None:
    """Mark rows whose world point lies outside their scan's physical extent.

    A point outside the scan is a wrong scan id or a coordinate in other units/axes:
    a target cube cut there would be padding, labelled as a nodule."""
    have = scans.dropna(subset=GEOMETRY).drop_duplicates("scan_id").set_index("scan_id")
    todo = (problem == "") & uids.isin(have.index)
    for uid, idx in uids[todo].groupby(uids[todo]).groups.items():
        g = have.loc[uid]
        points = nums.loc[idx, WORLD].to_numpy(dtype=float)
        geo = [np.asarray(g[c], dtype=float) for c in GEOMETRY]
        inside = inside_extent(points, geo[2], geo[1], geo[3], geo[0])
        for i, p in zip(idx[~inside], points[~inside], strict=True):
            problem[i] = (
                f"world point ({p[0]:.6g}, {p[1]:.6g}, {p[2]:.6g}) mm lies outside scan "
                f"{uid} (its extent: voxels {tuple(int(v) for v in geo[0])} from origin "
                f"({', '.join(f'{v:.6g}' for v in geo[2])}) mm)"
            )


def valid_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows fit for use (tables saved before the ``valid`` column are all valid)."""
    return df if "valid" not in df.columns else df.loc[df["valid"].astype(bool)]
