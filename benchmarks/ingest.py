"""Ingest time per scan: this tree against an earlier revision, side by side in one run.

What the trust checks cost (exact-byte payloads, raw geometry checks, DICOM series checks,
label checks): the same folders are ingested by ``genesis_core.ingest.ingest_sequential``
of both trees, each in its own subprocess, alternating, best of ``--repeats``.

Folders: the three real scans of ``../shared/data/real`` (LUNA16 ``.mhd``, a DICOM series,
a LiTS NIfTI pair) and ``--phantoms`` synthetic LUNA16 chest phantoms of 256×256×128 voxels (the demo's).

    python benchmarks/ingest.py [--before REV] [--phantoms 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from revision import checkout

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real"

TIMER = """
import json, sys, time, shutil
from pathlib import Path
from genesis_core.ingest import ingest_sequential
src, work = sys.argv[1], Path(sys.argv[2])
out = {}
for run in ("cold", "warm"):  # cold: the process's first ingest (one-time start-up included)
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    df = ingest_sequential(src, str(work / "c.parquet"), work / "cache")
    out[run] = time.perf_counter() - t0
out.update(scans=len(df), ok=int((df.status == "ok").sum()))
print(json.dumps(out))
"""


def _datasets(tmp: Path, phantoms: int) -> dict[str, Path]:
    out = {}
    if REAL.exists():
        for name in ("luna16_style_chest_ct", "dicom_chest_ct", "lits_style_abdomen_ct"):
            out[f"real {name.split('_')[0]}"] = REAL / name
    sys.path.insert(0, str(ROOT))
    from genesis_core.synth import write_luna16

    ph = tmp / "phantoms"
    write_luna16(ph, scans=phantoms, seed=0, size_xyz=(256, 256, 128))  # the demo's size
    out[f"{phantoms} phantoms"] = ph
    return out


def _time(tree: Path, src: Path, work: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    res = subprocess.run(
        [sys.executable, "-c", TIMER, str(src), str(work)],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="ac3d2f7", help="revision to compare with")
    ap.add_argument("--phantoms", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        trees = {"before": checkout(args.before, tmp), "after": ROOT}
        rows = []
        for label, src in _datasets(tmp, args.phantoms).items():
            best: dict[str, dict] = {}
            for _ in range(args.repeats):
                for which, tree in trees.items():
                    r = _time(tree, src, tmp / "work")
                    if which not in best or r["warm"] < best[which]["warm"]:
                        best[which] = r
            b, a = best["before"], best["after"]
            rows.append((label, a["scans"], b, a))
            shutil.rmtree(tmp / "work", ignore_errors=True)
        print(
            "\n| folder | rows | ok before/after | s per scan before | after | after/before "
            "| first ingest of a process, s: before | after |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for label, n, b, a in rows:
            print(
                f"| {label} | {n} | {b['ok']}/{a['ok']} | {b['warm'] / n:.3f} | {a['warm'] / n:.3f} "
                f"| {a['warm'] / b['warm']:.2f}× | {b['cold']:.2f} | {a['cold']:.2f} |"
            )


if __name__ == "__main__":
    main()
