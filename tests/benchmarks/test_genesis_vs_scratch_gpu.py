"""Smoke test of ``benchmarks/genesis_vs_scratch_gpu.py``: a tiny ``--quick`` run on the CPU.

The script runs in a subprocess, as on the GPU image: it must not import SimpleITK or Zarr
(it asserts that itself), and the JSON must hold both tasks, inits and label fractions.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "genesis_vs_scratch_gpu.py"
TINY = [
    "--quick",
    "--device",
    "cpu",
    "--chest-scans",
    "8",
    "--abdomen-scans",
    "6",
    "--cubes-per-scan",
    "8",
    "--lcs-per-scan",
    "8",
    "--seeds",
    "2",
    "--fractions",
    "0.5,1.0",
    "--pretrain-steps",
    "6",
    "--finetune-steps",
    "4",
    "--workers",
    "2",
]


@pytest.mark.slow
def test_quick_run_writes_both_tables(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *TINY, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "## ncc: auc" in proc.stdout and "## lcs: iou" in proc.stdout
    report = json.loads(out.read_text())
    assert math.isfinite(report["pretrain"]["best_val_loss"])
    assert report["pretrain"]["best_val_loss"] <= report["pretrain"]["initial_val_loss"]
    for task, metric in (("ncc", "auc"), ("lcs", "iou")):
        result = report[task]
        assert result["metric"] == metric
        cells = {(r["init"], r["fraction"]): r for r in result["rows"]}
        assert set(cells) == {(i, f) for i in ("scratch", "genesis") for f in (0.5, 1.0)}
        for row in cells.values():
            assert row["n"] == 2 and math.isfinite(row["mean"]) and math.isfinite(row["std"])
            assert math.isfinite(row["p_value"]) or row["p_reason"]
        assert len(result["fits"]) == 8
        assert all(math.isfinite(f[metric]) for f in result["fits"])
    assert set(report["seconds"]) >= {"data", "pretrain", "finetune", "total"}
    loaded = report["environment"]["optional_modules_loaded"]
    assert "SimpleITK" not in loaded and "zarr" not in loaded
