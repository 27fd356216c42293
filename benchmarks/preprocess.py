"""Preprocessing benchmarks: per-scan speed and memory, Dask scaling, worker memory, store size.

    python benchmarks/preprocess.py            # full sizes, 5-8 min on 2 cores
    python benchmarks/preprocess.py --quick    # smoke run, small sizes, 1-3 min

Sections (one table, each row: measurement | baseline | genesis | ratio | target | met):

1. cube picking: ``benchmarks/cube_picking.py``'s functions (vectorised acceptance vs a port of
   the reference's 4-deep loop on the same windows; whole sampling of one scan).
2. one scan end to end on one core: ``preprocess_scan`` (read → resample → window → cubes →
   write) of a 512×512×300 int16 scan at 0.7×0.7×2.5 mm → 1 mm, vs SimpleITK's bare read +
   linear resample of the same file.  Every measurement is its own subprocess, single-threaded
   (ITK, OpenMP/BLAS, Blosc, torch); peak memory is the child's VmHWM (see :func:`hwm_mb`:
   its ``ru_maxrss`` would include the parent's RSS); a stage breakdown follows.  Peers
   (nnU-Net, MONAI, TorchIO) are measured only where installed; otherwise their quoted
   figures are printed, labelled as quoted.
3. the same per-scan function on a 2-worker Dask LocalCluster vs a plain loop in one process,
   and vs two plain-loop processes side by side (what the machine gives two processes without
   Dask: isolates orchestration overhead from load and memory-bandwidth limits).  Cluster
   start-up (with worker imports) and close are timed apart.  CPU time is reported too.
4. peak worker memory (VmHWM, sampled RSS, the task's ``peak_rss_mb``) for 20 vs 100 small scans.
5. store bytes per cube vs raw float32 / float64 cubes (the reference saves float64 .npy).
6. the Prefect flow vs direct Dask (skipped with ``--no-flow``).

Output: the table on stdout and JSON in ``benchmarks/out/preprocess.json``.
Times are medians over repeats; the load average is recorded per section because
the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _p in (str(ROOT), str(ROOT / "benchmarks")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

OUT_JSON = ROOT / "benchmarks" / "out" / "preprocess.json"
MARK = "BENCH-RESULT "
SPACING_XYZ = (0.7, 0.7, 2.5)
MB_LIMIT = 1536.0
ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1",
    "BLOSC_NTHREADS": "1",
}
# (label, module, child mode, quoted seconds, quoted peak MB): figures from the issue, not measured.
PEERS = [
    ("nnU-Net v2 default resampling", "nnunetv2", "nnunet", "18.6", 7.2 * 1024),
    ("MONAI Spacing", "monai", "monai", "12.8", 7.0 * 1024),
    ("TorchIO Resample", "torchio", "torchio", "4.1", 1.3 * 1024),
    ("nnU-Net v2 torch resampling", "nnunetv2", "nnunet_torch", "1.6-2.1", 1.4 * 1024),
]


@dataclass(frozen=True)
class Sizes:
    pick_zyx: tuple[int, int, int]
    ref_windows: int
    scan_xyz: tuple[int, int, int]
    repeats: int
    par_scans: int
    par_xyz: tuple[int, int, int]
    mem_counts: tuple[int, int]
    mem_xyz: tuple[int, int, int]


FULL = Sizes((300, 512, 512), 6, (512, 512, 300), 3, 20, (256, 256, 160), (20, 100), (192, 192, 96))
QUICK = Sizes((200, 512, 512), 2, (384, 384, 160), 1, 6, (192, 192, 128), (6, 18), (128, 128, 64))


@dataclass
class Row:
    """One table line; ``ratio`` = baseline / genesis (× faster, × smaller)."""

    section: str
    name: str
    baseline: float | None
    ours: float | None
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.ours:
            return None
        return self.baseline / self.ours


# ----------------------------------------------------------------------------- helpers


def hwm_mb() -> float:
    """Peak RSS of this process image (VmHWM).

    Not ``ru_maxrss``: Linux carries the parent's RSS into a child's ``ru_maxrss``
    across fork/vfork + exec, so a child of a 400 MB parent reports ≥ 400 MB.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def med(values: list[float]) -> float:
    return float(statistics.median(values))


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    cpu = platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    kb = next(int(ln.split()[1]) for ln in open("/proc/meminfo") if ln.startswith("MemTotal"))
    pkgs = ("numpy", "SimpleITK", "zarr", "numcodecs", "dask", "distributed", "prefect")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(kb / 2**20, 1),
        "python": platform.python_version(),
        **{p: version(p) for p in pkgs},
    }


