"""Annotation and candidate rows whose world point lies outside their scan are invalid,
with a problem naming the point and the scan; targets never builds a sample from one (#25)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from genesis_core.ingest import ingest_sequential
from genesis_core.io.annotations import load_annotations, valid_rows
from genesis_core.targets.config import TargetConfig
from genesis_core.targets.scan import target_arrays
from tests.helpers import volumes

LUNA = "luna16_style_chest_ct"


def _catalog(tmp_path: Path, real_data: Path) -> pd.DataFrame:
    src = tmp_path / "src" / "subset0"
    shutil.copytree(real_data / LUNA / "subset0", src)
    return ingest_sequential(str(src.parent), str(tmp_path / "c.parquet"), tmp_path / "cache")


def test_rows_outside_their_scan_are_invalid(tmp_path: Path, real_data: Path) -> None:
    scans = _catalog(tmp_path, real_data)
    uid = scans.iloc[0]["scan_id"]
    csv = tmp_path / "candidates.csv"
    pd.DataFrame(
        {
            "seriesuid": [uid] * 4,
            "coordX": [40.5, 40.5, 198.2, -300.0],
            "coordY": [198.2, 198.2, 40.5, 0.0],
            "coordZ": [-209.0, 209.0, -209.0, -209.0],  # z sign flipped; x out of the field
            "class": [1, 0, 0, 0],
        }
    ).to_csv(csv, index=False)
    df, report = load_annotations(str(csv), "candidates", set(scans["scan_id"]), scans)
    assert df["valid"].tolist() == [True, False, True, False]
    assert "world point (40.5, 198.2, 209) mm lies outside scan" in df.at[1, "problem"]
    assert uid in df.at[1, "problem"] and "(512, 512, 64)" in df.at[1, "problem"]
    assert report.n_invalid == 2 and "row 3" in report.invalid[0]


def test_targets_never_build_from_a_point_outside_the_scan() -> None:
    vol = volumes.volume()  # x -40..45, y 12.5..91, z -300..-222 mm
    table = pd.DataFrame(
        {"coordX": [0.0, 500.0], "coordY": [50.0, 50.0], "coordZ": [-260.0, -260.0]}
    )
    table["class"] = [1, 1]
    rng = np.random.default_rng(0)
    arrays = target_arrays(TargetConfig(task="ncc", cube_xyz=(16, 16, 8)), vol, None, table, rng)
    assert len(arrays) == 1 and arrays.labels.tolist() == [1]
    table["diameter_mm"] = [5.0, 5.0]
    cfg = TargetConfig(task="ncs", cube_xyz=(16, 16, 8))
    assert len(target_arrays(cfg, vol, None, valid_rows(table), rng)) == 1
