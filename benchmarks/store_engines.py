"""Ours vs Icechunk as the cube store's transaction engine, side by side, in one run.

Ours: the manifest log of ``genesis_core.store`` as it is in this tree (``write_scan``,
``commit_scans``, ``read_latest``, ``CubeStore``).  Icechunk 1.1: the prototype in
``benchmarks/icechunk_engine.py`` (same layout, provenance in commit metadata).

a. **Commit cost**: the time to commit 16 new scans to a store already holding N scans.
   Both stores are built metadata-only, as ``store_integrity.py`` does for ours: ours holds
   N manifest entries (no arrays), Icechunk holds N array nodes carrying the metadata our
   writer gives each scan's array (shape, codecs, origins, per-cube CRCs, ids) and no
   chunks.  Timed: the commit only (the 16 new scans' writes are not timed in either).
   *warm*: the same writer again (ours: its last version cached; Icechunk: the same
   ``Repository``, a new writable session); *cold*: ours with the manifest cache cleared
   (reads checkpoint + deltas), Icechunk from a fresh ``Repository.open`` + session.
   Also: building the N-scan store, and a cold reader's open + list of the scans.
b. **Read path**: cubes/s for random batches of 64 (two epochs, one reader process each)
   over ``--read-scans`` × 32 cubes of 64×64×32 (chest phantom, as ``store_integrity.py``);
   local disk, and SeaweedFS behind ``tests/servers/latency_proxy.py`` (as ``read_path.py``).
   *ranged*: single cubes (ours ``whole_scans=False``; Icechunk: zarr through the sharding
   codec); *whole*: whole scans cached (ours ``whole_scans=None``; Icechunk: ``arr[:]``).
   Every cube is checked against its CRC32C in both.
c. **Fault properties**, held / not held with evidence: (1) a byte flipped in each kind of
   commit record is detected, naming the file; (2) a writer that lost the race cannot
   commit over the winner, and concurrent appends all land; (3) a reader pinned to an older
   version keeps reading after gc with a retention window; (4) a cube whose bytes no longer
   match its CRC32C is an error.

    python benchmarks/store_engines.py [--sizes 1000,10000,100000] [--read-scans 60]
                                       [--latencies 0,20] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# Icechunk's one warning here (LocalFileSystem storage is not safe for concurrent commits)
# is reported in the properties instead of on every open
os.environ.setdefault("ICECHUNK_LOG", "error")
import icechunk as ic  # noqa: E402
import icechunk_engine as ie  # noqa: E402

from genesis_core.io.storage import Location  # noqa: E402
from genesis_core.store import CubeStore, commit_scans, read_latest, write_scan  # noqa: E402
from genesis_core.store import manifest as mf  # noqa: E402

CUBE = (32, 64, 64)
CFG = {"cube_zyx": list(CUBE)}


def say(*a) -> None:
    print(*a, flush=True)


def entry(**kw):
    """A ``ScanEntry`` from keyword fields (tolerates an entry that gained fields)."""
    names = {f.name for f in dataclasses.fields(mf.ScanEntry)}
    return mf.ScanEntry(**{k: v for k, v in kw.items() if k in names})


# -- a. commit cost -------------------------------------------------------------------------


def _ours_entries(start: int, n: int) -> list:
    return [
        entry(
            scan_id=f"s{k:07d}",
            n_cubes=32,
            source_sha256="0" * 64,
            subset=k % 10,
            path=f"scans/s{k:07d}/g0123456789abcdef",
            checksum="f" * 64,
        )
        for k in range(start, start + n)
    ]


def _ice_entries(start: int, n: int, rng) -> list[dict]:
    """The same scans as nodes: ids, counts, and the attributes our writer stores."""
    out = []
    for k in range(start, start + n):
        sid = f"s{k:07d}"
        out.append(
            {
                "scan_id": sid,
                "n_cubes": 32,
                "source_sha256": "0" * 64,
                "subset": k % 10,
                "checksum": "f" * 64,
                "attributes": {
                    "scan_id": sid,
                    "origins_zyx": rng.integers(0, 200, (32, 3)).tolist(),
                    "cube_crc32c": rng.integers(0, 2**32, 32).tolist(),
                    "source_sha256": "0" * 64,
                    "subset": k % 10,
                    "checksum": "f" * 64,
                    "config_hash": "h",
                    "spacing_xyz": [1.0, 1.0, 1.0],
                },
            }
        )
    return out


def commit_ours(tmp: Path, n: int) -> dict:
    uri = str(tmp / f"ours{n}")
    t0 = time.perf_counter()
    commit_scans(uri, _ours_entries(0, n), CFG, "h")
    build = time.perf_counter() - t0
    warm = []
    for i in range(5):
        batch = _ours_entries(n + 16 * i, 16)
        t0 = time.perf_counter()
        commit_scans(uri, batch, CFG, "h")
        warm.append(time.perf_counter() - t0)
    mf._CACHE.clear()
    batch = _ours_entries(n + 100, 16)
    t0 = time.perf_counter()
    m = commit_scans(uri, batch, CFG, "h")
    cold = time.perf_counter() - t0
    mf._CACHE.clear()
    t0 = time.perf_counter()
    listed = len(read_latest(uri).scans)
    open_list = time.perf_counter() - t0
    rec = Path(uri) / "manifests" / f"{m.version:06d}.json"
    out = {
        "build": build,
        "warm": float(np.median(warm)),
        "cold": cold,
        "open_list": open_list,
        "listed": listed,
        "record_bytes": rec.stat().st_size if rec.exists() else -1,
    }
    shutil.rmtree(uri, ignore_errors=True)
    mf._CACHE.clear()
    return out


def commit_ice(tmp: Path, n: int, meta: dict) -> dict:
    path = tmp / f"ice{n}"
    rng = np.random.default_rng(n)
    repo = ie.create(str(path))
    t0 = time.perf_counter()
    s = repo.writable_session("main")
    ents = _ice_entries(0, n, rng)
    ie.write_metadata_only(s, ents, meta)
    ie.commit_scans(s, ents, CFG, "h", rebase=False, message=f"build {n}")
    build = time.perf_counter() - t0
    del ents
    warm, sessions = [], []
    for i in range(5):
        t0 = time.perf_counter()
        s = repo.writable_session("main")
        sessions.append(time.perf_counter() - t0)
        batch = _ice_entries(n + 16 * i, 16, rng)
        ie.write_metadata_only(s, batch, meta)
        t0 = time.perf_counter()
        ie.commit_scans(s, batch, CFG, "h", rebase=False)
        warm.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    repo2 = ie.open_repo(str(path))
    s = repo2.writable_session("main")
    cold_open = time.perf_counter() - t0
    batch = _ice_entries(n + 100, 16, rng)
    ie.write_metadata_only(s, batch, meta)
    t0 = time.perf_counter()
    snap = ie.commit_scans(s, batch, CFG, "h", rebase=False)
    cold = cold_open + time.perf_counter() - t0
    t0 = time.perf_counter()
    repo3 = ie.open_repo(str(path))
    listed = len(ie.list_scans(repo3.readonly_session(branch="main")))
    open_list = time.perf_counter() - t0
    out = {
        "build": build,
        "warm": float(np.median(warm)),
        "warm_session": float(np.median(sessions)),
        "cold": cold,
        "open_list": open_list,
        "listed": listed,
        "record_bytes": (path / "snapshots" / snap).stat().st_size,
    }
    del repo, repo2, repo3, s
    shutil.rmtree(path, ignore_errors=True)
    return out


def commit_section(tmp: Path, sizes: list[int], max_build_s: float) -> list[str]:
    meta = ie.template_meta(CUBE, 32)
    rows = []
    ice_ok = True
    for n in sizes:
        o = commit_ours(tmp, n)
        say(f"  ours  N={n:,}: {json.dumps({k: round(v, 4) for k, v in o.items()})}")
        if ice_ok:
            t0 = time.perf_counter()
            i = commit_ice(tmp, n, meta)
            say(f"  ice   N={n:,}: {json.dumps({k: round(v, 4) for k, v in i.items()})}")
            if time.perf_counter() - t0 > max_build_s:
                ice_ok = False  # the next size would not fit the budget
                say(f"  (icechunk at N={n:,} took > {max_build_s:.0f} s; larger sizes skipped)")
        else:
            i = None
        rows.append(_commit_row(n, o, i))
    return rows


def _commit_row(n: int, o: dict, i: dict | None) -> str:
    if i is None:
        return (
            f"| {n:,} | {o['warm'] * 1e3:.1f} | – | – | {o['cold'] * 1e3:.1f} | – | – "
            f"| {o['open_list'] * 1e3:.0f} | – | {o['build']:.1f} | – "
            f"| {o['record_bytes']:,} | – |"
        )
    return (
        f"| {n:,} | {o['warm'] * 1e3:.1f} | {i['warm'] * 1e3:.1f} | {i['warm'] / o['warm']:.1f}× "
        f"| {o['cold'] * 1e3:.1f} | {i['cold'] * 1e3:.1f} | {i['cold'] / o['cold']:.1f}× "
        f"| {o['open_list'] * 1e3:.0f} | {i['open_list'] * 1e3:.0f} "
        f"| {o['build']:.1f} | {i['build']:.1f} | {o['record_bytes']:,} | {i['record_bytes']:,} |"
    )


# -- b. read path ------------------------------------------------------------------------------


def scan_cubes(scans: int):
    """The cubes ``store_integrity.build`` writes: one chest phantom, random windows."""
    from genesis_core.cubes.extract import extract
    from genesis_core.synth import chest_phantom

    rng = np.random.default_rng(0)
    hu, _ = chest_phantom((256, 256, 128), (1.0, 1.0, 1.0), rng)
    for k in range(scans):
        hi = np.asarray(hu.shape) - np.asarray(CUBE)
        origins = np.stack([rng.integers(0, h + 1, 32) for h in hi], axis=1)
        yield f"s{k:04d}", extract(hu, origins, CUBE), origins, k


def build_read_stores(tmp: Path, scans: int) -> tuple[str, str, float, float]:
    ours, ice = str(tmp / "read_ours.zarr"), str(tmp / "read_ice")
    repo = ie.create(ice)
    session = repo.writable_session("main")
    t_ours = t_ice = 0.0
    ents, ients = [], []
    for sid, cubes, origins, k in scan_cubes(scans):
        t0 = time.perf_counter()
        ents.append(write_scan(ours, sid, cubes, origins, {}).entry(sid, "x", k % 10))
        t1 = time.perf_counter()
        ients.append(ie.write_scan(session, sid, cubes, origins, {}, "x", k % 10))
        t_ours, t_ice = t_ours + t1 - t0, t_ice + time.perf_counter() - t1
    t0 = time.perf_counter()
    commit_scans(ours, ents, CFG, "bench")
    t1 = time.perf_counter()
    ie.commit_scans(session, ients, CFG, "bench")
    return ours, ice, t_ours + t1 - t0, t_ice + time.perf_counter() - t1


READER = r"""
import json, sys, time
import numpy as np
a = json.loads(sys.argv[1])
sys.path.insert(0, a["bench"])
if a["engine"] == "ours":
    from genesis_core.io.storage import Location
    from genesis_core.store import CubeStore
    t = time.perf_counter()
    store = CubeStore(Location(a["uri"], a["opts"]),
                      whole_scans=None if a["mode"] == "whole" else False)
