"""What store integrity costs: verified reads, and commits against store size.

Verified reads: cubes/s through ``CubeStore.read`` with and without checksums.

A local store of ``--scans`` × 32 cubes of 64×64×32 (CT-like int16 from the chest phantom)
is written once; then random batches of 64 are read by a fresh reader with ``verify=True``
(each scan is read whole and hashed the first time it is touched) and ``verify=False``,
alternating, over one epoch; plus ``verify_store()`` (what pre-training runs first).

Commits: the time to commit 16 scans to a store already holding 1k, 10k and 100k scans
(synthetic entries), as a delta (this tree; warm = the writer's own last version cached,
cold = a new process reading checkpoint + deltas) beside a full manifest rewrite (how
every commit worked before: read the whole manifest, write the whole manifest).

    python benchmarks/store_integrity.py [--scans 60] [--repeats 3] [--commit-sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genesis_core.cubes.extract import extract  # noqa: E402
from genesis_core.store import CubeStore, commit_scans, write_scan  # noqa: E402
from genesis_core.store import manifest as mf  # noqa: E402
from genesis_core.synth import chest_phantom  # noqa: E402

CUBE = (32, 64, 64)


def build(uri: str, scans: int) -> None:
    rng = np.random.default_rng(0)
    hu, _ = chest_phantom((256, 256, 128), (1.0, 1.0, 1.0), rng)
    entries = []
    for k in range(scans):
        hi = np.asarray(hu.shape) - np.asarray(CUBE)
        origins = np.stack([rng.integers(0, h + 1, 32) for h in hi], axis=1)
        cubes = extract(hu, origins, CUBE)
        entries.append(
            write_scan(uri, f"s{k:04d}", cubes, origins, {}).entry(f"s{k:04d}", "x", k % 10)
        )
    commit_scans(uri, entries, {"cube_zyx": list(CUBE)}, "bench")


def epoch(uri: str, verify: bool, seed: int) -> dict:
    store = CubeStore(uri, verify=verify)
    order = np.random.default_rng(seed).permutation(len(store))
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(order), 64):
        store.read(order[i : i + 64])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"cubes_s": len(order) / wall, "cpu_per_1000": 1000 * cpu / len(order)}


def _entries(start: int, n: int) -> list:
    return [
        mf.ScanEntry(
            f"s{k:07d}", 32, "0" * 64, k % 10, f"scans/s{k:07d}/g0123456789abcdef", "f" * 64
        )
        for k in range(start, start + n)
    ]


def commit_costs(tmp: Path, sizes: list[int]) -> list[tuple]:
    rows = []
    for n in sizes:
        uri = str(tmp / f"c{n}.zarr")
        commit_scans(uri, _entries(0, n), {"cube_zyx": list(CUBE)}, "h")
        t0 = time.perf_counter()
        for i in range(5):
            commit_scans(uri, _entries(n + 16 * i, 16), {"cube_zyx": list(CUBE)}, "h")
        warm = (time.perf_counter() - t0) / 5
        mf._CACHE.clear()
        t0 = time.perf_counter()
        commit_scans(uri, _entries(n + 100, 16), {"cube_zyx": list(CUBE)}, "h")
        cold = time.perf_counter() - t0
        m = mf.read_latest(uri)
        t0 = time.perf_counter()
        for _ in range(3):  # the old way: parse the whole manifest, write the whole manifest
            data = (Path(uri) / "manifests" / "000001.json").read_bytes()
            full = mf.Manifest.from_json(data)
            full.scans.update({e.scan_id: e for e in _entries(n + 200, 16)})
            (tmp / "full.json").write_bytes(full.to_json())
        old = (time.perf_counter() - t0) / 3
        delta = (Path(uri) / "manifests" / f"{m.version:06d}.json").stat().st_size
        rows.append((n, warm, cold, old, delta, len(full.to_json())))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scans", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--commit-sizes", default="1000,10000,100000")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        uri = str(Path(tmp) / "store.zarr")
        t0 = time.perf_counter()
        build(uri, args.scans)
        print(f"wrote {args.scans} scans × 32 cubes in {time.perf_counter() - t0:.1f} s")
        best: dict[bool, dict] = {}
        for r in range(args.repeats):
            for verify in (True, False):
                res = epoch(uri, verify, r)
                if verify not in best or res["cubes_s"] > best[verify]["cubes_s"]:
                    best[verify] = res
        t0 = time.perf_counter()
        CubeStore(uri).verify_store()
        vs = time.perf_counter() - t0
        costs = commit_costs(Path(tmp), [int(x) for x in args.commit_sizes.split(",")])
    on, off = best[True], best[False]
    print("\n| reader | cubes/s (one epoch, batches of 64) | CPU s per 1,000 cubes |")
    print("|---|---|---|")
    print(f"| verify=False | {off['cubes_s']:.0f} | {off['cpu_per_1000']:.2f} |")
    print(
        f"| verify=True (first touch of each scan) | {on['cubes_s']:.0f} | {on['cpu_per_1000']:.2f} |"
    )
    print(
        f"\nverified/unverified: {on['cubes_s'] / off['cubes_s']:.2f}×; "
        f"verify_store(): {vs:.2f} s for {args.scans} scans ({1000 * vs / args.scans:.1f} ms per scan)"
    )

    print(
        "\n| scans in store | commit of 16 scans, s (delta, warm) | cold | full rewrite (before) "
        "| delta bytes | full manifest bytes |"
    )
    print("|---|---|---|---|---|---|")
    for n, warm, cold, old, delta, full in costs:
        print(f"| {n:,} | {warm:.4f} | {cold:.3f} | {old:.3f} | {delta:,} | {full:,} |")


if __name__ == "__main__":
    main()
