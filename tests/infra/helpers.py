"""Loading and walking the infra files (compose, Kubernetes, Dockerfiles) for the infra tests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from fnmatch import fnmatch
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
COMPOSE = INFRA / "compose" / "compose.yaml"
ENV_EXAMPLE = INFRA / "compose" / ".env.example"
K8S = INFRA / "k8s"
POOLS = K8S / "work-pools"
DOCKER = INFRA / "docker"
README = INFRA / "README.md"
PREFECT_YAML = ROOT / "prefect.yaml"

# Env names that carry credentials: they must come from .env / a Secret, never inline.
SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|API_KEY|PRIVATE_KEY", re.I)
# user:password@ inside a URL, unless the password is a ${VAR} / $(VAR) reference.
URL_CREDENTIALS = re.compile(r"://[^/\s:@]+:(?![$][{(])[^@\s/]+@")


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def compose_vars(text: str) -> set[str]:
    """Names of ``${VAR}``, ``${VAR:-x}``, ``${VAR:?x}`` and ``$VAR`` (``$$`` is an escape)."""
    text = text.replace("$$", "")
    braced = re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)
    bare = re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text)
    return set(braced) | set(bare)


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def command_of(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return cmd.split() if isinstance(cmd, str) else [str(c) for c in cmd]


def k8s_files(include_optional: bool = True) -> list[Path]:
    files = sorted(K8S.glob("*.yaml"))
    if include_optional:
        files += sorted((K8S / "optional").glob("*.yaml"))
    return [f for f in files if f.name != "kustomization.yaml"]


@cache
def k8s_docs_of(path: Path) -> tuple[dict[str, Any], ...]:
    return tuple(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None)


def k8s_docs(include_optional: bool = True, include_example: bool = False) -> list[dict]:
    return [
        doc
        for f in k8s_files(include_optional)
        if include_example or f.name != "secret.example.yaml"
        for doc in k8s_docs_of(f)
    ]


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))


def applied_docs() -> list[dict[str, Any]]:
    """The documents `kubectl apply -k infra/k8s` creates (resources of the kustomization)."""
    return [doc for name in kustomization()["resources"] for doc in k8s_docs_of(K8S / name)]


@cache
def pool_template(pool: str) -> dict[str, Any]:
    return json.loads((POOLS / f"{pool}.json").read_text(encoding="utf-8"))


def pool_templates() -> dict[str, dict[str, Any]]:
    return {p.stem: pool_template(p.stem) for p in sorted(POOLS.glob("*.json"))}


def pod_specs(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Pod specs of a workload (Deployment, StatefulSet, Job, DaskCluster)."""
    kind, spec = doc.get("kind"), doc.get("spec") or {}
    if kind in {"Deployment", "StatefulSet", "Job", "DaemonSet"}:
        yield spec["template"]["spec"]
    elif kind == "DaskCluster":
        yield spec["worker"]["spec"]
        yield spec["scheduler"]["spec"]


def job_pod_spec(template: dict[str, Any]) -> dict[str, Any]:
    return template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]


def all_pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod spec in the manifests and the work-pool job templates, with a label."""
    for doc in k8s_docs():
        for spec in pod_specs(doc):
            yield f"{doc['kind']}/{doc['metadata']['name']}", spec
    for pool, template in pool_templates().items():
        yield f"work-pool/{pool}", job_pod_spec(template)


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("initContainers") or []) + list(spec["containers"])


def walk(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) for every node of a parsed YAML/JSON tree."""
    yield path, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from walk(v, f"{path}[{i}]")


def secret_refs(obj: Any) -> set[tuple[str, str]]:
    """(Secret name, key) of every ``secretKeyRef`` below ``obj``."""
    return {
        (ref["name"], ref["key"])
        for _, node in walk(obj)
        if isinstance(node, dict) and isinstance(ref := node.get("secretKeyRef"), dict)
    }


