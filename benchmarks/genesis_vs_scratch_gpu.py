"""Does Genesis pre-training beat scratch? The paper's comparison, ``paper`` profile, on a GPU.

    python benchmarks/genesis_vs_scratch_gpu.py                       # one H200: ≈ 6.5 min
    python benchmarks/genesis_vs_scratch_gpu.py --quick --device cpu  # 2 CPU cores: < 3 min

Runs where Python has only torch, NumPy and SciPy (a bare CUDA image): no SimpleITK,
Zarr, pydantic, Prefect, MLflow or S3.  Everything happens in one process, in memory:

1. Data (NumPy, ``--workers`` processes, one scan per task): synthetic chest phantoms
   (LUNA16-like: nodules at known positions, ``candidates.csv``-style negatives) and
   abdomen phantoms (LiTS-like liver + lesion labels), drawn directly on a 1 mm
   isotropic grid, so no resampling is needed.  From them: pre-training cubes picked with
   the SPEC §1 lung acceptance test (train + validation chest scans only), ``ncc`` cubes
   centred on every candidate (label 1 = nodule), ``lcs`` liver image/mask pairs.  Cubes
   are kept as int16 HU and windowed to [0, 1] on read, as the stores do.  Scans are
   split train/val/test by a seeded permutation (chest 50/20/30 % like LUNA16's
   subsets 0–4 / 5–6 / 7–9; abdomen 70/15/15 %).
2. Pre-training: the profile's U-Net and loop (``paper``: width 1, SGD lr 1.0; batch and
   steps from the flags) with :func:`genesis_core.transforms.make_pairs` corruptions on
   the device, bf16 autocast on CUDA; the best-validation weights are the Genesis init.
3. Evaluation, per task: scratch vs Genesis × label fractions (nested subsets of the
   training scans, the same for both inits) × seeds, fine-tuned with
   :func:`genesis_core.finetuning.fit` and scored on the test split (ncc AUC; lcs IoU,
   Dice, the paper's mean IoU, which leads the segmentation table since the paper reports
   it); one label subset per seed; the table from :mod:`genesis_core.evaluation` (paired
   per seed: mean difference, 95 % CI, paired t and Wilcoxon, Holm across cells, the
   minimal detectable difference; Welch and Student as secondary columns).

Prints both tables and timings, with a time-stamped progress line per stage and per fit;
the JSON (``--out``) is rewritten after each stage, so a killed run keeps what it did.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genesis_core.cubes.extract import extract  # noqa: E402
from genesis_core.cubes.rng import rng_for  # noqa: E402
from genesis_core.cubes.sampling import SamplingConfig, sample_cubes  # noqa: E402
from genesis_core.cubes.targets import AIR_HU, candidate_cubes, segmentation_pairs  # noqa: E402
from genesis_core.evaluation import nested_fractions, summarize, to_markdown  # noqa: E402
from genesis_core.finetuning import finetune_profile, fit  # noqa: E402
from genesis_core.intensity import HU_HI, HU_LO, window  # noqa: E402
from genesis_core.models import UNet3D, count_parameters  # noqa: E402
from genesis_core.synth.abdomen import make_abdomen  # noqa: E402
from genesis_core.synth.candidates import negative_positions  # noqa: E402
from genesis_core.synth.chest import make_chest  # noqa: E402
from genesis_core.synth.scan_geometry import scan_rng  # noqa: E402
from genesis_core.target_tasks import target_task  # noqa: E402
from genesis_core.training import ArrayCubeReader, ArrayPairReader, ListSink, train  # noqa: E402
from genesis_core.training.pretrain import validation_loss  # noqa: E402
from genesis_core.training.profiles import profile  # noqa: E402
from genesis_core.transforms import TransformConfig, make_pairs  # noqa: E402
from genesis_core.volume import Volume  # noqa: E402

#: Libraries a bare CUDA image lacks; none of them may be imported (also checked at the end).
HEAVY = ("SimpleITK", "zarr", "prefect", "mlflow", "s3fs", "dask", "distributed")
#: Optional libraries: used when installed (pydantic by TransformConfig), reported in the JSON.
OPTIONAL = ("pydantic", "pandas", "matplotlib")


def assert_light_imports() -> None:
    """Fail loudly if anything pulled in a library the GPU image does not have."""
    loaded = [m for m in HEAVY if m in sys.modules]
    if loaded:
        raise AssertionError(
            f"imported {loaded}: this benchmark must run on torch/NumPy/SciPy only"
        )


assert_light_imports()

ISO_MM = (1.0, 1.0, 1.0)
TASKS = ("ncc", "lcs")
INITS = ("scratch", "genesis")
CHEST_SPLIT = (0.5, 0.2, 0.3)  # LUNA16: subsets 0–4 / 5–6 / 7–9
ABDOMEN_SPLIT = (0.7, 0.15, 0.15)
T0 = time.perf_counter()


def fmt(value: float | None, digits: int = 5) -> str:
    """A loss for humans: ``None`` (no validation improved, e.g. a diverged run) stays visible."""
    return "none" if value is None else f"{value:.{digits}f}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} {time.perf_counter() - T0:7.1f}s] {message}", flush=True)


# -- settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Defaults:
    """What ``--quick`` changes; every field can be overridden by its flag."""

    profile: str
    cube_xyz: tuple[int, int, int]
    chest_size_xyz: tuple[int, int, int]
    abdomen_size_xyz: tuple[int, int, int]
    chest_scans: int
    abdomen_scans: int
    cubes_per_scan: int
    lcs_per_scan: int
    seeds: int
    pretrain_steps: int
    finetune_steps: int


# The chest grid must hold 64×64 lung windows after the 'auto' borders: 320 mm does
# (≈ a LUNA16 field of view), 256 mm rarely does.  160 mm holds 32×32 windows.
# H200 (2026-11-26), these defaults: data 3 s, pre-training 3000 steps of batch 6 in 131 s,
# fine-tuning 78 s (ncc, 20 fits) + 167 s (lcs, 20 fits): 382 s in all.
GPU = Defaults(
    "paper", (64, 64, 32), (320, 320, 160), (256, 256, 160), 40, 30, 32, 32, 5, 3000, 300
)
QUICK = Defaults("tiny", (32, 32, 16), (160, 160, 80), (128, 128, 64), 10, 10, 16, 16, 2, 60, 20)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    ap.add_argument("--device", default=auto, help=f"torch device (default here: {auto})")
    ap.add_argument("--quick", action="store_true", help="tiny CPU-sized run (< 3 min, 2 cores)")
    ap.add_argument("--profile", choices=("paper", "tiny"), help="paper; tiny with --quick")
    ap.add_argument("--cube", help="cube X,Y,Z voxels (64,64,32; 32,32,16 with --quick)")
    ap.add_argument("--chest-scans", type=int, help="chest phantoms (40; 10 with --quick)")
    ap.add_argument("--abdomen-scans", type=int, help="abdomen phantoms (30; 10 with --quick)")
    ap.add_argument("--cubes-per-scan", type=int, help="pre-training cubes per chest scan")
    ap.add_argument("--lcs-per-scan", type=int, help="liver image/mask pairs per abdomen scan")
    ap.add_argument("--seeds", type=int, help="fine-tuning seeds per cell (5; 2 with --quick)")
    ap.add_argument("--fractions", default="0.25,1.0", help="label fractions of the train scans")
    ap.add_argument("--pretrain-steps", type=int, help="pre-training optimizer steps")
    ap.add_argument("--pretrain-batch", type=int, help="pre-training batch (profile's: 6 / 8)")
    ap.add_argument("--pretrain-lr", type=float, help="pre-training lr (profile's: 1.0 / 2e-3)")
    ap.add_argument("--finetune-steps", type=int, help="optimizer steps per fine-tune")
    ap.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    ap.add_argument("--seed", type=int, default=0, help="data, splits and pre-training seed")
    ap.add_argument(
        "--out", default=str(Path(__file__).parent / "out" / "genesis_vs_scratch_gpu.json")
    )
    a = ap.parse_args(argv)
    d = QUICK if a.quick else GPU
    for field in dataclasses.fields(Defaults):
        name = field.name
        if name not in ("cube_xyz", "chest_size_xyz", "abdomen_size_xyz") and (
            getattr(a, name) is None
        ):
            setattr(a, name, getattr(d, name))
    a.cube_xyz = tuple(int(c) for c in a.cube.split(",")) if a.cube else d.cube_xyz
    if len(a.cube_xyz) != 3 or any(c < 8 or c % 8 for c in a.cube_xyz):
        ap.error(f"--cube must be X,Y,Z, each a multiple of 8, got {a.cube}")
    a.chest_size_xyz, a.abdomen_size_xyz = d.chest_size_xyz, d.abdomen_size_xyz
    a.fraction_list = sorted({float(f) for f in a.fractions.split(",") if f.strip()})
    if a.chest_scans < 5 or a.abdomen_scans < 5:
        ap.error("need at least 5 scans per dataset (train, validation and test splits)")
    if a.seeds < 1 or a.workers < 1:
        ap.error("--seeds and --workers must be >= 1")
    return a


# -- data ----------------------------------------------------------------------------------


def split_ids(ids: Sequence[str], fractions: Sequence[float], seed: int) -> dict[str, list[str]]:
    """Train/val/test by scan: a permutation seeded by ``seed``; every split gets ≥ 1 scan."""
    n = len(ids)
    n_val = max(1, math.floor(fractions[1] / sum(fractions) * n + 0.5))
    n_test = max(1, math.floor(fractions[2] / sum(fractions) * n + 0.5))
    if n - n_val - n_test < 1:
        raise ValueError(f"{n} scans cannot fill train, val and test")
    order = [ids[i] for i in np.random.default_rng(seed).permutation(n)]
    return {
        "train": sorted(order[n_val + n_test :]),
        "val": sorted(order[:n_val]),
        "test": sorted(order[n_val : n_val + n_test]),
    }


@dataclass(frozen=True)
class BuildConfig:
    """What a worker needs to build one scan's samples (picklable)."""

    seed: int
    cube_xyz: tuple[int, int, int]
    chest_size_xyz: tuple[int, int, int]
    abdomen_size_xyz: tuple[int, int, int]
    cubes_per_scan: int
    lcs_per_scan: int


