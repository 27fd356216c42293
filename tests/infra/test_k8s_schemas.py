"""Every Kubernetes object we ship, validated against published schemas, not only our parsing.

- Built-in kinds (every manifest of infra/k8s, optional/ and secret.example.yaml; the Job
  each work pool's base job template renders) against the Kubernetes OpenAPI schemas of
  ``kubernetes-validate``, strict: an unknown field is an error, as ``kubectl apply``
  (server-side field validation ``Strict``) makes it.  Checked for the oldest and the
  newest Kubernetes minor we support (``K8S_VERSIONS``, stated in infra/README.md).
- The Dask operator's custom resources (``DaskCluster``, ``DaskAutoscaler``) against the
  ``openAPIV3Schema`` of the CRDs that the operator's Helm chart installs, read from the
  ``dask-kubernetes`` distribution; unknown fields are refused there too (the API server
  rejects them under strict field validation), and their pod specs also pass the
  built-in ``PodSpec`` schema.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import metadata
from typing import Any

import jsonschema
import kubernetes_validate as kv
import pytest
import yaml

from tests.infra import helpers as h
from tests.infra.test_k8s import POOLS, rendered_job

K8S_VERSIONS = ("1.31", "1.37")  # oldest and newest minor supported (infra/README.md)


def _label(doc: dict) -> str:
    return f"{doc['kind']}/{doc['metadata'].get('name') or doc['metadata'].get('generateName')}"


def shipped_objects() -> list[tuple[str, dict]]:
    docs = [(_label(d), d) for d in h.k8s_docs(include_example=True)]
    jobs = [(f"work-pool/{p}", rendered_job(p)) for p in POOLS]
    jobs.append(("work-pool/genesis-gpu gpus=4", rendered_job("genesis-gpu", gpus=4)))
    return docs + jobs


# --- the Dask operator's CRDs ------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """An OpenAPI v3 structural schema as the API server applies it: objects with declared
    properties refuse others (unless they preserve unknown fields); ``nullable`` allows null."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


@cache
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> strict JSON schema, from the operator chart's CRDs."""
    dist = metadata.distribution("dask-kubernetes")
    files = [f for f in dist.files or [] if "/dask-kubernetes-operator/crds/" in str(f)]
    assert files, "the dask-kubernetes distribution ships no CRDs"
    out = {}
    for f in files:
        crd = yaml.safe_load(f.read_text(encoding="utf-8"))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            # The API server validates the object's envelope itself.
            schema["properties"] |= {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
            }
            out[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return out


def validate_custom(doc: dict) -> None:
    schema = crd_schemas()[(doc["apiVersion"], doc["kind"])]
    jsonschema.Draft4Validator(schema).validate(doc)


def is_custom(doc: dict) -> bool:
    return (doc["apiVersion"], doc["kind"]) in crd_schemas()


# --- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(
    "label_doc", [x for x in shipped_objects() if not is_custom(x[1])], ids=lambda x: x[0]
)
def test_built_in_objects_pass_the_kubernetes_schemas(label_doc, version) -> None:
    label, doc = label_doc
    try:
        kv.validate(doc, version, strict=True)
    except kv.ValidationError as e:
        where = "/".join(str(p) for p in e.path)
        pytest.fail(f"{label} (Kubernetes {version}) at {where}: {e.message}")


@pytest.mark.parametrize(
    "label_doc", [x for x in shipped_objects() if is_custom(x[1])], ids=lambda x: x[0]
)
def test_dask_resources_pass_the_operator_crds(label_doc) -> None:
    label, doc = label_doc
    try:
        validate_custom(doc)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.path)
        pytest.fail(f"{label} at {where}: {e.message}")
    for spec in h.pod_specs(doc):
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": spec}
        for version in K8S_VERSIONS:
            kv.validate(pod, version, strict=True)


def test_every_kind_has_a_schema() -> None:
    """No object is skipped silently: each kind is built in or a Dask operator resource."""
    kinds = {(d["apiVersion"], d["kind"]) for _, d in shipped_objects()}
    for api_version, kind in kinds - set(crd_schemas()):
        doc = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}
        try:
            kv.validate(doc, K8S_VERSIONS[-1], strict=True)
        except kv.SchemaNotFoundError:
            pytest.fail(f"no schema for {api_version} {kind}")
        except kv.ValidationError:
            pass  # a schema exists (this empty object just fails it)
    assert {"DaskCluster", "DaskAutoscaler"} <= {k for _, k in kinds}


def _objects(kind: str) -> dict:
    return next(d for _, d in shipped_objects() if d["kind"] == kind)


@pytest.mark.parametrize(
    "kind, path, bad",
    [
        ("Deployment", ["spec", "replica"], 2),  # misspelt field
        ("Deployment", ["spec", "replicas"], "2"),  # wrong type
        ("StatefulSet", ["spec", "template", "spec", "containers", 0, "resource"], {}),
        ("Job", ["spec", "template", "spec", "parallelism"], 1),  # a Job field in the pod
        ("DaskCluster", ["spec", "worker", "replica"], 2),
        ("DaskCluster", ["spec", "worker", "spec", "containers", 0, "imagePullPolcy"], "x"),
        ("DaskAutoscaler", ["spec", "minimum"], "one"),
    ],
)
def test_the_validation_catches_mistakes(kind, path, bad) -> None:
    """The checks above have teeth: a typo or a wrong type in a copy is refused."""
    if kind == "Job":
        doc = copy.deepcopy(rendered_job("genesis-cpu"))
    else:
        doc = copy.deepcopy(_objects(kind))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = bad
    if is_custom(doc):
        with pytest.raises(jsonschema.ValidationError):
            validate_custom(doc)
    else:
        with pytest.raises(kv.ValidationError):
            kv.validate(doc, K8S_VERSIONS[-1], strict=True)


def test_readme_installs_the_operator_whose_crds_are_checked() -> None:
    readme = h.README.read_text(encoding="utf-8")
    line = next(ln for ln in readme.splitlines() if "--version" in ln and "CRDs" in ln)
    assert f"--version {metadata.version('dask-kubernetes')}" in line
