"""The nightly scenario on the compose stack, in containers (podman), driven from this host.

In file order, building on each other: the stack is healthy; three nights over the object
store (train and register; one new scan, warm start; nothing new, early stop); the
registry browsed from the host through MLflow's artifact proxy (no S3 credentials); one
stage started from the host with ``prefect deployment run`` while a Dask worker container
is killed, leaving a complete, duplicate-free store.
"""

from __future__ import annotations

import json
import os
import re
import socket

import pytest

from genesis_core.synth import write_luna16
from tests.integration.conftest import (
    artifact_markdown,
    cli,
    run_logs_text,
    subflow_runs,
    wait_for_run,
)
from tests.integration.test_nightly_stack import (
    MODEL,
    SIZE,
    check_first_night,
    manifest,
    model_versions,
    pretrain_runs,
    report_numbers,
    scan_objects,
    store_path,
    tags,
)
from tests.servers import wait_until
from tests.stack.conftest import ContainerStack

pytestmark = pytest.mark.stack

CUBES = {"cube": [32, 32, 16], "cubes_per_scan": 4}  # flow parameters: JSON lists, not "X,Y,Z"
INCOMING = "genesis/incoming"


@pytest.fixture(scope="module")
def stack(compose_stack: ContainerStack) -> ContainerStack:
    return compose_stack


def run_deployment(s: ContainerStack, deployment: str, params: dict[str, object]) -> str:
    """``prefect deployment run NAME -p key=value ...`` on this host, as the README says."""
    args = ["deployment", "run", deployment]
    for k, v in params.items():
        args += ["-p", f"{k}={json.dumps(v)}"]
    out = cli(args, s.prefect_env)
    m = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
    assert m, f"no flow run id in:\n{out}"
    return m.group(1)


def completed(s: ContainerStack, flow_run_id: str, timeout: float = 900):
    run = wait_for_run(s, flow_run_id, timeout)
    assert run.state.is_completed(), (
        f"{run.name} ended {run.state_name}: {run.state.message}\n{run_logs_text(s, flow_run_id)}"
    )
    return run


def night(s: ContainerStack):
    """The deployed nightly flow with its deployed sources (GENESIS_NIGHTLY_SOURCE)."""
    return completed(s, run_deployment(s, "nightly/nightly", {**CUBES, "steps": 3}))


# --------------------------------------------------------------------------- the stack


def test_every_service_is_up(stack: ContainerStack) -> None:
    cs = stack.compose
    for name, svc in cs.active().items():
        containers = cs.containers(name)
        assert containers, f"service {name} has no container"
        for c in containers:
            state = cs.inspect(c)["State"]
            if svc.get("restart") == "no":
                assert state["Status"] == "exited" and state["ExitCode"] == 0, (name, state)
            else:
                assert state["Status"] == "running", (name, state)
            if svc.get("healthcheck") and svc.get("restart") != "no":
                assert cs.podman("healthcheck", "run", c, check=False).returncode == 0, c
    assert len(cs.containers("dask-worker")) == 2, "deploy.replicas of dask-worker"
    with stack.dask_client() as c:
        wait_until(
            lambda: len(c.scheduler_info()["workers"]) == 2,
            120,
            "both dask-worker containers registered with the scheduler",
        )
    with stack.client() as client:
        for pool in ("genesis-cpu", "genesis-gpu"):
            workers = client.read_workers_for_work_pool(pool)
            assert any(w.status.value == "ONLINE" for w in workers), f"no worker online for {pool}"
        names = {d.name for d in client.read_deployments()}
    assert {"nightly", "ingest", "preprocess", "pretrain"} <= names


# --------------------------------------------------------------------------- the nights


def test_first_night_trains_and_registers(stack: ContainerStack, tmp_path) -> None:
    write_luna16(tmp_path / "luna", scans=10, seed=31, size_xyz=SIZE)
    stack.s3().put(str(tmp_path / "luna") + "/", INCOMING, recursive=True)

    _, _, m, _ = check_first_night(stack, night(stack), "mlflow")
    stack.state["night1"] = {
        "etags": scan_objects(stack),
        "scans": set(m["scans"]),
        "version": m["version"],
    }


