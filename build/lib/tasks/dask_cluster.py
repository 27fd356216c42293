"""The Dask client for heavy per-scan work: a LocalCluster by default, a scheduler address otherwise.

Same code either way; only settings (``GENESIS_DASK_ADDRESS``) or a flow
parameter change.  Workers run plain ``genesis_core`` functions, never Prefect
tasks, so no worker starts its own Prefect API.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import dask
from distributed import Client, LocalCluster

# A local cluster runs one single-threaded worker process per core; libraries that start
# their own thread pools (ITK, Blosc, OpenMP/BLAS) would oversubscribe the cores.
ONE_THREAD_ENV = {
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1",
    "BLOSC_NTHREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
# Per-scan tasks take seconds: the worker's statistical profiler (a stack sample every
# 10 ms) and GIL monitor (every 1 ms) only cost CPU here.
QUIET_WORKERS = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.gil.enabled": False,
}


def worker_env() -> dict[str, str]:
    """The environment every Dask worker gets, local or remote: single-threaded libraries and
    :data:`QUIET_WORKERS` as ``DASK_*`` variables (the compose file and the Kubernetes
    manifests set exactly these on their worker containers; a test keeps them in step)."""
    dask_vars = {
        "DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value)
        for key, value in QUIET_WORKERS.items()
    }
    return {**ONE_THREAD_ENV, **dask_vars}


@contextmanager
def dask_client(address: str | None = None, workers: int | None = None) -> Iterator[Client]:
    # Prefect's logging config lets distributed's INFO chatter through; keep it quiet.
    for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.core"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if address:
        client = Client(address, timeout="30s")
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or dask.system.CPU_COUNT  # respects container CPU limits (cgroups, affinity)
    with (
        dask.config.set(QUIET_WORKERS),
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.WARNING,
            env={k: os.environ.get(k, v) for k, v in ONE_THREAD_ENV.items()},
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