def spawn_child(
    mode: str, spec: dict, tmp: Path, one_thread: bool = True, env: dict | None = None
) -> subprocess.Popen:
    """Start ``--child mode`` in a fresh interpreter (see :func:`child_main`)."""
    spec_path = tmp / f"spec-{mode}-{time.monotonic_ns()}.json"
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, **(ONE_THREAD_ENV if one_thread else {}), **(env or {})}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", mode, str(spec_path)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def collect_child(proc: subprocess.Popen, timeout: int = 600) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    for line in reversed(out.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK) :])
    raise RuntimeError(f"child {proc.args[3]} failed (rc {proc.returncode}): {err[-1500:]}")


def run_child(
    mode: str, spec: dict, tmp: Path, one_thread: bool = True, env: dict | None = None
) -> dict[str, Any]:
    return collect_child(spawn_child(mode, spec, tmp, one_thread, env))


def run_pair(spec: dict, tmp: Path) -> dict[str, Any]:
    """Two plain-loop processes side by side, each on every other scan: parallel without Dask."""
    halves = [spec["rows"][0::2], spec["rows"][1::2]]
    procs = [
        spawn_child("loop", {**spec, "rows": h, "store": spec["store"] + f"-{i}"}, tmp)
        for i, h in enumerate(halves)
    ]
    runs = [collect_child(p) for p in procs]
    keys = ("wall_s", "cpu_s", "task_s")
    return {"wall_s": max(r["wall_s"] for r in runs)} | {
        k: sum(r[k] for r in runs) for k in keys[1:]
    }


def repeat_child(mode: str, spec: dict, tmp: Path, n: int) -> dict[str, Any]:
    """Median wall/CPU/peak of ``n`` runs of a child, plus the runs themselves."""
    runs = [run_child(mode, spec, tmp) for _ in range(n)]
    return {
        "wall_s": med([r["wall_s"] for r in runs]),
        "wall_min_s": min(r["wall_s"] for r in runs),
        "cpu_s": med([r["cpu_s"] for r in runs]),
        "peak_mb": med([r["peak_mb"] for r in runs]),
        "runs": runs,
    }


def catalog_rows(df) -> list[dict[str, Any]]:
    """Catalog rows as ``preprocess_scan`` takes them (ok scans only)."""
    rows = []
    for r in df[df["status"] == "ok"].to_dict("records"):
        sub = r.get("subset")
        subset = None if sub is None or sub != sub else int(sub)
        rows.append({k: r[k] for k in ("scan_id", "source_uri", "format", "sha256")})
        rows[-1]["subset"] = subset
    return rows


def ingest(source: Path | str, root: Path, name: str) -> list[dict[str, Any]]:
    from genesis_core import catalog
    from genesis_core.ingest import ingest_sequential

    df = ingest_sequential(str(source), catalog.catalog_uri(str(root), name), root / "cache")
    return catalog_rows(df)


def store_stats(store: str) -> dict[str, Any]:
    """Bytes under ``scans/`` (shards + metadata incl. provenance), cube count, cube shape."""
    import zarr

    scans = zarr.open_group(store, mode="r")["scans"]
    arrays = [scans[f"{k}/cubes"] for k in scans.group_keys()]  # type: ignore[index]
    files = [p for p in Path(store, "scans").rglob("*") if p.is_file()]
    return {
        "bytes": sum(p.stat().st_size for p in files),
        "n_cubes": sum(a.shape[0] for a in arrays),
        "cube_zyx": list(arrays[0].shape[1:]) if arrays else [],
    }


# ----------------------------------------------------------------------------- children


def _child_sitk(spec: dict) -> Callable[[], dict]:
    import SimpleITK as sitk

    def run() -> dict:
        t0 = time.perf_counter()
        img = sitk.ReadImage(spec["path"])
        t1 = time.perf_counter()
        f = sitk.ResampleImageFilter()
        f.SetOutputSpacing((1.0, 1.0, 1.0))
        f.SetSize([int(n * s + 0.5) for n, s in zip(img.GetSize(), img.GetSpacing(), strict=True)])
        f.SetOutputOrigin(img.GetOrigin())
        f.SetOutputDirection(img.GetDirection())
        f.SetInterpolator(sitk.sitkLinear)
        f.SetDefaultPixelValue(-1000)
        f.SetNumberOfThreads(1)
        arr = sitk.GetArrayFromImage(f.Execute(img))
        t2 = time.perf_counter()
        return {"shape_zyx": list(arr.shape), "read_s": t1 - t0, "resample_s": t2 - t1}

    return run


def _genesis_imports():
    from numcodecs import blosc

    blosc.set_nthreads(1)
    from genesis_core.preprocess import PreprocessConfig, preprocess_scan

    return PreprocessConfig, preprocess_scan


