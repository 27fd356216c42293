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

from distributed import Client, LocalCluster


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
    n = workers or os.cpu_count() or 1
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
