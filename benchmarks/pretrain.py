"""Pre-training throughput: this pipeline vs the reference configuration, same machine, one run.

    python benchmarks/pretrain.py                 # CPU smoke run (tiny width, small cubes)
    python benchmarks/pretrain.py --device cuda   # the real measurement: paper model, 64×64×32
    python benchmarks/pretrain.py --device cuda --batches 32,64,128 --compile

(a) pipeline: the production loop (``genesis_core.training.train``): a prefetching
    loader thread over an in-memory cube reader, pinned host memory, batched torch
    corruptions on the device, bf16 autocast, channels-last, cuDNN autotuning; one row per
    batch size (and per ``torch.compile`` setting with ``--compile``).
(b) reference: the reference configuration in a plain loop: fp32, no channels-last,
    NumPy reference corruptions computed in ``--loader-workers`` DataLoader worker
    processes, batch 6.
Prints cubes/s, the ratio (a)/(b), GPU busy/idle time sampled from NVML during the timed
steps, and the achieved fraction of ``--peak-tflops`` (bf16) counting ≈0.73 TFLOP per cube
per training step at 64×64×32 (SPEC; scaled by cube volume and width²).
Imports only torch, NumPy and genesis_core (runs on a bare CUDA image).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genesis_core.models import UNet3D, UNet3DConfig  # noqa: E402
from genesis_core.training import ArrayCubeReader, ListSink, PretrainConfig, train  # noqa: E402
from genesis_core.transforms import TransformConfig, make_pairs, reference_pairs  # noqa: E402

TFLOP_PER_CUBE_STEP = 0.73  # paper model, 64×64×32, forward + backward


def make_cubes(n: int, shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Random cubes (n, D, H, W) in [0, 1]; the content does not change the cost."""
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


class UtilisationSampler:
    """Samples NVML's "GPU busy" percentage every ``period`` s in a thread (CUDA only)."""

    def __init__(self, period: float = 0.05) -> None:
        self.period, self.samples = period, []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            torch.cuda.utilization()
        except Exception as exc:  # no pynvml / NVML: report nothing rather than guess
            print(f"  (GPU utilisation not sampled: {exc})", flush=True)
            return
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.samples.append(torch.cuda.utilization())

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def busy(self) -> float | None:
        return statistics.mean(self.samples) / 100 if self.samples else None


def pipeline_run(cubes, width, batch, steps, warmup, device, compile_model) -> dict:
    """(a): the production loop; cubes/s over the steps after ``warmup``."""
    torch.manual_seed(0)
    model = UNet3D(UNet3DConfig(width=width))
    cfg = PretrainConfig(
        batch_size=batch,
        max_steps=warmup + steps,
        max_epochs=None,
        log_every_steps=warmup,
        device=str(device),
        compile=compile_model,
        scheduler="none",
        lr=0.1,
        prefetch_batches=4,
        patience=None,
    )
    sink = ListSink()
    corrupt_cfg = TransformConfig()

    def corrupt(x, generator):
        return make_pairs(x, generator, corrupt_cfg)

    sampler = UtilisationSampler() if device.type == "cuda" else None
    timer = _PhaseTimer(sink, warmup, sampler)
    start = time.perf_counter()
    try:
        train(model, ArrayCubeReader(cubes), None, corrupt, cfg, timer)
    finally:
        timer.close()
    wall = time.perf_counter() - start
    rates = [v for step, v in sink.series("cubes_per_s") if step > warmup]
    return {
        "batch": batch,
        "compile": compile_model or False,
        "cubes_per_s": statistics.mean(rates),
        "gpu_busy": sampler.busy if sampler else None,
        "wall_s_incl_warmup": wall,
        "final_loss": sink.series("train_loss")[-1][1],
    }


class _PhaseTimer:
    """A sink that starts the utilisation sampler once the warm-up steps are logged."""

    def __init__(self, inner: ListSink, warmup: int, sampler: UtilisationSampler | None):
        self.inner, self.warmup, self.sampler = inner, warmup, sampler

    def log_params(self, params):
        self.inner.log_params(params)

    def log_metrics(self, metrics, step):
        self.inner.log_metrics(metrics, step)
        if self.sampler is not None and step == self.warmup:
            self.sampler.start()

    def close(self):
        if self.sampler is not None:
            self.sampler.stop()


