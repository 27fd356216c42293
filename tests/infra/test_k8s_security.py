"""The Kubernetes stack is safe to run inside a hospital (#30), checked statically.

- Every service authenticates its callers as in compose: Prefect's auth string, MLflow's
  basic auth, Dask's mutual TLS, SeaweedFS's S3 accounts only; credentials come from Secrets
  (values) or secret volumes (files), never a command line.
- Every container runs as a non-root uid without privilege escalation or capabilities
  (Pod Security "restricted", which the namespace enforces).
- NetworkPolicies deny everything by default and allow the connections the stack makes,
  checked connection by connection against the pods' labels (and a few it must not make).

The work-pool job templates count as manifests: their Jobs are rendered with Prefect's own
templating (``rendered_job``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from tests.infra import helpers as h
from tests.infra.test_k8s import POOLS, by_kind, rendered_job, settings

OPTIONAL_DASK = h.K8S / "optional" / "dask-deployments.yaml"
NAMESPACE = "genesis"
WORKER_PORT, NANNY_PORT = 8789, 8790  # fixed in the Dask manifests (NetworkPolicies)


def config_maps() -> dict[str, dict[str, str]]:
    return {name: cm["data"] for name, cm in by_kind("ConfigMap").items()}


def workload_pod_specs() -> list[tuple[str, dict[str, Any]]]:
    """Every pod spec: the manifests (with optional/), and the Jobs the pools render."""
    specs = [
        (f"{d['kind']}/{d['metadata']['name']}", s) for d in h.k8s_docs() for s in h.pod_specs(d)
    ]
    specs += [(f"work-pool/{p}", rendered_job(p)["spec"]["template"]["spec"]) for p in POOLS]
    return specs


def all_containers() -> list[tuple[str, dict, dict]]:
    return [
        (f"{label}/{c['name']}", spec, c)
        for label, spec in workload_pod_specs()
        for c in h.containers(spec)
    ]


# --- Prefect -----------------------------------------------------------------------------

AUTH = ("genesis-prefect", "auth-string")


def test_prefect_api_takes_one_auth_string_from_a_secret() -> None:
    (server,) = by_kind("Deployment")["prefect-server"]["spec"]["template"]["spec"]["containers"]
    assert h.secret_env(server)["PREFECT_SERVER_API_AUTH_STRING"] == AUTH
    clients = [
        (name, c)
        for name, d in by_kind("Deployment").items()
        if name.startswith("prefect-worker")
        for c in d["spec"]["template"]["spec"]["containers"]
    ]
    clients += [
        (f"work-pool/{p}", rendered_job(p)["spec"]["template"]["spec"]["containers"][0])
        for p in POOLS
    ]
    assert len(clients) == 4
    for name, c in clients:
        assert h.secret_env(c).get("PREFECT_API_AUTH_STRING") == AUTH, name
    # the workers write the auth string into their Jobs as a reference to that Secret
    for name, c in clients[:2]:
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert (
            env["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_NAME"],
            env["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_AUTH_STRING_SECRET_KEY"],
        ) == AUTH, name


def test_compose_and_kubernetes_give_clients_the_same_credentials() -> None:
    """A flow run gets what a compose process worker gets: its credentials from Secrets,
    the Dask client certificate under the same file names."""
    compose = h.compose()
    names = set(compose["x-genesis-credentials"]) | set(compose["x-genesis-s3"])
    for pool in POOLS:
        pod = rendered_job(pool)["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        assert set(h.secret_env(c)) == names, pool
        files = h.mounted_secret_files(pod, c)
        assert files == {f"/run/secrets/{s}" for s in compose["x-dask-client-secrets"]}, pool


# --- Dask: TLS with mutual authentication ------------------------------------------------


def dask_pods() -> list[tuple[str, str, dict[str, Any]]]:
    """(file, role, pod spec) of the Dask scheduler and workers: operator and plain variant."""
    (cluster,) = by_kind("DaskCluster").values()
    out = [
        ("dask-cluster.yaml", "scheduler", cluster["spec"]["scheduler"]["spec"]),
        ("dask-cluster.yaml", "worker", cluster["spec"]["worker"]["spec"]),
    ]
    plain = by_kind("Deployment", list(h.k8s_docs_of(OPTIONAL_DASK)))
    out += [
        ("dask-deployments.yaml", "scheduler", plain["dask-scheduler"]["spec"]["template"]["spec"]),
        ("dask-deployments.yaml", "worker", plain["dask-worker"]["spec"]["template"]["spec"]),
    ]
    return out


@pytest.mark.parametrize(
    "where, role, spec", dask_pods(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_dask_speaks_tls_with_mutual_authentication(where, role, spec) -> None:
    (c,) = spec["containers"]
    env = {e["name"]: e.get("value") for e in c.get("env") or []}
    if role == "scheduler":
        h.dask_scheduler_checks(c["args"])
        assert env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == "True"
    else:
        # the operator passes the address as DASK_SCHEDULER_ADDRESS (tcp:// unless set)
        positional = [a for a in c["args"][2:3] if "://" in a]
        address = positional[0] if positional else env["DASK_SCHEDULER_ADDRESS"]
        h.dask_worker_checks(c["args"], address, settings()["GENESIS_DASK_ADDRESS"])
        # fixed ports, so that the NetworkPolicies can name them
        ports = {p["containerPort"] for p in c["ports"]}
        assert {WORKER_PORT, NANNY_PORT} <= ports
        assert c["args"][c["args"].index("--worker-port") + 1] == str(WORKER_PORT)
        assert c["args"][c["args"].index("--nanny-port") + 1] == str(NANNY_PORT)
    # the scheduler's certificate only on the scheduler, the worker's only on the workers
    files = h.mounted_secret_files(spec, c)
    assert f"/run/secrets/dask-{role}-key" in files
    other = "worker" if role == "scheduler" else "scheduler"
    assert not any(other in f for f in files), files
    assert {n for n, _ in h.secret_volume_refs(spec)} == {"genesis-dask-tls"}


def test_every_secret_file_a_container_names_is_mounted() -> None:
    """Each /run/secrets path in a container's arguments or environment (settings included)
    is a file of a secret volume mounted in that container."""
    cms = config_maps()
    named_any = False
    for label, spec, c in all_containers():
        words = list(c.get("command") or []) + list(c.get("args") or [])
        words += [v for v in h.env_values(c, cms).values() if isinstance(v, str)]
        named = {w for w in words if w.startswith("/run/secrets/")}
        missing = named - h.mounted_secret_files(spec, c)
        assert not missing, f"{label}: {missing} not mounted"
        named_any |= bool(named)
    assert named_any


def test_pods_that_mount_run_secrets_get_no_service_account_token() -> None:
    """/var/run links to /run in the images: the token's mount would land inside the read-only
    secret volume; and these pods never call the Kubernetes API."""
    for label, spec in workload_pod_specs():
        mounts = {m["mountPath"] for c in h.containers(spec) for m in c.get("volumeMounts") or []}
        if any(m == "/run/secrets" or m.startswith("/run/secrets/") for m in mounts):
            assert spec.get("automountServiceAccountToken") is False, label


# --- SeaweedFS ---------------------------------------------------------------------------


def test_seaweedfs_serves_only_its_s3_port_and_signs_its_internal_calls() -> None:
    svc = by_kind("Service")["seaweedfs"]
    assert {p["port"] for p in svc["spec"]["ports"]} == {8333}
    spec = by_kind("StatefulSet")["seaweedfs"]["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    assert {p["containerPort"] for p in c["ports"]} == {8333}
    secrets = h.secret_env(c)
    for var in (
        "SEAWEEDFS_JWT_SIGNING_KEY",
        "SEAWEEDFS_JWT_FILER_SIGNING_KEY",
        "SEAWEEDFS_JWT_FILER_SIGNING_READ_KEY",
    ):
        assert secrets[var][0] == "genesis-seaweedfs", var
        assert var in (h.DOCKER / "seaweedfs-entrypoint.sh").read_text(encoding="utf-8")
    assert set(secrets) >= set(h.env_of(h.services()["seaweedfs"])), "as compose"


# --- no credential on a command line ---------------------------------------------------


def command_lines(c: dict[str, Any]) -> list[str]:
    words = list(c.get("command") or []) + list(c.get("args") or [])
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        words += ((c.get(probe) or {}).get("exec") or {}).get("command") or []
    for hook in (c.get("lifecycle") or {}).values():
        words += (hook.get("exec") or {}).get("command") or []
    return [str(w) for w in words]


def secret_on_command_line(c: dict[str, Any]) -> list[str]:
    """Words of a container's command lines that carry a credential: a $(VAR) of a variable
    set from a Secret or named like a credential, or a user:password@ URI of any kind."""
    secret_vars = set(h.secret_env(c)) | {
        e["name"] for e in c.get("env") or [] if h.SECRETISH.search(e["name"])
    }
    bad = []
    for word in command_lines(c):
        expanded = set(re.findall(r"\$\((\w+)\)", word))
        if expanded & secret_vars or any(h.SECRETISH.search(v) for v in expanded):
            bad.append(word)
        elif re.search(r"://[^/\s:@]+:[^@\s/]+@", word):
            bad.append(word)
    return bad


def test_no_credential_on_a_command_line() -> None:
    """`ps` (and `kubectl get pod -o yaml`) show command lines: credentials reach a process
    through its environment or a file, never its arguments."""
    for label, _, c in all_containers():
        assert not secret_on_command_line(c), f"{label}: {secret_on_command_line(c)}"
    for pool, template in h.pool_templates().items():
        command = template["job_configuration"]["command"]
        assert not re.search(r"\$\(|\{\{|://[^/\s:@]+:[^@\s/]+@", command), pool


def test_the_command_line_check_has_teeth() -> None:
    c = {
        "args": [
            "mlflow",
            "server",
            "--backend-store-uri",
            "postgresql://mlflow:$(PW)@postgres/mlflow",
        ],
        "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
    }
    assert secret_on_command_line(c)
    c = {"args": ["sh", "-c", "psql postgresql://u:literal@db/x"]}
    assert secret_on_command_line(c)
    c = {
        "command": ["x"],
        "readinessProbe": {"exec": {"command": ["check", "$(POSTGRES_PASSWORD)"]}},
    }
    assert secret_on_command_line(c)
    assert not secret_on_command_line({"args": ["dask", "scheduler", "--port", "8786"]})


# --- non-root ----------------------------------------------------------------------------

# Containers allowed to run as root, each with the reason.  Keep it empty: the namespace
# enforces Pod Security "restricted", which refuses them anyway.
ROOT_ALLOWED: dict[str, str] = {}

# The uid each image runs as: its Dockerfile's USER; the official Prefect images have no
# user of their own, so they run as 1001 (as in Prefect's Helm charts).
IMAGE_UIDS = {
    f"genesis-{f}": h.dockerfile_uid(h.DOCKER / f"Dockerfile.{f}")
    for f in ("cpu", "cuda", "mlflow", "postgres", "seaweedfs")
}
PREFECT_UID = 1001


def effective(spec: dict, c: dict, key: str) -> Any:
    return (c.get("securityContext") or {}).get(key, (spec.get("securityContext") or {}).get(key))


def test_every_container_runs_as_a_non_root_user_without_privileges() -> None:
    assert IMAGE_UIDS["genesis-cpu"] == 10001 and IMAGE_UIDS["genesis-postgres"] == 999
    checked = 0
    for label, spec, c in all_containers():
        if label in ROOT_ALLOWED:
            continue
        sc = c.get("securityContext") or {}
        assert effective(spec, c, "runAsNonRoot") is True, label
        uid = effective(spec, c, "runAsUser")
        image = c["image"].split(":")[0]
        expected = PREFECT_UID if image.startswith("prefecthq/") else IMAGE_UIDS[image]
        assert uid == expected, f"{label}: uid {uid}, the image's is {expected}"
        assert effective(spec, c, "runAsGroup") not in (0, None), label
        assert sc.get("allowPrivilegeEscalation") is False, label
        assert sc.get("privileged") in (None, False), label
        assert "ALL" in (sc.get("capabilities") or {}).get("drop", []), label
        assert not (sc.get("capabilities") or {}).get("add"), label
        assert (effective(spec, c, "seccompProfile") or {}).get("type") == "RuntimeDefault", label
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), label
        checked += 1
    assert checked >= 13
    assert set(ROOT_ALLOWED) <= {label for label, _, _ in all_containers()}


def test_namespace_enforces_restricted_pod_security() -> None:
    (ns,) = by_kind("Namespace").values()
    labels = ns["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert not ROOT_ALLOWED, "restricted refuses root containers: drop one of the two"
    for label, spec in workload_pod_specs():
        for volume in spec.get("volumes") or []:
            assert "hostPath" not in volume, label


# --- NetworkPolicies ---------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """One end of a connection: a pod (labels) in a namespace, or an address outside."""

    name: str
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    namespace: str | None = NAMESPACE  # None: outside the cluster (an IP address)


BROWSER = Peer("browser", namespace=None)
KUBE_API = Peer("kube-apiserver", namespace=None)  # outside the pod network
INTERNET = Peer("internet", namespace=None)
KUBE_DNS = Peer("kube-dns", {"k8s-app": "kube-dns"}, "kube-system")
DASK_OPERATOR = Peer(
    "dask-operator", {"app.kubernetes.io/name": "dask-kubernetes-operator"}, "dask-operator"
)
OTHER_TENANT = Peer("other-namespace", {"app": "x"}, "elsewhere")


def pods() -> list[Peer]:
    """Every pod the stack runs, with the labels it carries (the operator's Dask pods get the
    DaskCluster's labels, its scheduler/worker metadata labels and its own dask.org ones)."""
    out = []
    for doc in h.k8s_docs():
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind in {"Deployment", "StatefulSet", "Job"}:
            out.append(Peer(f"{kind}/{name}", doc["spec"]["template"]["metadata"]["labels"]))
        elif kind == "DaskCluster":
            for part in ("scheduler", "worker"):
                labels = dict(doc["metadata"].get("labels") or {})
                labels |= (doc["spec"][part].get("metadata") or {}).get("labels") or {}
                labels |= {"dask.org/cluster-name": name, "dask.org/component": part}
                out.append(Peer(f"DaskCluster/{name} {part}", labels))
    for pool in POOLS:
        out.append(
            Peer(f"work-pool/{pool}", rendered_job(pool)["spec"]["template"]["metadata"]["labels"])
        )
    return out


def role(peer: Peer) -> str:
    return peer.labels.get("genesis.io/component") or peer.labels.get("app.kubernetes.io/name", "")


def pods_of(name: str) -> list[Peer]:
    found = [p for p in pods() if role(p) == name]
    assert found, f"no pod is a {name}"
    return found


def policies() -> list[dict[str, Any]]:
    return list(by_kind("NetworkPolicy").values())


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    assert set(selector) <= {"matchLabels", "matchExpressions"}, selector
    assert not selector.get("matchExpressions"), "only matchLabels are modelled here"
    return (selector.get("matchLabels") or {}).items() <= labels.items()


def peer_matches(rule_peer: dict[str, Any], peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        return peer.namespace is None  # no ipBlock here names pod addresses
    if peer.namespace is None:
        return False
    if "namespaceSelector" in rule_peer:
        ns_labels = {"kubernetes.io/metadata.name": peer.namespace}
        if not selects(rule_peer["namespaceSelector"], ns_labels):
            return False
    elif peer.namespace != NAMESPACE:
        return False
    return selects(rule_peer.get("podSelector"), peer.labels)


def port_matches(ports: list[dict] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for p in ports:
        assert isinstance(p.get("port"), int), "numeric ports only (named ports are not modelled)"
        if p.get("protocol", "TCP") == protocol and p["port"] <= port <= p.get(
            "endPort", p["port"]
        ):
            return True
    return False


def allowed_one_side(
    pols: list[dict], pod: Peer, other: Peer, port: int, protocol: str, direction: str
) -> bool:
    """Whether the policies of ``pod`` (namespace genesis) let it take (Ingress) or make
    (Egress) the connection with ``other``."""
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    selecting = [
        p
        for p in pols
        if selects(p["spec"]["podSelector"], pod.labels)
        and direction in p["spec"].get("policyTypes", ["Ingress"])
    ]
    if not selecting:
        return True  # not isolated
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(peer_matches(x, other) for x in peers)) and port_matches(
                rule.get("ports"), port, protocol
            ):
                return True
    return False


def allowed(
    src: Peer, dst: Peer, port: int, protocol: str = "TCP", pols: list[dict] | None = None
) -> bool:
    """Whether NetworkPolicies (those of network-policies.yaml unless ``pols``) let ``src``
    open a connection to ``dst``:``port``: egress on its side, ingress on the other."""
    pols = policies() if pols is None else pols
    out = src.namespace != NAMESPACE or allowed_one_side(pols, src, dst, port, protocol, "Egress")
    into = dst.namespace != NAMESPACE or allowed_one_side(pols, dst, src, port, protocol, "Ingress")
    return out and into


# The connections the stack makes: (client, server, port); names are pod roles (label
# app.kubernetes.io/name, or genesis.io/component for the flow runs) or outside peers.
NEEDED = [
    ("prefect-server", "postgres", 5432),
    ("mlflow", "postgres", 5432),
    ("mlflow", "seaweedfs", 8333),
    ("s3-setup", "seaweedfs", 8333),
    ("mlflow-setup", "mlflow", 5000),
    ("prefect-worker", "prefect-server", 4200),
    ("prefect-worker", KUBE_API, 443),
    ("prefect-worker", KUBE_API, 6443),
    ("flow-run", "prefect-server", 4200),
    ("flow-run", "mlflow", 5000),
    ("flow-run", "seaweedfs", 8333),
    ("flow-run", "dask-scheduler", 8786),
    ("flow-run", "dask-worker", WORKER_PORT),
    ("dask-worker", "dask-scheduler", 8786),
    ("dask-worker", "dask-worker", WORKER_PORT),
    ("dask-worker", "seaweedfs", 8333),
    ("dask-scheduler", "dask-worker", WORKER_PORT),
    ("dask-scheduler", "dask-worker", NANNY_PORT),
    (DASK_OPERATOR, "dask-scheduler", 8787),
    (BROWSER, "prefect-server", 4200),
    (BROWSER, "mlflow", 5000),
]

# Connections that must stay closed.
REFUSED = [
    ("flow-run", "postgres", 5432),
    ("dask-worker", "postgres", 5432),
    (BROWSER, "postgres", 5432),
    (OTHER_TENANT, "postgres", 5432),
    (BROWSER, "seaweedfs", 8333),
    (OTHER_TENANT, "seaweedfs", 8333),
    (BROWSER, "dask-scheduler", 8786),
    (BROWSER, "dask-scheduler", 8787),
    (OTHER_TENANT, "dask-scheduler", 8786),
    (OTHER_TENANT, "dask-worker", WORKER_PORT),
    ("prefect-worker", "seaweedfs", 8333),
    ("prefect-worker", "dask-scheduler", 8786),
    ("dask-worker", "prefect-server", 4200),  # Dask runs genesis_core code, never Prefect
    ("dask-worker", "mlflow", 5000),
    ("flow-run", "dask-worker", NANNY_PORT),
    ("flow-run", INTERNET, 443),  # nothing leaves the stack
    ("dask-worker", INTERNET, 443),
    ("mlflow", INTERNET, 443),
    ("postgres", INTERNET, 443),
    ("seaweedfs", INTERNET, 443),
    ("prefect-server", INTERNET, 443),
]


def resolve(end: str | Peer) -> list[Peer]:
    return [end] if isinstance(end, Peer) else pods_of(end)


def show(end: str | Peer) -> str:
    return end.name if isinstance(end, Peer) else end


@pytest.mark.parametrize(
    "src, dst, port", NEEDED, ids=lambda x: show(x) if not isinstance(x, int) else str(x)
)
def test_network_policies_allow_what_the_stack_needs(src, dst, port) -> None:
    for a in resolve(src):
        for b in resolve(dst):
            assert allowed(a, b, port), f"{a.name} -> {b.name}:{port} is blocked"


@pytest.mark.parametrize(
    "src, dst, port", REFUSED, ids=lambda x: show(x) if not isinstance(x, int) else str(x)
)
def test_network_policies_refuse_the_rest(src, dst, port) -> None:
    for a in resolve(src):
        for b in resolve(dst):
            assert not allowed(a, b, port), f"{a.name} -> {b.name}:{port} is open"


def test_every_pod_resolves_names_and_nothing_else_by_default() -> None:
    defaults = [
        p
        for p in policies()
        if p["spec"]["podSelector"] == {}
        and {"Ingress", "Egress"} <= set(p["spec"]["policyTypes"])
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert defaults, "no default-deny policy"
    for pod in pods():
        assert allowed(pod, KUBE_DNS, 53, "UDP") and allowed(pod, KUBE_DNS, 53, "TCP"), pod.name
        assert not allowed(pod, INTERNET, 53, "UDP"), pod.name


def test_every_pod_has_an_allow_policy_of_its_own() -> None:
    """Each pod is picked by a policy that names it (not only the namespace-wide ones), and
    each such policy picks some pod: a renamed label cannot silently cut a component off."""
    own = [p for p in policies() if p["spec"]["podSelector"]]
    for pod in pods():
        assert any(selects(p["spec"]["podSelector"], pod.labels) for p in own), pod.name
    for p in own:
        assert any(selects(p["spec"]["podSelector"], pod.labels) for pod in pods()), p["metadata"][
            "name"
        ]


def test_both_dask_variants_carry_the_labels_the_policies_select() -> None:
    names = {p.name for p in pods()}
    plain = [d for d in h.k8s_docs_of(OPTIONAL_DASK) if d["kind"] == "Deployment"]
    assert {f"Deployment/{d['metadata']['name']}" for d in plain} <= names
    assert {role(p) for p in pods() if p.name.startswith("DaskCluster/")} == {
        "dask-scheduler",
        "dask-worker",
    }
    assert {role(p) for p in pods() if p.name.startswith("Deployment/dask-")} == {
        "dask-scheduler",
        "dask-worker",
    }


def test_the_network_model_has_teeth() -> None:
    """The checks above fail on a policy that lets too much in, and on a missing rule."""
    wide = {
        "kind": "NetworkPolicy",
        "metadata": {"name": "oops"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]},
    }
    flow_run, (postgres,), (mlflow,) = (
        pods_of("flow-run")[0],
        pods_of("postgres"),
        pods_of("mlflow"),
    )
    assert not allowed(OTHER_TENANT, postgres, 5432)
    assert allowed(OTHER_TENANT, postgres, 5432, pols=[*policies(), wide])
    assert allowed(flow_run, mlflow, 5000)
    fewer = [p for p in policies() if p["metadata"]["name"] != "flow-run"]
    assert not allowed(flow_run, mlflow, 5000, pols=fewer)
    assert allowed(flow_run, mlflow, 5000, pols=[])  # no policy at all: nothing is isolated


def test_no_deployment_is_named_like_a_component() -> None:
    """The Prefect worker labels a flow run's pod app.kubernetes.io/name=<flow or deployment
    name>: a deployment named like a component would get that component's network access."""
    components = {
        d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/name")
        for d in h.k8s_docs()
        if d["kind"] in {"Deployment", "StatefulSet", "Job"}
    } | {role(p) for p in pods()}
    project = yaml.safe_load(h.PREFECT_YAML.read_text(encoding="utf-8"))
    for dep in project["deployments"]:  # flows are named like their deployments (test_deployments)
        assert dep["name"] not in components, dep["name"]
