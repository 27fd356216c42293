"""One writer per cube store: a Prefect global concurrency limit named after the store.

Concurrent nightly runs on the same store queue behind each other (or fail
cleanly after ``timeout_seconds``) instead of interleaving commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency


def lock_name(store_uri: str) -> str:
    return "genesis-store-" + hashlib.sha256(store_uri.encode()).hexdigest()[:12]


@contextmanager
def store_lock(store_uri: str, timeout_seconds: float = 3600) -> Iterator[str]:
    name = lock_name(store_uri)
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, 1)
    with concurrency(name, occupy=1, timeout_seconds=timeout_seconds, strict=True):
        yield name
