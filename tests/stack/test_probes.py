"""A hospital security review, replayed (#30): after the nightly scenario has run on the
stack (test_compose_stack.py, earlier in file order), every probe that found a service open
without credentials is sent again.  Each must be refused; the same call with the right
credentials must succeed where it should (the pipeline writes; a viewer only reads).

Probes from the host use the published 127.0.0.1 ports; probes of what is not published
(the SeaweedFS filer, Postgres) run inside the stack's network, from a worker container.
"""

from __future__ import annotations

import json
import shlex
import socket
import ssl
import subprocess

import pytest

from tests.servers import http_call
from tests.stack.conftest import ContainerStack
from tests.stack.podman import REPO

pytestmark = pytest.mark.stack

MODEL = "genesis-unet3d"


@pytest.fixture(scope="module")
def stack(compose_stack: ContainerStack) -> ContainerStack:
    return compose_stack


def status(url: str, method: str = "GET", body: bytes | None = None, **kw) -> int:
    return http_call(url, method, body, **kw)[0]


def in_container(stack: ContainerStack, service: str, code: str) -> subprocess.CompletedProcess:
    """``python -c code`` inside a container of ``service`` (the stack's network)."""
    name = stack.compose.container(service)
    return stack.compose.podman("exec", name, "python", "-c", code, check=False, timeout=120)


# --------------------------------------------------------------------------- Prefect


def test_unauthenticated_prefect_api_cannot_deploy_a_shell_pull_step(
    stack: ContainerStack,
) -> None:
    """The probe that ran a shell command on the workers: a deployment whose pull step runs
    a command, created on the genesis-cpu pool through the API without credentials."""
    api = stack.prefect_url
    flow = json.dumps({"name": "probe"}).encode()
    assert status(f"{api}/flows/", "POST", flow) == 401
    deployment = {
        "name": "probe",
        "flow_id": "00000000-0000-0000-0000-000000000000",
        "work_pool_name": "genesis-cpu",
        "pull_steps": [{"prefect.deployments.steps.run_shell_script": {"script": "id"}}],
    }
    assert status(f"{api}/deployments/", "POST", json.dumps(deployment).encode()) == 401
    assert status(f"{api}/deployments/filter", "POST", b"{}") == 401
    assert status(f"{api}/deployments/filter", "POST", b"{}", auth="x:wrong") == 401
    assert status(f"{api}/health") == 200  # probes stay open: health only
    # with the stack's auth string the API answers (the operator, the workers, the CLI)
    assert status(f"{api}/deployments/filter", "POST", b"{}", auth=stack.prefect_auth) == 200


# --------------------------------------------------------------------------- Dask


def test_unauthenticated_dask_client_is_refused(stack: ContainerStack, tmp_path) -> None:
    """``Client(scheduler).run(...)`` returned the S3 secret: now the scheduler speaks TLS
    only and requires a client certificate signed by the stack's CA."""
    from distributed import Client
    from distributed.security import Security

    host, port = stack.dask_address.removeprefix("tls://").split(":")
    with pytest.raises(OSError):  # plain TCP: the TLS listener hangs up
        with Client(f"tcp://{host}:{port}", timeout="10s"):
            pass
    # TLS that trusts the CA but presents no certificate: the handshake is refused
    ctx = ssl.create_default_context(cafile=str(stack.dask_tls / "ca.pem"))
    ctx.check_hostname = False
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10)) as s:
            s.sendall(b"\0" * 8)
            s.recv(1)  # TLS 1.3: the server's refusal arrives with the first read
    # a certificate from another CA (a self-made one) is refused too
    other = tmp_path / "other-ca"
    subprocess.run(
        ["bash", str(REPO / "infra" / "scripts" / "dask-tls.sh"), str(other)],
        check=True,
        capture_output=True,
    )
    forged = Security(
        tls_ca_file=str(stack.dask_tls / "ca.pem"),
        tls_client_cert=str(other / "client.pem"),
        tls_client_key=str(other / "client.key"),
        require_encryption=True,
    )
    with pytest.raises(OSError):
        with Client(stack.dask_address, security=forged, timeout="10s"):
            pass
    # the pipeline's certificate connects (and so may run code: that is what workers are for;
    # one worker container may be gone, killed by test_compose_stack.py)
    with stack.dask_client() as c:
        assert set(c.run(lambda: 1).values()) == {1}


# --------------------------------------------------------------------------- MLflow


def _weights_path(stack: ContainerStack) -> str:
    """The champion's weights file, as a path of MLflow's artifact proxy (read as viewer)."""
    version = stack.mlflow_api(f"registered-models/alias?name={MODEL}&alias=champion")
    run = stack.mlflow_api(f"runs/get?run_id={version['model_version']['run_id']}")
    uri = run["run"]["info"]["artifact_uri"]  # mlflow-artifacts:/<exp>/<run>/artifacts
    return uri.removeprefix("mlflow-artifacts:/").lstrip("/") + "/weights/model.safetensors"


