"""How fast the `genesis` command answers: first line of output, and reruns with nothing to do.

One run, same machine, same data, the command line of an earlier revision (``--before``,
run from a ``git archive`` of it) beside this tree's, each command in a fresh process as a
user types it:

- ``first line``: seconds until the first line of output of a command that has work to do
  (``ingest --force``);
- ``no-op``: wall seconds of a rerun with nothing new (``ingest``, ``preprocess``,
  ``pretrain`` after a finished run), and whether it said "nothing to do".

This tree runs with its defaults (the long-lived local Prefect server, started by the
set-up and stopped at the end); the earlier revision with its own (Prefect's temporary
server per command).  Data: 3 small synthetic LUNA16 scans, cubes of 32×32×16.

    python benchmarks/cli_startup.py [--before 366750f] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from revision import checkout

ROOT = Path(__file__).resolve().parents[1]
PRE = ["preprocess", "--dataset", "d", "--cube", "32,32,16", "--cubes-per-scan", "8"]
PRETRAIN = ["pretrain", "--dataset", "d", "--steps", "2"]


def timed(tree: Path, args: list[str], env: dict) -> tuple[float, float, str]:
    """(seconds to the first non-empty line, total seconds, output) of one command."""
    cmd = [sys.executable, "-c", "from flows.cli import app; app()", *args]
    env = {**env, "PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    first, out = None, []
    for line in proc.stdout:  # type: ignore[union-attr]
        if first is None and line.strip():
            first = time.perf_counter() - t0
        out.append(line)
    proc.wait()
    total = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{args} exited {proc.returncode}:\n{''.join(out)[-3000:]}")
    return (first if first is not None else total), total, "".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="366750f")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        from genesis_core.synth import write_luna16

        src = tmp / "src"
        write_luna16(src, scans=3, seed=0, size_xyz=(96, 96, 48), fov_mm=200)
        base = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env = {**base, "GENESIS_ROOT": str(tmp / "root")}
        trees = {"before": checkout(args.before, tmp), "after": ROOT}
        for setup in (["ingest", str(src), "--dataset", "d"], PRE, PRETRAIN):
            timed(ROOT, setup, env)
        rows = []
        try:
            rows = measure(trees, src, env, args.repeats)
        finally:
            timed(ROOT, ["server", "stop"], env)
    print("\n| command | before: s (median) | after: s (median) | after/before | after says |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


def measure(trees: dict, src: Path, env: dict, repeats: int) -> list[str]:
    cases = {
        "first line of `ingest --force`": (["ingest", str(src), "--dataset", "d", "--force"], 0),
        "no-op `ingest`": (["ingest", str(src), "--dataset", "d"], 1),
        "no-op `preprocess`": (PRE, 1),
        "no-op `pretrain`": (PRETRAIN, 1),
    }
    rows = []
    for label, (cmd, which) in cases.items():
        got: dict[str, list[float]] = {"before": [], "after": []}
        said = ""
        for _ in range(repeats):
            for name, tree in trees.items():
                result = timed(tree, cmd, env)
                got[name].append(result[which])
                if name == "after":
                    said = result[2].strip().splitlines()[0 if which == 0 else -1][:70]
        b, a = (statistics.median(got[k]) for k in ("before", "after"))
        rows.append(f"| {label} | {b:.2f} | {a:.2f} | {a / b:.2f}× | {said} |")
        print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    main()
