"""One writer per store.

:func:`store_writer` holds the lease inside the store itself
(:class:`genesis_core.store.lock.StoreLock`): every writer takes it, whether run from
the CLI, a flow or a deployment.  :func:`store_lock` is a Prefect global concurrency
limit named after the store, which lets whole nightly runs queue behind each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency

from genesis_core.store.lock import StoreLock
from tasks.settings import get_settings


@contextmanager
def store_writer(store_uri: str, purpose: str, root: str | None = None) -> Iterator[StoreLock]:
    """Hold the store's writer lease (waits ``GENESIS_STORE_LOCK_TIMEOUT`` s at most)."""
    s = get_settings(root)
    with StoreLock(s.location(store_uri), purpose, timeout_s=s.store_lock_timeout) as lock:
        yield lock


def lock_name(store_uri: str) -> str:
    return "genesis-store-" + hashlib.sha256(store_uri.encode()).hexdigest()[:12]


@contextmanager
def store_lock(store_uri: str, timeout_seconds: float = 3600) -> Iterator[str]:
    name = lock_name(store_uri)
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, 1)
    with concurrency(name, occupy=1, timeout_seconds=timeout_seconds, strict=True):
        yield name