else:
    import icechunk_engine as ie
    t = time.perf_counter()
    repo = ie.open_repo(a["uri"], a["opts"])
    store = ie.IcechunkCubeReader(repo, whole_scans=a["mode"] == "whole", name=a["uri"])
opened = time.perf_counter() - t
n, out = len(store), []
for epoch in range(2):
    order = np.random.default_rng(epoch).permutation(n)
    t, c = time.perf_counter(), time.process_time()
    for i in range(0, n, 64):
        batch = store.read(order[i:i + 64])
        assert batch.shape[0] == len(order[i:i + 64])
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    out.append({"cubes_s": n / wall, "cpu_per_1000": 1000 * cpu / n, "batches": -(-n // 64)})
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"epochs": out, "open_s": opened, "rss_mb": int(hwm.split()[1]) / 1024}))
"""


def run_reader(engine: str, mode: str, uri: str, opts: dict) -> dict:
    args = {
        "engine": engine,
        "mode": mode,
        "uri": uri,
        "opts": opts,
        "bench": str(ROOT / "benchmarks"),
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RUST_LOG": "error"}
    res = subprocess.run(
        [sys.executable, "-c", READER, json.dumps(args)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if res.returncode:
        raise RuntimeError(f"{engine} {mode} reader failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def read_section(tmp: Path, scans: int, latencies: list[float]) -> tuple[list[str], dict]:
    ours, ice, t_ours, t_ice = build_read_stores(tmp, scans)
    say(f"  wrote {scans} scans × 32 cubes: ours {t_ours:.1f} s, icechunk {t_ice:.1f} s")
    rows, results = [], {}

    def pair(where: str, uris: dict, opts: dict, proxy=None) -> None:
        for mode in ("ranged", "whole"):
            got = {}
            for engine in ("ours", "icechunk"):
                before = proxy.requests if proxy else 0
                try:
                    r = run_reader(engine, mode, uris[engine], opts)
                except Exception as e:  # noqa: BLE001 - reported, not fatal
                    say(f"  {where} {mode} {engine}: FAILED {str(e)[-600:]}")
                    got[engine] = None
                    continue
                reqs = (
                    (proxy.requests - before) / (2 * r["epochs"][0]["batches"]) if proxy else None
                )
                r["requests_per_batch"] = reqs
                got[engine] = r
                say(f"  {where} {mode} {engine}: {json.dumps(r)}")
            results[(where, mode)] = got
            rows.append(_read_row(where, mode, got))

    pair("local disk", {"ours": ours, "icechunk": ice}, {})
    if latencies:
        import s3fs

        from tests.servers.latency_proxy import latency_proxy
        from tests.servers.seaweed import seaweed_server, storage_options

        with seaweed_server(tmp / "seaweed") as endpoint:
            fs = s3fs.S3FileSystem(**storage_options(endpoint))
            fs.mkdir("bench")
            t0 = time.perf_counter()
            fs.put(ours, "bench/store.zarr", recursive=True)
            fs.put(ice, "bench/ice", recursive=True)
            say(f"  uploaded both stores to SeaweedFS in {time.perf_counter() - t0:.1f} s")
            host, port = endpoint.removeprefix("http://").split(":")
            uris = {"ours": "s3://bench/store.zarr", "icechunk": "s3://bench/ice"}
            for ms in latencies:
                with latency_proxy((host, int(port)), ms / 1000) as proxy:
                    pair(f"SeaweedFS + {ms:g} ms", uris, storage_options(proxy.url), proxy)
            results["s3_faults"] = s3_concurrency(fs, endpoint, storage_options(endpoint))
    return rows, results


def _read_row(where: str, mode: str, got: dict) -> str:
    o, i = got.get("ours"), got.get("icechunk")

    def cell(r, k):
        return "–" if r is None else f"{r['epochs'][k]['cubes_s']:.0f}"

    def req(r):
        return (
            "–"
            if r is None or r["requests_per_batch"] is None
            else f"{r['requests_per_batch']:.1f}"
        )

    ratio = "–"
    if o and i:
        ratio = f"{i['epochs'][1]['cubes_s'] / o['epochs'][1]['cubes_s']:.2f}"
    cpu = lambda r: "–" if r is None else f"{r['epochs'][1]['cpu_per_1000']:.2f}"  # noqa: E731
    return (
        f"| {where} | {mode} | {cell(o, 0)} | {cell(i, 0)} | {cell(o, 1)} | {cell(i, 1)} | {ratio} "
        f"| {cpu(o)} | {cpu(i)} | {req(o)} | {req(i)} |"
    )


# -- c. fault properties -------------------------------------------------------------------------


def small_cubes(k: int) -> np.ndarray:
    """Incompressible int16 cubes: every scan's shard has the same length (swap test)."""
    return np.random.default_rng(k).integers(-32768, 32767, (4, 8, 16, 16), dtype=np.int16)


