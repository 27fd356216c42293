"""The CLI's long-lived local Prefect server: started once on demand, reused by the next
command, visible in ``genesis server status``, stopped by ``genesis server stop``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from flows.local_api import alive, running
from genesis_core.synth import write_luna16

pytestmark = pytest.mark.integration  # a real Prefect server on 127.0.0.1 (~10-20 s to start)
GENESIS = str(Path(sys.executable).with_name("genesis"))


def _genesis(args: list[str], root: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"GENESIS_ROOT": str(root), "GENESIS_PREFECT_SERVER": "local"}
    return subprocess.run([GENESIS, *args], env=env, capture_output=True, text=True, timeout=240)


def test_one_server_per_root_is_started_reused_and_stopped(tmp_path) -> None:
    root, src = tmp_path / "root", tmp_path / "src"
    write_luna16(src, scans=2, seed=0, size_xyz=(64, 64, 32))
    try:
        first = _genesis(["ingest", str(src), "--dataset", "d"], root)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "starting a local Prefect server" in first.stdout
        state = running(root)
        assert state is not None and state["url"].startswith("http://127.0.0.1:")
        again = _genesis(["ingest", str(src), "--dataset", "d", "--force"], root)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "starting a local Prefect server" not in again.stdout  # reused
        assert running(root) == state
        status = _genesis(["server", "status"], root)
        assert status.returncode == 0 and str(state["pid"]) in status.stdout
    finally:
        stopped = _genesis(["server", "stop"], root)
    assert stopped.returncode == 0 and f"stopped pid {state['pid']}" in stopped.stdout
    assert not alive(state["pid"]) and running(root) is None
    assert _genesis(["server", "status"], root).returncode == 1


def test_genesis_ui_serves_the_data_roots_tracking_store(tmp_path) -> None:
    from tests.servers import free_port, wait_until

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["GENESIS_ROOT"] = str(tmp_path / "root")
    proc = subprocess.Popen(
        [GENESIS, "ui", "--port", str(port)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        assert f"http://127.0.0.1:{port}" in first and "mlflow.db" in first, first

        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_until(answers, 120, "genesis ui")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
