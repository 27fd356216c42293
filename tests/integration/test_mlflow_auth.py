"""MLflow as the stack ships it (#30): `mlflow server --app-name basic-auth` with
infra/compose/mlflow/basic_auth.ini, its accounts made by infra/compose/mlflow/setup.py.
Nobody without credentials reads or writes; the viewer reads only; the pipeline writes;
and the pipeline runs as users run it, through `tasks.tracking` with its account.

The stack tier (tests/stack/test_probes.py) replays the same probes on the containers;
this tier checks the configuration itself in seconds, on every CI run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import bin_path, free_port, http_call, http_ok, process

pytestmark = pytest.mark.integration

COMPOSE_MLFLOW = Path(__file__).resolve().parents[2] / "infra" / "compose" / "mlflow"
ADMIN, PIPELINE, VIEWER = "admin-Pw-1234567", "pipeline-Pw-1234567", "viewer-Pw-1234567"


def status(url: str, method: str = "GET", body: dict | None = None, auth=None) -> int:
    return http_call(url, method, None if body is None else json.dumps(body).encode(), auth)[0]


@pytest.fixture(scope="module")
def mlflow_auth(tmp_path_factory):
    """The server with the shipped ini (its sqlite path moved into a temp folder)."""
    tmp = tmp_path_factory.mktemp("mlflow-auth")
    ini = (COMPOSE_MLFLOW / "basic_auth.ini").read_text(encoding="utf-8")
    ini = ini.replace("sqlite:////var/lib/mlflow-auth/", f"sqlite:///{tmp}/")
    (tmp / "basic_auth.ini").write_text(ini, encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(tmp / "basic_auth.ini"),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "k" * 32,
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp}/mlflow.db",
    }
    cmd = [bin_path("mlflow"), "server", "--app-name", "basic-auth", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", "1", "--serve-artifacts"]
    cmd += ["--artifacts-destination", str(tmp / "artifacts")]
    with process(cmd, tmp / "server.log", http_ok(f"{url}/health"), "mlflow auth", 180, env):
        setup = subprocess.run(
            [sys.executable, str(COMPOSE_MLFLOW / "setup.py")],
            env={
                **os.environ,
                "MLFLOW_TRACKING_URI": url,
                "MLFLOW_TRACKING_USERNAME": "admin",
                "MLFLOW_TRACKING_PASSWORD": ADMIN,
                "MLFLOW_PIPELINE_PASSWORD": PIPELINE,
                "MLFLOW_VIEWER_PASSWORD": VIEWER,
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert setup.returncode == 0, setup.stderr
        assert "pipeline: created" in setup.stdout and "viewer: created" in setup.stdout
        assert PIPELINE not in setup.stdout + setup.stderr  # no password printed
        yield url


def _register_as_pipeline(url: str, monkeypatch, tmp_path) -> dict:
    """What the pipeline does after training: a run, an artifact, a registered version with
    an alias, all as the `pipeline` account through MLflow's client (env credentials).  An
    explicit client: no process-wide MLflow state (active experiment, URIs) leaks into
    other tests."""
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "pipeline")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PIPELINE)
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    exp = client.create_experiment("auth-probe")
    run = client.create_run(exp)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights")
    client.log_artifact(run.info.run_id, str(weights), "weights")
    client.set_terminated(run.info.run_id)
    client.create_registered_model("probe-model")
    v = client.create_model_version(
        "probe-model", f"runs:/{run.info.run_id}/weights", run.info.run_id
    )
    client.set_registered_model_alias("probe-model", "champion", v.version)
    return {"exp": exp, "run": run.info.run_id, "version": v.version}


def test_unauthenticated_and_viewer_calls_cannot_rewrite_the_registry(
    mlflow_auth: str, monkeypatch, tmp_path
) -> None:
    url = mlflow_auth
    made = _register_as_pipeline(url, monkeypatch, tmp_path)
    weights = f"{url}/api/2.0/mlflow-artifacts/artifacts/{made['exp']}/{made['run']}/artifacts/weights/model.safetensors"
    tag = {"name": "probe-model", "version": made["version"], "key": "val_loss", "value": "0"}
    tag_url = f"{url}/api/2.0/mlflow/model-versions/set-tag"
    alias_url = f"{url}/api/2.0/mlflow/registered-models/alias"
    alias = {"name": "probe-model", "alias": "champion"}
    viewer, pipeline = ("viewer", VIEWER), ("pipeline", PIPELINE)

    for auth, read, write in (
        (None, 401, 401),
        (viewer, 200, 403),
        (("viewer", "wrong"), 401, 401),
    ):
        assert status(weights, auth=auth) == read, auth
        assert (
            status(f"{url}/api/2.0/mlflow/registered-models/get?name=probe-model", auth=auth)
            == read
        )
        put = http_call(weights, "PUT", b"overwritten", auth, "application/octet-stream")
        code = put[0]
        assert code == write, ("artifact PUT", auth, code)
        assert status(tag_url, "POST", tag, auth=auth) == write, ("set-tag", auth)
        assert status(alias_url, "DELETE", alias, auth=auth) == write, ("alias delete", auth)

    # the pipeline owns what it created: it writes
    probe = {**tag, "key": "probe", "value": "pipeline"}
    assert status(tag_url, "POST", probe, auth=pipeline) == 200
    code, got = http_call(f"{alias_url}?name=probe-model&alias=champion", auth=viewer)
    mv = json.loads(got)["model_version"]
    assert mv["version"] == made["version"]  # the champion alias survived every probe
    assert {t["key"]: t["value"] for t in mv.get("tags", [])}.get("val_loss") is None
    assert http_call(weights, auth=viewer) == (200, b"weights")  # never overwritten


def test_rerunning_setup_rotates_a_password(mlflow_auth: str) -> None:
    url = mlflow_auth
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": url,
        "MLFLOW_TRACKING_USERNAME": "admin",
        "MLFLOW_TRACKING_PASSWORD": ADMIN,
        "MLFLOW_PIPELINE_PASSWORD": PIPELINE,
        "MLFLOW_VIEWER_PASSWORD": VIEWER + "-rotated",
    }
    out = subprocess.run(
        [sys.executable, str(COMPOSE_MLFLOW / "setup.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "viewer: password set" in out.stdout, out.stderr
    models = f"{url}/api/2.0/mlflow/registered-models/search"
    assert status(models, auth=("viewer", VIEWER)) == 401
    assert status(models, auth=("viewer", VIEWER + "-rotated")) == 200
    env["MLFLOW_VIEWER_PASSWORD"] = VIEWER  # back, for other tests of this module
    subprocess.run(
        [sys.executable, str(COMPOSE_MLFLOW / "setup.py")], env=env, check=True, capture_output=True
    )


def test_the_pipeline_stops_in_one_line_when_mlflow_refuses_its_credentials(
    mlflow_auth: str, monkeypatch
) -> None:
    from tasks.services import ServiceUnavailable, check_tracking_credentials

    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    with pytest.raises(
        ServiceUnavailable, match="refused no credentials .401.*MLFLOW_TRACKING_USERNAME"
    ):
        check_tracking_credentials(mlflow_auth)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "pipeline")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-" + PIPELINE)
    with pytest.raises(ServiceUnavailable) as refused:
        check_tracking_credentials(mlflow_auth)
    assert "user 'pipeline'" in str(refused.value) and PIPELINE not in str(refused.value)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PIPELINE)
    check_tracking_credentials(mlflow_auth)  # the right account passes
