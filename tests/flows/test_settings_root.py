"""A flow's ``root`` parameter reaches the settings its tasks read (also in task threads)."""

from __future__ import annotations

from typing import Literal

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.settings import get_settings, root_scoped


@task
def where() -> tuple[str, str]:
    s = get_settings()
    return s.root, s.tracking_uri()


@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
@root_scoped
def scoped(root: str | None = None, mode: Literal["a", "b"] = "a") -> list[tuple[str, str]]:
    return [where(), where.submit().result()]


def test_tasks_use_the_flow_root(prefect_harness, genesis_root, tmp_path) -> None:
    other = tmp_path / "other"
    for got_root, tracking in scoped(root=str(other), mode="b"):
        assert got_root == str(other)
        assert tracking == f"sqlite:///{other}/mlflow/mlflow.db"
    assert get_settings().root == str(genesis_root), "the override ends with the flow"
    assert "root" in scoped.parameters.properties


def test_work_dir_holds_local_state_for_a_remote_root(tmp_path, monkeypatch) -> None:
    from tasks.settings import Settings

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("GENESIS_MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    remote = Settings(root="s3://bucket/genesis")
    assert remote.local_root == tmp_path / "genesis_data", "default: ./genesis_data"
    work = tmp_path / "scratch"
    monkeypatch.setenv("GENESIS_WORK_DIR", str(work))
    s = Settings(root="s3://bucket/genesis")
    assert s.local_root == work and s.cache_path == work / "cache"
    assert s.tracking_uri() == f"sqlite:///{work}/mlflow/mlflow.db"
    assert Settings(root=str(tmp_path / "r")).local_root == work, "also for a local root"