def _ours_store(path: Path) -> str:
    """Two commits: a checkpoint (scans 0, 1) and a delta (scan 2)."""
    uri = str(path)
    cfg = {"cube_zyx": [8, 16, 16]}
    es = [
        write_scan(uri, f"scan.{k}", small_cubes(k), np.zeros((4, 3), int) + k, {}).entry(
            f"scan.{k}", f"sha{k}", k
        )
        for k in range(3)
    ]
    commit_scans(uri, es[:2], cfg, "h1")
    commit_scans(uri, es[2:], cfg, "h1")
    return uri


def _ice_store(path: Path) -> tuple[ic.Repository, dict[str, str]]:
    """Two commits as well; returns the chunk object each scan's shard went to."""
    repo = ie.create(str(path))
    chunks: dict[str, str] = {}
    for group in ([0, 1], [2]):
        s = repo.writable_session("main")
        before = set(os.listdir(path / "chunks")) if (path / "chunks").exists() else set()
        es = []
        for k in group:
            es.append(
                ie.write_scan(
                    s, f"scan.{k}", small_cubes(k), np.zeros((4, 3), int) + k, {}, f"sha{k}", k
                )
            )
            now = set(os.listdir(path / "chunks"))
            (new,) = now - before
            chunks[f"scan.{k}"], before = new, now
        ie.commit_scans(s, es, {"cube_zyx": [8, 16, 16]}, "h1")
    return repo, chunks


