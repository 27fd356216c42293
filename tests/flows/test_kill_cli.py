"""kill -9 of `genesis preprocess` mid-run: what was committed stays committed and verified,
and the rerun does only the scans that were not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genesis_core import catalog
from genesis_core.ingest import ingest_sequential
from genesis_core.store import CubeStore, read_latest
from genesis_core.synth import write_luna16

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # ~2.5 min: a real CLI start-up


def test_kill_minus_9_mid_preprocess_loses_only_scans_in_flight(
    tmp_path: Path, prefect_harness, genesis_root
) -> None:
    src = tmp_path / "src"
    write_luna16(src, scans=8, seed=2, size_xyz=(192, 192, 96))
    root = genesis_root
    ingest_sequential(str(src), catalog.catalog_uri(str(root), "luna"), tmp_path / "cache")
    store = str(root / "stores" / "luna.zarr")
    args = [
        "preprocess",
        "--dataset",
        "luna",
        "--root",
        str(root),
        "--spacing",
        "1",
        "--cube",
        "32,32,16",
        "--cubes-per-scan",
        "4",
        "--workers",
        "1",
    ]
    genesis = Path(sys.executable).with_name("genesis")
    env = {**os.environ, "GENESIS_COMMIT_EVERY": "1"}
    proc = subprocess.Popen(
        [str(genesis), *args],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while read_latest(store).version < 2:
            assert proc.poll() is None, "preprocess ended before it could be killed"
            assert time.monotonic() < deadline, "no commit within 180 s"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    committed = read_latest(store)
    assert 2 <= len(committed.scans) < 8
    CubeStore(store).verify_store()
    from flows.preprocess import preprocess_flow

    rerun = preprocess_flow(
        dataset="luna", spacing=(1, 1, 1), cube=[32, 32, 16], cubes_per_scan=4, workers=1
    )
    assert rerun.planned == 8 - len(committed.scans)
    final = read_latest(store)
    assert len(final.scans) == 8
    assert all(final.scans[s].group == e.group for s, e in committed.scans.items())
    CubeStore(store).verify_store()


def test_a_nightly_killed_in_pre_training_is_finished_by_the_next_one(
    tmp_path: Path, genesis_root
) -> None:
    """#29: night 1 trains v1; night 2 (one new scan) is killed -9 once its pre-training
    wrote a checkpoint; night 3, with the same sources and nothing new to read, resumes that
    run (same MLflow run, from its checkpoint) and registers it."""
    src = tmp_path / "src"
    write_luna16(src, scans=6, seed=3, size_xyz=(256, 256, 112))
    genesis = Path(sys.executable).with_name("genesis")
    args = [
        "nightly",
        str(src),
        "--dataset",
        "killed",
        "--root",
        str(genesis_root),
        "--cube",
        "32,32,16",
        "--cubes-per-scan",
        "4",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    # one local Prefect server for the root, shared by the three nights (as a user's CLI)
    env["GENESIS_PREFECT_SERVER"] = "local"
    try:
        _three_nights(genesis, args, env, src, tmp_path, genesis_root)
    finally:
        subprocess.run([str(genesis), "server", "stop", "--root", str(genesis_root)], env=env)


def _unfinished(runs: Path) -> list[Path]:
    """Run folders with a checkpoint and no result: a pre-training in progress."""
    return [
        d
        for d in (runs.iterdir() if runs.exists() else [])
        if (d / "checkpoints" / "last.pt").exists() and not (d / "result.json").exists()
    ]


def _three_nights(genesis, args, env, src, tmp_path, genesis_root) -> None:
    import json

    from mlflow.tracking import MlflowClient

    run = subprocess.run([str(genesis), *args, "--steps", "4"], env=env, capture_output=True)
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    extra = write_luna16(tmp_path / "extra", scans=1, seed=4, size_xyz=(256, 256, 112), subsets=1)
    for f in (extra.scans[0].mhd, extra.scans[0].raw):
        (src / "subset0" / f.name).write_bytes(f.read_bytes())
    night = [str(genesis), *args, "--steps", "60"]  # checkpoints every 20 steps
    proc = subprocess.Popen(
        night, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    runs = genesis_root / "runs" / "pretrain"
    try:
        deadline = time.monotonic() + 400
        while not _unfinished(runs):
            assert proc.poll() is None, "the nightly ended before it could be killed"
            assert time.monotonic() < deadline, "no checkpoint within 400 s"
            time.sleep(0.5)
        time.sleep(1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    (killed,) = [
        d
        for d in runs.iterdir()
        if (d / "checkpoints" / "last.pt").exists() and not (d / "result.json").exists()
    ]
    killed_run = (killed / "mlflow_run_id").read_text().strip()
    done = subprocess.run(night, env=env, capture_output=True, timeout=900)
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert "no new scans" not in out and "v2" in out
    result = json.loads((killed / "result.json").read_text())
    assert result["run_id"] == killed_run, "the killed run was resumed, not restarted"
    uri = f"sqlite:///{genesis_root}/mlflow/mlflow.db"
    mv = MlflowClient(uri, uri).get_model_version("genesis-unet3d", "2")
    assert mv.run_id == killed_run
