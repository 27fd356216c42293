"""Static checks of infra/: parsing, the Compose stack, the images and the lock.

No container engine or cluster is needed (CI has neither).  The Compose Specification JSON
schema is not available offline, so the Compose checks are structural.  Kubernetes
manifests: test_k8s.py; prefect.yaml: test_deployments.py.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from urllib.parse import urlparse

import pytest
import yaml

from tests.infra import helpers as h

STATEFUL = {"postgres", "seaweedfs", "prefect-server", "mlflow", "dask-scheduler"}
REQUIRED_SETTINGS = {
    "GENESIS_ROOT": "s3://genesis/root",
    "GENESIS_S3_ENDPOINT_URL": "http://seaweedfs:8333",
    # TLS only: the scheduler takes no caller without a certificate of the stack's CA
    "GENESIS_DASK_ADDRESS": "tls://dask-scheduler:8786",
    "MLFLOW_TRACKING_URI": "http://mlflow:5000",
    "MLFLOW_TRACKING_USERNAME": "pipeline",
    "PREFECT_API_URL": "http://prefect-server:4200/api",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    # Dask clients: TLS with the client certificate (compose secrets / Secret genesis-dask-tls)
    "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
    "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": "/run/secrets/dask-ca",
    "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": "/run/secrets/dask-client-cert",
    "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": "/run/secrets/dask-client-key",
}
# Read from the environment by the one-shot MLflow account setup (infra/compose/mlflow/setup.py,
# also the Kubernetes Job mlflow-setup), not by MLflow itself.
MLFLOW_SETUP = h.INFRA / "compose" / "mlflow" / "setup.py"


def pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((h.ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "dependencies"
    ]
    return {
        re.split(r"\[", name)[0].lower(): version for name, version in (d.split("==") for d in deps)
    }


def extra_test_pins() -> dict[str, str]:
    extra = tomllib.loads((h.ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]["test"]
    return {name.split("[")[0].lower(): version for name, version in (d.split("==") for d in extra)}


def settings_env() -> dict[str, str]:
    return {k: str(v) for k, v in h.compose()["x-genesis-settings"].items()}


# --- every file parses ----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    sorted(p for p in h.INFRA.rglob("*") if p.suffix in {".yaml", ".yml", ".json"}),
    ids=lambda p: str(p.relative_to(h.INFRA)),
)
def test_every_yaml_and_json_file_parses(path) -> None:
    if path.suffix == ".json":
        assert json.loads(path.read_text(encoding="utf-8"))
    else:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
        assert docs and all(isinstance(d, dict) for d in docs)


# --- Compose ----------------------------------------------------------------------------


def test_compose_services_have_an_image_or_a_build_that_exists() -> None:
    for name, svc in h.services().items():
        assert "image" in svc or "build" in svc, name
        if "build" in svc:
            context = (h.COMPOSE.parent / svc["build"]["context"]).resolve()
            assert context == h.ROOT, f"{name}: build context must be the repository root"
            assert (context / svc["build"]["dockerfile"]).is_file(), name


def test_compose_images_are_pinned_and_match_their_dockerfile() -> None:
    for name, svc in h.services().items():
        image = svc["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"
        if "build" in svc:
            flavour = svc["build"]["dockerfile"].rsplit(".", 1)[-1]
            assert image.split(":")[0] == f"genesis-{flavour}", f"{name}: {image}"


def test_compose_depends_on_targets_exist() -> None:
    names = set(h.services())
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, svc in h.services().items():
        deps = svc.get("depends_on") or {}
        for target, spec in (
            deps.items() if isinstance(deps, dict) else dict.fromkeys(deps, {}).items()
        ):
            assert target in names, f"{name} depends on unknown {target}"
            cond = (spec or {}).get("condition", "service_started")
            assert cond in conditions, f"{name} -> {target}: {cond}"
            if cond == "service_healthy":
                assert "healthcheck" in h.services()[target], f"{target} has no healthcheck"


def test_compose_variables_are_exactly_those_of_env_example() -> None:
    text = h.COMPOSE.read_text(encoding="utf-8")
    # defaulted: the base images, and the folder of Dask's certificates (files, not a value)
    defaults = dict(re.findall(r"\$\{(\w+):-([^}]+)\}", text))
    optional = set(defaults)
    assert optional == {"GENESIS_PYTHON_IMAGE", "GENESIS_DEBIAN_IMAGE", "GENESIS_DASK_TLS_DIR"}
    # the default folder of the certificates is never committed
    tls_dir = (h.COMPOSE.parent / defaults["GENESIS_DASK_TLS_DIR"]).resolve()
    ignored = (h.ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert any(
        tls_dir.relative_to(h.ROOT).as_posix().startswith(line.strip("/"))
        for line in ignored
        if line.strip() and not line.startswith("#")
    ), f"{tls_dir} is not git-ignored"
    used = h.compose_vars(text) - optional
    defined = set(h.env_example())
    assert used - defined == set(), (
        f"used in compose.yaml but not in .env.example: {used - defined}"
    )
    assert defined - used == set(), f"in .env.example but unused: {defined - used}"


def test_env_example_holds_placeholders_only() -> None:
    for key, value in h.env_example().items():
        assert value.startswith("change-me"), f"{key} must be a change-me placeholder"


def test_compose_credentials_come_from_env_file() -> None:
    for name, svc in h.services().items():
        for key, value in h.env_of(svc).items():
            if h.SECRETISH.search(key):
                assert re.fullmatch(r"\$\{\w+(:[?-][^}]*)?\}", value), f"{name}.{key} is inline"
        for word in h.command_of(svc) + list(h.env_of(svc).values()):
            assert not h.URL_CREDENTIALS.search(word), f"{name}: literal credentials in {word!r}"


def test_compose_host_ports_are_unique() -> None:
    seen: dict[str, str] = {}
    for name, svc in h.services().items():
        for port in svc.get("ports") or []:
            parts = str(port).split(":")
            assert len(parts) >= 2, f"{name}: publish {port} explicitly"
            host = ":".join(parts[:-1])
            assert host not in seen, f"{name} and {seen[host]} both publish {host}"
            seen[host] = name


def test_compose_stateful_services_have_healthchecks_and_named_volumes() -> None:
    svcs = h.services()
    declared = set(h.compose().get("volumes") or {})
    for name in STATEFUL:
        test = svcs[name].get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, name
    for name, svc in svcs.items():
        for vol in svc.get("volumes") or []:
            source = str(vol).split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} not declared"
    for name in ("postgres", "seaweedfs"):
        assert any(str(v).split(":")[0] in declared for v in svcs[name]["volumes"]), name


def test_compose_gpu_worker_reserves_an_nvidia_gpu() -> None:
    gpu = [
        n
        for n, s in h.services().items()
        if "genesis-gpu" in h.command_of(s) and "cuda" in s["image"]
    ]
    assert gpu, "no CUDA worker polls the genesis-gpu pool"
    for name in gpu:
        devices = h.services()[name]["deploy"]["resources"]["reservations"]["devices"]
        assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices), name


def test_compose_workers_poll_every_pool_of_prefect_yaml() -> None:
    pools = {
        d["work_pool"]["name"]
        for d in yaml.safe_load(h.PREFECT_YAML.read_text(encoding="utf-8"))["deployments"]
    }
    polled = set()
    for svc in h.services().values():
        cmd = h.command_of(svc)
        if cmd[:3] == ["prefect", "worker", "start"]:
            assert cmd[cmd.index("--type") + 1] == "process"
            polled.add(cmd[cmd.index("--pool") + 1])
    assert polled == pools


def test_compose_settings_point_at_services_of_the_stack() -> None:
    env = settings_env()
    for key, value in REQUIRED_SETTINGS.items():
        assert env.get(key) == value, key
    for key in (
        "GENESIS_S3_ENDPOINT_URL",
        "GENESIS_DASK_ADDRESS",
        "MLFLOW_TRACKING_URI",
        "PREFECT_API_URL",
    ):
        assert urlparse(env[key]).hostname in h.services(), key
    for name in ("dask-worker", "prefect-worker-cpu", "prefect-worker-gpu"):
        svc_env = h.env_of(h.services()[name])
        assert {k: svc_env.get(k) for k in env} == env, name
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(svc_env), name


def test_compose_prefect_server_runs_on_postgres() -> None:
    svc = h.services()["prefect-server"]
    assert h.command_of(svc)[:3] == ["prefect", "server", "start"]
    assert "0.0.0.0" in h.command_of(svc)
    url = urlparse(
        re.sub(r"\$\{[^}]*\}", "x", h.env_of(svc)["PREFECT_API_DATABASE_CONNECTION_URL"])
    )
    assert (url.scheme, url.hostname, url.path) == ("postgresql+asyncpg", "postgres", "/prefect")


def test_compose_mlflow_proxies_artifacts_for_its_clients() -> None:
    svc = h.services()["mlflow"]
    h.mlflow_server_checks(h.command_of(svc), h.env_of(svc), settings_env()["MLFLOW_TRACKING_URI"])
    assert {"AWS_ACCESS_KEY_ID", "MLFLOW_S3_ENDPOINT_URL"} <= set(h.env_of(svc))
    volumes = {str(v).split(":")[1]: str(v).split(":")[0] for v in svc["volumes"]}
    assert volumes["/etc/mlflow/basic_auth.ini"] == "./mlflow/basic_auth.ini"
    assert volumes["/var/lib/mlflow-auth"] in h.compose()["volumes"], "the accounts persist"


def test_compose_mlflow_setup_makes_the_accounts_as_admin() -> None:
    svc = h.services()["mlflow-setup"]
    env = h.env_of(svc)
    assert h.command_of(svc) == ["python", "/setup/setup.py"]
    assert env["MLFLOW_TRACKING_USERNAME"] == "admin"
    assert (
        env["MLFLOW_TRACKING_PASSWORD"]
        == h.env_of(h.services()["mlflow"])["MLFLOW_AUTH_ADMIN_PASSWORD"]
    )
    # the passwords it sets are those the pipeline logs in with
    assert (
        env["MLFLOW_PIPELINE_PASSWORD"]
        == h.compose()["x-genesis-credentials"]["MLFLOW_TRACKING_PASSWORD"]
    )
    assert "MLFLOW_VIEWER_PASSWORD" in env
    assert svc["depends_on"]["mlflow"]["condition"] == "service_healthy"


def test_compose_dask_speaks_tls_with_certificates_from_secrets() -> None:
    """Scheduler and workers: TLS, each with its own certificate; every /run/secrets file a
    service names (command, settings) is one of the compose secrets it mounts."""
    svcs = h.services()
    h.dask_scheduler_checks(h.command_of(svcs["dask-scheduler"]))
    worker = h.command_of(svcs["dask-worker"])
    h.dask_worker_checks(worker, worker[2], settings_env()["GENESIS_DASK_ADDRESS"])
    declared = h.compose()["secrets"]
    for name, svc in svcs.items():
        named = {
            w
            for w in h.command_of(svc) + list(h.env_of(svc).values())
            if w.startswith("/run/secrets/")
        }
        runs_dask = h.command_of(svc)[:1] == ["dask"] or h.command_of(svc)[:3] == [
            "prefect",
            "worker",
            "start",
        ]
        if runs_dask:  # the Dask scheduler, workers and clients (flows in the process workers)
            assert named, name
            assert {f"/run/secrets/{s}" for s in svc.get("secrets") or []} >= named, name
        for secret in svc.get("secrets") or []:
            assert secret in declared, f"{name}: undeclared secret {secret}"
    # the files of infra/scripts/dask-tls.sh, never the CA's key
    files = {s["file"].rsplit("/", 1)[1] for s in declared.values()}
    assert files == {
        f"{r}.{x}" for r in ("scheduler", "worker", "client") for x in ("pem", "key")
    } | {"ca.pem"}


def test_compose_commands_hold_no_secret() -> None:
    """`ps` shows command lines: no credential variable, no user:password@ URI in a command or
    a healthcheck (credentials reach a process through its environment or a file)."""
    for name, svc in h.services().items():
        test = (svc.get("healthcheck") or {}).get("test") or []
        words = h.command_of(svc) + ([test] if isinstance(test, str) else list(test))
        for word in words:
            used = h.compose_vars(word)
            assert not {v for v in used if h.SECRETISH.search(v)}, f"{name}: {word!r}"
            assert not re.search(r"://[^/\s:@]+:[^@\s/]+@", word), f"{name}: {word!r}"


def test_compose_and_kubernetes_share_the_same_settings() -> None:
    cm = next(
        d
        for d in h.applied_docs()
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "genesis-settings"
    )
    assert cm["data"] == settings_env()


def test_compose_and_kubernetes_share_init_scripts() -> None:
    init = h.INFRA / "compose" / "postgres" / "init-databases.sh"
    assert os.access(init, os.X_OK), "the Postgres entrypoint runs only executable *.sh"
    cms = {d["metadata"]["name"]: d["data"] for d in h.applied_docs() if d["kind"] == "ConfigMap"}
    assert cms["postgres-init"]["10-init-databases.sh"] == init.read_text(encoding="utf-8")
    assert set(cms["s3-setup"]) == {"setup.py"}
    setup = h.INFRA / "compose" / "seaweedfs" / "setup.py"
    assert cms["s3-setup"]["setup.py"] == setup.read_text(encoding="utf-8")
    # MLflow's basic-auth configuration and account setup
    assert cms["mlflow-auth"] == {
        "basic_auth.ini": (h.INFRA / "compose" / "mlflow" / "basic_auth.ini").read_text(
            encoding="utf-8"
        )
    }
    assert cms["mlflow-setup"] == {"setup.py": MLFLOW_SETUP.read_text(encoding="utf-8")}


def test_every_compose_image_is_built_from_a_base_image_argument() -> None:
    """One compose file: a machine without a registry overrides only the base images
    (GENESIS_PYTHON_IMAGE / GENESIS_DEBIAN_IMAGE), each defaulting to the Dockerfile's own."""
    pulled = {name for name, svc in h.services().items() if "build" not in svc}
    assert pulled == set(), f"pulled, not built: {pulled}"
    for name, svc in h.services().items():
        build = svc["build"]
        if "gpu" in svc.get("profiles", []):  # CUDA: built FROM pytorch/pytorch (PYTORCH_TAG)
            continue
        ((arg, value),) = build["args"].items()
        m = re.fullmatch(r"\$\{(GENESIS_(?:PYTHON|DEBIAN)_IMAGE):-([^}]+)\}", value)
        assert m, f"{name}: base image argument {value!r}"
        text = (h.ROOT / build["dockerfile"]).read_text(encoding="utf-8")
        assert f"ARG {arg}={m.group(2)}\n" in text, f"{name}: {arg} default differs"
        assert f"FROM ${{{arg}}}" in text, f"{name}: FROM does not use {arg}"


