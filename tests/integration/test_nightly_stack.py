"""The nightly pipeline on a real local stack: Prefect server + process workers running the
deployments of ``prefect.yaml``, Prefect and MLflow on PostgreSQL, MLflow's artifacts and the
data root and scans in S3 (SeaweedFS, one account per bucket), a Dask cluster.  Everything listens on 127.0.0.1 and is stopped by PID.

The tests run in file order and build on each other (first night, one new scan, nothing
new), then break things: a Dask worker killed mid-preprocess, MLflow down at registration.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import signal
import threading
import urllib.parse
from pathlib import Path

import pytest

from genesis_core.synth import write_luna16
from tests.integration.conftest import (
    Stack,
    all_mlflow_runs,
    artifact_markdown,
    read_logs,
    run_logs_text,
    subflow_runs,
    trigger,
    wait_for_run,
)
from tests.servers import wait_until

pytestmark = pytest.mark.integration

MODEL = "genesis-unet3d"
SIZE = (256, 256, 112)  # accepted 32×32×16 cubes at 1 mm
CUBES = dict(cube=[32, 32, 16], cubes_per_scan=4)  # JSON-ready: also a deployment parameter
LINEAGE = (
    "catalog_sha256",
    "cube_store_uri",
    "manifest_version",
    "manifest_sha256",
    "transform_config",
    "code_version",
    "prefect_flow_run_id",
    "val_loss",
)


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def uploaded(stack: Stack, tmp_path_factory) -> str:
    """10 synthetic LUNA16 scans (one per subset: train/val/test splits) under s3://B/scans."""
    src = tmp_path_factory.mktemp("luna") / "luna"
    write_luna16(src, scans=10, seed=31, size_xyz=SIZE)
    stack.s3().put(str(src) + "/", f"{stack.bucket}/scans", recursive=True)
    return stack.source


def nightly_params(s: Stack) -> dict:
    return {**CUBES, "steps": 3, "profile": "tiny", "sources": [s.source]}


def run_nightly(s: Stack):
    run_id = trigger(s, "nightly/nightly", nightly_params(s))
    run = wait_for_run(s, run_id)
    assert run.state.is_completed(), (
        f"nightly ended {run.state_name}: {run.state.message}\n{run_logs_text(s, run_id)}"
    )
    return run


def report_numbers(md: str) -> dict[str, int]:
    """The counts table of the nightly report artifact."""
    lines = md.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("| scans read"))
    keys = ["read", "quarantined", "preprocessed", "cubes_appended", "cubes_in_store"]
    values = [int(v) for v in lines[i + 2].strip("| ").split("|")]
    return dict(zip(keys, values, strict=True))


def tags(mv: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in mv.get("tags", [])}


def model_versions(s: Stack, name: str = MODEL) -> list[dict]:
    q = urllib.parse.urlencode({"filter": f"name='{name}'", "max_results": 1000})
    return s.mlflow_api(f"model-versions/search?{q}").get("model_versions", [])


def alias(s: Stack, name: str, alias_: str) -> dict:
    q = urllib.parse.urlencode({"name": name, "alias": alias_})
    return s.mlflow_api(f"registered-models/alias?{q}")["model_version"]


def store_path(s: Stack, dataset: str = "nightly") -> str:
    return f"{s.bucket}/root/stores/{dataset}.zarr"


def manifest(s: Stack, dataset: str = "nightly") -> dict:
    """The committed manifest as the store's reader reconstructs it (checkpoint + deltas)."""
    import dataclasses

    from genesis_core.io.storage import Location
    from genesis_core.store.manifest import read_latest

    opts = {
        "key": s.aws["AWS_ACCESS_KEY_ID"],
        "secret": s.aws["AWS_SECRET_ACCESS_KEY"],
        "client_kwargs": {"endpoint_url": s.s3_url},
    }
    m = read_latest(Location(f"s3://{store_path(s, dataset)}", opts))
    return {
        **dataclasses.asdict(m),
        "scans": {k: dataclasses.asdict(v) for k, v in m.scans.items()},
    }