class _ReferencePairs(torch.utils.data.IterableDataset):
    """Endless NumPy reference corruptions of batches of 6, one generator per worker."""

    def __init__(self, cubes: np.ndarray, batch: int) -> None:
        self.cubes, self.batch, self.cfg = cubes, batch, TransformConfig()

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        rng = np.random.default_rng(1000 + wid)
        while True:
            idx = rng.integers(0, len(self.cubes), self.batch)
            x, y = reference_pairs(self.cubes[idx][:, None], rng, self.cfg)
            yield torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))


def reference_run(cubes, width, steps, warmup, device, workers: int, tf32: bool) -> dict:
    """(b): fp32, batch 6, NumPy corruptions in DataLoader worker processes.

    ``tf32=False`` is the reference's arithmetic (strict fp32, as on the V100s of 2019);
    PyTorch's default lets cuDNN use TF32 for convolutions, reported as a second row."""
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.manual_seed(0)
    model = UNet3D(UNet3DConfig(width=width)).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = torch.utils.data.DataLoader(
        _ReferencePairs(cubes, 6),
        batch_size=None,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers else None,
    )
    sampler = UtilisationSampler() if device.type == "cuda" else None
    it, n = iter(loader), 0
    wait = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            if sampler:
                sampler.start()
            start, wait, n = time.perf_counter(), 0.0, 0
        t0 = time.perf_counter()
        x, y = next(it)
        wait += time.perf_counter() - t0
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(x)
    _sync(device)
    elapsed = time.perf_counter() - start
    if sampler:
        sampler.stop()
    del it, loader
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default again
    return {
        "batch": 6,
        "tf32": tf32,
        "cubes_per_s": n / elapsed,
        "host_wait_fraction": wait / elapsed,
        "gpu_busy": sampler.busy if sampler else None,
        "loader_workers": workers,
    }


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def transforms_share(cubes, batch, device) -> float:
    """Seconds per batch of ``make_pairs`` alone on the device (to set against a step)."""
    x = torch.from_numpy(cubes[:batch][:, None]).to(device)
    g = torch.Generator(device=device).manual_seed(0)
    cfg = TransformConfig()
    for _ in range(3):
        make_pairs(x, g, cfg)
    _sync(device)
    t0, reps = time.perf_counter(), 10
    for _ in range(reps):
        make_pairs(x, g, cfg)
    _sync(device)
    return (time.perf_counter() - t0) / reps