# --- settings names ---------------------------------------------------------------------


DOCKERFILES = sorted(p for p in h.DOCKER.glob("Dockerfile.*") if p.suffix != ".dockerignore")


def env_names_everywhere() -> set[str]:
    names = set(settings_env())
    for svc in h.services().values():
        names |= set(h.env_of(svc))
    for _, node in h.walk(h.k8s_docs()):
        if isinstance(node, dict) and "name" in node and ("value" in node or "valueFrom" in node):
            names.add(node["name"])
    for doc in h.k8s_docs():
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "genesis-settings":
            names |= set(doc["data"])
    for _, node in h.walk(h.pool_templates()):
        if isinstance(node, dict) and "name" in node and "valueFrom" in node:
            names.add(node["name"])
    for path in DOCKERFILES:
        for word, rest in h.dockerfile_instructions(path):
            if word == "ENV":
                names |= set(re.findall(r"(\w+)=", rest))
    return names


def test_genesis_variables_are_settings_or_deploy_placeholders() -> None:
    from tasks.settings import Settings

    known = {f"GENESIS_{f.upper()}" for f in Settings.model_fields}
    known |= set(re.findall(r"\{\{\s*\$(\w+)\s*\}\}", h.PREFECT_YAML.read_text(encoding="utf-8")))
    used = {n for n in env_names_everywhere() if n.startswith("GENESIS_")}
    assert used - known == set(), f"unknown GENESIS_* variables (typo?): {used - known}"


