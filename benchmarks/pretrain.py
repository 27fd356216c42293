"""Pre-training throughput: this pipeline vs the reference configuration, same machine, one run.

    python benchmarks/pretrain.py                 # CPU smoke run (tiny width, small cubes)
    python benchmarks/pretrain.py --device cuda   # the real measurement: paper model, 64×64×32

(a) pipeline: batched torch corruptions on the training device, bf16 autocast and
    channels-last on CUDA, a prefetching streaming loader, batch ``--batch``.
(b) reference: fp32, NumPy reference corruptions computed on the CPU (``--loader-workers``
    threads, as DataLoader workers would), batch 6.
Prints cubes/s for both, the ratio, the fraction of time the device waited for data,
and on CUDA the achieved fraction of ``--peak-tflops`` (bf16) counting ≈0.73 TFLOP per
cube per training step at 64×64×32 (SPEC; scaled by cube volume and width²).
Imports only torch, NumPy and genesis_core (runs on a bare CUDA image).
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genesis_core.models import UNet3D, UNet3DConfig  # noqa: E402
from genesis_core.transforms import TransformConfig, make_pairs, reference_pairs  # noqa: E402

TFLOP_PER_CUBE_STEP = 0.73  # paper model, 64×64×32, forward + backward


def make_cubes(n: int, shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Smooth-ish random cubes in [0, 1] (content does not change the cost)."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, *shape), dtype=np.float32)


def train_steps(model, batches, device, bf16: bool, channels_last: bool, steps: int) -> dict:
    """Run ``steps`` optimizer steps pulling (inputs, targets) from ``batches()``; time waits."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    fmt = torch.channels_last_3d if channels_last else torch.contiguous_format
    model.to(device, memory_format=fmt).train()
    wait = 0.0
    it = batches()
    for i in range(steps + 2):  # two warm-up steps
        if i == 2:
            sync(device)
            start, wait, n = time.perf_counter(), 0.0, 0
        t0 = time.perf_counter()
        x, y = next(it)
        wait += time.perf_counter() - t0
        x = x.to(device, non_blocking=True).contiguous(memory_format=fmt)
        y = y.to(device, non_blocking=True)
        with torch.autocast(
            device.type, dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda"
        ):
            loss = torch.nn.functional.mse_loss(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 2:
            n += len(x)
    sync(device)
    elapsed = time.perf_counter() - start
    return {"cubes_per_s": n / elapsed, "wait_fraction": wait / elapsed, "seconds": elapsed}


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def pipeline_batches(cubes: np.ndarray, batch: int, device, cfg: TransformConfig):
    """GPU-side corruption of batches streamed from host memory (pinned on CUDA)."""
    host = torch.from_numpy(cubes)
    if device.type == "cuda":
        host = host.pin_memory()
    gen = torch.Generator(device=device).manual_seed(0)

    def gen_batches():
        i = 0
        while True:
            idx = torch.arange(i, i + batch) % len(host)
            i += batch
            yield make_pairs(host[idx].to(device, non_blocking=True), gen, cfg)

    return gen_batches


def reference_batches(cubes: np.ndarray, batch: int, cfg: TransformConfig, workers: int):
    """NumPy reference corruptions in ``workers`` CPU threads, a few batches ahead."""

    def gen_batches():
        q: queue.Queue = queue.Queue(maxsize=2 * workers)

        def work(w: int) -> None:
            rng = np.random.default_rng(w)
            i = w * batch
            while True:
                idx = np.arange(i, i + batch) % len(cubes)
                i += batch * workers
                x, y = reference_pairs(cubes[idx], rng, cfg)
                q.put(
                    (torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32)))
                )

        for w in range(workers):
            threading.Thread(target=work, args=(w,), daemon=True).start()
        while True:
            yield q.get()

    return gen_batches


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--width", type=float, default=None, help="default: 1.0 on cuda, 0.125 on cpu")
    ap.add_argument("--cube", default=None, help="D,H,W; default 32,64,64 on cuda, 16,32,32 on cpu")
    ap.add_argument(
        "--batch", type=int, default=None, help="pipeline batch (default 32 cuda / 8 cpu)"
    )
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--loader-workers", type=int, default=4)
    ap.add_argument(
        "--peak-tflops", type=float, default=790.0, help="bf16 dense peak of the device"
    )
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    device = torch.device(a.device)
    cuda = device.type == "cuda"
    width = a.width or (1.0 if cuda else 0.125)
    shape = tuple(int(v) for v in (a.cube or ("32,64,64" if cuda else "16,32,32")).split(","))
    batch = a.batch or (32 if cuda else 8)
    steps = a.steps or (50 if cuda else 5)
    cfg = TransformConfig()
    cubes = make_cubes(256, shape)
    torch.manual_seed(0)
    ours = train_steps(
        UNet3D(UNet3DConfig(width=width)),
        pipeline_batches(cubes, batch, device, cfg),
        device,
        bf16=True,
        channels_last=cuda,
        steps=steps,
    )
    ref = train_steps(
        UNet3D(UNet3DConfig(width=width)),
        reference_batches(cubes, 6, cfg, a.loader_workers),
        device,
        bf16=False,
        channels_last=False,
        steps=steps,
    )
    scale = (np.prod(shape) / (32 * 64 * 64)) * width**2
    tflops = ours["cubes_per_s"] * TFLOP_PER_CUBE_STEP * scale
    out = {
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "width": width,
        "cube_dhw": shape,
        "pipeline": ours,
        "reference": ref,
        "ratio": ours["cubes_per_s"] / ref["cubes_per_s"],
        "achieved_tflops": tflops,
        "fraction_of_peak": tflops / a.peak_tflops if cuda else None,
    }
    print(f"device {out['device']}, torch {out['torch']}, width {width}, cube (D,H,W) {shape}")
    print(f"{'config':<34}{'cubes/s':>10}{'device waits':>14}")
    print(
        f"{'(a) pipeline (GPU transforms, bf16)':<34}{ours['cubes_per_s']:>10.1f}{ours['wait_fraction']:>13.1%}"
    )
    print(
        f"{'(b) reference (fp32, NumPy, b=6)':<34}{ref['cubes_per_s']:>10.1f}{ref['wait_fraction']:>13.1%}"
    )
    print(f"ratio (a)/(b): {out['ratio']:.1f}x")
    if cuda:
        print(
            f"achieved ≈{tflops:.0f} TFLOP/s = {out['fraction_of_peak']:.1%} of {a.peak_tflops:.0f} bf16 peak"
        )
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