def test_unauthenticated_mlflow_cannot_read_or_rewrite_the_registry(stack: ContainerStack) -> None:
    """Download the champion's weights, overwrite them, set ``val_loss=0`` on a version,
    delete the champion alias: without credentials every one is refused (401); the viewer
    reads but writes nothing (403); the pipeline's account writes."""
    base = stack.mlflow_url
    viewer = stack.mlflow_auth
    pipeline = ("pipeline", stack.secrets["MLFLOW_PIPELINE_PASSWORD"])
    weights = f"{base}/api/2.0/mlflow-artifacts/artifacts/{_weights_path(stack)}"
    tag = json.dumps({"name": MODEL, "version": "1", "key": "val_loss", "value": "0"}).encode()
    tag_url = f"{base}/api/2.0/mlflow/model-versions/set-tag"
    alias_url = f"{base}/api/2.0/mlflow/registered-models/alias?name={MODEL}&alias=champion"
    alias = json.dumps({"name": MODEL, "alias": "champion"}).encode()
    put = {"method": "PUT", "body": b"overwritten", "content_type": "application/octet-stream"}

    assert status(weights) == 401
    assert status(weights, **put) == 401
    assert status(tag_url, "POST", tag) == 401
    assert status(alias_url, "DELETE", alias) == 401

    assert status(weights, auth=viewer) == 200  # a viewer reads the registry
    assert status(weights, auth=viewer, **put) == 403
    assert status(tag_url, "POST", tag, auth=viewer) == 403
    assert status(alias_url, "DELETE", alias, auth=viewer) == 403

    probe = json.dumps({"name": MODEL, "version": "1", "key": "probe", "value": "pipeline"})
    assert status(tag_url, "POST", probe.encode(), auth=pipeline) == 200  # the pipeline writes
    champion = stack.mlflow_api(f"registered-models/alias?name={MODEL}&alias=champion")
    assert champion["model_version"]["version"] in {"1", "2"}  # the alias is still there
    tags = {t["key"]: t["value"] for t in champion["model_version"].get("tags", [])}
    assert tags.get("val_loss") != "0"


# --------------------------------------------------------------------------- SeaweedFS


def test_seaweedfs_filer_and_grpc_are_unreachable_without_keys(stack: ContainerStack) -> None:
    """The filer listed, read, wrote and deleted objects of both buckets for anyone on the
    network; the S3 gateway's gRPC port took IAM updates.  From a worker container now:
    nothing but the S3 API answers, and only with an account."""
    probe = """
import socket, ssl, urllib.request
out = []
for port in (8888, 9333, 8080):  # filer, master, volume server: bound to 127.0.0.1 inside
    try:
        urllib.request.urlopen(f"http://seaweedfs:{port}/buckets/genesis/", timeout=5)
        out.append(f"{port}:open")
    except Exception as e:
        out.append(f"{port}:{type(e).__name__}")
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
try:
    with ctx.wrap_socket(socket.create_connection(("seaweedfs", 18333), timeout=5)) as s:
        s.sendall(b"PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n"); s.recv(1)
    out.append("grpc:open")
except Exception as e:
    out.append(f"grpc:{type(e).__name__}")
print(" ".join(out))
"""
    res = in_container(stack, "prefect-worker-cpu", probe)  # a dask-worker may be killed
    assert res.returncode == 0, res.stderr
    seen = dict(item.split(":", 1) for item in res.stdout.split())
    assert "open" not in seen.values(), seen
    assert seen["8888"] in {"URLError", "ConnectionRefusedError"}, seen
    # inside the seaweedfs container (where the filer listens) its JWT keys still refuse
    inside = """
import urllib.request, urllib.error
try:
    urllib.request.urlopen("http://127.0.0.1:8888/buckets/genesis/", timeout=5); print("open")
except urllib.error.HTTPError as e:
    print(e.code)
"""
    res = in_container(stack, "seaweedfs", inside)
    assert res.stdout.strip() == "401", (res.stdout, res.stderr)
    # the S3 API with the pipeline's account reads its bucket (the nightly ran through it)
    assert stack.s3().ls("genesis/root")
    anonymous = status(f"{stack.s3_url}/genesis/")
    assert anonymous in {401, 403}, anonymous


# --------------------------------------------------------------------------- Postgres


def _psql(stack: ContainerStack, user: str, db: str) -> subprocess.CompletedProcess:
    name = stack.compose.container("postgres")
    cmd = f"psql -h 127.0.0.1 -U {shlex.quote(user)} -d {shlex.quote(db)} -tAc 'select 1'"
    return stack.compose.podman("exec", name, "sh", "-c", cmd, check=False)


def test_postgres_roles_cannot_connect_to_each_others_database(stack: ContainerStack) -> None:
    for user, own, other in (("prefect", "prefect", "mlflow"), ("mlflow", "mlflow", "prefect")):
        assert _psql(stack, user, own).stdout.strip() == "1", user
        refused = _psql(stack, user, other)
        assert refused.returncode != 0 and "permission denied" in refused.stderr, refused.stderr


def test_no_secret_is_on_any_command_line(stack: ContainerStack) -> None:
    """``ps`` shows command lines: the MLflow database password was one of them."""
    secrets = {
        k: v for k, v in stack.secrets.items() if len(v) >= 8 and k != "GENESIS_DASK_TLS_DIR"
    }
    for service in stack.compose.active():
        for name in stack.compose.containers(service):
            if stack.compose.inspect(name)["State"]["Status"] != "running":
                continue
            res = stack.compose.podman(
                "exec", name, "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '", check=False
            )
            leaked = [k for k, v in secrets.items() if v in res.stdout]
            assert not leaked, f"{name}: {leaked} on a command line"
