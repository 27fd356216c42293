"""What store integrity costs: verified reads, and commits against store size.

Verified reads: cubes/s through ``CubeStore.read`` with and without checksums.

A local store of ``--scans`` × 32 cubes of 64×64×32 (CT-like int16 from the chest phantom)
is written once; then random batches of 64 are read by a fresh reader with ``verify=True``
(each scan is read whole and hashed the first time it is touched) and ``verify=False``,
alternating, over one epoch; plus ``verify_store()`` (what pre-training runs first).

Commits: into a store already holding 1k, 10k and 100k scans (synthetic entries), the
time of a fenced commit of one scan (what preprocess does per finished scan) and of 16
(its old cadence), warm (the writer's own last version cached) and cold (a new process:
the checkpoint and deltas read, every record checked and chained); and what record
checksums cost: a checkpoint read checked vs only parsed, written sealed vs plain JSON.

    python benchmarks/store_integrity.py [--scans 60] [--repeats 3] [--commit-sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import json
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
from genesis_core.store.integrity import seal, unseal  # noqa: E402
from genesis_core.synth import chest_phantom  # noqa: E402

CUBE = (32, 64, 64)
CFG_DICT = {"cube_zyx": list(CUBE)}


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


def _timed(fn, repeats: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


class _Writer:
    """A lease holder's commits: each the version after its last (``expect``)."""

    def __init__(self, uri: str, n: int) -> None:
        self.uri, self.next_id = uri, n
        self.version = commit_scans(uri, _entries(0, n), CFG_DICT, "h").version

    def commit(self, k: int) -> None:
        entries, self.next_id = _entries(self.next_id, k), self.next_id + k
        self.version = commit_scans(self.uri, entries, CFG_DICT, "h", expect=self.version).version


def commit_cost(tmp: Path, n: int) -> dict:
    """Per-scan fenced commits (how preprocess commits now), 16-scan deltas (how it committed
    before), a cold commit (a new process: every record of the chain read and checked),
    and what sealing costs: a checkpoint read checked against its SHA-256 vs parsed only."""
    uri = str(tmp / f"c{n}.zarr")
    w = _Writer(uri, n)
    per_scan = _timed(lambda: w.commit(1), 40)
    per_16 = _timed(lambda: w.commit(16), 10)
    mf._CACHE.clear()
    cold = _timed(lambda: w.commit(1), 1)
    data = (Path(uri) / "manifests" / "000001.json").read_bytes()
    body = data[: data.rfind(b"\nsha256=")]
    payload = json.loads(body)
    return {
        "n": n,
        "per_scan": per_scan,
        "per_16": per_16,
        "cold": cold,
        "read_plain": _timed(lambda: json.loads(body), 3),
        "read_checked": _timed(lambda: unseal(data, "000001.json"), 3),
        "write_plain": _timed(
            lambda: json.dumps(payload, separators=(",", ":"), sort_keys=True), 3
        ),
        "write_sealed": _timed(lambda: seal(payload), 3),
        "delta_bytes": (Path(uri) / "manifests" / f"{w.version:06d}.json").stat().st_size,
        "checkpoint_bytes": len(data),
    }


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
        costs = [commit_cost(Path(tmp), int(x)) for x in args.commit_sizes.split(",")]
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
        "\n| scans in store | commit of 1 scan (fenced, warm), ms | of 16 scans, ms | per scan, "
        "1 vs 16 | cold commit (chain read + checked), s | checkpoint read: parsed / checked, s "
        "| checkpoint write: JSON / sealed, s | delta bytes (1 scan) | checkpoint bytes |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in costs:
        print(
            f"| {r['n']:,} | {1000 * r['per_scan']:.2f} | {1000 * r['per_16']:.2f} "
            f"| {r['per_scan'] / (r['per_16'] / 16):.1f}× | {r['cold']:.3f} "
            f"| {r['read_plain']:.3f} / {r['read_checked']:.3f} "
            f"| {r['write_plain']:.3f} / {r['write_sealed']:.3f} "
            f"| {r['delta_bytes']:,} | {r['checkpoint_bytes']:,} |"
        )


if __name__ == "__main__":
    main()
