"""Fixtures for the real-server stack, shaped like the compose stack: PostgreSQL (databases
``prefect`` and ``mlflow``, made by compose's own init script), SeaweedFS as the object
store (one account per bucket), Prefect server and MLflow server on Postgres (MLflow's
artifacts proxied to S3), Dask clusters, process workers and the deployments of
``prefect.yaml``.

Every server listens on 127.0.0.1, is health-checked before use and stopped by PID
(``tests.servers.process``).  The stack gets its own object store, database server and
credentials, so nothing it writes can collide with another test session.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers import basic_auth, bin_path, free_port, http_ok, process, wait_until
from tests.servers.postgres import Postgres, PostgresMissing, postgres_server
from tests.servers.postgres import bindir as pg_bindir
from tests.servers.seaweed import identity, seaweed_server, storage_options

REPO = Path(__file__).resolve().parents[2]
POOLS = ("genesis-cpu", "genesis-gpu")
MLFLOW_BUCKET = "mlflow-artifacts"


# --------------------------------------------------------------------------- helpers


def http_json(
    url: str,
    body: dict | None = None,
    timeout: float = 10,
    auth: tuple[str, str] | None = None,
) -> Any:
    """GET (or POST ``body`` as JSON) on a loopback URL; the decoded JSON answer.
    ``auth``: (user, password) for HTTP Basic auth."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = basic_auth(auth)
    req = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310 - loopback only
        return json.loads(r.read() or b"null")