def chest_scan(index: int, pretrain: bool, cfg: BuildConfig) -> dict[str, Any]:
    """One chest phantom → pre-training cubes (if ``pretrain``) and ncc candidate cubes.

    Candidates as :func:`genesis_core.synth.luna16.write_luna16_scan` makes them: every
    nodule (class 1) and 5–10 negatives per nodule, mostly in the lungs (class 0).
    """
    scan_id = f"chest-{index:03d}"
    rng = scan_rng(cfg.seed, "luna16", index)
    phantom = make_chest(cfg.chest_size_xyz, ISO_MM, rng)
    volume = Volume(phantom.hu, ISO_MM)  # origin 0, identity direction: world mm = index
    count = int(rng.integers(5, 11)) * max(1, len(phantom.nodules))
    negatives = negative_positions(phantom.tissue, ISO_MM, rng, count, phantom.nodules)
    index_xyz = [n.center_index_xyz for n in phantom.nodules] + [tuple(i) for i in negatives]
    points = np.array([volume.index_to_world(i) for i in index_xyz]).reshape(-1, 3)
    classes = np.r_[np.ones(len(phantom.nodules)), np.zeros(len(negatives))].astype(np.int8)
    ncc = candidate_cubes(volume, points, cfg.cube_xyz, AIR_HU).cubes
    out = {"scan_id": scan_id, "ncc": ncc, "labels": classes, "nodules": len(phantom.nodules)}
    if pretrain:
        sampling = SamplingConfig(cube_xyz=cfg.cube_xyz, n=cfg.cubes_per_scan, border_xyz="auto")
        sample = sample_cubes(phantom.hu, rng_for(cfg.seed, scan_id), sampling, (HU_LO, HU_HI))
        out["cubes"] = extract(phantom.hu, sample.origins_zyx, sampling.cube_zyx)
        out["reason"] = sample.reason
    return out


