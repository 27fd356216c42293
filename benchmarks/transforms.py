"""Corruption throughput (SPEC §2): NumPy reference vs batched torch, same machine, one run.

    python benchmarks/transforms.py                      # CPU, 1 thread each
    python benchmarks/transforms.py --device cuda        # adds GPU cubes/s
    python benchmarks/transforms.py --seconds 10 --json out.json
    python benchmarks/transforms.py --against REV        # this tree vs revision REV, torch CPU

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


def _as_package(tree: Path, dest: Path, name: str) -> None:
    """``tree/genesis_core`` copied to ``dest/name`` with its own imports renamed, so that
    both revisions load side by side in this process."""
    import re
    import shutil

    shutil.copytree(tree / "genesis_core", dest / name)
    for path in (dest / name).rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"\bgenesis_core\b", name, text), encoding="utf-8")


def against(args: argparse.Namespace) -> None:
    """This tree vs revision ``args.against`` in one process, batch for batch interleaved
    (who goes first alternates), so machine noise hits both alike; 1 thread each."""
    import importlib
    import tempfile

    from revision import checkout

    with tempfile.TemporaryDirectory() as tmp:
        _as_package(checkout(args.against, Path(tmp)), Path(tmp), "genesis_core_rev")
        sys.path.insert(0, tmp)
        rev = importlib.import_module("genesis_core_rev.transforms")
        torch.set_num_threads(1)
        data = torch.rand((args.batch, *CUBE), generator=torch.Generator().manual_seed(0))
        impls = {
            args.against: (rev.make_pairs, rev.TransformConfig(mode=args.mode)),
            "this tree": (make_pairs, TransformConfig(mode=args.mode)),
        }
        same = all(
            torch.equal(a, b)
            for chunk in (None, 4)
            for a, b in zip(
                *(f(data, torch.Generator().manual_seed(7), c, chunk) for f, c in impls.values()),
                strict=True,
            )
        )
        print(
            f"mode {args.mode}, batch {args.batch} cubes of 64×64×32, one process, "
            f"batches interleaved for {args.seconds:.0f} s per path"
        )
        print(f"{'implementation':<22}" + "".join(f"{n:>16}" for n in impls) + f"{'this/rev':>10}")
        for label, chunk in (("torch_cpu_1thread", None), ("torch_cpu_chunked4", 4)):
            times: dict[str, list[float]] = {n: [] for n in impls}
            gens = {n: torch.Generator().manual_seed(2) for n in impls}
            start, k = time.perf_counter(), 0
            while time.perf_counter() - start < args.seconds or k < 4:
                order = list(impls) if k % 2 == 0 else list(reversed(impls))
                for n in order:
                    f, cfg = impls[n]
                    t0 = time.perf_counter()
                    f(data, gens[n], cfg, chunk)
                    times[n].append(time.perf_counter() - t0)
                k += 1
            rates = [args.batch / statistics.median(times[n]) for n in impls]
            print(
                f"{label:<22}"
                + "".join(f"{r:>16.1f}" for r in rates)
                + f"{rates[1] / rates[0]:>10.3f}"
            )
        print(f"seeded outputs identical: {'yes' if same else 'NO'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--seconds", type=float, default=12.0, help="per implementation")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32, help="torch CPU batch")
    parser.add_argument("--gpu-batches", default="256,1024,2048", help="GPU batch sizes")
    parser.add_argument("--mode", choices=["faithful", "fixed"], default="faithful")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--against", metavar="REV", help="compare with revision REV instead")
    args = parser.parse_args(argv)
    if args.against:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        return against(args)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch sees no CUDA device")
    info, result = machine(args), measure(args)
    report(info, result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "cubes_per_s": result}, indent=2))


if __name__ == "__main__":
    main()
