"""One settings object decides where everything lives (env prefix ``GENESIS_``).

Embedded defaults need nothing running: a data root under the working
directory, Prefect's ephemeral API, a local Dask cluster, MLflow on SQLite
under the data root.  A cluster only changes settings, never code:

=============================  =================================================
GENESIS_ROOT                   data root: local path or ``s3://bucket/prefix``
GENESIS_CACHE_DIR              where remote scans are staged while read, then deleted (default ROOT/cache)
GENESIS_SITE_SECRET            the key of scan pseudonyms (default: a random one kept in ROOT/site-secret)
GENESIS_LOG_MONTAGES           log CT montages to MLflow (default true; false keeps pixels out of tracking)
GENESIS_DASK_ADDRESS           attach to this Dask scheduler instead of a LocalCluster
GENESIS_DASK_WORKERS           LocalCluster size (default: the machine's cores)
GENESIS_MLFLOW_TRACKING_URI    MLflow tracking URI (``MLFLOW_TRACKING_URI`` wins when set)
GENESIS_S3_ENDPOINT_URL        S3-compatible endpoint (SeaweedFS, MinIO, moto, …)
GENESIS_GATE_DEV               promotion's dev stores: target store URIs or task names, comma-separated (default: ncc of the dataset, if built)
GENESIS_GATE_MARGIN            how much AUC/IoU a candidate may lose: lower 95 % bound >= -margin (default 0.02)
GENESIS_GATE_RESTORATION_TOLERANCE  relative regression allowed on the reference corruption set (default 0.05)
GENESIS_GATE_SEEDS / _STEPS / _FRACTION / _PROBE / _PROFILE  the paired few-shot fits and the linear probe (5 / 20 / 1.0 / true / tiny)
=============================  =================================================

S3 credentials are read by s3fs/boto from the usual ``AWS_*`` variables or
profiles; they are never stored in settings, parameters, tags or logs.  Scans are named
outside the data plane by pseudonyms keyed by the site secret (:mod:`genesis_core.privacy`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from genesis_core.io import storage
from genesis_core.io.storage import Location

T = TypeVar("T")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GENESIS_", extra="ignore")

    root: str = "genesis_data"
    cache_dir: str | None = None
    dask_address: str | None = None
    dask_workers: int | None = None
    # ``MLFLOW_TRACKING_URI`` wins over ``GENESIS_MLFLOW_TRACKING_URI``.  Read once when the
    # settings load: ``mlflow.set_tracking_uri`` later writes that variable itself.
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "GENESIS_MLFLOW_TRACKING_URI"),
    )
    s3_endpoint_url: str | None = None
    # how long a store writer waits for another writer's lock before failing (seconds)
    store_lock_timeout: float = 600.0
    # preprocess and targets commit every this many finished scans (default each one): a crash
    # loses at most the scans in flight and those not yet committed
    commit_every: int = 1
    # The training read path (see genesis_core.store.reader.CubeStore): decoded scans kept in
    # memory per reader, loader threads, and scans per block for ``--sampling blocks``.
    read_cache_mb: int = 1024
    loader_workers: int = 2
    block_scans: int = 16
    # Local folder for checkpoints, caches and the default MLflow database.  Default: the
    # root itself when it is local, else ./genesis_data of the working directory.
    work_dir: str | None = None
    # The key of scan pseudonyms (genesis_core.privacy).  Unset: a random key kept in the
    # data root (``site-secret``), created on first use; the stack sets one per site.
    site_secret: SecretStr | None = None
    # restoration montages (CT pixels) as MLflow artifacts; off keeps pixels out of tracking
    log_montages: bool = True
    # The transfer gate of promotion (genesis_core.gate, tasks.gate): dev stores (target
    # store URIs or task names of the run's dataset, comma-separated; unset: ``ncc`` of the
    # dataset when that store exists) and the decision rule.
    gate_dev: str | None = None
    gate_margin: float = 0.02
    gate_restoration_tolerance: float = 0.05
    gate_seeds: int = 5
    gate_steps: int = 20
    gate_fraction: float = 1.0
    gate_probe: bool = True
    gate_profile: str = "tiny"  # the fine-tune preset of the few-shot fits (width: the model's)

    def with_root(self, root: str | None) -> Settings:
        return self if root is None else self.model_copy(update={"root": str(root)})

    @property
    def root_uri(self) -> str:
        return self.root if storage.is_remote(self.root) else str(Path(self.root).absolute())

    @property
    def local_root(self) -> Path:
        """A local folder for checkpoints and caches: ``work_dir``, else the root unless it
        is remote, else ``./genesis_data``."""
        if self.work_dir:
            return Path(self.work_dir).absolute()
        return (
            Path("genesis_data") if storage.is_remote(self.root) else Path(self.root)
        ).absolute()

    @property
    def cache_path(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir)
        return self.local_root / "cache"

    def storage_options(self) -> dict[str, Any]:
        """fsspec options for ``s3://`` URIs (endpoint only; credentials come from the environment)."""
        if self.s3_endpoint_url:
            return {"client_kwargs": {"endpoint_url": self.s3_endpoint_url}}
        return {}

    def location(self, uri: str) -> Location:
        """The storage handle for ``uri``: these settings' options reach every URI of a run."""
        return Location(str(uri), self.storage_options())

    def secret(self) -> bytes:
        """The site secret: ``GENESIS_SITE_SECRET``, else the data root's own key."""
        if self.site_secret is not None:
            return self.site_secret.get_secret_value().encode("utf-8")
        return _root_secret(self.root_uri, json.dumps(self.storage_options(), sort_keys=True))

    def tracking_uri(self) -> str:
        """``MLFLOW_TRACKING_URI`` if set, else settings, else SQLite under a local root."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        db = self.local_root / "mlflow" / "mlflow.db"
        db.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{db}"


SECRET_FILE = "site-secret"


@lru_cache(maxsize=16)
def _root_secret(root_uri: str, options: str) -> bytes:
    """``ROOT/site-secret``, created (32 random bytes, hex, mode 0600 when local) when absent.

    Inside the data root on purpose: whoever can read the root can read the identifiers
    themselves, while nobody who sees only logs, Prefect or MLflow can."""
    import os
    import secrets

    where = Location(storage.join(root_uri, SECRET_FILE), json.loads(options))
    if not where.remote:
        path = Path(where.uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # written aside, then linked: nobody ever reads a half key
            tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # fails if another process linked its key first
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
    elif not where.exists():
        where.write_bytes_atomic(secrets.token_hex(32).encode())
    key = where.read_bytes().strip()
    if len(key) < 32:
        raise RuntimeError(f"{where.uri} is damaged (the site secret is too short)")
    return key


@lru_cache(maxsize=1)
def _env_settings() -> Settings:
    return Settings()


def get_settings(root: str | None = None) -> Settings:
    """Settings from the environment, with ``root`` as the data root when given.

    There is no process-wide root: a flow takes ``root`` as a parameter and hands it to
    every task and helper that reads settings, so two flows with different roots can run
    in one process (threads, the Prefect worker) without seeing each other's."""
    return _env_settings().with_root(root)


def reset_settings_cache() -> None:
    """For tests that change ``GENESIS_*`` variables."""
    _env_settings.cache_clear()
