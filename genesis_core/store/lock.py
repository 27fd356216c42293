"""One writer per store: a lease object inside the store, created exclusively.

``STORE/locks/writer.json`` is created with an exclusive create (``O_EXCL`` locally, a
conditional put ``If-None-Match: *`` on S3), so two writers cannot both hold it.  The
holder renews it every ``ttl_s / 3``; a lease not renewed for ``ttl_s`` (a killed writer)
may be broken by the next one.  A second writer waits up to ``timeout_s``, then fails
with a message naming the holder.  The lock lives with the data, so the CLI, every flow
and every deployment take the same lock, whatever orchestrates them.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
import uuid
from typing import Any

from genesis_core.io.storage import Location, LocationLike
from genesis_core.store.manifest import StoreConflict, create_exclusive


class StoreLocked(StoreConflict):
    """Another writer holds the store's lock; the message names it."""


def lock_location(store: LocationLike) -> Location:
    return Location.of(store).join("locks", "writer.json")


class StoreLock:
    """``with StoreLock(uri, purpose="preprocess"):`` — hold the store's writer lease."""

    def __init__(
        self,
        store: LocationLike,
        purpose: str = "",
        timeout_s: float = 600.0,
        ttl_s: float = 120.0,
        poll_s: float = 1.0,
    ) -> None:
        self.uri, self.lock = str(store), lock_location(store)
        self.timeout_s, self.ttl_s, self.poll_s = timeout_s, ttl_s, poll_s
        self.token = uuid.uuid4().hex
        self.holder = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}" + (
            f" ({purpose})" if purpose else ""
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def _record(self) -> bytes:
        now = time.time()
        return json.dumps(
            {"token": self.token, "holder": self.holder, "since": now, "expires": now + self.ttl_s}
        ).encode()

    def _current(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.lock.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:  # a torn or foreign file: treat as expired
            return {"holder": "unknown", "expires": 0}

    def acquire(self) -> StoreLock:
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                create_exclusive(self.lock, self._record())
                break
            except StoreConflict:
                cur = self._current()
                if cur is not None and cur.get("expires", 0) < time.time():
                    self._break(cur)
                    continue
                if time.monotonic() > deadline:
                    who = (cur or {}).get("holder", "another writer")
                    since = time.strftime("%H:%M:%S", time.localtime((cur or {}).get("since", 0)))
                    raise StoreLocked(
                        f"store {self.uri} is locked by {who} (since {since}); waited "
                        f"{self.timeout_s:.0f} s. If that writer is dead its lease expires "
                        f"within {self.ttl_s:.0f} s"
                    ) from None
                time.sleep(self.poll_s)
        self._thread = threading.Thread(target=self._renew, daemon=True, name="store-lock")
        self._thread.start()
        return self

    def _break(self, stale: dict[str, Any]) -> None:
        fs, path = self.lock.filesystem()
        cur = self._current()
        if cur is not None and cur.get("token") == stale.get("token"):
            fs.rm_file(path)

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            cur = self._current()
            if cur is None or cur.get("token") != self.token:
                self.lost = True  # broken by another writer after we stalled
                return
            self.lock.write_bytes_atomic(self._record())

    def check(self) -> None:
        """Raise :class:`StoreLocked` if the lease was lost (call before committing)."""
        cur = self._current()
        if self.lost or cur is None or cur.get("token") != self.token:
            raise StoreLocked(f"store {self.uri}: this writer's lock was lost; not committing")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        cur = self._current()
        if cur is not None and cur.get("token") == self.token:
            fs, path = self.lock.filesystem()
            fs.rm_file(path)

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
