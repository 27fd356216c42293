"""Cube picking (SPEC §1): vectorised acceptance test vs the reference loop, whole sampling,
and resampling to 1 mm vs bare SimpleITK.  Prints a side-by-side table with ratios.

    python benchmarks/cube_picking.py                 # 512×512×300 synthetic chest
    python benchmarks/cube_picking.py --ref-windows 3 --no-resample

Requirements checked: acceptance ≥ 100× faster than the reference port on the same
windows; whole sampling of 32 cubes for one 512×512×300 scan < 0.5 s; resampling
0.7×0.7×2.5 → 1 mm no slower than bare read + linear resample, peak memory ≤ 1.5 GB.
The phantom is generated inline (body ellipse, two lung ellipsoids with dense
"vessel" voxels, noise) so the benchmark does not depend on genesis_core.synth.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genesis_core.cubes.acceptance import LUNG, accept_windows, reference_accept  # noqa: E402
from genesis_core.cubes.extract import extract  # noqa: E402
from genesis_core.cubes.rng import rng_for  # noqa: E402
from genesis_core.cubes.sampling import SamplingConfig, origin_bounds, sample_cubes  # noqa: E402
from genesis_core.intensity import window  # noqa: E402

HU_WINDOW = (-1000.0, 1000.0)
SPACING_XYZ = (0.7, 0.7, 2.5)


def chest_hu(shape_zyx: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """int16 HU (Z, Y, X): air, soft-tissue body, two lungs (-850 HU) with 3 % dense voxels."""
    nz, ny, nx = shape_zyx
    rng = np.random.default_rng(seed)
    yy, xx = np.ogrid[:ny, :nx]
    body = ((yy - ny / 2) / (0.45 * ny)) ** 2 + ((xx - nx / 2) / (0.48 * nx)) ** 2 <= 1.0
    out = np.empty(shape_zyx, dtype=np.int16)
    for z in range(nz):
        s = np.where(body, np.int16(40), np.int16(-1000))
        r2z = ((z - nz / 2) / (0.45 * nz)) ** 2
        for cx in (0.29 * nx, 0.71 * nx):
            lung = ((yy - ny / 2) / (0.36 * ny)) ** 2 + ((xx - cx) / (0.19 * nx)) ** 2 <= 1.0 - r2z
            s[lung] = -850
        vessel = (s == -850) & (rng.random((ny, nx)) < 0.03)
        s[vessel] = 40
        out[z] = s + rng.integers(-30, 31, size=(ny, nx), dtype=np.int16)
    return out


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    """Median wall time (s) of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import SimpleITK as sitk

    return (
        f"CPU: {cpu} | cores: {os.cpu_count()} | Python {platform.python_version()} | "
        f"numpy {np.__version__} | SimpleITK {sitk.Version.VersionString()}"
    )


def candidate_windows(hu: np.ndarray, count: int, cfg: SamplingConfig) -> np.ndarray:
    """Unit-intensity windows (count, Z+3, Y, X) at the sampler's own first candidate draws."""
    low, high = origin_bounds(hu.shape, cfg)
    origins = rng_for(0, "bench").integers(low, high, endpoint=True, size=(count, 3))
    return window(extract(hu, origins, cfg.window_zyx))


def bench_acceptance(hu: np.ndarray, n_ref: int, rows: list) -> float:
    cfg = SamplingConfig()
    wins = candidate_windows(hu, 256, cfg)
    t_vec, acc = timed(lambda: accept_windows(wins, LUNG), repeat=5)
    t_ref, ref = timed(lambda: [reference_accept(w, LUNG) for w in wins[:n_ref]])
    assert list(ref) == acc[:n_ref].tolist(), "vectorised != reference"  # type: ignore[index]
    per_vec, per_ref = t_vec / len(wins), t_ref / n_ref
    rows.append(("acceptance test, per window", per_ref, per_vec))
    print(f"  windows accepted: {int(np.sum(acc))}/{len(wins)}; reference on {n_ref} windows")
    return per_ref


