"""One writer at a time: a lease object beside the data, created exclusively.

A lease file (``STORE/locks/writer.json`` for a cube store, ``catalog/locks/NAME.json``
for a catalog) is created with an exclusive create (``O_EXCL`` locally, a conditional put
``If-None-Match: *`` on S3), so two writers cannot both hold it.  The holder renews it
every ``ttl_s / 3``; a lease not renewed for ``ttl_s`` (a killed or paused writer) may be
broken by the next one.  A second writer waits up to ``timeout_s``, then fails with a
message naming the holder.  The lock lives with the data, so the CLI, every flow and
every deployment take the same lock, whatever orchestrates them.

A lease alone cannot stop a writer that was paused after its last check: the store's
commit is therefore *fenced* (:class:`StoreLock`).  The holder commits exactly the version
after the one its lease has seen (``version``), and a writer that breaks a stale lease
first commits an empty *fence* version, so the paused writer's commit is refused however
long it slept and wherever it stopped.
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
from genesis_core.store.manifest import StoreConflict, create_exclusive, read_latest, write_fence


class StoreLocked(StoreConflict):
    """Another writer holds the store's lock; the message names it."""


def lock_location(store: LocationLike) -> Location:
    return Location.of(store).join("locks", "writer.json")


class Lease:
    """``with Lease(where, lock_file, purpose):`` — hold the writer lease of ``where``."""

    def __init__(
        self,
        where: LocationLike,
        lock: Location,
        purpose: str = "",
        timeout_s: float = 600.0,
        ttl_s: float = 120.0,
        poll_s: float = 1.0,
    ) -> None:
        self.uri, self.lock = str(where), lock
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

    def acquire(self) -> Lease:
        deadline = time.monotonic() + self.timeout_s
        self.took_over = False
        while True:
            try:
                create_exclusive(self.lock, self._record())
                break
            except StoreConflict:
                cur = self._current()
                if cur is not None and cur.get("expires", 0) < time.time():
                    self._break(cur)
                    self.took_over = True
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

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class StoreLock(Lease):
    """``with StoreLock(uri, purpose="preprocess") as lock:`` — hold the store's writer lease.

    ``version`` is the store version this holder builds on: its commits pass it as
    ``expect`` (:func:`genesis_core.store.manifest.commit_scans`) and advance it.  Taking
    over a stale lease commits a fence version first (:func:`write_fence`).
    """

    def __init__(self, store: LocationLike, purpose: str = "", **lease: float) -> None:
        """``lease``: ``timeout_s``, ``ttl_s``, ``poll_s`` as for :class:`Lease`."""
        super().__init__(store, lock_location(store), purpose, **lease)
        self.store = Location.of(store)
        self.version = 0

    def acquire(self) -> StoreLock:
        super().acquire()
        try:
            if self.took_over:
                self.version = write_fence(self.store, self.holder)
            else:
                self.version = read_latest(self.store).version  # checked: never a broken log
        except BaseException:
            self.release()
            raise
        return self

    def __enter__(self) -> StoreLock:
        return self.acquire()