def _child_genesis(spec: dict) -> Callable[[], dict]:
    config_cls, preprocess_scan = _genesis_imports()
    cfg = config_cls.from_dict(spec["config"])
    return lambda: preprocess_scan(spec["row"], cfg, spec["store"], spec["cache"])


def _child_stages(spec: dict) -> Callable[[], dict]:
    """Stage-by-stage timing of what ``preprocess_scan`` does (one scan)."""
    config_cls, _ = _genesis_imports()
    from genesis_core.cubes.extract import extract
    from genesis_core.cubes.rng import rng_for
    from genesis_core.cubes.sampling import sample_cubes
    from genesis_core.io.readers import read_catalogued
    from genesis_core.preprocess import unit_range
    from genesis_core.resample import resample
    from genesis_core.store import write_scan

    cfg, row = config_cls.from_dict(spec["config"]), spec["row"]

    def run() -> dict:
        t = [time.perf_counter()]
        vol = read_catalogued(row["source_uri"], row["format"], Path(spec["cache"]))
        t.append(time.perf_counter())
        res = resample(vol, cfg.spacing_xyz, cfg.interpolation)  # type: ignore[arg-type]
        t.append(time.perf_counter())
        lohi = unit_range(res, cfg.intensity)
        s = sample_cubes(res.array, rng_for(cfg.seed, row["scan_id"]), cfg.sampling, lohi)
        t.append(time.perf_counter())
        cubes = extract(res.array, s.origins_zyx, cfg.sampling.cube_zyx)
        t.append(time.perf_counter())
        write_scan(spec["store"], row["scan_id"], cubes, s.origins_zyx, {"bench": True})
        t.append(time.perf_counter())
        names = ("read", "resample", "sample", "extract", "write")
        return {f"{k}_s": round(b - a, 4) for k, a, b in zip(names, t, t[1:], strict=False)}

    return run


def _child_loop(spec: dict) -> Callable[[], dict]:
    """The per-scan function over all rows in one process, then the manifest commit."""
    config_cls, preprocess_scan = _genesis_imports()
    from genesis_core.store import ScanEntry, commit_scans

    cfg = config_cls.from_dict(spec["config"])

    def run() -> dict:
        out = [preprocess_scan(r, cfg, spec["store"], spec["cache"]) for r in spec["rows"]]
        entries = [ScanEntry.from_result(r) for r in out]
        commit_scans(spec["store"], entries, cfg.to_dict(), cfg.hash())
        return {"task_s": sum(r["seconds"] for r in out), "statuses": _statuses(out)}

    return run


def _child_flow(spec: dict) -> Callable[[], dict]:
    from flows.preprocess import preprocess_flow

    def run() -> dict:
        r = preprocess_flow(spec["dataset"], spec["root"], spec["store"], cube=spec["cube"])
        return {k: getattr(r, k) for k in ("done", "failed", "wall_seconds", "cubes_written")}

    return run


def _read_array(path: str) -> tuple[np.ndarray, tuple[float, ...]]:
    import SimpleITK as sitk

    img = sitk.ReadImage(path)
    return sitk.GetArrayFromImage(img), tuple(img.GetSpacing())


def _child_peer(mode: str, spec: dict) -> Callable[[], dict]:
    """Peers' own read + resample to 1 mm (only run when the package is installed)."""
    import torch

    torch.set_num_threads(1)
    if mode == "torchio":
        import torchio as tio

        return lambda: {"shape": list(tio.Resample(1.0)(tio.ScalarImage(spec["path"])).shape)}
    if mode == "monai":
        from monai.transforms import LoadImage, Spacing

        def monai_run() -> dict:
            img = LoadImage(image_only=True, ensure_channel_first=True)(spec["path"])
            return {"shape": list(Spacing(pixdim=(1.0, 1.0, 1.0), mode="bilinear")(img).shape)}

        return monai_run
    if mode == "nnunet":
        from nnunetv2.preprocessing.resampling.default_resampling import (
            resample_data_or_seg_to_spacing,
        )

        def nnunet_run() -> dict:
            arr, sp = _read_array(spec["path"])
            data = arr[None].astype(np.float32)
            out = resample_data_or_seg_to_spacing(data, sp[::-1], (1.0, 1.0, 1.0), is_seg=False)
            return {"shape": list(out.shape)}

        return nnunet_run
    from nnunetv2.preprocessing.resampling.resample_torch import resample_torch_fornnunet

    def nnunet_torch_run() -> dict:
        arr, sp = _read_array(spec["path"])
        data = torch.from_numpy(arr[None].astype(np.float32))
        shape = [round(n * s) for n, s in zip(arr.shape, sp[::-1], strict=True)]
        out = resample_torch_fornnunet(data, shape, sp[::-1], (1.0, 1.0, 1.0), num_threads=1)
        return {"shape": list(out.shape)}

    return nnunet_torch_run


