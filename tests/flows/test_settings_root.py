"""A flow's ``root`` parameter reaches the settings of its tasks as a value, never as
process-wide state: two flows with different roots can run in one process at once."""

from __future__ import annotations

import os
import threading
from typing import Literal

from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from tasks.settings import get_settings


@task
def where(root: str | None = None, wait: threading.Barrier | None = None) -> tuple[str, str]:
    if wait is not None:
        wait.wait(timeout=60)  # both flows are inside their tasks at the same time
    # no flow's root leaks into process state: without one, the environment's root
    assert get_settings().root == os.environ["GENESIS_ROOT"]
    s = get_settings(root)
    return s.root, s.tracking_uri()


@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def scoped(
    root: str | None = None, mode: Literal["a", "b"] = "a", wait: threading.Barrier | None = None
) -> list[tuple[str, str]]:
    return [where(root), where.submit(root, wait).result()]


def test_tasks_use_the_flow_root(prefect_harness, genesis_root, tmp_path) -> None:
    other = tmp_path / "other"
    for got_root, tracking in scoped(root=str(other), mode="b"):
        assert got_root == str(other)
        assert tracking == f"sqlite:///{other}/mlflow/mlflow.db"
    assert get_settings().root == str(genesis_root), "nothing of the flow's root is left behind"
    assert "root" in scoped.parameters.properties


def test_two_flows_with_different_roots_run_side_by_side(
    prefect_harness, genesis_root, tmp_path
) -> None:
    roots = {name: str(tmp_path / name) for name in ("a", "b")}
    barrier, out = threading.Barrier(2), {}

    def run(name: str) -> None:
        out[name] = scoped(root=roots[name], wait=barrier)

    threads = [threading.Thread(target=run, args=(n,)) for n in roots]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for name, results in out.items():
        assert [r for r, _ in results] == [roots[name]] * 2, name
    assert set(out) == {"a", "b"}


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