def scan_objects(s: Stack, dataset: str = "nightly") -> dict[str, str]:
    """Every object of every scan array in the store: key → ETag."""
    found = s.s3().find(f"{store_path(s, dataset)}/scans", detail=True)
    return {k: v["ETag"] for k, v in found.items()}


def pretrain_runs(s: Stack) -> list:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    with s.client() as client:
        dep = client.read_deployment_by_name("pretrain/pretrain")
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[dep.id]))
        )


@pytest.fixture()
def in_process(stack: Stack, monkeypatch, tmp_path):
    """This process configured like a worker (S3 root, MLflow server); checkpoints under tmp."""
    from tasks.settings import reset_settings_cache

    for k, v in stack.env.items():
        if not k.startswith("PREFECT_"):
            monkeypatch.setenv(k, v)
    monkeypatch.delenv("GENESIS_DASK_ADDRESS", raising=False)
    monkeypatch.chdir(tmp_path)  # remote root: checkpoints go to ./genesis_data
    reset_settings_cache()
    yield stack
    reset_settings_cache()
    _flush_prefect_workers(stack)


def _flush_prefect_workers(stack: Stack) -> None:
    """Send this process's queued events and logs while the stack's server is still up.

    Prefect keeps one events worker per process whatever the API URL, bound to the server
    it first talked to: left bound to this stack's server, it keeps retrying after the stack
    stops, and a later ``prefect_test_harness`` hangs draining it at session end."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    with stack.prefect():
        for service in (APILogWorker, EventsWorker):
            service.drain_all(timeout=60, at_exit=False)


# --------------------------------------------------------------------------- the nights


def check_first_night(s: Stack, run, artifact_bucket: str) -> tuple[dict, dict, dict, list]:
    """What every first night shows (this tier and the container tier): 10 scans read and
    preprocessed, champion v1 with its lineage, trained by the pretrain deployment (the GPU
    pool), manifest v10 (a commit per scan), the weights in the MLflow bucket.  (numbers, champion, manifest,
    artifact keys)."""
    numbers = report_numbers(artifact_markdown(s, str(run.id)))
    assert numbers["read"] == 10 and numbers["preprocessed"] == 10
    assert numbers["cubes_in_store"] == numbers["cubes_appended"] > 0
    champion = alias(s, MODEL, "champion")
    assert champion["version"] == "1"
    t = tags(champion)
    for key in LINEAGE:
        assert t.get(key), f"missing lineage tag {key}"
    assert t["cube_store_uri"] == f"s3://{store_path(s)}"
    (pre,) = pretrain_runs(s)  # the GPU stage ran as the pretrain deployment
    assert pre.state.is_completed() and t["prefect_flow_run_id"] == str(pre.id)
    m = manifest(s)
    assert m["version"] == 10 and len(m["scans"]) == 10  # one commit per finished scan
    # served by the MLflow server, stored with MLflow's account, out of the workers' reach
    artifacts = s.s3(admin=True).find(artifact_bucket)
    weights = f"/{champion['run_id']}/artifacts/weights/model.safetensors"
    assert any(weights in k for k in artifacts)
    return numbers, champion, m, artifacts


def test_first_night_trains_registers_and_reports(stack: Stack, uploaded: str) -> None:
    numbers, champion, m, artifacts = check_first_night(
        stack, run_nightly(stack), "mlflow-artifacts"
    )
    t = tags(champion)
    assert t["manifest_version"] == str(m["version"]) and t["warm_start"] == ""
    assert "champion" in alias(stack, MODEL, "candidate").get("aliases", [])
    # Catalog and cube store live in S3; the model's artifacts went to the MLflow bucket.
    assert stack.s3().exists(f"{stack.bucket}/root/catalog/nightly.parquet")
    assert sum(e["n_cubes"] for e in m["scans"].values()) == numbers["cubes_in_store"]
    assert any(k.endswith("/MLmodel") for k in artifacts), "the logged model is in S3"
    stack.state["night1"] = {
        "etags": scan_objects(stack),
        "scans": set(m["scans"]),
        "version": m["version"],
    }


def test_one_new_scan_is_appended_and_warm_started(stack: Stack, tmp_path) -> None:
    if "night1" not in stack.state:
        pytest.skip("needs the first night")
    extra = write_luna16(tmp_path / "extra", scans=1, seed=77, size_xyz=SIZE, subsets=1)
    (scan,) = extra.scans
    fs = stack.s3()
    for f in (scan.mhd, scan.raw):
        fs.put_file(str(f), f"{stack.bucket}/scans/subset0/{f.name}")

    run = run_nightly(stack)
    md = artifact_markdown(stack, str(run.id))
    numbers = report_numbers(md)
    assert numbers["read"] == 1, "only the new scan is read"
    assert re.search(r"^\| \d+\.\d+ \| \d+\.\d+ \|$", md, re.M), "champion's loss before, new after"
    assert numbers["preprocessed"] == 1, "only the new scan is preprocessed"
    m = manifest(stack)
    before = stack.state["night1"]
    assert set(m["scans"]) == before["scans"] | {scan.uid}
    assert m["version"] == before["version"] + 1
    after = scan_objects(stack)
    assert {k: after.get(k) for k in before["etags"]} == before["etags"], (
        "old shard objects must not be rewritten"
    )
    assert any(f"/scans/{scan.uid}/" in k for k in after.keys() - before["etags"].keys())
    children = subflow_runs(stack, str(run.id))
    with stack.client() as client:
        flows = sorted(client.read_flow(r.flow_id).name for r in children)
    assert flows == ["ingest", "preprocess", "pretrain"], flows
    assert all(r.state.is_completed() for r in children)

    versions = {v["version"]: v for v in model_versions(stack)}
    assert set(versions) == {"1", "2"}, "a new model version per night with new scans"
    t = tags(versions["2"])
    assert t["warm_start"] == f"models:/{MODEL}@champion"
    assert t["manifest_version"] == str(m["version"])
    assert t["compared_with"] == "1" and float(t["champion_val_loss"]) > 0
    assert alias(stack, MODEL, "candidate")["version"] == "2"


def test_a_night_without_new_scans_trains_nothing(stack: Stack) -> None:
    if "night1" not in stack.state:
        pytest.skip("needs the first night")
    trainings = len(pretrain_runs(stack))
    versions = len(model_versions(stack))
    run = run_nightly(stack)
    md = artifact_markdown(stack, str(run.id))
    assert "no new scans" in md
    assert report_numbers(md)["read"] == 0 and report_numbers(md)["preprocessed"] == 0
    assert len(pretrain_runs(stack)) == trainings, "no pre-training run was started"
    assert len(model_versions(stack)) == versions, "no new model version"
    assert manifest(stack)["version"] == stack.state["night1"]["version"] + 1


# --------------------------------------------------------------------------- failures


def test_preprocess_survives_a_killed_dask_worker(
    in_process: Stack, dask_cluster_fn: dict, uploaded: str
) -> None:
    from distributed import Client

    from flows.ingest import ingest_flow
    from flows.preprocess import preprocess_flow

    s = in_process
    addr = dask_cluster_fn["address"]
    ours = {p.pid for p in dask_cluster_fn["workers"]}
    with s.prefect():
        ingest = ingest_flow(source=uploaded, dataset="killed")
        ctx = contextvars.copy_context()  # the thread reports to the same Prefect server
    assert ingest.ok >= 10
    out: dict = {}

    def work() -> None:
        try:
            out["report"] = preprocess_flow(dataset="killed", scheduler=addr, **CUBES)
        except BaseException as e:  # noqa: BLE001 - re-raised below
            out["error"] = e

    with Client(addr, timeout="30s") as c:
        pids = c.run(os.getpid)  # worker address → pid, asked while they are idle
        thread = threading.Thread(target=ctx.run, args=(work,), daemon=True)
        thread.start()
        busy: dict = {}

        def some_worker_busy() -> bool:
            busy.update({w: ks for w, ks in c.processing().items() if ks})
            return bool(busy)

        wait_until(some_worker_busy, 180, "a dask worker processing a scan")
        victim, keys = next(iter(busy.items()))
        pgid = os.getpgid(pids[victim])
        assert pgid in ours, "only kill a worker this test started"
        os.killpg(pgid, signal.SIGKILL)  # nanny and worker, no goodbye
        thread.join(420)
        assert not thread.is_alive(), "preprocess did not finish after a worker was killed"
        assert victim not in c.scheduler_info()["workers"]
    if "error" in out:
        raise out["error"]
    report = out["report"]
    assert keys and all(k.startswith("preprocess-") for k in keys)
    assert report.planned == ingest.ok and report.done == ingest.ok
    assert not report.failed, report.failed

    # Complete: every ok catalog scan committed; no duplicates, no stray scans.
    from genesis_core import catalog
    from genesis_core.store import CubeStore
    from tasks.settings import get_settings

    settings = get_settings()
    df = catalog.load(settings.location(ingest.catalog_uri))
    ok = set(df.loc[df["status"] == catalog.OK, "scan_id"])
    m = manifest(s, "killed")
    assert set(m["scans"]) == ok and len(m["scans"]) == len(ok)
    rests = [k.split("/scans/", 1)[1] for k in scan_objects(s, "killed")]
    on_s3 = {r.split("/")[0] for r in rests if "/" in r}  # scans/<id>/…, not scans/zarr.json
    assert on_s3 == ok, "a scan array in the store that is not committed (or missing)"
    store = CubeStore(settings.location(f"s3://{store_path(s, 'killed')}"))
    assert len(store) == sum(e["n_cubes"] for e in m["scans"].values()) == report.cubes_in_store
    assert sorted(store.scan_ids) == sorted(ok)
    for sid in store.scan_ids:
        cubes = store.scan_cubes(sid)
        assert cubes.shape[0] == m["scans"][sid]["n_cubes"]
        assert len({c.tobytes() for c in cubes}) == len(cubes), f"duplicate cubes in {sid}"


@pytest.fixture()
def mlflow_restored(stack: Stack):
    """Whatever the test does to the MLflow server, it is running again afterwards."""
    yield stack.mlflow
    if not stack.mlflow.running:
        stack.mlflow.start()


def test_mlflow_outage_at_registration_keeps_the_checkpoint(
    in_process: Stack, mlflow_restored, monkeypatch, tmp_path
) -> None:
    """MLflow dies between training and registration: the flow fails clearly after retries,
    the checkpoint and result.json stay; after a restart the rerun registers, no retraining."""
    from flows.pretrain import pretrain_flow
    from tasks import pretrain as tp

    s = in_process
    if "night1" not in s.state:
        pytest.skip("needs the nightly store")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail fast while it is down
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    params = dict(
        store=f"s3://{store_path(s)}", profile="tiny", steps=1, seed=7, experiment="outage"
    )
    real_train = tp.train_model.fn
    trained: list = []

    def train_then_outage(*args, **kwargs):
        result = real_train(*args, **kwargs)
        trained.append(result)
        s.mlflow.stop()  # the tracking server goes away right after training
        return result

    real_register = tp.register_model.fn
    attempts: list[str] = []

    def counted_register(*args, **kwargs):
        try:
            return real_register(*args, **kwargs)
        except Exception as e:
            attempts.append(type(e).__name__)
            raise

    monkeypatch.setattr(tp.train_model, "fn", train_then_outage)
    monkeypatch.setattr(tp.register_model, "fn", counted_register)
    with s.prefect():
        state = pretrain_flow(**params, return_state=True)
    assert trained, "training did not finish"
    assert state.is_failed(), "registration must fail while MLflow is down"
    message = state.message or ""
    assert "MlflowException" in message and s.mlflow_url in message, message
    assert attempts == ["MlflowException"] * 3, "register-model fails after two retries"

    (result_json,) = [
        p
        for p in Path("genesis_data/runs/pretrain").glob("*/result.json")
        if json.loads(p.read_text())["run_id"] == trained[0].run_id
    ]
    run_dir = result_json.parent
    checkpoints = {p: p.stat().st_mtime_ns for p in (run_dir / "checkpoints").glob("*.pt")}
    assert checkpoints, "the checkpoint must stay on disk"

    s.mlflow.start()
    versions_before = {v["version"] for v in model_versions(s)}
    monkeypatch.setattr(tp.train_model, "fn", real_train)
    monkeypatch.setattr(tp.register_model, "fn", real_register)

    def no_training(*a, **k):
        raise AssertionError("a finished run must not be retrained")

    monkeypatch.setattr(tp, "train", no_training)
    with s.prefect():
        again = pretrain_flow(**params)
    assert again.run_id == trained[0].run_id and again.steps == trained[0].steps
    assert {p: p.stat().st_mtime_ns for p in checkpoints} == checkpoints
    new = {v["version"] for v in model_versions(s)} - versions_before
    assert new == {str(again.version)}
    (mv,) = [v for v in model_versions(s) if v["version"] == str(again.version)]
    assert mv["run_id"] == trained[0].run_id
    assert alias(s, MODEL, "candidate")["version"] == str(again.version)


def test_the_pipeline_account_cannot_reach_mlflow_artifacts(stack: Stack) -> None:
    """Workers log models over HTTP only: their S3 account is refused MLflow's bucket."""
    with pytest.raises(PermissionError):
        stack.s3().ls("mlflow-artifacts")
    with pytest.raises(PermissionError):
        stack.s3().pipe_file("mlflow-artifacts/intruder.txt", b"x")
    assert stack.s3().ls(stack.bucket) is not None