def bench_sampling(hu: np.ndarray, per_ref: float, rows: list) -> None:
    cfg = SamplingConfig()
    t_hu, res = timed(lambda: sample_cubes(hu, rng_for(0, "scan"), cfg, HU_WINDOW), repeat=5)
    unit = window(hu)
    t_unit, res_u = timed(lambda: sample_cubes(unit, rng_for(0, "scan"), cfg), repeat=5)
    assert np.array_equal(res.origins_zyx, res_u.origins_zyx)  # type: ignore[union-attr]
    t_cut, _ = timed(lambda: extract(hu, res.origins_zyx, cfg.cube_zyx), repeat=5)  # type: ignore[union-attr]
    draws = res.draws  # type: ignore[union-attr]
    print(f"  sampled {len(res.origins_zyx)} cubes in {draws} draws")  # type: ignore[union-attr]
    rows.append((f"sample 32 cubes, int16 HU ({draws} draws)", per_ref * draws, t_hu))
    rows.append(("sample 32 cubes, float32 [0,1] input", per_ref * draws, t_unit))
    rows.append(("extract 32 int16 cubes", None, t_cut))
    tissue = np.full_like(hu, 40)
    t_worst, worst = timed(lambda: sample_cubes(tissue, rng_for(0, "scan"), cfg, HU_WINDOW))
    rows.append((f"worst case: no lung ({worst.draws} draws)", per_ref * worst.draws, t_worst))  # type: ignore[union-attr]


CHILD = r"""
import resource, sys, time
import SimpleITK as sitk
path, mode, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
img = sitk.ReadImage(path)
if mode == "bare":
    f = sitk.ResampleImageFilter()
    size = [int(n * s + 0.5) for n, s in zip(img.GetSize(), img.GetSpacing())]
    f.SetOutputSpacing((1.0, 1.0, 1.0)); f.SetSize(size)
    f.SetOutputOrigin(img.GetOrigin()); f.SetOutputDirection(img.GetDirection())
    f.SetInterpolator(sitk.sitkLinear); f.SetDefaultPixelValue(-1000)
    f.SetNumberOfThreads(threads)
    out = sitk.GetArrayFromImage(f.Execute(img))
else:
    sys.path.insert(0, sys.argv[4])
    from genesis_core.resample import resample
    from genesis_core.volume import Volume
    vol = Volume.from_sitk(img); del img
    out = resample(vol, (1.0, 1.0, 1.0), threads=threads).array
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, out.shape)
"""


def run_child(path: str, mode: str, threads: int) -> tuple[float, float]:
    root = str(Path(__file__).resolve().parents[1])
    args = [sys.executable, "-c", CHILD, path, mode, str(threads), root]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def bench_resample(hu: np.ndarray, rows: list) -> None:
    import SimpleITK as sitk

    from genesis_core.volume import Volume

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "scan.mhd")
        sitk.WriteImage(Volume(hu, SPACING_XYZ).to_sitk(), path)
        for threads in (1, os.cpu_count() or 1):
            bare = min((run_child(path, "bare", threads) for _ in range(2)), key=lambda r: r[0])
            ours = min((run_child(path, "ours", threads) for _ in range(2)), key=lambda r: r[0])
            rows.append((f"read + resample to 1 mm, {threads} thread(s) [s]", bare[0], ours[0]))
            rows.append((f"  peak RSS, {threads} thread(s) [MB]", bare[1], ours[1]))


def print_table(rows: list) -> None:
    print(f"\n{'measurement':<46} {'reference':>12} {'genesis':>12} {'ratio':>9}")
    print("-" * 82)
    for name, ref, ours in rows:
        ref_s = "—" if ref is None else f"{ref:12.6g}"
        ratio = "" if ref is None else f"{ref / ours:8.1f}×"
        print(f"{name:<46} {ref_s:>12} {ours:12.6g} {ratio:>9}")
    print(
        "(times in seconds unless stated; 'reference' for sampling = reference per-window time ×"
        " the same number of draws; for resampling = bare SimpleITK, int16 output, truncating)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape-zyx", type=int, nargs=3, default=(300, 512, 512))
    ap.add_argument("--ref-windows", type=int, default=6, help="windows timed with the slow port")
    ap.add_argument("--no-resample", action="store_true")
    args = ap.parse_args()
    print(machine())
    t_gen, hu = timed(lambda: chest_hu(tuple(args.shape_zyx)))
    print(f"phantom {tuple(args.shape_zyx)} (Z, Y, X) int16 generated in {t_gen:.1f} s")
    rows: list = []
    per_ref = bench_acceptance(hu, args.ref_windows, rows)  # type: ignore[arg-type]
    bench_sampling(hu, per_ref, rows)  # type: ignore[arg-type]
    if not args.no_resample:
        bench_resample(hu, rows)  # type: ignore[arg-type]
    print_table(rows)


if __name__ == "__main__":
    main()
