"""MLflow: the tracking sink the core's training loop reports to, experiments, the registry.

Never logs credentials: URIs are redacted of user-info before they become tags,
and settings carry no secrets in the first place.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from genesis_core.io.storage import redact_uri
from tasks.services import check_tracking
from tasks.settings import Settings

CANDIDATE, CHAMPION = "candidate", "champion"


class MlflowSink:
    """``genesis_core.training.MetricsSink`` writing to the active MLflow run.

    A tracking outage must not kill hours of training: failures are warned
    about once and the loop goes on (the checkpoint still holds everything).
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.client = MlflowClient()
        self._warned = False

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        try:
            from mlflow.entities import Metric

            now = mlflow.utils.time.get_current_time_millis()
            batch = [Metric(k, float(v), now, step) for k, v in metrics.items() if v == v]
            self.client.log_batch(self.run_id, metrics=batch, synchronous=True)
        except Exception as e:  # noqa: BLE001
            self._warn(e)

    def log_params(self, params: dict[str, Any]) -> None:
        try:
            self.client.log_batch(
                self.run_id, params=[_param(k, v) for k, v in flat(params).items()]
            )
        except Exception as e:  # noqa: BLE001
            self._warn(e)

    def _warn(self, e: Exception) -> None:
        if not self._warned:
            warnings.warn(f"MLflow logging failed, training continues: {e}", stacklevel=3)
            self._warned = True


def _param(k: str, v: Any):
    from mlflow.entities import Param

    return Param(k, str(v)[:6000])


def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat(v, f"{key}."))
        else:
            out[key] = v
    return out


def artifacts_through_the_server() -> None:
    """Move artifacts through the tracking server (``--serve-artifacts``), never straight
    to its object store, unless the user says otherwise.

    An MLflow 3 server that proxies S3 advertises presigned-URL transfers; the client then
    fetches from the object store at the address the *server* uses (``http://seaweedfs:8333``
    inside compose), which a client on another network cannot resolve: downloads from the
    host hung in retries.  Through the server, a client needs its URL and nothing else."""
    os.environ.setdefault("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "false")
    os.environ.setdefault("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "false")


def use_tracking(settings: Settings) -> str:
    uri = settings.tracking_uri()
    # MLflow's own HTTP retries take minutes against a dead server: bound them, and check once.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    artifacts_through_the_server()
    check_tracking(uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def ensure_experiment(name: str, settings: Settings) -> str:
    """Experiment id; a new one keeps artifacts under the data root when tracking is embedded."""
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = None
    if settings.tracking_uri().startswith("sqlite:"):
        location = (
            Path(settings.tracking_uri().removeprefix("sqlite:///")).parent / "artifacts"
        ).as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


def code_version() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        )
        if out.returncode == 0:
            return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    from genesis_core import __version__

    return __version__


def sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def manifest_sha256(manifest) -> str:
    """SHA-256 of a cube store manifest's committed scans (ids, counts, paths, checksums)."""
    return sha256_json({k: v.__dict__ for k, v in manifest.scans.items()})


def store_dataset(store_uri: str, manifest):
    """The cube store at one manifest version as an MLflow dataset (metadata only).

    Digest: the first 32 hex digits of :func:`manifest_sha256` (MLflow keeps 36 characters),
    so two runs on the same committed scans share one dataset; name: the store's folder
    and manifest version."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    uri = redact_uri(store_uri)
    name = f"{uri.rstrip('/').rsplit('/', 1)[-1]}@v{manifest.version}"
    with warnings.catch_warnings():  # two registered sources read local paths alike: harmless
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
        source = resolve_dataset_source(uri)
    return MetaDataset(source, name=name, digest=manifest_sha256(manifest)[:32])


def version_for_run(name: str, run_id: str):
    """The registered version created from ``run_id`` already, if any (idempotent registration)."""
    client = MlflowClient()
    try:
        versions = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    except mlflow.exceptions.MlflowException:
        return None
    return versions[0] if versions else None


def alias_version(name: str, alias: str):
    try:
        return MlflowClient().get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException:
        return None


def model_id_of(mv) -> str | None:
    """The LoggedModel id behind a registered version: ``mv.model_id`` where the registry
    returns it, else its source ``models:/m-…`` (MLflow's SQL registry leaves ``model_id``
    empty on versions it returns)."""
    if getattr(mv, "model_id", None):
        return mv.model_id
    source = getattr(mv, "source", "") or ""
    if source.startswith("models:/m-"):
        return source.removeprefix("models:/").split("/")[0]
    return None


def trained_on(model_name: str, store_uri: str, manifest_version: int) -> str | None:
    """The registered version of ``model_name`` trained on ``store_uri`` at
    ``manifest_version``, if any (its lineage tags say so): the nightly trains when none is."""
    query = f"name='{model_name}' and tags.manifest_version='{manifest_version}'"
    try:
        found = MlflowClient().search_model_versions(query)
    except mlflow.exceptions.MlflowException:
        return None
    store = redact_uri(store_uri)
    hits = [mv for mv in found if mv.tags.get("cube_store_uri") == store]
    return str(max(int(mv.version) for mv in hits)) if hits else None