def kernel_profile(cubes, width, batch, device, top: int = 15) -> str:
    """Top CUDA kernels of three bf16 channels-last training steps (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    torch.backends.cudnn.benchmark = True
    model = UNet3D(UNet3DConfig(width=width)).to(device, memory_format=torch.channels_last_3d)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.from_numpy(cubes[:batch][:, None]).to(device)
    g, cfg = torch.Generator(device=device).manual_seed(0), TransformConfig()

    def step():
        inputs, targets = make_pairs(x, g, cfg)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(inputs.contiguous(memory_format=torch.channels_last_3d))
        loss = torch.nn.functional.mse_loss(out.float(), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    _sync(device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            step()
        _sync(device)
    return prof.key_averages().table(
        sort_by="cuda_time_total", row_limit=top, max_name_column_width=70
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--width", type=float, default=None, help="default: 1.0 on cuda, 0.125 on cpu")
    ap.add_argument("--cube", default=None, help="D,H,W; default 32,64,64 on cuda, 16,32,32 on cpu")
    ap.add_argument(
        "--batches", default=None, help="pipeline batch sizes (default 32,64 cuda / 8 cpu)"
    )
    ap.add_argument(
        "--compile",
        default="",
        help="torch.compile modes to time at the best batch, e.g. default,max-autotune-no-cudagraphs",
    )
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 40 cuda / 4 cpu)")
    ap.add_argument(
        "--warmup", type=int, default=None, help="untimed steps (default 10 cuda / 2 cpu)"
    )
    ap.add_argument(
        "--loader-workers",
        type=int,
        default=None,
        help="(b)'s DataLoader workers (default min(8, cores - 2))",
    )
    ap.add_argument(
        "--peak-tflops", type=float, default=790.0, help="bf16 dense peak of the device"
    )
    ap.add_argument("--profile", action="store_true", help="print the top CUDA kernels (CUDA only)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    device = torch.device(a.device)
    cuda = device.type == "cuda"
    width = a.width or (1.0 if cuda else 0.125)
    shape = tuple(int(v) for v in (a.cube or ("32,64,64" if cuda else "16,32,32")).split(","))
    batches = [int(b) for b in (a.batches or ("32,64" if cuda else "8")).split(",")]
    steps, warmup = a.steps or (40 if cuda else 4), a.warmup or (10 if cuda else 2)
    workers = (
        a.loader_workers
        if a.loader_workers is not None
        else max(1, min(8, (os.cpu_count() or 2) - 2))
    )
    scale = (np.prod(shape) / (32 * 64 * 64)) * width**2
    cubes = make_cubes(512, shape)
    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    print(
        f"device {name}, torch {torch.__version__}, width {width}, cube (D,H,W) {shape}", flush=True
    )

    rows = []
    for b in batches:
        rows.append(pipeline_run(cubes, width, b, steps, warmup, device, False))
        print(f"  (a) batch {b}: {rows[-1]['cubes_per_s']:.1f} cubes/s", flush=True)
    best = max(rows, key=lambda r: r["cubes_per_s"])
    for mode in a.compile.split(",") if a.compile else []:
        rows.append(
            pipeline_run(
                cubes,
                width,
                best["batch"],
                steps,
                warmup,
                device,
                True if mode == "default" else mode,
            )
        )
        print(
            f"  (a) batch {best['batch']} compiled ({mode}): {rows[-1]['cubes_per_s']:.1f} cubes/s",
            flush=True,
        )
    best = max(rows, key=lambda r: r["cubes_per_s"])
    refs = [reference_run(cubes, width, max(steps, 20), warmup, device, workers, tf32=False)]
    if cuda:
        refs.append(reference_run(cubes, width, max(steps, 20), warmup, device, workers, tf32=True))
    for r in refs:
        print(f"  (b) reference (tf32={r['tf32']}): {r['cubes_per_s']:.1f} cubes/s", flush=True)
    ref = refs[0]
    corrupt_s = transforms_share(cubes, best["batch"], device)

    for r in rows:
        r["tflops"] = r["cubes_per_s"] * TFLOP_PER_CUBE_STEP * scale
        r["fraction_of_peak"] = r["tflops"] / a.peak_tflops if cuda else None
    out = {
        "device": name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_cores": os.cpu_count(),
        "width": width,
        "cube_dhw": shape,
        "pipeline": rows,
        "reference": refs,
        "ratio": best["cubes_per_s"] / ref["cubes_per_s"],
        "corruption_s_per_batch": corrupt_s,
        "corruption_share_of_step": corrupt_s / (best["batch"] / best["cubes_per_s"]),
    }

    def pct(v):
        return "n/a" if v is None else f"{v:.0%}"

    print(f"\n{'config':<52}{'cubes/s':>9}{'GPU busy':>10}{'TFLOP/s':>9}{'of peak':>9}")
    for r in rows:
        compiled = f", compiled {r['compile']}" if r["compile"] else ""
        label = f"(a) pipeline bf16, batch {r['batch']}{compiled}"
        print(
            f"{label:<52}{r['cubes_per_s']:>9.1f}{pct(r['gpu_busy']):>10}"
            f"{r['tflops']:>9.1f}{pct(r['fraction_of_peak']):>9}"
        )
    for r in refs:
        label = f"(b) reference {'tf32' if r['tf32'] else 'fp32'}, batch 6, {workers} workers"
        r_tflops = r["cubes_per_s"] * TFLOP_PER_CUBE_STEP * scale
        print(f"{label:<52}{r['cubes_per_s']:>9.1f}{pct(r['gpu_busy']):>10}{r_tflops:>9.1f}")
    print(f"\nratio best (a) / (b) strict fp32: {out['ratio']:.1f}x")
    print(
        f"corruptions: {corrupt_s * 1e3:.1f} ms per batch of {best['batch']} "
        f"= {out['corruption_share_of_step']:.0%} of a training step"
    )
    if best["gpu_busy"] is not None:
        print(f"GPU idle during (a)'s timed steps: {1 - best['gpu_busy']:.0%} (NVML busy samples)")
    if a.profile and cuda:
        print("\n" + kernel_profile(cubes, width, best["batch"], device))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
