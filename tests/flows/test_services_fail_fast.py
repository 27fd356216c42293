"""A dead tracking server or S3 endpoint fails the command within 30 s, in one line that
names the URI, with exit code 2."""

from __future__ import annotations

import time

from typer.testing import CliRunner

from flows.cli import app
from tests.helpers.stores import phantom_store
from tests.servers import free_port

runner = CliRunner()


def _one_line(result) -> str:
    return " ".join(result.output.split())


def _invoke(args: list[str]):
    """Run the command; its result and wall time (settings reset after, for the next test)."""
    from tasks.settings import reset_settings_cache

    reset_settings_cache()
    t0 = time.perf_counter()
    result = runner.invoke(app, args)
    elapsed = time.perf_counter() - t0
    reset_settings_cache()
    return result, elapsed


def test_dead_tracking_server(tmp_path, monkeypatch, prefect_harness) -> None:
    from tasks.services import check_tracking
    from tasks.settings import reset_settings_cache

    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("GENESIS_MLFLOW_TRACKING_URI", dead)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    reset_settings_cache()
    check_tracking.cache_clear()
    store = phantom_store(str(tmp_path / "s.zarr"))
    result, elapsed = _invoke(
        ["pretrain", "--store", store, "--steps", "2", "--root", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    assert f"MLflow tracking server {dead} is unreachable" in _one_line(result)
    assert "Connection refused" in _one_line(result)
    assert elapsed < 30


def test_dead_s3_endpoint(tmp_path, monkeypatch, prefect_harness) -> None:

    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("GENESIS_S3_ENDPOINT_URL", dead)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    result, elapsed = _invoke(
        ["ingest", "s3://scans/luna16", "--dataset", "d", "--root", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    assert f"S3 endpoint {dead} (for s3://scans/luna16) is unreachable" in _one_line(result)
    assert "Could not connect" in _one_line(result)
    assert elapsed < 30