def _state_ours(uri: str):
    mf._CACHE.clear()
    m = read_latest(uri)
    scans = {s: dataclasses.astuple(e) for s, e in sorted(m.scans.items())}
    store = CubeStore(uri, manifest=m)
    cubes = store.read_raw(range(len(store)))[0]
    return (m.config_hash, json.dumps(m.config, sort_keys=True), scans), cubes


def _state_ice(path: str):
    repo = ie.open_repo(path)
    tip = next(iter(repo.ancestry(branch="main")))
    r = ie.IcechunkCubeReader(repo, name=path)
    scans = {
        s: (
            v["n_cubes"],
            v["checksum"],
            v["subset"],
            v["source_sha256"],
            json.dumps(v["attrs"], sort_keys=True),
        )
        for s, v in r.scans.items()
    }
    cubes = r.read_raw(range(len(r)))[0]
    return (json.dumps(tip.metadata, sort_keys=True), scans), cubes


def _classify(state_fn, where: str, names: list[str], reference) -> str:
    try:
        meta, cubes = state_fn(where)
    except Exception as e:  # noqa: BLE001 - what matters is whether it names the record
        msg = f"{type(e).__name__}: {e}"
        return "named" if any(n in msg for n in names) else "unnamed:" + " ".join(msg.split())[:400]
    same = (
        meta == reference[0] and cubes.shape == reference[1].shape and (cubes == reference[1]).all()
    )
    return "same" if same else "SILENT"


