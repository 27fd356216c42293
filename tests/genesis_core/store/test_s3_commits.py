"""Commits and the writer lock against a real object store (SeaweedFS on 127.0.0.1): a
manifest version is won by exactly one writer (conditional put), appends that lose retry,
and the lock admits one writer at a time and names the holder.  The conditional put is
also checked on moto, which the fast unit tests use."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from genesis_core.io.storage import Location
from genesis_core.store import CubeStore, commit_scans, read_latest
from genesis_core.store.lock import StoreLock, StoreLocked
from genesis_core.store.manifest import StoreConflict, create_exclusive
from tests.genesis_core.store.test_store import CFG, write_and_entry

pytestmark = pytest.mark.integration


def _store(fs) -> Location:
    bucket = f"commits-{uuid.uuid4().hex[:8]}"
    fs.mkdir(bucket)
    opts = {"client_kwargs": {"endpoint_url": fs.client_kwargs["endpoint_url"]}}
    return Location(f"s3://{bucket}/store", opts)


@pytest.fixture()
def s3(seaweed_env):
    return _store(seaweed_env)


@pytest.mark.parametrize("server", ["seaweed_env", "s3_env"], ids=["seaweedfs", "moto"])
def test_conditional_create_refuses_an_existing_key(server, request) -> None:
    """SeaweedFS answers 412 without naming the condition (s3fs then raises a plain
    OSError), moto names it (FileExistsError): both are a conflict, and the first body stays."""
    fs = request.getfixturevalue(server)
    key = _store(fs).join("manifests", "000412.json")
    create_exclusive(key, b"{}")
    with pytest.raises(StoreConflict, match="already exists"):
        create_exclusive(key, b'{"other": 1}')
    assert fs.cat(key.uri.removeprefix("s3://")) == b"{}"


def test_two_writers_appending_on_s3_lose_nothing(s3) -> None:
    store = s3
    commit_scans(store, [write_and_entry(store, 0)], CFG, "h1")
    versions: list[int] = []

    def writer(ks) -> None:
        for k in ks:
            versions.append(commit_scans(store, [write_and_entry(store, k)], CFG, "h1").version)

    threads = [threading.Thread(target=writer, args=(r,)) for r in (range(1, 6), range(6, 11))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(versions) == list(range(2, 12))
    m = read_latest(store)
    assert sorted(m.scans) == sorted(f"scan.{k}" for k in range(11))
    CubeStore(store).verify_store()


def test_lock_admits_one_writer_and_names_the_holder(s3) -> None:
    store = s3
    with StoreLock(store, purpose="preprocess nightly"):
        with pytest.raises(StoreLocked, match="locked by .* \\(preprocess nightly\\)"):
            StoreLock(store, timeout_s=1, poll_s=0.2).acquire()
    with StoreLock(store, timeout_s=1):  # released: the next writer gets it at once
        pass


def test_a_dead_writers_lease_expires(s3) -> None:
    store = s3
    dead = StoreLock(store, ttl_s=1)
    dead.acquire()
    dead._stop.set()  # the writer was killed: it no longer renews
    time.sleep(1.5)
    with StoreLock(store, timeout_s=5, poll_s=0.2) as lock:
        lock.check()
    with pytest.raises(StoreLocked, match="lost"):
        dead.check()
