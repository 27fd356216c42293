"""A thread-safe LRU that loads each missing entry once (decoded scans, scan metadata).

Several loader threads may ask for the same scan at the same time (consecutive batches
of a block of scans); the first asks its loader, the others wait for that result, so a
scan is fetched and decoded once.  Entries are evicted least recently used first when
the cached bytes (``nbytes`` of arrays; other values count 0) exceed ``max_bytes``
(``None``: never); an entry larger than the cache is returned but not kept.  The cache
only saves work: a miss costs a fetch, never a wrong answer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from typing import Any

Loader = Callable[[list[Hashable]], dict[Hashable, Any]]


class ScanCache:
    def __init__(self, max_bytes: int | None) -> None:
        self.max_bytes = None if max_bytes is None else max(0, int(max_bytes))
        self.bytes = 0
        self.hits = self.misses = 0
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._loading: dict[Hashable, Future] = {}
        self._lock = threading.Lock()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def get_many(self, keys: Sequence[Hashable], load: Loader) -> dict[Hashable, Any]:
        """``{key: array}`` for ``keys``; ``load(missing)`` is called once for those no one has."""
        out: dict[Hashable, Any] = {}
        mine: dict[Hashable, Future] = {}
        theirs: dict[Hashable, Future] = {}
        with self._lock:
            for key in dict.fromkeys(keys):
                if key in self._items:
                    self._items.move_to_end(key)
                    out[key] = self._items[key]
                    self.hits += 1
                elif key in self._loading:
                    theirs[key] = self._loading[key]
                else:
                    mine[key] = self._loading[key] = Future()
                    self.misses += 1
        if mine:
            self._load(mine, load)
        for key, fut in {**mine, **theirs}.items():
            out[key] = fut.result()
        return out

    def _load(self, mine: dict[Hashable, Future], load: Loader) -> None:
        try:
            loaded = load(list(mine))
        except BaseException as error:
            with self._lock:
                for key, fut in mine.items():
                    self._loading.pop(key, None)
                    fut.set_exception(error)
            raise
        with self._lock:
            for key, fut in mine.items():
                self._loading.pop(key, None)
                self._keep(key, loaded[key])
                fut.set_result(loaded[key])

    def _keep(self, key: Hashable, value: Any) -> None:
        size = int(getattr(value, "nbytes", 0))
        if self.max_bytes is not None and size > self.max_bytes:
            return
        self._items[key] = value
        self.bytes += size
        while self.max_bytes is not None and self.bytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self.bytes -= int(getattr(old, "nbytes", 0))