def flip_trials(
    state_fn, base: Path, rel: str, names: list[str], positions: int, tmp: Path
) -> dict:
    """Flip one byte (XOR 0x01: stays ASCII in JSON) at evenly spread positions of ``rel``."""
    reference = state_fn(str(base))
    size = (base / rel).stat().st_size
    spots = sorted(set(np.linspace(0, size - 1, min(positions, size)).astype(int).tolist()))
    counts: dict[str, int] = {}
    example = {}
    for pos in spots:
        trial = tmp / "trial"
        shutil.rmtree(trial, ignore_errors=True)
        shutil.copytree(base, trial)
        data = bytearray((trial / rel).read_bytes())
        data[pos] ^= 0x01
        (trial / rel).write_bytes(bytes(data))
        out = _classify(state_fn, str(trial), names, reference)
        kind = out.split(":", 1)[0]
        counts[kind] = counts.get(kind, 0) + 1
        example.setdefault(kind, (pos, out))
    shutil.rmtree(tmp / "trial", ignore_errors=True)
    return {"size": size, "tried": len(spots), "counts": counts, "example": example}


def prop_flips(tmp: Path, positions: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"ours": [], "icechunk": []}
    ours = Path(_ours_store(tmp / "f_ours"))
    for label, rel in (
        ("checkpoint manifests/000001.json", "manifests/000001.json"),
        ("delta manifests/000002.json", "manifests/000002.json"),
        ("pointer manifests/latest.json", "manifests/latest.json"),
    ):
        r = flip_trials(_state_ours, ours, rel, [Path(rel).name], positions, tmp)
        out["ours"].append(_flip_line(label, r))
    ice = tmp / "f_ice"
    repo, _ = _ice_store(ice)
    tip = next(iter(repo.ancestry(branch="main"))).id
    manifests = sorted((ice / "manifests").iterdir(), key=lambda p: p.stat().st_mtime)
    for label, rel, names in (
        (f"snapshot snapshots/{tip}", f"snapshots/{tip}", [tip]),
        (
            f"manifest manifests/{manifests[-1].name}",
            f"manifests/{manifests[-1].name}",
            [manifests[-1].name],
        ),
        (
            "branch ref refs/branch.main/ref.json",
            "refs/branch.main/ref.json",
            ["ref.json", "branch.main", 'name="main"'],
        ),
    ):
        r = flip_trials(_state_ice, ice, rel, names, positions, tmp)
        out["icechunk"].append(_flip_line(label, r))
    return out


def _flip_line(label: str, r: dict) -> str:
    c = r["counts"]
    held = c.get("SILENT", 0) == 0 and c.get("unnamed", 0) == 0
    ex = "; ".join(
        f"{k} e.g. byte {p}: {m[:400]}" for k, (p, m) in r["example"].items() if k != "same"
    )
    return (
        f"{'held' if held else 'NOT held'}: {label} ({r['size']} B, {r['tried']} positions): "
        f"named error {c.get('named', 0)}, unnamed error {c.get('unnamed', 0)}, "
        f"silently different {c.get('SILENT', 0)}, unchanged {c.get('same', 0)}. {ex}"
    )


def _append_worker(args) -> list:
    engine, where, ks = args
    got = []
    if engine == "ours":
        for k in ks:
            uri = Location(where[0], where[1]) if isinstance(where, list) else where
            e = write_scan(uri, f"scan.{k}", small_cubes(k), np.zeros((4, 3), int), {}).entry(
                f"scan.{k}", f"sha{k}", k
            )
            got.append(commit_scans(uri, [e], {"cube_zyx": [8, 16, 16]}, "h1").version)
    else:
        repo = ie.open_repo(*where) if isinstance(where, list) else ie.open_repo(where)
        for k in ks:
            s = repo.writable_session("main")
            e = ie.write_scan(
                s, f"scan.{k}", small_cubes(k), np.zeros((4, 3), int), {}, f"sha{k}", k
            )
            got.append(ie.commit_scans(s, [e], {"cube_zyx": [8, 16, 16]}, "h1", rebase=True))
    return got


def concurrent_appends(engine: str, where, count) -> str:
    """Two processes append 8 scans each, one commit per scan, at the same time."""
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(engine, where, list(range(10, 18))), (engine, where, list(range(20, 28)))]
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        res = list(ex.map(_append_worker, jobs))
    n = count()
    want = 3 + 16
    return f"{n} of {want} scans committed after 2×8 concurrent appends ({sum(map(len, res))} commits reported)"