def test_second_night_appends_one_scan_and_warm_starts(stack: ContainerStack, tmp_path) -> None:
    if "night1" not in stack.state:
        pytest.skip("needs the first night")
    extra = write_luna16(tmp_path / "extra", scans=1, seed=77, size_xyz=SIZE, subsets=1)
    (scan,) = extra.scans
    for f in (scan.mhd, scan.raw):
        stack.s3().put_file(str(f), f"{INCOMING}/subset0/{f.name}")

    run = night(stack)
    numbers = report_numbers(artifact_markdown(stack, str(run.id)))
    assert numbers["read"] == 1 and numbers["preprocessed"] == 1
    m = manifest(stack)
    before = stack.state["night1"]
    assert set(m["scans"]) == before["scans"] | {scan.uid}
    assert m["version"] == before["version"] + 1  # one commit per finished scan
    after = scan_objects(stack)
    assert {k: after.get(k) for k in before["etags"]} == before["etags"], "old shards rewritten"
    with stack.client() as client:
        flows = sorted(client.read_flow(r.flow_id).name for r in subflow_runs(stack, str(run.id)))
    assert flows == ["ingest", "preprocess", "pretrain"], flows

    versions = {v["version"]: v for v in model_versions(stack)}
    assert set(versions) == {"1", "2"}
    t = tags(versions["2"])
    assert t["warm_start"] == f"models:/{MODEL}@champion"
    assert t["manifest_version"] == str(m["version"])


def test_third_night_has_nothing_new_and_stops_early(stack: ContainerStack) -> None:
    if "night1" not in stack.state:
        pytest.skip("needs the first night")
    trainings, versions = len(pretrain_runs(stack)), len(model_versions(stack))
    md = artifact_markdown(stack, str(night(stack).id))
    assert "no new scans" in md
    assert report_numbers(md)["read"] == 0 and report_numbers(md)["preprocessed"] == 0
    assert len(pretrain_runs(stack)) == trainings and len(model_versions(stack)) == versions
    assert manifest(stack)["version"] == stack.state["night1"]["version"] + 1


# --------------------------------------------------------------------------- from the host


def test_registry_is_browsed_from_the_host_without_s3_credentials(
    stack: ContainerStack, monkeypatch, tmp_path
) -> None:
    """MLflow's proxied artifact store: the host needs the server's URL and nothing else."""
    if "night1" not in stack.state:
        pytest.skip("needs the first night")
    import torch
    from mlflow.tracking import MlflowClient

    from tasks.registry import load_network

    for k in list(os.environ):
        if k.startswith(("AWS_", "MLFLOW_S3")):
            monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stack.mlflow_url)
    user, password = stack.mlflow_auth  # the read-only viewer account
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    client = MlflowClient(stack.mlflow_url)
    (model,) = [m for m in client.search_registered_models() if m.name == MODEL]
    assert {"champion", "candidate"} <= set(model.aliases)
    champion = client.get_model_version_by_alias(MODEL, "champion")
    source = client.get_run(champion.run_id).info.artifact_uri
    assert source.startswith("mlflow-artifacts:/"), source  # proxied, not s3://

    net = load_network(f"models:/{MODEL}@champion")
    with torch.no_grad():
        out = net(torch.zeros(1, 1, 32, 32, 16))
    assert out.shape == (1, 1, 32, 32, 16)


def test_a_stage_from_the_host_survives_a_killed_dask_worker_container(
    stack: ContainerStack,
) -> None:
    """``prefect deployment run`` of ingest, then preprocess, from the host; one Dask worker
    container is killed (SIGKILL) while it holds scans; the store is complete afterwards."""
    if "night1" not in stack.state:
        pytest.skip("needs the scans of the first nights")
    from genesis_core import catalog
    from genesis_core.store import CubeStore

    completed(
        stack, run_deployment(stack, "ingest/ingest", {"source": stack.source, "dataset": "killed"})
    )
    df = catalog.load(stack.location("s3://genesis/root/catalog/killed.parquet"))
    ok = set(df.loc[df["status"] == catalog.OK, "scan_id"])
    assert len(ok) == 11

    with stack.dask_client() as c:
        hosts = c.run(socket.gethostname)  # worker address → container hostname (its id)
        run_id = run_deployment(stack, "preprocess/preprocess", {"dataset": "killed", **CUBES})
        busy: dict = {}

        def some_worker_busy() -> bool:
            busy.update({w: ks for w, ks in c.processing().items() if ks})
            return bool(busy)

        wait_until(some_worker_busy, 300, "a dask worker container processing a scan")
        victim = next(iter(busy))
        stack.compose.podman("kill", "--signal", "KILL", hosts[victim])  # no goodbye
        completed(stack, run_id)
        assert victim not in c.scheduler_info()["workers"]
    assert any(k.startswith("preprocess-") for k in busy[victim])

    m = manifest(stack, "killed")
    assert set(m["scans"]) == ok
    rests = [k.split("/scans/", 1)[1] for k in scan_objects(stack, "killed")]
    assert {r.split("/")[0] for r in rests if "/" in r} == ok, "uncommitted or missing scan arrays"
    store = CubeStore(stack.location(f"s3://{store_path(stack, 'killed')}"))
    assert len(store) == sum(e["n_cubes"] for e in m["scans"].values())
    for sid in store.scan_ids:
        cubes = store.scan_cubes(sid)
        assert cubes.shape[0] == m["scans"][sid]["n_cubes"]
        assert len({c.tobytes() for c in cubes}) == len(cubes), f"duplicate cubes in {sid}"