def test_prefect_variables_are_real_prefect_settings() -> None:
    from prefect.settings import Settings
    from prefect.settings.legacy import _get_valid_setting_names

    valid = _get_valid_setting_names(Settings)
    # read by prefect-kubernetes itself (os.environ), not a Settings field
    valid |= {"PREFECT_KUBERNETES_CLUSTER_UID"}
    # prefect-kubernetes's own settings (KubernetesWorkerSettings, prefix
    # PREFECT_INTEGRATIONS_KUBERNETES_WORKER_; the package is in the worker image only)
    valid |= {
        "PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME",
        "PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_KEY",
    }
    used = {n for n in env_names_everywhere() if n.startswith("PREFECT_")}
    assert used - valid == set(), f"not Prefect settings: {used - valid}"


def test_mlflow_variables_are_real_mlflow_variables() -> None:
    import ast

    import mlflow.cli
    import mlflow.environment_variables as mev

    valid = {v.name for v in vars(mev).values() if hasattr(v, "name") and hasattr(v, "get")}
    valid |= {"MLFLOW_TRACKING_URI"}
    # the options of `mlflow server` read from the environment (MLFLOW_BACKEND_STORE_URI: the
    # database password stays off the command line)
    valid |= {p.envvar for p in mlflow.cli.server.params if isinstance(p.envvar, str)}
    # the account setup's own inputs (the ACCOUNTS mapping of setup.py), not MLflow's
    tree = ast.parse(MLFLOW_SETUP.read_text(encoding="utf-8"))
    (accounts,) = [
        ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and [t.id for t in n.targets] == ["ACCOUNTS"]
    ]
    setup_vars = set(accounts.values())
    assert setup_vars == {"MLFLOW_PIPELINE_PASSWORD", "MLFLOW_VIEWER_PASSWORD"}
    valid |= setup_vars
    used = {n for n in env_names_everywhere() if n.startswith("MLFLOW_")}
    assert used - valid == set(), f"not MLflow variables: {used - valid}"