def prop_conflict(tmp: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"ours": [], "icechunk": []}
    # ours: a writer whose base is stale (another commit landed since it read)
    uri = _ours_store(tmp / "c_ours")
    stale = read_latest(uri)
    e_win = write_scan(uri, "scan.win", small_cubes(7), np.zeros((4, 3), int), {}).entry(
        "scan.win", "w"
    )
    commit_scans(uri, [e_win], {"cube_zyx": [8, 16, 16]}, "h1")
    e_lose = write_scan(uri, "scan.lose", small_cubes(8), np.zeros((4, 3), int), {}).entry(
        "scan.lose", "l"
    )
    real = mf.read_latest
    try:
        mf.read_latest = lambda *a, **k: stale  # the loser keeps its stale base
        try:
            commit_scans(uri, [e_lose], {"cube_zyx": [8, 16, 16]}, "h1", replace=True)
            lost = "committed over the winner"
        except mf.StoreConflict as e:
            lost = f"refused: {type(e).__name__}: {str(e)[:120]}"
    finally:
        mf.read_latest = real
    mf._CACHE.clear()
    m = read_latest(uri)
    ok = "scan.win" in m.scans and "scan.lose" not in m.scans
    out["ours"].append(
        f"{'held' if ok else 'NOT held'}: stale-base commit (replace) {lost}; "
        f"latest v{m.version} still has the winner's scan: {ok}"
    )
    res = concurrent_appends(
        "ours", uri, lambda: (mf._CACHE.clear(), len(read_latest(uri).scans))[1] - 1
    )
    out["ours"].append(
        ("held" if res.startswith("19 of 19") else "NOT held") + ": local disk: " + res
    )
    # icechunk: two sessions on the same tip, the first commits
    path = tmp / "c_ice"
    repo, _ = _ice_store(path)
    a, b = repo.writable_session("main"), repo.writable_session("main")
    ea = ie.write_scan(a, "scan.win", small_cubes(7), np.zeros((4, 3), int), {})
    eb = ie.write_scan(b, "scan.lose", small_cubes(8), np.zeros((4, 3), int), {})
    ie.commit_scans(a, [ea], {}, "h1", rebase=False)
    try:
        ie.commit_scans(b, [eb], {}, "h1", rebase=False)
        lost = "committed over the winner"
    except ic.ConflictError as e:
        lost = f"refused: ConflictError: {str(e)[:120]}"
    tipscans = list(ie.list_scans(repo.readonly_session(branch="main")))
    ok = "scan.win" in tipscans and "scan.lose" not in tipscans
    out["icechunk"].append(
        f"{'held' if ok else 'NOT held'}: stale-session commit {lost}; tip still has the winner's scan: {ok}"
    )
    res = concurrent_appends(
        "icechunk",
        str(path),
        lambda: len(ie.list_scans(ie.open_repo(str(path)).readonly_session(branch="main"))) - 1,
    )
    out["icechunk"].append(
        ("held" if res.startswith("19 of 19") else "NOT held")
        + ": local disk (Icechunk warns its LocalFileSystem storage is not safe for concurrent commits): "
        + res
    )
    # parallel writers in one commit: fork → worker processes → merge
    try:
        t0 = time.perf_counter()
        snap = ie.parallel_write(repo, [(f"par.{k}", k) for k in range(4)], 2)
        got = ie.list_scans(repo.readonly_session(snapshot_id=snap))
        okp = all(f"par.{k}" in got for k in range(4))
        out["icechunk"].append(
            f"info: fork()/merge() across 2 spawned processes, one commit: "
            f"{'works' if okp else 'scans missing'} ({time.perf_counter() - t0:.1f} s); "
            "a fork-started (not spawned) worker hangs"
        )
    except Exception as e:  # noqa: BLE001
        out["icechunk"].append(
            f"info: fork()/merge() across processes failed: {type(e).__name__}: {e}"
        )
    return out


def s3_concurrency(fs, endpoint: str, opts: dict) -> dict[str, list[str]]:
    """Concurrent appends on SeaweedFS (conditional writes), both engines."""
    out: dict[str, list[str]] = {"ours": [], "icechunk": []}
    fs.mkdir("conc")
    where = Location("s3://conc/ours", opts)
    try:
        cfg = {"cube_zyx": [8, 16, 16]}
        es = [
            write_scan(where, f"scan.{k}", small_cubes(k), np.zeros((4, 3), int), {}).entry(
                f"scan.{k}", "x"
            )
            for k in range(3)
        ]
        commit_scans(where, es, cfg, "h1")
        res = concurrent_appends(
            "ours", [where.uri, opts], lambda: (mf._CACHE.clear(), len(read_latest(where).scans))[1]
        )
        out["ours"].append(
            ("held" if res.startswith("19 of 19") else "NOT held") + ": SeaweedFS: " + res
        )
    except Exception as e:  # noqa: BLE001
        out["ours"].append(f"NOT measured on SeaweedFS: {type(e).__name__}: {str(e)[:200]}")
    try:
        repo = ie.create("s3://conc/ice", opts)
        s = repo.writable_session("main")
        es = [
            ie.write_scan(s, f"scan.{k}", small_cubes(k), np.zeros((4, 3), int), {})
            for k in range(3)
        ]
        ie.commit_scans(s, es, {}, "h1")
        res = concurrent_appends(
            "icechunk",
            ["s3://conc/ice", opts],
            lambda: len(
                ie.list_scans(ie.open_repo("s3://conc/ice", opts).readonly_session(branch="main"))
            ),
        )
        out["icechunk"].append(
            ("held" if res.startswith("19 of 19") else "NOT held") + ": SeaweedFS: " + res
        )
    except Exception as e:  # noqa: BLE001
        out["icechunk"].append(f"NOT measured on SeaweedFS: {type(e).__name__}: {str(e)[:300]}")
    return out


