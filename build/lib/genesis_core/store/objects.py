"""Many reads of a store's objects in one call: whole objects, byte ranges, suffixes.

An object store's cost is latency, not bandwidth: at 20 ms a request, reading one object
after another caps a reader at 50 objects a second whatever its CPU.  :meth:`Objects.get`
issues every read of a call at once on fsspec's event loop (at most ``concurrency`` in
flight), one GET each.  Local stores read the files directly.  A missing object reads as
``None``; the caller decides whether that is damage.  Other errors (a dead server, a
timeout after the client's own retries) are raised as they are: a fault, never data.
"""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Sequence

from fsspec.asyn import sync

from genesis_core.io.storage import Location, LocationLike

# key, start, end: (k, None, None) whole; (k, -n, None) the last n bytes
Read = tuple[str, int | None, int | None]


class Objects:
    """The objects under a store URI, read many at a time.  ``requests`` counts GETs issued."""

    def __init__(self, store: LocationLike, concurrency: int = 32) -> None:
        store = Location.of(store)
        self.uri, self.concurrency, self.requests = store.uri, concurrency, 0
        self.remote = store.remote
        if self.remote:
            self.fs, self.root = store.filesystem()
            params = inspect.signature(self.fs._cat_file).parameters if self.fs.async_impl else {}
            # s3fs asks for an object's size (a HEAD) before a whole read unless told not to split it
            self._whole_kw = {"max_concurrency": 1} if "max_concurrency" in params else {}
        else:
            self.root = store.uri.removeprefix("file://")

    def path(self, key: str) -> str:
        return f"{self.root.rstrip('/')}/{key}"

    def get(self, reads: Sequence[Read]) -> list[bytes | None]:
        """The bytes of each read, in order (``None`` where the object does not exist)."""
        self.requests += len(reads)
        if not reads:
            return []
        if not self.remote:
            return [_read_local(self.path(k), start, end) for k, start, end in reads]
        if not self.fs.async_impl:
            return [self._read_sync(k, start, end) for k, start, end in reads]
        return sync(self.fs.loop, self._gather, reads)

    async def _gather(self, reads: Sequence[Read]) -> list[bytes | None]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(key: str, start: int | None, end: int | None) -> bytes | None:
            async with gate:
                try:
                    if start is None and end is None:
                        return await self.fs._cat_file(self.path(key), **self._whole_kw)
                    return await self.fs._cat_file(self.path(key), start=start, end=end)
                except FileNotFoundError:
                    return None

        return await asyncio.gather(*(one(*r) for r in reads))

    def _read_sync(self, key: str, start: int | None, end: int | None) -> bytes | None:
        try:
            return self.fs.cat_file(self.path(key), start=start, end=end)
        except FileNotFoundError:
            return None


def _read_local(path: str, start: int | None, end: int | None) -> bytes | None:
    try:
        with open(path, "rb") as f:
            if start is None and end is None:
                return f.read()
            size = os.fstat(f.fileno()).st_size
            lo = max(size + start, 0) if start is not None and start < 0 else (start or 0)
            hi = size if end is None else min(end, size)
            return os.pread(f.fileno(), max(hi - lo, 0), lo)
    except FileNotFoundError:
        return None