def dockerfile_froms(path: Path) -> list[str]:
    """Base image references of a Dockerfile with ``ARG`` defaults substituted."""
    args: dict[str, str] = {}
    froms = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if not words:
            continue
        if words[0].upper() == "ARG" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            args.setdefault(name, value)
        elif words[0].upper() == "FROM":
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[1])
            froms.append(image)
    return froms


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        buf += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            word, _, rest = buf.partition(" ")
            out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def dockerignore_allows(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    allowed = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").strip("/")
        if pat.startswith("**/"):
            hit = any(fnmatch(p.split("/")[-1], pat[3:]) for p in prefixes)
        else:
            hit = any(fnmatch(p, pat) and p.count("/") == pat.count("/") for p in prefixes)
        if hit:
            allowed = negate
    return allowed


def dockerignore(path: Path) -> list[str]:
    lines = (ln.strip() for ln in path.read_text(encoding="utf-8").splitlines())
    return [ln for ln in lines if ln and not ln.startswith("#")]


# A reference to a variable inside a value: compose ``${VAR...}``, Kubernetes ``$(VAR)``.
VAR_REF = re.compile(r"\$\{[^}]*\}|\$\([^)]*\)")


def mlflow_server_checks(args: list[str], env: dict[str, str], client_uri: str) -> None:
    """The MLflow server of compose and Kubernetes alike: basic auth, artifacts proxied to S3,
    the backend URI (it holds the database password) in the environment, not the arguments."""

    def opt(flag: str) -> str:
        return args[args.index(flag) + 1]

    assert args[:2] == ["mlflow", "server"]
    assert opt("--app-name") == "basic-auth", "every request must log in"
    assert "--serve-artifacts" in args
    assert opt("--artifacts-destination").startswith("s3://")
    assert not any(a.startswith("--backend-store-uri") for a in args), "`ps` shows arguments"
    assert opt("--host") == "0.0.0.0"
    # MLFLOW_BACKEND_STORE_URI is the envvar of `mlflow server --backend-store-uri`; its
    # password is a reference (${VAR} / $(VAR)), never a literal
    uri = env["MLFLOW_BACKEND_STORE_URI"]
    assert re.fullmatch(rf"postgresql://mlflow:({VAR_REF.pattern})@postgres:5432/mlflow", uri), uri
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == "/etc/mlflow/basic_auth.ini"
    assert {"MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"} <= set(env)
    # MLflow rejects unknown Host headers (DNS-rebinding protection): clients must be allowed.
    allowed = env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    host = urlparse(client_uri).netloc
    assert any(fnmatch(host, a) if "*" in a else host == a for a in allowed), host


# Dask's TLS material under /run/secrets, with the file names of compose's secrets.
DASK_CA = "/run/secrets/dask-ca"


def dask_tls_files(args: list[str], role: str) -> None:
    """A Dask scheduler or worker command line names the CA and its own certificate and key."""

    def opt(flag: str) -> str:
        return args[args.index(flag) + 1]

    assert opt("--tls-ca-file") == DASK_CA
    assert opt("--tls-cert") == f"/run/secrets/dask-{role}-cert"
    assert opt("--tls-key") == f"/run/secrets/dask-{role}-key"


def dask_scheduler_checks(args: list[str]) -> None:
    assert args[:2] == ["dask", "scheduler"]
    assert args[args.index("--protocol") + 1] == "tls", "plain TCP takes any caller"
    dask_tls_files(args, "scheduler")


def dask_worker_checks(args: list[str], scheduler_address: str, settings_address: str) -> None:
    assert args[:2] == ["dask", "worker"]
    assert scheduler_address.startswith("tls://"), scheduler_address
    assert scheduler_address == settings_address
    dask_tls_files(args, "worker")


def secret_volume_refs(obj: Any) -> set[tuple[str, str]]:
    """(Secret name, key) of every item of every ``secret`` volume below ``obj``."""
    return {
        (vol["secretName"], item["key"])
        for _, node in walk(obj)
        if isinstance(node, dict) and isinstance(vol := node.get("secret"), dict)
        for item in vol.get("items") or []
    }


def secret_volumes(obj: Any) -> list[dict[str, Any]]:
    return [
        node["secret"]
        for _, node in walk(obj)
        if isinstance(node, dict) and isinstance(node.get("secret"), dict)
    ]


def mounted_secret_files(spec: dict[str, Any], container: dict[str, Any]) -> set[str]:
    """Paths of the files a container sees from the secret volumes of its pod."""
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    files = set()
    for mount in container.get("volumeMounts") or []:
        secret = volumes.get(mount["name"], {}).get("secret")  # else a claim template
        if secret:
            files |= {f"{mount['mountPath']}/{item['path']}" for item in secret["items"]}
    return files


def env_values(container: dict[str, Any], config_maps: dict[str, dict[str, str]]) -> dict:
    """A container's environment: literal values, ``valueFrom`` entries as None, and the
    variables of the ConfigMaps it takes whole (``envFrom``)."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom") or []:
        env |= config_maps[source["configMapRef"]["name"]]
    for item in container.get("env") or []:
        env[item["name"]] = item.get("value")
    return env


def secret_env(container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Environment variables set from a Secret: name -> (Secret, key)."""
    return {
        item["name"]: (ref["name"], ref["key"])
        for item in container.get("env") or []
        if (ref := (item.get("valueFrom") or {}).get("secretKeyRef"))
    }


def dockerfile_uid(path: Path) -> int:
    """The uid a Dockerfile's last USER runs as (a number, or the uid its useradd gives)."""
    user = [r for w, r in dockerfile_instructions(path) if w == "USER"][-1].split(":")[0]
    if user.isdigit():
        return int(user)
    text = " ".join(r for w, r in dockerfile_instructions(path) if w == "RUN")
    return int(re.search(rf"useradd [^&]*--uid (\d+)[^&]* {re.escape(user)}\b", text).group(1))