def _gc_ours(uri: str, retention_s: float):
    from genesis_core.store import gc as gcmod

    params = inspect.signature(gcmod.gc_store).parameters
    kw = {}
    for name in ("retention_s", "retention_seconds", "keep_seconds", "grace_seconds"):
        if name in params:
            kw[name] = retention_s
    return gcmod.gc_store(uri, **kw), kw


def prop_gc(tmp: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"ours": [], "icechunk": []}
    uri = _ours_store(tmp / "g_ours")
    m1 = read_latest(uri)
    pinned = CubeStore(uri, manifest=m1)
    ref = pinned.read_raw(range(len(pinned)))[0]
    pinned = CubeStore(uri, manifest=m1)  # fresh: nothing cached
    es = [
        write_scan(uri, f"scan.{k}", small_cubes(k + 50), np.zeros((4, 3), int), {}).entry(
            f"scan.{k}", "y"
        )
        for k in range(3)
    ]
    commit_scans(uri, es, {"cube_zyx": [8, 16, 16]}, "h1", replace=True)  # a rebuild
    report, kw = _gc_ours(uri, 3600.0)
    try:
        got = pinned.read_raw(range(len(pinned)))[0]
        res = "reads the same cubes" if (got == ref).all() else "SILENTLY reads other cubes"
    except Exception as e:  # noqa: BLE001
        res = f"fails: {type(e).__name__}: {str(e)[:140]}"
    held = res == "reads the same cubes"
    out["ours"].append(
        f"{'held' if held else 'NOT held'}: reader pinned to v{m1.version}, rebuild committed, "
        f"gc_store({', '.join(f'{k}={v:g}' for k, v in kw.items())}) removed "
        f"{len(report.get('superseded', []))} superseded generations; the pinned reader {res}"
    )
    path = tmp / "g_ice"
    repo, _ = _ice_store(path)
    s1 = repo.lookup_branch("main")
    pinned = ie.IcechunkCubeReader(repo, snapshot_id=s1)
    ref = pinned.read_raw(range(len(pinned)))[0]
    s = repo.writable_session("main")
    es = [
        ie.write_scan(s, f"scan.{k}", small_cubes(k + 50), np.zeros((4, 3), int), {})
        for k in range(3)
    ]
    ie.commit_scans(s, es, {}, "h1")
    for retention in (3600.0, 0.0):
        expired, summary = ie.gc(repo, retention)
        reader = (
            ie.IcechunkCubeReader(ie.open_repo(str(path)), snapshot_id=s1) if retention else pinned
        )
        try:
            got = reader.read_raw(range(len(reader)))[0]
            res = "reads the same cubes" if (got == ref).all() else "SILENTLY reads other cubes"
        except Exception as e:  # noqa: BLE001
            res = f"fails: {type(e).__name__}: {str(e)[:160]}"
        label = ("held" if res == "reads the same cubes" else "NOT held") if retention else "info"
        out["icechunk"].append(
            f"{label}: reader pinned to {s1}, rebuild committed, expire+gc with retention "
            f"{retention:g} s expired {len(expired)} snapshots, deleted {summary.chunks_deleted} chunks, "
            f"{summary.snapshots_deleted} snapshots; the pinned reader {res}"
        )
    return out


def prop_crc(tmp: Path) -> dict[str, list[str]]:
    """Swap two scans' shards (equal length, each valid): only a per-cube checksum can tell."""
    out: dict[str, list[str]] = {"ours": [], "icechunk": []}
    uri = _ours_store(tmp / "x_ours")
    m = read_latest(uri)

    def shard(sid):
        (p,) = [
            p for p in (Path(uri) / m.scans[sid].group / "cubes" / "c").rglob("*") if p.is_file()
        ]
        return p

    a, b = shard("scan.0"), shard("scan.1")
    same_len = a.stat().st_size == b.stat().st_size
    b.write_bytes(a.read_bytes())
    try:
        CubeStore(uri, whole_scans=False).read_raw([4])
        res = "read silently"
    except Exception as e:  # noqa: BLE001
        res = f"error: {type(e).__name__}: {str(e)[:150]}"
    unverified = CubeStore(uri, verify=False, whole_scans=False).read_raw([4])[0][0]
    out["ours"].append(
        f"{'held' if res.startswith('error') and 'CRC32C' in res else 'NOT held'}: scan.1's shard "
        f"replaced by scan.0's (same length: {same_len}); single-cube read → {res}; unverified "
        f"read returns scan.0's cube: {(unverified == small_cubes(0)[0]).all()}"
    )
    path = tmp / "x_ice"
    repo, chunks = _ice_store(path)
    a, b = path / "chunks" / chunks["scan.0"], path / "chunks" / chunks["scan.1"]
    same_len = a.stat().st_size == b.stat().st_size
    b.write_bytes(a.read_bytes())
    try:
        ie.IcechunkCubeReader(ie.open_repo(str(path))).read_raw([4])
        res = "read silently"
    except Exception as e:  # noqa: BLE001
        res = f"error: {type(e).__name__}: {str(e)[:150]}"
    unverified = ie.IcechunkCubeReader(ie.open_repo(str(path)), verify=False).read_raw([4])[0][0]
    out["icechunk"].append(
        f"{'held' if res.startswith('error') and 'CRC32C' in res else 'NOT held'}: scan.1's chunk object "
        f"replaced by scan.0's (same length: {same_len}); single-cube read → {res}; without the "
        f"stored CRCs (zarr + Icechunk alone) it returns scan.0's cube: {(unverified == small_cubes(0)[0]).all()}"
    )
    return out


