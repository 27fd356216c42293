"""Corruption throughput (SPEC §2): NumPy reference vs batched torch, same machine, one run.

    python benchmarks/transforms.py                      # CPU, 1 thread each
    python benchmarks/transforms.py --device cuda        # adds GPU cubes/s
    python benchmarks/transforms.py --seconds 10 --json out.json

Cubes are 64×64×32 (array (1, 32, 64, 64)), float32 in [0, 1], default rates.  The
reference runs sample by sample (as the original code); torch runs ``make_pairs`` on
batches with ``torch.set_num_threads(1)``: cube by cube (the CPU default) and, for
comparison, the chunked GPU code with 4 cubes a chunk.  The variants are timed in
alternating rounds and the median round is reported, so background load hits all alike.
Targets: torch ≥ 20× the reference on one core; ≥ 5000 cubes/s on a GPU.
Imports only torch, NumPy and genesis_core (runs on a bare CUDA image).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genesis_core.transforms import TransformConfig, make_pairs, reference_pair  # noqa: E402

CUBE = (1, 32, 64, 64)  # (C, D, H, W) = 64×64×32 in X×Y×Z


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def rate(run: Callable[[], int], seconds: float) -> float:
    """Cubes per second of ``run`` (which returns how many cubes it made) over ≥ ``seconds``."""
    run()  # warm-up
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or done == 0:
        done += run()
    return done / elapsed


def reference_run(cubes: np.ndarray, config: TransformConfig, seed: int) -> Callable[[], int]:
    rng = np.random.default_rng(seed)

    def run() -> int:
        for cube in cubes:
            reference_pair(cube, rng, config)
        return len(cubes)

    return run


def torch_run(
    cubes: torch.Tensor, config: TransformConfig, seed: int, chunk_size: int | None = None
) -> Callable[[], int]:
    generator = torch.Generator(device=cubes.device).manual_seed(seed)

    def run() -> int:
        make_pairs(cubes, generator, config, chunk_size)
        if cubes.is_cuda:
            torch.cuda.synchronize()
        return cubes.shape[0]

    return run


def measure(args: argparse.Namespace) -> dict:
    config = TransformConfig(mode=args.mode)
    torch.set_num_threads(1)
    data = torch.rand((args.batch, *CUBE), generator=torch.Generator().manual_seed(0))
    ref = reference_run(data[:4].numpy(), config, seed=1)
    runs = {
        "reference": ref,
        "torch_cpu_1thread": torch_run(data, config, seed=2),
        # the chunked (GPU) code on the CPU, 4 cubes a chunk: what the CPU ran before it
        # went cube by cube; same pairs, for comparison
        "torch_cpu_chunked4": torch_run(data, config, seed=2, chunk_size=4),
    }
    rounds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            rounds[name].append(rate(run, args.seconds / args.rounds))
    result = {name: statistics.median(values) for name, values in rounds.items()}
    if args.device == "cuda":
        for batch in (int(b) for b in args.gpu_batches.split(",")):
            try:
                gpu_data = torch.rand((batch, *CUBE), device="cuda")
                run = torch_run(gpu_data, config, seed=3)
                result[f"torch_gpu_batch{batch}"] = rate(run, args.seconds)
            except torch.cuda.OutOfMemoryError:
                print(f"GPU batch {batch}: out of memory, skipped", flush=True)
            gpu_data = run = None
            torch.cuda.empty_cache()
    return result


def machine(args: argparse.Namespace) -> dict:
    info = {
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "mode": args.mode,
        "torch_batch": args.batch,
    }
    if args.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def report(info: dict, result: dict) -> None:
    for key, value in info.items():
        print(f"{key:>12}: {value}")
    ref = result["reference"]
    print(f"\n{'implementation':<28}{'cubes/s':>10}{'× reference':>14}")
    for name, value in result.items():
        print(f"{name:<28}{value:>10.1f}{value / ref:>14.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--seconds", type=float, default=12.0, help="per implementation")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32, help="torch CPU batch")
    parser.add_argument("--gpu-batches", default="256,1024,2048", help="GPU batch sizes")
    parser.add_argument("--mode", choices=["faithful", "fixed"], default="faithful")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch sees no CUDA device")
    info, result = machine(args), measure(args)
    report(info, result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "cubes_per_s": result}, indent=2))


if __name__ == "__main__":
    main()
