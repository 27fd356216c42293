"""Commit per-scan results as they arrive, so a crash loses at most the scans in flight.

By default every finished scan is committed at once (``every_n=1``: a delta of one
entry, milliseconds; see ``benchmarks/RESULTS.md``); larger ``every_n`` buffers results
until that many have finished or ``every_s`` seconds have passed.  With the store's
``lease`` (:class:`~genesis_core.store.lock.StoreLock`) every commit is fenced: it is the
version right after the lease's, or nothing.  A ``replace`` run (``--force``)
makes its first commit a replacing checkpoint and appends after it, so its final
manifest holds exactly the scans it rebuilt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from genesis_core.io.storage import Location, LocationLike
from genesis_core.store.lock import StoreLock
from genesis_core.store.manifest import (
    Manifest,
    ScanEntry,
    commit_scans,
    read_latest,
    read_version,
)

COMMITTED = ("ok", "empty")  # statuses whose scans are listed (empty: zero cubes, known)


class Committer:
    def __init__(
        self,
        store: LocationLike,
        config: dict[str, Any],
        config_hash: str,
        replace: bool = False,
        every_n: int = 1,
        every_s: float = 2.0,
        lease: StoreLock | None = None,
        accept: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> None:
        self.store, self.config, self.config_hash = Location.of(store), config, config_hash
        self.replace = replace
        self.every_n, self.every_s = every_n, every_s
        self.lease = lease
        self.accept = accept or (lambda r: r.get("status") in COMMITTED)
        self._buffer: list[ScanEntry] = []
        self._last = time.monotonic()
        self.commits = 0
        self.manifest: Manifest | None = None

    def add(self, result: Mapping[str, Any]) -> None:
        if self.accept(result):
            self._buffer.append(ScanEntry.from_result(result))
        due = len(self._buffer) >= self.every_n or time.monotonic() - self._last >= self.every_s
        if self._buffer and due:
            self.flush()

    def flush(self) -> None:
        if self.lease is not None:
            self.lease.check()
        replace = self.replace and self.commits == 0
        expect = None if self.lease is None else self.lease.version
        self.manifest = commit_scans(
            self.store, self._buffer, self.config, self.config_hash, replace, expect
        )
        if self.lease is not None:
            self.lease.version = self.manifest.version
        self.commits += 1
        self._buffer = []
        self._last = time.monotonic()

    def close(self) -> Manifest:
        """Commit what is left; a replace run, or a new store, commits even when empty."""
        if self._buffer or (self.commits == 0 and (self.replace or not self._exists())):
            self.flush()
        return self.manifest or self._base()

    def _base(self) -> Manifest:
        return (
            read_latest(self.store)
            if self.lease is None
            else read_version(self.store, self.lease.version)
        )

    def _exists(self) -> bool:
        return self._base().version > 0