def fault_section(tmp: Path, positions: int) -> dict[str, dict[str, list[str]]]:
    props = {}
    for name, fn in (
        ("(1) flipped byte in a commit record", lambda: prop_flips(tmp, positions)),
        ("(2) a writer that lost cannot commit over the winner", lambda: prop_conflict(tmp)),
        ("(3) pinned reader survives gc with a retention window", lambda: prop_gc(tmp)),
        ("(4) per-cube checksum mismatch detected on read", lambda: prop_crc(tmp)),
    ):
        t0 = time.perf_counter()
        try:
            props[name] = fn()
        except Exception:  # noqa: BLE001 - a broken check is reported, never hidden
            props[name] = {"ours": ["ERROR " + traceback.format_exc()[-800:]], "icechunk": []}
        say(f"  {name}: {time.perf_counter() - t0:.1f} s")
    return props


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--read-scans", type=int, default=60)
    ap.add_argument("--latencies", default="0,20", help="ms added per request ('' = no S3)")
    ap.add_argument("--flip-positions", type=int, default=48)
    ap.add_argument("--max-build-s", type=float, default=600.0)
    ap.add_argument("--skip", default="", help="comma list of sections to skip: commit,read,faults")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke check (< ~2 min)")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.read_scans, args.latencies, args.flip_positions = "300,1000", 6, "0", 12
    skip = set(filter(None, args.skip.split(",")))
    sizes = [int(x) for x in args.sizes.split(",")]
    lats = [float(x) for x in args.latencies.split(",") if x.strip()]
    import zarr

    say(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; python "
        f"{sys.version.split()[0]}, zarr {zarr.__version__}, icechunk {ic.__version__}; "
        f"ours = genesis_core.store in {ROOT} ({_git_rev()})"
    )
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="engines-") as tmp:
        tmp = Path(tmp)
        commit_rows, read_rows, props, s3props = [], [], {}, {}
        if "commit" not in skip:
            say("\n# a. commit cost")
            commit_rows = commit_section(tmp, sizes, args.max_build_s)
        if "read" not in skip:
            say("\n# b. read path")
            read_rows, res = read_section(tmp, args.read_scans, lats)
            s3props = res.get("s3_faults", {})
        if "faults" not in skip:
            say("\n# c. fault properties")
            props = fault_section(tmp, args.flip_positions)
        if s3props:
            key = "(2) a writer that lost cannot commit over the winner"
            for eng in ("ours", "icechunk"):
                props.setdefault(key, {"ours": [], "icechunk": []})[eng].extend(s3props[eng])
    say(
        f"\nmachine at the end: load average {os.getloadavg()[0]:.2f}; total {time.perf_counter() - t_all:.0f} s"
    )
    if commit_rows:
        say(
            "\n## Commit of 16 scans into a store of N scans (ms; median of 5 warm, 1 cold)\n"
            "\n| N | ours warm | icechunk warm | ice/ours | ours cold | icechunk cold | ice/ours "
            "| open+list, ours ms | open+list, icechunk ms | build N, ours s | build N, icechunk s "
            "| commit record B, ours (delta) | icechunk (snapshot) |"
        )
        say("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        say("\n".join(commit_rows))
    if read_rows:
        say(
            f"\n## Read path: {args.read_scans} scans × 32 cubes of 64×64×32, random batches of 64, cubes/s\n"
            "\n| store | mode | ours ep 1 | icechunk ep 1 | ours ep 2 | icechunk ep 2 | ice/ours ep 2 "
            "| CPU s/1000, ours | icechunk | requests/batch, ours | icechunk |"
        )
        say("|---|---|---|---|---|---|---|---|---|---|---|")
        say("\n".join(read_rows))
    if props:
        say("\n## Fault properties\n")
        for name, by in props.items():
            say(f"### {name}")
            for eng in ("ours", "icechunk"):
                for line in by.get(eng, []):
                    say(f"- {eng}: {line}")


def _git_rev() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