CHILDREN: dict[str, Callable[[dict], Callable[[], dict]]] = {
    "sitk": _child_sitk,
    "genesis": _child_genesis,
    "stages": _child_stages,
    "loop": _child_loop,
    "flow": _child_flow,
}


def child_main(mode: str, spec_path: str) -> None:
    """Imports and set-up, then time only the work; print one result line."""
    import SimpleITK as sitk

    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)
    spec = json.loads(Path(spec_path).read_text())
    work = CHILDREN[mode](spec) if mode in CHILDREN else _child_peer(mode, spec)
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    extra = work()
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    mem = {"peak_mb": hwm_mb(), "ru_maxrss_mb": r1.ru_maxrss / 1024}
    print(MARK + json.dumps({"wall_s": wall, "cpu_s": cpu, **mem, **extra}))


def _statuses(results: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


# ----------------------------------------------------------------------------- 1. picking


def bench_picking(sizes: Sizes) -> tuple[list[Row], dict]:
    import cube_picking as cp

    hu = cp.chest_hu(sizes.pick_zyx)
    raw: list = []
    per_ref = cp.bench_acceptance(hu, sizes.ref_windows, raw)
    cp.bench_sampling(hu, per_ref, raw)
    rows = []
    for name, ref, ours in raw:
        row = Row("picking", name, ref, ours)
        if name.startswith("acceptance"):
            row.target, row.met = "≥ 100× faster", ref / ours >= 100
        elif name.startswith("sample 32 cubes, int16"):
            row.target, row.met = "< 0.5 s (ref ≈ 20 s)", ours < 0.5
        rows.append(row)
    return rows, {"shape_zyx": sizes.pick_zyx, "rows": [list(r) for r in raw]}


# ----------------------------------------------------------------------------- 2. one scan


def write_scan_file(folder: Path, size_xyz: tuple[int, int, int]) -> Path:
    """A chest phantom written as LUNA16-style .mhd at exactly 0.7×0.7×2.5 mm."""
    import SimpleITK as sitk

    from genesis_core.synth import chest_phantom
    from genesis_core.volume import Volume

    hu, _ = chest_phantom(size_xyz, SPACING_XYZ, np.random.default_rng(0))
    folder.mkdir(parents=True)
    path = folder / "scan512.mhd"
    sitk.WriteImage(Volume(hu, SPACING_XYZ, origin=(-179.0, -179.0, -380.0)).to_sitk(), str(path))
    return path


def bench_one_scan(sizes: Sizes, tmp: Path) -> tuple[list[Row], dict]:
    from genesis_core.preprocess import PreprocessConfig

    path = write_scan_file(tmp / "one", sizes.scan_xyz)
    (row,) = ingest(path.parent, tmp / "root-one", "one")
    spec = {"path": str(path), "row": row, "config": PreprocessConfig().to_dict()}
    spec |= {"store": str(tmp / "one.zarr"), "cache": str(tmp / "cache")}
    bare = repeat_child("sitk", spec, tmp, sizes.repeats)
    ours = repeat_child("genesis", spec, tmp, sizes.repeats)
    stages = run_child("stages", {**spec, "store": str(tmp / "stages.zarr")}, tmp)
    s = "one scan"
    rows = [
        Row(s, "end to end vs bare SimpleITK read+resample [s]", bare["wall_s"], ours["wall_s"]),
        Row(s, "  CPU time (user+sys) [s]", bare["cpu_s"], ours["cpu_s"]),
        Row(s, "  peak RSS of the child [MB]", bare["peak_mb"], ours["peak_mb"]),
    ]
    rows[0].target, rows[0].met = "no slower (ratio ≥ 1)", ours["wall_s"] <= bare["wall_s"]
    rows[2].target, rows[2].met = "≤ 1.5 GB", ours["peak_mb"] <= MB_LIMIT
    for k in ("read", "resample", "sample", "extract", "write"):
        ref = med([r[f"{k}_s"] for r in bare["runs"]]) if k in ("read", "resample") else None
        rows.append(Row(s, f"  stage: {k} (one run) [s]", ref, stages[f"{k}_s"]))
    peers = bench_peers(spec, tmp, sizes.repeats, rows, ours)
    info = {"bare_sitk": bare, "genesis": ours, "stages": stages, "peers": peers}
    info["n_cubes"] = ours["runs"][-1].get("n_cubes")
    info["store"] = store_stats(spec["store"])
    return rows, info


def bench_peers(spec: dict, tmp: Path, n: int, rows: list[Row], ours: dict) -> dict:
    from importlib.util import find_spec

    out = {}
    for label, module, mode, q_s, q_mb in PEERS:
        if find_spec(module) is None:
            out[label] = {"installed": False, "quoted_s": q_s, "quoted_peak_mb": q_mb}
            rows.append(Row("peers", f"{label}: not installed; QUOTED {q_s} s", None, None))
            continue
        try:
            r = repeat_child(mode, spec, tmp, n)
        except Exception as e:  # noqa: BLE001 - a broken peer install is reported, not fatal
            out[label] = {"installed": True, "error": str(e)[-500:]}
            rows.append(Row("peers", f"{label}: failed to run", None, None))
            continue
        out[label] = {"installed": True, **r}
        rows.append(Row("peers", f"{label} (measured) [s]", r["wall_s"], ours["wall_s"]))
        rows.append(Row("peers", "  peak RSS [MB]", r["peak_mb"], ours["peak_mb"]))
    return out


# ----------------------------------------------------------------------------- 3/4. Dask


def _worker_mem() -> tuple[float, float]:
    """(current RSS, VmHWM peak) of a worker process, MB."""
    import psutil

    return psutil.Process().memory_info().rss / 2**20, hwm_mb()


def _warm_worker() -> int:
    """Import what ``preprocess_scan`` needs (the loop child also imports before timing)."""
    import SimpleITK as sitk

    import genesis_core.preprocess  # noqa: F401

    return sitk.ProcessObject_GetGlobalDefaultNumberOfThreads()


def _cpu_s() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


@contextmanager
def _itk_env(threads: str | None) -> Iterator[None]:
    """Workers inherit the environment at spawn; ``None`` leaves ITK's default."""
    old = os.environ.get("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")
    if threads:
        os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = threads
    try:
        yield
    finally:
        os.environ.pop("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", None)
        if old is not None:
            os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = old


def _map_all(client, rows: list[dict], cfg, store: str, cache: str, sample: bool):
    """``preprocess_scan`` over ``rows`` as in tasks/preprocess.py, then commit.

    With ``sample``, every worker's RSS is read after each result (costs a round trip).
    """
    from distributed import as_completed

    from genesis_core.preprocess import preprocess_scan
    from genesis_core.store import ScanEntry, commit_scans

    keys = [f"bench-{r['scan_id']}" for r in rows]
    futs = client.map(
        preprocess_scan, rows, config=cfg, store_uri=store, cache_dir=cache, pure=False, key=keys
    )
    results, rss = [], []
    for fut in as_completed(futs):
        results.append(fut.result())
        if sample:
            rss.append(max(m[0] for m in client.run(_worker_mem).values()))
    entries = [ScanEntry.from_result(r) for r in results]
    commit_scans(store, entries, cfg.to_dict(), cfg.hash())
    return results, rss


def dask_run(
    rows: list[dict], cfg, store: str, cache: str, itk: str | None = None, sample: bool = False
) -> dict:
    """One 2-worker LocalCluster: start (+ worker imports), map, commit, close; timed apart.

    CPU: worker processes (psutil) plus this process (client and scheduler threads).
    """
    from tasks.dask_cluster import dask_client

    t0 = time.perf_counter()
    with _itk_env(itk), dask_client(workers=2) as client:
        threads = sorted(client.run(_warm_worker).values())
        cpu0, main0 = sum(client.run(_cpu_s).values()), _self_cpu()
        t1 = time.perf_counter()
        results, rss = _map_all(client, rows, cfg, store, cache, sample)
        t2 = time.perf_counter()
        workers_cpu, main_cpu = sum(client.run(_cpu_s).values()) - cpu0, _self_cpu() - main0
        after = sorted(client.run(_worker_mem).values())
    t3 = time.perf_counter()
    return {
        "start_s": t1 - t0,
        "work_s": t2 - t1,
        "close_s": t3 - t2,
        "cpu_s": workers_cpu + main_cpu,
        "workers_cpu_s": workers_cpu,
        "main_cpu_s": main_cpu,
        "task_s": sum(r["seconds"] for r in results),
        "statuses": _statuses(results),
        "n_cubes": sum(r["n_cubes"] for r in results),
        "worker_itk_threads": threads,
        "task_peak_rss_mb": [r["peak_rss_mb"] for r in results],
        "worker_rss_during_max_mb": max(rss, default=None),
        "worker_rss_after_mb": [m[0] for m in after],
        "worker_hwm_mb": [m[1] for m in after],
    }


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def synth_rows(tmp: Path, name: str, n: int, size_xyz: tuple[int, int, int], seed: int):
    from genesis_core.synth import write_luna16

    write_luna16(tmp / "src" / name, scans=n, seed=seed, size_xyz=size_xyz)
    rows = ingest(tmp / "src" / name, tmp / "root", name)
    return rows, str(tmp / "root")


def bench_parallel(sizes: Sizes, tmp: Path, variants: bool) -> tuple[list[Row], dict]:
    from genesis_core.cubes.sampling import SamplingConfig
    from genesis_core.preprocess import PreprocessConfig

    # 64×64×32 mm cubes rarely fit the lungs of a 190-mm-wide phantom: half-size cubes.
    cfg = PreprocessConfig(sampling=SamplingConfig(cube_xyz=(32, 32, 16), border_xyz="auto"))
    rows, root = synth_rows(tmp, "par", sizes.par_scans, sizes.par_xyz, seed=7)
    base = {"rows": rows, "config": cfg.to_dict(), "cache": str(tmp / "cache")}
    info: dict[str, Any] = {"n_scans": len(rows), "size_xyz": sizes.par_xyz, "root": root}
    info |= {"rows": rows, "config": cfg.to_dict()}
    info |= {"cube_xyz": (32, 32, 16), "loop": [], "pair": [], "dask": [], "dask_itk1": []}
    for i in range(sizes.repeats):  # interleaved, so load drift hits both alike
        info["loop"].append(run_child("loop", {**base, "store": str(tmp / f"loop{i}.zarr")}, tmp))
        info["pair"].append(run_pair({**base, "store": str(tmp / f"pair{i}.zarr")}, tmp))
        info["dask"].append(dask_run(rows, cfg, str(tmp / f"dask{i}.zarr"), base["cache"]))
        if variants and i < 2:  # keeps the full run well inside 15 min on a loaded machine
            store = str(tmp / f"itk1-{i}.zarr")
            info["dask_itk1"].append(dask_run(rows, cfg, store, base["cache"], itk="1"))
    return parallel_rows(info), info


def parallel_rows(info: dict) -> list[Row]:
    """Speed-up and overheads (medians over repeats).

    overhead vs ideal = dask_work / (loop / 2) − 1: 0 is a perfect 2-way split of the loop.
    orchestration overhead = dask_work / pair − 1, where *pair* is two plain-loop processes
    side by side on half the scans each: what this machine gives two processes, without Dask.
    """

    def medians(runs: list[dict]) -> dict[str, float]:
        return {k: med([r[k] for r in runs]) for k in runs[0] if k.endswith("_s")}

    loop, pair, dk = medians(info["loop"]), medians(info["pair"]), medians(info["dask"])
    total = dk["work_s"] + dk["start_s"] + dk["close_s"]
    sm = info["summary"] = {"loop": loop, "pair": pair, "dask": dk}
    sm |= {
        "speedup_work": loop["wall_s"] / dk["work_s"],
        "speedup_with_cluster": loop["wall_s"] / total,
    }
    sm["overhead_vs_ideal"] = dk["work_s"] / (loop["wall_s"] / 2) - 1
    sm["orchestration_overhead"] = dk["work_s"] / pair["wall_s"] - 1
    sm["cpu_share_of_2_cores"] = dk["cpu_s"] / (2 * dk["work_s"])
    n, s = info["n_scans"], "dask"
    rows = [
        Row(s, f"{n} scans: plain loop vs 2 workers, work only [s]", loop["wall_s"], dk["work_s"]),
        Row(s, "  same, incl. cluster start-up and close [s]", loop["wall_s"], total),
        Row(s, "  LocalCluster start-up incl. worker imports [s]", None, dk["start_s"]),
        Row(s, "  LocalCluster close [s]", None, dk["close_s"]),
        Row(
            s,
            "  overhead vs ideal = work / (loop / 2) − 1 [%]",
            None,
            100 * sm["overhead_vs_ideal"],
        ),
        Row(s, "  plain loop vs 2 plain loops side by side [s]", loop["wall_s"], pair["wall_s"]),
        Row(s, "  2 plain loops side by side vs 2 workers [s]", pair["wall_s"], dk["work_s"]),
        Row(s, "  CPU s: loop vs workers + client/scheduler", loop["cpu_s"], dk["cpu_s"]),
        Row(s, "  CPU s: 2 plain loops vs workers + client/sch.", pair["cpu_s"], dk["cpu_s"]),
        Row(s, "    of which client + scheduler (this process)", None, dk["main_cpu_s"]),
        Row(
            s,
            "  CPU share of 2 cores, Dask work [%] (load)",
            None,
            100 * sm["cpu_share_of_2_cores"],
        ),
        Row(s, "  s inside preprocess_scan (sum): loop vs dask", loop["task_s"], dk["task_s"]),
    ]
    rows[0].target, rows[0].met = "≥ 1.7×", sm["speedup_work"] >= 1.7
    rows[4].target, rows[4].met = "≤ 15 %", sm["overhead_vs_ideal"] <= 0.15
    rows[6].target = "orchestration ≤ 15 %"
    rows[6].met = sm["orchestration_overhead"] <= 0.15
    if info["dask_itk1"]:
        v = sm["itk1"] = medians(info["dask_itk1"])
        v["speedup_work"] = loop["wall_s"] / v["work_s"]
        rows.append(
            Row(s, "  variant ITK threads = 1 in workers: work [s]", loop["wall_s"], v["work_s"])
        )
        rows.append(Row(s, "    vs 2 plain loops side by side [s]", pair["wall_s"], v["work_s"]))
        rows.append(
            Row(s, "    CPU s: 2 plain loops vs workers + client/sch.", pair["cpu_s"], v["cpu_s"])
        )
    return rows


def bench_memory(sizes: Sizes, tmp: Path) -> tuple[list[Row], dict]:
    from genesis_core.cubes.acceptance import ACCEPT_ALL
    from genesis_core.cubes.sampling import SamplingConfig
    from genesis_core.preprocess import PreprocessConfig

    sampling = SamplingConfig(cube_xyz=(32, 32, 16), border_xyz="auto", acceptance=ACCEPT_ALL)
    cfg = PreprocessConfig(sampling=sampling)
    rows, _ = synth_rows(tmp, "mem", max(sizes.mem_counts), sizes.mem_xyz, seed=9)
    runs = {
        n: dask_run(rows[:n], cfg, str(tmp / f"mem{n}.zarr"), str(tmp / "cache"), sample=True)
        for n in sizes.mem_counts
    }
    (na, a), (nb, b) = runs.items()
    k = min(10, nb // 2)
    s, vs = "memory", f"{na} vs {nb} scans"
    out = [
        Row(s, f"{label}, {vs} [MB]", agg(a[key]), agg(b[key]))
        for label, key, agg in (
            ("worker peak RSS (VmHWM, max of 2)", "worker_hwm_mb", max),
            ("  task peak_rss_mb (ru_maxrss), max", "task_peak_rss_mb", max),
            ("  worker RSS sampled during, max", "worker_rss_during_max_mb", float),
            ("  worker RSS after, max", "worker_rss_after_mb", max),
        )
    ]
    first, last = b["task_peak_rss_mb"][:k], b["task_peak_rss_mb"][-k:]
    out.append(
        Row(s, f"  {nb} scans: peak_rss_mb, first vs last {k} tasks [MB]", max(first), max(last))
    )
    out[0].target, out[0].met = "no growth (ratio ≥ 0.9)", (out[0].ratio or 0) >= 0.9
    info = {"size_xyz": sizes.mem_xyz, "cube_xyz": (32, 32, 16), "runs": runs}
    return out, info


# ----------------------------------------------------------------------------- 5. store size


REAL = ROOT.parent / "shared" / "data" / "real"


def bench_real_store(tmp: Path) -> dict[str, Any]:
    """Real CT compresses differently from phantoms: preprocess the real chest scans too."""
    from genesis_core.preprocess import PreprocessConfig, preprocess_scan

    out: dict[str, Any] = {}
    for name in ("luna16_style_chest_ct", "dicom_chest_ct"):
        if not (REAL / name).is_dir():
            continue
        store = str(tmp / f"real-{name}.zarr")
        for r in ingest(REAL / name, tmp / "root-real", name):
            preprocess_scan(r, PreprocessConfig(), store, str(tmp / "cache"))
        if Path(store, "scans").is_dir():
            out[name] = store_stats(store)
    return out


def store_rows(one: dict, par: dict, real: dict) -> tuple[list[Row], dict]:
    stores = {"synthetic one scan": one["store"]} if "store" in one else {}
    if "n_scans" in par:
        stores[f"synthetic {par['n_scans']} scans"] = store_stats(par["loop_store"])
    stores |= {f"real {k}": v for k, v in real.items()}
    rows, info = [], {"stores": stores}
    for label, st in stores.items():
        if not st["n_cubes"]:
            continue
        per, voxels = st["bytes"] / st["n_cubes"], int(np.prod(st["cube_zyx"]))
        st["bytes_per_cube"] = per
        name = f"{label} {'×'.join(map(str, st['cube_zyx']))}: float32 vs stored [B/cube]"
        rows.append(Row("store", name, voxels * 4, per))
        rows.append(Row("store", "  float64 (reference .npy) vs stored", voxels * 8, per))
    return rows, info


# ----------------------------------------------------------------------------- 6. flow


def bench_flow(tmp: Path, par: dict) -> tuple[list[Row], dict]:
    env = {
        "PREFECT_HOME": str(tmp / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
    from genesis_core.preprocess import PreprocessConfig

    cfg = PreprocessConfig.from_dict(par["config"])
    cube = list(cfg.sampling.cube_xyz)
    spec = {"dataset": "par", "root": par["root"], "store": str(tmp / "flow.zarr"), "cube": cube}
    d = dask_run(par["rows"], cfg, str(tmp / "direct.zarr"), str(tmp / "cache"))
    direct = d["start_s"] + d["work_s"] + d["close_s"]  # back to back with the flow
    try:
        r = run_child("flow", spec, tmp, one_thread=False, env=env)
    except Exception as e:  # noqa: BLE001 - optional measurement
        return [Row("flow", f"Prefect flow failed: {str(e)[-80:]}", None, None)], {"error": str(e)}
    rows = [
        Row(
            "flow", "direct Dask (incl. cluster) vs flow's own wall [s]", direct, r["wall_seconds"]
        ),
        Row("flow", "  vs whole flow process (incl. Prefect start) [s]", direct, r["wall_s"]),
    ]
    return rows, {"direct": d, "flow": r}


# ----------------------------------------------------------------------------- report


def fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"


def print_table(rows: list[Row]) -> None:
    print(f"\n{'measurement':<56} {'baseline':>10} {'genesis':>10} {'ratio':>8}  target / met")
    section = ""
    for r in rows:
        if r.section != section:
            section = r.section
            print(f"-- {section} " + "-" * (100 - len(section)))
        ratio = "" if r.ratio is None else f"{r.ratio:.3g}×"
        met = "" if r.met is None else ("yes" if r.met else "NO")
        target = f"{r.target} {met}".strip()
        print(f"{r.name:<56} {fmt(r.baseline):>10} {fmt(r.ours):>10} {ratio:>8}  {target}")
    print(
        "ratio = baseline / genesis (× faster or × smaller). one scan: separate single-threaded "
        "subprocesses, medians. dask: overhead = dask_work / (loop / 2) − 1. QUOTED = issue's "
        "figures, not measured here."
    )


def section(name: str, fn: Callable[[], tuple[list[Row], Any]], report: dict) -> list[Row]:
    before, t0 = load(), time.perf_counter()
    print(f"[{name}] load avg (1/5/15 min) {before} ...", flush=True)
    try:
        rows, info = fn()
    except Exception as e:  # noqa: BLE001 - keep the other sections' results
        rows, info = [Row(name, f"FAILED: {type(e).__name__}: {str(e)[:60]}", None, None)], {}
        info["error"] = repr(e)
    report["sections"][name] = info
    report["load"][name] = {"before": before, "after": load(), "seconds": time.perf_counter() - t0}
    print(f"[{name}] done in {time.perf_counter() - t0:.0f} s, load {load()}", flush=True)
    return rows


SECTIONS = ("picking", "one_scan", "dask", "memory", "store", "flow")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat (smoke run)")
    ap.add_argument("--no-flow", action="store_true", help="skip the Prefect flow measurement")
    ap.add_argument(
        "--only",
        default="",
        help="comma list of sections to run: "
        "picking,one_scan,dask,memory,store,flow (store needs one_scan and dask)",
    )
    ap.add_argument("--child", nargs=2, metavar=("MODE", "SPEC"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_main(*args.child)
        return
    sizes = QUICK if args.quick else FULL
    t0 = time.perf_counter()
    report: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds")}
    report |= {"mode": "quick" if args.quick else "full", "sizes": asdict(sizes)}
    report |= {"machine": machine(), "sections": {}, "load": {}}
    print(" | ".join(f"{k}: {v}" for k, v in report["machine"].items()), flush=True)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="genesis-bench-") as d:
        tmp = Path(d)
        want = set(args.only.split(",")) if args.only else set(SECTIONS)
        if args.no_flow:
            want.discard("flow")
        if "picking" in want:
            rows += section("picking", lambda: bench_picking(sizes), report)
        if "one_scan" in want:
            rows += section("one_scan", lambda: bench_one_scan(sizes, tmp), report)
        if "dask" in want:
            rows += section("dask", lambda: bench_parallel(sizes, tmp, not args.quick), report)
            report["sections"]["dask"]["loop_store"] = str(tmp / "loop0.zarr")
        if "memory" in want:
            rows += section("memory", lambda: bench_memory(sizes, tmp), report)
        one, par = report["sections"].get("one_scan"), report["sections"].get("dask")
        if "store" in want and one and par:
            rows += section("store", lambda: store_rows(one, par, bench_real_store(tmp)), report)
        if "flow" in want and par:
            rows += section("flow", lambda: bench_flow(tmp, par), report)
    report["rows"] = [{**asdict(r), "ratio": r.ratio} for r in rows]
    report["total_s"] = time.perf_counter() - t0
    print_table(rows)
    print(f"total {report['total_s']:.0f} s; load avg now {load()}")
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {OUT_JSON.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
