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
