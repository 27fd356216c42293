"""Does Genesis pre-training beat scratch? The paper's comparison at CPU scale, end to end.

    python benchmarks/genesis_vs_scratch.py [--root DIR] [--seeds 3] [--quick]

Synthesises LUNA16- and LiTS-layout phantoms, ingests, preprocesses, pre-trains a
``tiny`` U-Net (the Genesis init), builds ``ncc`` and ``lcs`` target stores and runs
``evaluate`` (scratch vs genesis, two label fractions, several seeds), printing both
tables (mean ± std, Welch t-test p).  Everything goes through the same flows as the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--root", default=None)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--fractions", default="0.25,1.0")
    ap.add_argument("--pretrain-steps", type=int, default=300)
    ap.add_argument("--finetune-steps", type=int, default=40)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    root = Path(a.root or tempfile.mkdtemp(prefix="genesis-eval-")).absolute()
    os.environ["GENESIS_ROOT"] = str(root)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from flows.evaluate import evaluate_flow
    from flows.ingest import ingest_flow
    from flows.preprocess import preprocess_flow
    from flows.pretrain import pretrain_flow
    from flows.targets import targets_flow
    from genesis_core.synth import write_lits, write_luna16

    n_scans = 10 if a.quick else 20
    t0 = time.perf_counter()
    luna, lits = root / "src" / "luna", root / "src" / "lits"
    if not luna.exists():
        write_luna16(luna, scans=n_scans, seed=7, size_xyz=(256, 256, 112))
        write_lits(lits, scans=n_scans, seed=7, size_xyz=(128, 128, 64))
    ingest_flow(source=str(luna), dataset="luna")
    ingest_flow(source=str(lits), dataset="lits")
    pre = preprocess_flow(dataset="luna", cube=(32, 32, 16), cubes_per_scan=16)
    pt = pretrain_flow(store=pre.store_uri, profile="tiny", steps=a.pretrain_steps)
    keys = ("first_val_loss", "best_val_loss", "steps", "version")
    out = {"pretrain": {k: getattr(pt, k) for k in keys}}
    targets_flow(dataset="luna", task="ncc", cube=(32, 32, 16))
    targets_flow(dataset="lits", task="lcs", cube=(32, 32, 16), samples_per_scan=16)
    for task, ds in (("ncc", "luna"), ("lcs", "lits")):
        r = evaluate_flow(
            task=task,
            dataset=ds,
            seeds=a.seeds,
            label_fractions=[float(f) for f in a.fractions.split(",")],
            steps=a.finetune_steps,
            register_models=False,
        )
        out[task] = list(r.rows)
        print(f"\n## {task}\n\n{r.markdown}")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    dest = Path(__file__).parent / "out" / "genesis_vs_scratch.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps(out, indent=1, default=float))
    print(
        f"\npre-training: val loss {out['pretrain']['first_val_loss']:.4f} → {out['pretrain']['best_val_loss']:.4f}; "
        f"total {out['seconds']:.0f} s; results in {dest}"
    )


if __name__ == "__main__":
    main()
