"""Is `genesis evaluate` calibrated?  An A/A run and a positive control, through the real flow.

- **A/A.** ``--inits scratch,scratch`` (the copy with independent weight init seeds, same label
  subsets and data order) over many cells (label fractions × repetitions on fresh stores).
  The paired test must reject at 0.05 about 5 % of the time, no more; after Holm, less.
- **Positive control.** An init already fine-tuned on the task's training split
  (``file:`` its weights, head included) against scratch, at the default seeds (5): it must be
  detected (Holm-corrected paired p < 0.05, difference > 0) in every cell.

Data: classification stores of synthetic chests (``genesis_core.synth.targets``), 20 scans each.
Prints both rates and the seconds they took.  Usage::

    python benchmarks/evaluation_calibration.py [--repeats 3] [--seeds 5] [--steps 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FRACTIONS = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def _positive_control(store: str, folder: Path, steps: int) -> str:
    """A classifier fine-tuned on all of the store's training split, saved as an init file."""
    import torch

    from genesis_core.finetuning import finetune_profile, fit
    from genesis_core.targets import TargetStore

    sp = TargetStore(store).split()
    prof = finetune_profile("tiny", "ncc", steps, 0, device="cpu")
    model, _ = fit("ncc", sp["train"], sp["val"], sp["val"], None, prof)
    path = folder / "control.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    return f"file:{path}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="fresh stores for the A/A run")
    ap.add_argument("--seeds", type=int, default=5, help="seeds of the A/A run")
    ap.add_argument("--steps", type=int, default=10, help="fine-tuning steps per fit")
    ap.add_argument("--skip-aa", action="store_true", help="the positive control only")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="genesis-calibration-"))
    os.environ["GENESIS_ROOT"] = str(tmp / "root")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    from flows.evaluate import evaluate_flow
    from genesis_core.synth.targets import write_ncc_store

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    t0 = time.perf_counter()
    raw = holm = cells = 0
    for r in range(0 if args.skip_aa else args.repeats):
        store = write_ncc_store(str(tmp / f"aa-{r}.zarr"), scans=20, seed=100 + r)
        res = evaluate_flow(
            task="ncc",
            store=store,
            inits=["scratch", "scratch"],
            seeds=args.seeds,
            label_fractions=FRACTIONS,
            steps=args.steps,
            register_models=False,
            experiment="calibration-aa",
        )
        # two inits: each cell's pair is tested once (the mirrored row repeats it)
        compared = [r for r in res.rows if r.get("compared_to") and r["init"] < r["compared_to"]]
        cells += len(compared)
        raw += sum(row["p_paired"] < 0.05 for row in compared)
        holm += sum(row["p_holm"] < 0.05 for row in compared)
    aa_s = time.perf_counter() - t0
    print(
        "A/A: skipped"
        if args.skip_aa
        else f"A/A: {cells} cells ({args.repeats} stores x {len(FRACTIONS)} fractions, "
        f"{args.seeds} seeds): paired t rejects {raw}/{cells} = {raw / max(cells, 1):.1%} at "
        f"0.05 (Holm: {holm}/{cells}); {aa_s:.0f} s"
    )

    t0 = time.perf_counter()
    store = write_ncc_store(str(tmp / "pc.zarr"), scans=20, seed=7)
    control = _positive_control(store, tmp, steps=200)
    res = evaluate_flow(
        task="ncc",
        store=store,
        inits=["scratch", control],  # at the flow's default seeds
        label_fractions=[0.5, 1.0],
        steps=args.steps,
        register_models=False,
        experiment="calibration-positive",
    )
    rows = [row for row in res.rows if row["init"] == control and row.get("compared_to")]
    hits = sum(row["p_holm"] < 0.05 and row["diff"] > 0 for row in rows)
    for row in rows:
        print(
            f"  fraction {row['fraction']}: diff {row['diff']:+.3f} "
            f"[{row['diff_ci_low']:+.3f}, {row['diff_ci_high']:+.3f}], p_holm {row['p_holm']:.3g}"
        )
    print(
        f"positive control: detected in {hits}/{len(rows)} cells at {rows[0]['n']} seeds; "
        f"{time.perf_counter() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