# --- images and the lock ----------------------------------------------------------------


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_base_images_are_pinned_by_tag(path) -> None:
    froms = h.dockerfile_froms(path)
    assert froms
    for image in froms:
        assert "$" not in image, f"unresolved ARG in FROM {image}"
        name, _, tag = image.rpartition(":")
        assert name and tag and "/" not in tag and tag != "latest", image
        assert re.search(r"\d", tag), f"{image}: tag without a version"


@pytest.mark.parametrize("flavour", ["cpu", "cuda"])
def test_pipeline_images_pin_torch_and_set_the_environment(flavour) -> None:
    path = h.DOCKER / f"Dockerfile.{flavour}"
    ins = h.dockerfile_instructions(path)
    runs = " ".join(rest for word, rest in ins if word == "RUN")
    torch_pin = pyproject_pins()["torch"]
    assert torch_pin == "2.13.0"
    installs = re.findall(r"pip install ([^&]*)", runs)
    torch_args = [
        a.strip('"') for i in installs for a in i.split() if a.strip('"').startswith("torch")
    ]
    assert torch_args == [f"torch=={torch_pin}"], torch_args
    if flavour == "cpu":
        assert '--index-url "$TORCH_INDEX_URL"' in runs
        assert ("ARG", "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu") in ins
    assert "requirements.lock" in runs
    env = " ".join(rest for word, rest in ins if word == "ENV")
    for setting in (
        "GENESIS_PROJECT_DIR=/opt/genesis",
        "PREFECT_SERVER_ANALYTICS_ENABLED=false",
        "DO_NOT_TRACK=1",
    ):
        assert setting in env, setting
    assert ("WORKDIR", "/opt/genesis") in ins
    copies = [rest.split()[0] for word, rest in ins if word == "COPY"]
    assert {"genesis_core", "tasks", "flows", "pyproject.toml"} <= set(copies)
    assert "prefect.yaml" in " ".join(rest for word, rest in ins if word == "COPY")


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_images_run_as_a_non_root_user(path) -> None:
    users = [rest for word, rest in h.dockerfile_instructions(path) if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerignore_sends_every_copy_source_and_nothing_local(path) -> None:
    ignore = path.with_name(path.name + ".dockerignore")
    assert ignore.is_file(), f"{ignore.name} missing (the build context is the repo root)"
    patterns = h.dockerignore(ignore)
    for word, rest in h.dockerfile_instructions(path):
        if word == "COPY" and not rest.startswith("--from"):
            for src in [w for w in rest.split() if not w.startswith("--")][:-1]:
                assert (h.ROOT / src).exists(), src
                assert h.dockerignore_allows(patterns, src), f"{src} is excluded"
    for local in (".venv/bin/python", "genesis_data/x", ".git/HEAD", "tests/conftest.py"):
        assert not h.dockerignore_allows(patterns, local), local


def lock() -> dict[str, str]:
    pins = {}
    for line in (h.DOCKER / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[\w.]+", version), f"not pinned: {line}"
            pins[name] = version
    return pins


def test_lock_pins_the_pyproject_dependencies_at_the_same_versions() -> None:
    pins = lock()
    for name, version in pyproject_pins().items():
        canonical = re.sub(r"[-_.]+", "-", name)
        assert pins.get(canonical) == version, (
            f"{name}: pyproject {version}, lock {pins.get(canonical)}"
        )


def test_server_images_run_the_client_versions() -> None:
    pins = pyproject_pins()
    images = {s["image"] for s in h.services().values()}
    images |= {c["image"] for _, spec in h.all_pod_specs() for c in h.containers(spec)}
    prefect = {i for i in images if i.startswith("prefecthq/prefect:")}
    assert prefect and all(i.split(":")[1].startswith(pins["prefect"] + "-") for i in prefect)
    mlflow_run = " ".join(
        r for w, r in h.dockerfile_instructions(h.DOCKER / "Dockerfile.mlflow") if w == "RUN"
    )
    assert f'"mlflow[auth]=={pins["mlflow"]}"' in mlflow_run  # [auth]: Flask-WTF
    # the integration tier's MLflow server talks to Postgres with the image's driver: psycopg 3,
    # SQLAlchemy 2.1's driver for a plain postgresql:// URI (it no longer means psycopg2)
    assert f'"psycopg[binary]=={extra_test_pins()["psycopg"]}"' in mlflow_run
    from sqlalchemy.engine import make_url

    dbapi = make_url("postgresql://mlflow@postgres/mlflow").get_dialect().import_dbapi()
    assert dbapi.__name__ == "psycopg", "the locked SQLAlchemy's postgresql:// driver changed"
    assert h.services()["mlflow"]["image"].endswith(":" + pins["mlflow"])


def test_compose_dask_workers_get_the_local_clusters_settings() -> None:
    from tasks.dask_cluster import worker_env

    env = h.env_of(h.services()["dask-worker"])
    assert {k: env.get(k) for k in worker_env()} == worker_env()
