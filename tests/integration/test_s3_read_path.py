"""Training reads from a real object store (SeaweedFS) behind added latency: block sampling
costs two requests per scan per reader (metadata, then the whole shard), and delivers
exactly the cubes the local copy of the store holds."""

from __future__ import annotations

import uuid
from itertools import islice

import numpy as np
import s3fs

from genesis_core.io.storage import Location
from genesis_core.store import CubeStore, commit_scans, write_scan
from genesis_core.training.loader import BatchLoader
from tests.helpers.stores import phantom_store
from tests.servers.latency_proxy import latency_proxy
from tests.servers.seaweed import storage_options


def _copy(local: str, fs: s3fs.S3FileSystem, bucket: str) -> str:
    fs.mkdir(bucket)
    fs.put(local, f"{bucket}/store.zarr", recursive=True)
    return f"s3://{bucket}/store.zarr"


def test_block_reads_over_s3_cost_two_requests_per_scan(tmp_path, seaweed) -> None:
    local = phantom_store(str(tmp_path / "store.zarr"), subsets=tuple(range(10)), cubes_per_scan=6)
    fs = s3fs.S3FileSystem(**storage_options(seaweed))
    uri = _copy(local, fs, f"read-{uuid.uuid4().hex[:8]}")
    host, port = seaweed.removeprefix("http://").split(":")
    with latency_proxy((host, int(port)), latency=0.005) as proxy:
        store = CubeStore(Location(uri, storage_options(proxy.url)), whole_scans=True)
        opened = proxy.requests  # the manifest
        loader = BatchLoader(store, 4, seed=1, sampling="blocks", block_scans=3, workers=2)
        batches = [b.numpy() for _, b in islice(loader.stream(), 2 * loader.batches_per_epoch)]
        # two epochs; the second is served from the cache
        assert proxy.requests - opened == store.requests == 2 * 10
    reference = CubeStore(local, whole_scans=False)
    order = loader.order(0)[: 4 * loader.batches_per_epoch]
    assert np.array_equal(
        np.concatenate(batches[: loader.batches_per_epoch]), reference.read(order)
    )


def test_single_cube_reads_over_s3_are_verified_and_concurrent(tmp_path, seaweed) -> None:
    fs = s3fs.S3FileSystem(**storage_options(seaweed))
    bucket = f"ranged-{uuid.uuid4().hex[:8]}"
    fs.mkdir(bucket)
    where = Location(f"s3://{bucket}/store.zarr", storage_options(seaweed))
    cubes = np.random.default_rng(0).integers(-1000, 1000, (8, 8, 16, 16)).astype(np.int16)
    written = write_scan(where, "s0", cubes, np.zeros((8, 3)), {})
    commit_scans(where, [written.entry("s0", "sha")], {"cube_zyx": [8, 16, 16]}, "h")
    store = CubeStore(where, whole_scans=False)
    store._verified.add("s0")  # per-cube CRCs alone
    assert np.array_equal(store.read_raw([6, 1, 3])[0], cubes[[6, 1, 3]])
    assert store.requests == 1 + 1 + 3  # metadata, index (a suffix range), three cube ranges