def abdomen_scan(index: int, cfg: BuildConfig) -> dict[str, Any]:
    """One abdomen phantom → liver image/mask pairs, half centred on the liver (lcs)."""
    scan_id = f"abdomen-{index:03d}"
    phantom = make_abdomen(cfg.abdomen_size_xyz, ISO_MM, scan_rng(cfg.seed, "lits", index))
    pairs = segmentation_pairs(
        Volume(phantom.hu, ISO_MM),
        Volume(phantom.label, ISO_MM),
        cfg.cube_xyz,
        cfg.lcs_per_scan,
        rng_for(cfg.seed, scan_id),
        foreground_ratio=0.5,
        labels=(1,),  # liver, as `genesis targets` builds lcs by default
    )
    return {"scan_id": scan_id, "images": pairs.images, "masks": pairs.masks}


def run_jobs(jobs: list[tuple[Any, ...]], workers: int, label: str) -> list[dict[str, Any]]:
    """``fn(*args)`` for each ``(fn, *args)`` job, in processes; results in job order."""
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    step = max(1, len(jobs) // 4)
    if workers <= 1:
        for i, (fn, *args) in enumerate(jobs):
            results[i] = fn(*args)
            if (i + 1) % step == 0:
                log(f"  {label}: {i + 1}/{len(jobs)} scans")
        return results  # type: ignore[return-value]
    # fork: the workers need no CUDA and start in milliseconds (no re-import of torch).
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
        futures = {pool.submit(fn, *args): i for i, (fn, *args) in enumerate(jobs)}
        for done, future in enumerate(as_completed(futures), 1):
            results[futures[future]] = future.result()
            if done % step == 0:
                log(f"  {label}: {done}/{len(jobs)} scans")
    return results  # type: ignore[return-value]


class HUCubeReader(ArrayCubeReader):
    """Pre-training cubes kept as int16 HU, windowed to [0, 1] float32 on read."""

    def read(self, indices: Sequence[int]) -> np.ndarray:
        return window(self.cubes[np.asarray(indices, dtype=np.int64)], HU_LO, HU_HI)


class ScanPairs(ArrayPairReader):
    """In-memory pairs that know their scans: inputs int16 HU (windowed on read), targets
    class labels (n,) or masks (n, D, H, W); ``scan_ids``, ``subset`` and ``labels`` as the
    target store offers them to :func:`genesis_core.finetuning.fit`."""

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, scan_of: np.ndarray) -> None:
        super().__init__(inputs, targets)
        self.scan_of = np.asarray(scan_of)

    @property
    def scan_ids(self) -> list[str]:
        return sorted(set(self.scan_of.tolist()))

    def read(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        return window(self.inputs[idx], HU_LO, HU_HI), self.targets[idx].astype(np.float32)

    def subset(self, scan_ids: Sequence[str]) -> ScanPairs:
        keep = np.isin(self.scan_of, list(scan_ids))
        return ScanPairs(self.inputs[keep], self.targets[keep], self.scan_of[keep])

    def labels(self) -> np.ndarray:
        return np.asarray(self.targets).reshape(-1).astype(np.int8)


def pairs_of(results: list[dict[str, Any]], image_key: str, target_key: str) -> ScanPairs:
    images = np.concatenate([r[image_key] for r in results])
    targets = np.concatenate([r[target_key] for r in results])
    scan_of = np.concatenate([[r["scan_id"]] * len(r[image_key]) for r in results])
    return ScanPairs(images, targets, scan_of)


@dataclass
class Data:
    pretrain_train: HUCubeReader
    pretrain_val: HUCubeReader
    tasks: dict[str, dict[str, ScanPairs]]  # task → split → pairs
    summary: dict[str, Any]


def build_data(a: argparse.Namespace) -> Data:
    cfg = BuildConfig(
        a.seed, a.cube_xyz, a.chest_size_xyz, a.abdomen_size_xyz, a.cubes_per_scan, a.lcs_per_scan
    )
    chest_ids = [f"chest-{i:03d}" for i in range(a.chest_scans)]
    abdomen_ids = [f"abdomen-{i:03d}" for i in range(a.abdomen_scans)]
    chest_split = split_ids(chest_ids, CHEST_SPLIT, a.seed)
    abdomen_split = split_ids(abdomen_ids, ABDOMEN_SPLIT, a.seed)
    pretrain_ids = set(chest_split["train"]) | set(chest_split["val"])
    jobs: list[tuple[Any, ...]] = [
        (chest_scan, i, sid in pretrain_ids, cfg) for i, sid in enumerate(chest_ids)
    ]
    jobs += [(abdomen_scan, i, cfg) for i in range(a.abdomen_scans)]
    log(
        f"data: {a.chest_scans} chest {a.chest_size_xyz} + {a.abdomen_scans} abdomen "
        f"{a.abdomen_size_xyz} phantoms at 1 mm, cubes {a.cube_xyz} (X,Y,Z), {a.workers} workers"
    )
    results = run_jobs(jobs, a.workers, "phantoms")
    chest = {r["scan_id"]: r for r in results[: a.chest_scans]}
    abdomen = {r["scan_id"]: r for r in results[a.chest_scans :]}

    def cubes(ids: list[str]) -> HUCubeReader:
        parts = [chest[s]["cubes"] for s in ids if len(chest[s]["cubes"])]
        if not parts:
            raise SystemExit(
                f"no pre-training cube of {a.cube_xyz} passed the lung test in {ids}: "
                f"the {a.chest_size_xyz} mm chest grid is too small for that cube"
            )
        return HUCubeReader(np.concatenate(parts))

    pre_train, pre_val = cubes(chest_split["train"]), cubes(chest_split["val"])
    empty = sorted(s for s in pretrain_ids if not len(chest[s]["cubes"]))
    tasks = {
        "ncc": {
            k: pairs_of([chest[s] for s in ids], "ncc", "labels") for k, ids in chest_split.items()
        },
        "lcs": {
            k: pairs_of([abdomen[s] for s in ids], "images", "masks")
            for k, ids in abdomen_split.items()
        },
    }
    summary = {
        "splits": {"chest": chest_split, "abdomen": abdomen_split},
        "pretrain_cubes": {"train": len(pre_train), "val": len(pre_val)},
        "pretrain_scans_without_cubes": empty,
        "ncc": {
            k: {"samples": len(p), "positives": int(p.labels().sum()), "scans": len(p.scan_ids)}
            for k, p in tasks["ncc"].items()
        },
        "lcs": {
            k: {
                "samples": len(p),
                "foreground": float(np.mean(p.targets)),
                "scans": len(p.scan_ids),
            }
            for k, p in tasks["lcs"].items()
        },
    }
    return Data(pre_train, pre_val, tasks, summary)


# -- pre-training --------------------------------------------------------------------------


class ProgressSink(ListSink):
    """Keeps every metric (``ListSink``) and prints validations and every ``every``-th step."""

    def __init__(self, every: int) -> None:
        super().__init__()
        self.every = max(1, every)

    def log_metrics(self, metrics, step: int) -> None:
        super().log_metrics(metrics, step)
        if "val_loss" in metrics:
            log(
                f"  pretrain step {step}: val loss {metrics['val_loss']:.5f} "
                f"(best {metrics['best_val_loss']:.5f}, lr {metrics['lr']:.3g})"
            )
        elif "train_loss" in metrics and step % self.every == 0:
            log(
                f"  pretrain step {step}: train loss {metrics['train_loss']:.5f}, "
                f"{metrics['cubes_per_s']:.0f} cubes/s"
            )


def pretrain(a: argparse.Namespace, data: Data) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Pre-train the profile's U-Net; returns its best-validation state dict and a summary."""
    prof = profile(a.profile, a.pretrain_steps, a.device, a.seed)
    overrides: dict[str, Any] = {"restore_best": True}
    if a.pretrain_batch:
        overrides["batch_size"] = a.pretrain_batch
    if a.pretrain_lr:
        overrides["lr"] = a.pretrain_lr
    loop = dataclasses.replace(prof.loop, **overrides)
    tcfg = TransformConfig()  # all four transformations, "fixed" mode: the pipeline default

    def corrupt(cubes: torch.Tensor, generator: torch.Generator):
        return make_pairs(cubes, generator, tcfg)

    torch.manual_seed(a.seed)
    model = UNet3D(prof.model)
    log(
        f"pretrain: profile {prof.name} (width {prof.model.width}, "
        f"{count_parameters(model):,} parameters), {loop.optimizer} lr {loop.lr}, "
        f"batch {loop.batch_size}, {loop.max_steps} steps, {len(data.pretrain_train)} train / "
        f"{len(data.pretrain_val)} val cubes, device {a.device}"
    )
    t0 = time.perf_counter()
    initial = validation_loss(model, data.pretrain_val, corrupt, loop)
    log(f"  pretrain step 0: val loss {initial:.5f}")
    t1 = time.perf_counter()
    sink = ProgressSink(every=max(10, (loop.max_steps or 100) // 10))
    result = train(model, data.pretrain_train, data.pretrain_val, corrupt, loop, sink)
    if str(a.device).startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t1
    rates = [v for _, v in sink.series("cubes_per_s")]
    summary = {
        "profile": prof.name,
        "width": prof.model.width,
        "loop": loop.to_dict(),
        "transforms": tcfg.as_dict(),
        "initial_val_loss": initial,
        "first_val_loss": result.history[0]["val_loss"] if result.history else None,
        "best_val_loss": result.best_val_loss,
        "best_step": result.best_step,
        "steps": result.steps,
        "epochs": result.epochs,
        "stop_reason": result.stop_reason,
        "seconds": round(seconds, 2),
        "seconds_with_initial_validation": round(time.perf_counter() - t0, 2),
        "cubes_per_s": round(result.steps * loop.batch_size / seconds, 1),
        "train_cubes_per_s": round(float(np.median(rates)), 1) if rates else None,
        "history": result.history,
    }
    log(
        f"pretrain done: {result.steps} steps in {seconds:.1f} s "
        f"({summary['cubes_per_s']} cubes/s overall, {summary['train_cubes_per_s']} training); "
        f"val loss {initial:.5f} → {fmt(result.best_val_loss)} (best at step {result.best_step})"
    )
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return state, summary


# -- evaluation ----------------------------------------------------------------------------


def evaluate(
    a: argparse.Namespace, task: str, splits: dict[str, ScanPairs], genesis: dict
) -> dict[str, Any]:
    """Every init × fraction × seed on ``task``; the table of :mod:`genesis_core.evaluation`."""
    metric = target_task(task).primary_metric
    train_r, val_r, test_r = splits["train"], splits["val"], splits["test"]
    # one label subset per seed (nested across fractions, the same for both inits), so the
    # seeds sample which labels were available too, as `genesis evaluate` does
    subsets = {
        seed: nested_fractions(train_r.scan_ids, a.fraction_list, seed=a.seed + seed)
        for seed in range(a.seeds)
    }
    inits = {"scratch": None, "genesis": genesis}
    log(
        f"{task}: {len(a.fraction_list)} fractions × {a.seeds} seeds × {len(inits)} inits, "
        f"{a.finetune_steps} steps each; train {len(train_r)} samples / "
        f"{len(train_r.scan_ids)} scans, val {len(val_r)}, test {len(test_r)}"
    )
    fits, t0 = [], time.perf_counter()
    for fraction in a.fraction_list:
        for seed in range(a.seeds):
            train_f = train_r.subset(subsets[seed][fraction])
            for init, state in inits.items():
                prof = finetune_profile(a.profile, task, a.finetune_steps, seed, a.device)
                t1 = time.perf_counter()
                _, r = fit(task, train_f, val_r, test_r, state, prof)
                r.update(
                    task=task,
                    init=init,
                    fraction=fraction,
                    seed=seed,
                    train_scans=len(train_f.scan_ids),
                    train_samples=len(train_f),
                    seconds=round(time.perf_counter() - t1, 2),
                )
                fits.append(r)
                scores = ", ".join(
                    f"{k} {r[k]:.4f}" for k in ("auc", "iou", "dice", "mean_iou_paper") if k in r
                )
                log(
                    f"  {task} f={fraction:g} seed={seed} {init:>7}: {scores} "
                    f"({r['steps']} steps, {r['stop_reason']}, {r['seconds']:.1f} s)"
                )
    # segmentation is compared with the paper in the paper's metric: its table comes first
    metric = "mean_iou_paper" if task != "ncc" else metric
    rows = summarize([{**r, "metric": r[metric]} for r in fits])
    out = {
        "metric": metric,
        "rows": rows,
        "markdown": to_markdown(rows, metric_name=metric),
        "fits": fits,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if task != "ncc":  # secondary segmentation metrics, same design
        out["tables"] = {
            m: to_markdown(summarize(fits, value_key=m), metric_name=m) for m in ("iou", "dice")
        }
    return out


# -- main ----------------------------------------------------------------------------------


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=float), encoding="utf-8")
    tmp.replace(path)


def environment(device: str) -> dict[str, Any]:
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "device": device,
        "optional_modules_loaded": sorted(m for m in OPTIONAL if m in sys.modules),
    }
    if device.startswith("cuda"):
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    a = parse_args(argv)
    out_path = Path(a.out)
    settings = {
        k: v for k, v in vars(a).items() if isinstance(v, int | float | str | bool | tuple | list)
    }
    report: dict[str, Any] = {"settings": settings, "environment": environment(a.device)}
    seconds: dict[str, float] = {}
    report["seconds"] = seconds
    log(f"settings: {json.dumps(settings, default=str)}")

    t = time.perf_counter()
    data = build_data(a)
    seconds["data"] = round(time.perf_counter() - t, 2)
    report["data"] = data.summary
    log(
        f"data done in {seconds['data']:.1f} s: pretrain cubes {data.summary['pretrain_cubes']}, "
        f"ncc {data.summary['ncc']}, lcs samples "
        f"{ {k: v['samples'] for k, v in data.summary['lcs'].items()} }"
    )
    write_json(out_path, report)

    t = time.perf_counter()
    genesis, report["pretrain"] = pretrain(a, data)
    seconds["pretrain"] = round(time.perf_counter() - t, 2)
    write_json(out_path, report)

    for task in TASKS:
        t = time.perf_counter()
        report[task] = evaluate(a, task, data.tasks[task], genesis)
        seconds[f"finetune_{task}"] = round(time.perf_counter() - t, 2)
        print(f"\n## {task}: {report[task]['metric']}\n\n{report[task]['markdown']}", flush=True)
        for name, table in report[task].get("tables", {}).items():
            print(f"### {task}: {name}\n\n{table}", flush=True)
        write_json(out_path, report)

    assert_light_imports()
    report["environment"]["optional_modules_loaded"] = sorted(
        m for m in OPTIONAL if m in sys.modules
    )
    seconds["finetune"] = round(sum(seconds[f"finetune_{t}"] for t in TASKS), 2)
    seconds["total"] = round(time.perf_counter() - T0, 2)
    write_json(out_path, report)
    p = report["pretrain"]
    print(
        f"timing: data {seconds['data']:.1f} s | pretrain {seconds['pretrain']:.1f} s "
        f"({p['steps']} steps, {p['cubes_per_s']} cubes/s) | finetune {seconds['finetune']:.1f} s "
        f"(ncc {seconds['finetune_ncc']:.1f}, lcs {seconds['finetune_lcs']:.1f}) | "
        f"total {seconds['total']:.1f} s\n"
        f"pre-training val loss {p['initial_val_loss']:.5f} (step 0) → {fmt(p['best_val_loss'])}; "
        f"results in {out_path}",
        flush=True,
    )
    return report


if __name__ == "__main__":
    main()