def cli(args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 240) -> str:
    """Run a ``prefect`` CLI command; its output (stdout + stderr); fails the test on error."""
    out = subprocess.run(
        [bin_path("prefect"), *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    text = out.stdout + out.stderr
    if out.returncode != 0:
        pytest.fail(f"prefect {' '.join(args)} exited {out.returncode}:\n{text[-4000:]}")
    return text


class Service:
    """A server that a test may stop and start again on the same port (MLflow outage)."""

    def __init__(
        self, cmd: list[str], log: Path, health: Callable[[], bool], what: str, env: dict, url: str
    ) -> None:
        self.cmd, self.log, self.health, self.what, self.env = cmd, log, health, what, env
        self.url = url
        self.starts = 0
        self._stack: ExitStack | None = None
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180) -> None:
        assert self._stack is None, f"{self.what} already running"
        self.starts += 1
        stack = ExitStack()
        log = self.log.with_suffix(f".{self.starts}.log")
        self.proc = stack.enter_context(
            process(self.cmd, log, self.health, self.what, timeout=timeout, env=self.env)
        )
        self._stack = stack

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    @property
    def running(self) -> bool:
        return self._stack is not None and self.proc is not None and self.proc.poll() is None


def listening(port: int) -> Callable[[], bool]:
    def check() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    return check


@contextmanager
def dask_cluster(logs: Path, env: dict[str, str], n_workers: int = 2) -> Iterator[dict]:
    """``dask scheduler`` + ``n_workers`` ``dask worker`` processes (one nanny each)."""
    from distributed import Client

    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    addr = f"tcp://127.0.0.1:{port}"
    sched = [bin_path("dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port)]
    sched += ["--no-dashboard"]
    worker = [bin_path("dask"), "worker", addr, "--nthreads", "1", "--nworkers", "1"]
    worker += ["--host", "127.0.0.1", "--no-dashboard", "--memory-limit", "4GB"]
    with process(sched, logs / "scheduler.log", listening(port), "dask scheduler", env=env):
        with ExitStack() as stack:
            procs = [
                stack.enter_context(
                    process(worker, logs / f"w{i}.log", lambda: True, f"dask worker {i}", env=env)
                )
                for i in range(n_workers)
            ]
            with Client(addr, timeout="30s") as c:
                wait_until(
                    lambda: len(c.scheduler_info()["workers"]) >= n_workers,
                    120,
                    f"{n_workers} dask workers",
                )
            yield {"address": addr, "workers": procs, "logs": logs}


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    """Everything the stack tests need: URLs, the bucket, the environment the workers got."""

    prefect_url: str  # http://127.0.0.1:P/api
    mlflow: Service
    mlflow_url: str
    s3_url: str  # SeaweedFS
    db: Postgres  # Prefect's and MLflow's databases
    bucket: str
    root: str  # s3://bucket/root
    source: str  # s3://bucket/scans
    dask_address: str
    secrets: dict[str, str]  # every credential of the stack by name: none may leak
    env: dict[str, str]  # what every stack process gets (workers, deploy, in-process flows)
    aws: dict[str, str]
    tmp: Path
    state: dict[str, Any] = field(default_factory=dict)  # results handed from test to test
    prefect_auth: str | None = None  # the API's auth string, where the server asks for one
    mlflow_auth: tuple[str, str] | None = None  # (user, password) for MLflow's basic auth

    @property
    def prefect_env(self) -> dict[str, str]:
        env = {"PREFECT_API_URL": self.prefect_url}
        if self.prefect_auth is not None:
            env["PREFECT_API_AUTH_STRING"] = self.prefect_auth
        return env

    @contextmanager
    def prefect(self):
        """Prefect settings pointing at this stack's server (in this thread)."""
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        updates: dict[Any, Any] = {PREFECT_API_URL: self.prefect_url}
        if self.prefect_auth is not None:
            updates[PREFECT_API_AUTH_STRING] = self.prefect_auth
        with temporary_settings(updates=updates):
            yield

    @contextmanager
    def client(self):
        from prefect.client.orchestration import get_client

        with self.prefect(), get_client(sync_client=True) as client:
            yield client

    def s3(self, admin: bool = False):
        """An s3fs client with the pipeline's account (its bucket only) or the admin's."""
        import s3fs

        if admin:
            return s3fs.S3FileSystem(**storage_options(self.s3_url), use_listings_cache=False)
        return s3fs.S3FileSystem(
            key=self.aws["AWS_ACCESS_KEY_ID"],
            secret=self.aws["AWS_SECRET_ACCESS_KEY"],
            client_kwargs={"endpoint_url": self.s3_url},
            use_listings_cache=False,
        )

    def mlflow_api(self, path: str, body: dict | None = None) -> Any:
        return http_json(f"{self.mlflow_url}/api/2.0/mlflow/{path}", body, auth=self.mlflow_auth)


def _account(key: str) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": f"{key}-secret-{uuid.uuid4().hex}",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The stack's object store (SeaweedFS) with its buckets and accounts, and the
    environment shared by every process of the stack.

    As in compose, each account reaches one bucket: the pipeline's (workers, Dask) the
    data bucket, MLflow's the artifact bucket, so the workers hold no MLflow S3 key."""
    import s3fs

    tmp = tmp_path_factory.mktemp("stack")
    bucket = f"genesis-stack-{uuid.uuid4().hex[:8]}"
    aws, mlflow_aws = _account("stack-pipeline"), _account("stack-mlflow")
    accounts = [
        identity("pipeline", aws["AWS_ACCESS_KEY_ID"], aws["AWS_SECRET_ACCESS_KEY"], (bucket,)),
        identity(
            "mlflow",
            mlflow_aws["AWS_ACCESS_KEY_ID"],
            mlflow_aws["AWS_SECRET_ACCESS_KEY"],
            (MLFLOW_BUCKET,),
        ),
    ]
    with seaweed_server(tmp / "seaweed", identities=accounts) as s3_url:
        admin = s3fs.S3FileSystem(**storage_options(s3_url))
        admin.mkdir(bucket)
        admin.mkdir(MLFLOW_BUCKET)
        yield _stack_env(tmp, bucket, aws, mlflow_aws, s3_url)


def _stack_env(tmp: Path, bucket: str, aws: dict, mlflow_aws: dict, s3_url: str) -> dict:
    env = {
        **aws,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "GENESIS_ROOT": f"s3://{bucket}/root",
        "GENESIS_S3_ENDPOINT_URL": s3_url,
        "GENESIS_CACHE_DIR": str(tmp / "cache"),
        "GENESIS_NIGHTLY_SOURCE": f"s3://{bucket}/scans",
        "GENESIS_PROJECT_DIR": str(REPO),
    }
    return {
        "tmp": tmp,
        "bucket": bucket,
        "aws": aws,
        "mlflow_aws": mlflow_aws,
        "s3_url": s3_url,
        "env": env,
    }


@pytest.fixture(scope="module")
def stack_db(tmp_path_factory) -> Iterator[Postgres]:
    """PostgreSQL with the databases ``prefect`` and ``mlflow`` (compose's init script)."""
    try:
        pg_bindir()
    except PostgresMissing as e:
        pytest.fail(str(e), pytrace=False)  # one line naming the missing binary
    with postgres_server(tmp_path_factory.mktemp("postgres")) as db:
        yield db


@contextmanager
def prefect_server(tmp: Path, database_url: str) -> Iterator[str]:
    """``prefect server start`` on 127.0.0.1 on ``database_url``; yields the API URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "PREFECT_HOME": str(tmp / "home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",  # no 2 am runs mid-test
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    cmd = [bin_path("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--no-ui"]
    with process(cmd, tmp / "server.log", http_ok(f"{url}/api/health"), "prefect server", 180, env):
        yield f"{url}/api"


def mlflow_service(tmp: Path, aws: dict[str, str], s3_url: str, database_url: str) -> Service:
    """``mlflow server`` on ``database_url``, serving artifacts from ``s3://mlflow-artifacts/``
    with its own S3 account (``aws``)."""
    port = free_port()
    cmd = [bin_path("mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--backend-store-uri", database_url, "--workers", "1"]
    cmd += ["--artifacts-destination", f"s3://{MLFLOW_BUCKET}/", "--serve-artifacts"]
    env = {**aws, "MLFLOW_S3_ENDPOINT_URL": s3_url}
    url = f"http://127.0.0.1:{port}"
    return Service(cmd, tmp / "server", http_ok(f"{url}/health"), "mlflow server", env, url)


@contextmanager
def running(svc: Service) -> Iterator[Service]:
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


def in_parallel(exits: ExitStack, jobs: dict[str, Callable[[ExitStack], Any]]) -> dict[str, Any]:
    """Run start-up ``jobs`` in threads (servers start while others wait on health checks);
    whatever each one entered is closed with ``exits``, even when another job failed."""
    results: dict[str, Any] = {}
    errors: list[BaseException] = []
    stacks = {name: ExitStack() for name in jobs}

    def run(name: str) -> None:
        try:
            results[name] = jobs[name](stacks[name])
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(name,), daemon=True) for name in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for st in stacks.values():
        exits.push(st.__exit__)
    if errors:
        raise errors[0]
    return results


@pytest.fixture()
def dask_cluster_fn(stack_env, tmp_path) -> Iterator[dict]:
    """A private Dask cluster (scheduler + 2 workers) that a test may break."""
    with dask_cluster(tmp_path / "dask", stack_env["aws"]) as cluster:
        yield cluster


def _online(prefect_url: str, pool: str) -> Callable[[], bool]:
    def check() -> bool:
        workers = http_json(f"{prefect_url}/work_pools/{pool}/workers/filter", {})
        return any(w.get("status") == "ONLINE" for w in workers)

    return check


@pytest.fixture(scope="module")
def stack(stack_env, stack_db) -> Iterator[Stack]:
    """Prefect server, MLflow server (both on ``stack_db``) and a Dask cluster (started side
    by side), the work pools, one process worker per pool, and ``prefect deploy --all``.

    The Dask workers get the S3 credentials in their environment (they read scans and
    write shards), which is why the stack has its own cluster rather than ``dask_scheduler``.
    """
    tmp = stack_env["tmp"]
    (tmp / "mlflow").mkdir()
    (tmp / "prefect-server").mkdir()
    s3_url = stack_env["s3_url"]
    mlflow = mlflow_service(tmp / "mlflow", stack_env["mlflow_aws"], s3_url, stack_db.url("mlflow"))
    timings: list[str] = []
    t0 = time.monotonic()

    def mark(what: str) -> None:
        timings.append(f"{time.monotonic() - t0:6.1f}s {what}")

    def prefect_and_pools(exits: ExitStack) -> str:
        db_url = stack_db.url("prefect", "postgresql+asyncpg")
        url = exits.enter_context(prefect_server(tmp / "prefect-server", db_url))
        mark("prefect server healthy")
        env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_LOGGING_LEVEL": "WARNING"}
        creates = [
            subprocess.Popen(
                [bin_path("prefect"), "work-pool", "create", pool, "--type", "process"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for pool in POOLS
        ]
        for p in creates:
            out, _ = p.communicate(timeout=180)
            assert p.returncode == 0, out
        mark("work pools created")
        return url

    def dask(exits: ExitStack) -> dict:
        cluster = exits.enter_context(dask_cluster(tmp / "dask", stack_env["aws"]))
        mark("dask cluster up")
        return cluster

    def mlflow_up(exits: ExitStack) -> Service:
        exits.enter_context(running(mlflow))
        mark("mlflow server healthy")
        return mlflow

    with ExitStack() as exits:
        up = in_parallel(exits, {"prefect": prefect_and_pools, "dask": dask, "mlflow": mlflow_up})
        prefect_url = up["prefect"]
        env = {
            **stack_env["env"],
            "PREFECT_API_URL": prefect_url,
            "PREFECT_HOME": str(tmp / "prefect-home"),
            "PREFECT_LOGGING_LEVEL": "INFO",
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "GENESIS_DASK_ADDRESS": up["dask"]["address"],
            "MLFLOW_TRACKING_URI": mlflow.url,
        }
        s = Stack(
            prefect_url=prefect_url,
            mlflow=mlflow,
            mlflow_url=mlflow.url,
            s3_url=s3_url,
            db=stack_db,
            bucket=stack_env["bucket"],
            root=env["GENESIS_ROOT"],
            source=env["GENESIS_NIGHTLY_SOURCE"],
            dask_address=up["dask"]["address"],
            secrets={
                "pipeline S3": stack_env["aws"]["AWS_SECRET_ACCESS_KEY"],
                "MLflow S3": stack_env["mlflow_aws"]["AWS_SECRET_ACCESS_KEY"],
                **{f"Postgres {db}": pw for db, pw in stack_db.passwords.items()},
            },
            env=env,
            aws=stack_env["aws"],
            tmp=tmp,
        )

        def worker(pool: str) -> Callable[[ExitStack], None]:
            cmd = [bin_path("prefect"), "worker", "start", "--pool", pool, "--type", "process"]
            log = tmp / f"worker-{pool}.log"
            health = _online(prefect_url, pool)

            def start(exits: ExitStack) -> None:
                exits.enter_context(process(cmd, log, health, f"worker {pool}", 180, env))
                mark(f"worker {pool} online")

            return start

        def deploy(_: ExitStack) -> str:
            yaml_before = (REPO / "prefect.yaml").read_bytes()
            out = cli(["deploy", "--all", "--no-prompt"], env, cwd=REPO, timeout=300)
            assert (REPO / "prefect.yaml").read_bytes() == yaml_before, "deploy edited the yaml"
            mark("deployed")
            return out

        done = in_parallel(exits, {**{p: worker(p) for p in POOLS}, "deploy": deploy})
        names = {d["name"] for d in http_json(f"{prefect_url}/deployments/filter", {})}
        assert {"ingest", "preprocess", "pretrain", "nightly"} <= names, done["deploy"]
        (tmp / "timings.txt").write_text("\n".join(timings) + "\n")
        try:
            yield s
        finally:
            _remove_checkpoints(s)


def _remove_checkpoints(s: Stack) -> None:
    """Workers run in the repo (the pull step), so remote-root checkpoints land in
    ``REPO/genesis_data/runs``: remove exactly the run folders of this stack's MLflow runs."""
    runs_dir = REPO / "genesis_data" / "runs" / "pretrain"
    if not runs_dir.is_dir():
        return
    try:
        ours = {r["info"]["run_id"] for r in all_mlflow_runs(s)}
    except OSError:
        return
    for d in runs_dir.iterdir():
        marker = d / "mlflow_run_id"
        if marker.is_file() and marker.read_text().strip() in ours:
            shutil.rmtree(d, ignore_errors=True)


def all_mlflow_runs(s: Stack) -> list[dict]:
    exps = s.mlflow_api("experiments/search", {"max_results": 1000}).get("experiments", [])
    ids = [e["experiment_id"] for e in exps]
    if not ids:
        return []
    return s.mlflow_api("runs/search", {"experiment_ids": ids, "max_results": 1000}).get("runs", [])


# --------------------------------------------------------------------------- flow runs


def trigger(s: Stack, deployment: str, params: dict[str, Any]) -> str:
    """``prefect deployment run`` with ``--params``; the new flow run's id."""
    import re

    out = cli(["deployment", "run", deployment, "--params", json.dumps(params)], s.prefect_env)
    m = re.search(r"UUID:\s*([0-9a-f-]{36})", out)
    assert m, f"no flow run id in:\n{out}"
    return m.group(1)


def wait_for_run(s: Stack, flow_run_id: str, timeout: float = 420):
    """Poll the API until the flow run is final; its last state (with logs on failure)."""
    deadline = time.monotonic() + timeout
    with s.client() as client:
        while True:
            run = client.read_flow_run(flow_run_id)
            if run.state is not None and run.state.is_final():
                return run
            if time.monotonic() > deadline:
                pytest.fail(
                    f"flow run {flow_run_id} still {run.state_name} after {timeout}s\n"
                    + run_logs_text(s, flow_run_id)
                )
            time.sleep(2)


def run_logs_text(s: Stack, flow_run_id: str | None = None, tail: int = 60) -> str:
    logs = read_logs(s, flow_run_id)
    return "\n".join(f"{log.level} {log.name}: {log.message}" for log in logs[-tail:])


def read_logs(s: Stack, flow_run_id: str | None = None) -> list:
    """Every log line the API holds (of one flow run and its task runs, or all)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    flt = None
    if flow_run_id is not None:
        flt = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[uuid.UUID(flow_run_id)]))
    out: list = []
    with s.client() as client:
        while True:
            page = client.read_logs(
                log_filter=flt, limit=200, offset=len(out), sort=LogSort.TIMESTAMP_ASC
            )
            out += page
            if len(page) < 200:
                return out


def subflow_runs(s: Stack, parent_id: str) -> list:
    """The flow runs started inside ``parent_id``: subflows and deployments it ran."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with s.client() as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[uuid.UUID(parent_id)])
            )
        )


def artifact_markdown(s: Stack, flow_run_id: str, key: str = "nightly-report") -> str:
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with s.client() as client:
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(flow_run_id)]),
            )
        )
    assert len(arts) == 1, f"expected one {key} artifact of flow run {flow_run_id}, got {arts}"
    return arts[0].data