def test_prefect_and_mlflow_keep_their_state_in_postgres(stack: Stack) -> None:
    """What the APIs answer are rows of the stack's Postgres databases."""
    import psycopg

    def count(db: str, sql: str, *args) -> int:
        with psycopg.connect(stack.db.url(db)) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone()[0]

    with stack.client() as client:
        deployments = client.read_deployments()
    assert count("prefect", "select count(*) from deployment") == len(deployments) >= 4
    assert count("prefect", "select count(*) from flow_run") >= len(pretrain_runs(stack)) >= 1
    versions = model_versions(stack)
    sql = "select count(*) from model_versions where name = %s"
    assert count("mlflow", sql, MODEL) == len(versions) >= 1


def test_no_secret_in_logs_parameters_or_tracking(stack: Stack) -> None:
    logs = read_logs(stack)
    assert any("registered genesis-unet3d" in log.message for log in logs), "no flow logs?"
    with stack.client() as client:
        runs = client.read_flow_runs(limit=200)
        deployments = client.read_deployments()
        artifacts = client.read_artifacts()
    assert len(runs) >= 5
    runs_json = json.dumps(all_mlflow_runs(stack))
    assert '"params"' in runs_json
    models_json = json.dumps(model_versions(stack))
    for which, secret in stack.secrets.items():
        leaked = [log.message for log in logs if secret in log.message]
        assert not leaked, f"{which} secret in Prefect logs: {leaked[:3]}"
        for r in runs:
            params = json.dumps(r.parameters, default=str)
            assert secret not in params, f"{which} secret in {r.name} params"
            assert secret not in json.dumps(r.job_variables or {}, default=str), which
        for d in deployments:
            assert secret not in d.model_dump_json(), f"{which} secret in deployment {d.name}"
        for a in artifacts:
            assert secret not in json.dumps(a.data, default=str), which
        assert secret not in runs_json, f"{which} secret in MLflow params/tags"
        assert secret not in models_json, f"{which} secret in registered model tags"
