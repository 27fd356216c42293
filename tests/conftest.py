"""Shared fixtures.  Environment defaults are set before Prefect is imported anywhere."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# A private Prefect home per test session: no lock contention with other runs.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="genesis-prefect-"))
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# The CLI's long-lived local Prefect server outlives a command by design; tests keep
# Prefect's per-process server so that nothing outlives the suite (test_local_api.py
# starts and stops a real one).
os.environ.setdefault("GENESIS_PREFECT_SERVER", "ephemeral")

import pytest  # noqa: E402

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The read-only real CT scans; tests using them skip when the folder is absent."""
    if not REAL.is_dir():
        pytest.skip(f"real CT scans not found at {REAL} (shared/data/real is outside the repo)")
    return REAL


@pytest.fixture(scope="session")
def prefect_harness():
    """Prefect's test harness (a temporary API database) for flow-level tests."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture()
def genesis_root(tmp_path, monkeypatch) -> Path:
    """A fresh data root, also set as GENESIS_ROOT for code that reads settings."""
    from tasks.settings import reset_settings_cache

    root = tmp_path / "root"
    monkeypatch.setenv("GENESIS_ROOT", str(root))
    # mlflow.set_tracking_uri() exports MLFLOW_TRACKING_URI; do not inherit another test's.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    reset_settings_cache()
    yield root
    reset_settings_cache()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """A real S3-compatible server (moto) on 127.0.0.1; yields its endpoint URL."""
    from tests.servers import bin_path, free_port, http_ok, process

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    cmd = [bin_path("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with process(cmd, log, http_ok(f"{url}/moto-api/"), "moto server"):
        yield url


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """SeaweedFS, a real object store with an S3 API, on 127.0.0.1; yields its endpoint URL."""
    from tests.servers.seaweed import seaweed_server

    with seaweed_server(tmp_path_factory.mktemp("seaweed")) as url:
        yield url


def _point_s3_at(endpoint: str, key: str, secret: str, monkeypatch):
    import s3fs

    from tasks.settings import reset_settings_cache

    for k, v in {
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "GENESIS_S3_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(k, v)
    reset_settings_cache()
    yield s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint}, use_listings_cache=False)
    reset_settings_cache()


@pytest.fixture()
def s3_env(moto_server, monkeypatch):
    """Point settings and boto at the moto server (fast unit tests); yields an s3fs client."""
    yield from _point_s3_at(moto_server, "testing-key-id", "testing-secret-key-value", monkeypatch)


@pytest.fixture()
def seaweed_env(seaweed, monkeypatch):
    """Point settings and boto at SeaweedFS (tests of S3 behaviour: conditional puts,
    listings, ranged reads); yields an s3fs client."""
    from tests.servers.seaweed import ACCESS_KEY, SECRET_KEY

    yield from _point_s3_at(seaweed, ACCESS_KEY, SECRET_KEY, monkeypatch)


@pytest.fixture(scope="session")
def dask_scheduler(tmp_path_factory):
    """A real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1."""
    import socket

    from tests.servers import bin_path, free_port, process, wait_until

    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask")

    def listening() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    sched = [
        bin_path("dask"),
        "scheduler",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-dashboard",
    ]
    worker = [
        bin_path("dask"),
        "worker",
        addr,
        "--nthreads",
        "1",
        "--nworkers",
        "1",
        "--host",
        "127.0.0.1",
        "--no-dashboard",
        "--memory-limit",
        "4GB",
    ]
    with process(sched, logs / "scheduler.log", listening, "dask scheduler"):
        with (
            process(worker, logs / "w1.log", lambda: True, "dask worker 1") as w1,
            process(worker, logs / "w2.log", lambda: True, "dask worker 2") as w2,
        ):
            from distributed import Client

            with Client(addr, timeout="30s") as c:
                wait_until(lambda: len(c.scheduler_info()["workers"]) >= 2, 60, "2 dask workers")
            yield {"address": addr, "workers": [w1, w2], "logs": logs}
