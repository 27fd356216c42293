"""Pre-training on several GPUs: the pretrain task hands the loop to ``torchrun``.

    python -m torch.distributed.run --standalone --nproc-per-node G -m tasks.ddp_pretrain SPEC

:func:`launch` (called by the ``pretrain-model`` task when ``gpus > 1``) writes SPEC (a
JSON file in the run folder) and starts ``torchrun`` with one process per GPU.  Every
rank reads the same cube store and trains data-parallel (see
:mod:`genesis_core.training.distributed`); rank 0 reports to the task's MLflow run and
writes the checkpoints and ``ddp_result.json``.  On a CPU-only machine the same runs
with Gloo, which is how it is tested.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from genesis_core.models import UNet3D
from genesis_core.training import load_checkpoint, save_atomic, train
from genesis_core.training.state import TrainResult

RESULT = "ddp_result.json"


def launch(spec: dict[str, Any], gpus: int, run_path: Path) -> TrainResult:
    """Run the training described by ``spec`` in ``gpus`` processes; the rank-0 result."""
    run_path.mkdir(parents=True, exist_ok=True)
    spec_path = run_path / "ddp_spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    (run_path / RESULT).unlink(missing_ok=True)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={gpus}", "-m", "tasks.ddp_pretrain", str(spec_path),
    ]  # fmt: skip
    env = os.environ | {"MLFLOW_TRACKING_URI": spec["tracking_uri"], "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    (run_path / "ddp.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not (run_path / RESULT).exists():
        tail = (proc.stderr or proc.stdout)[-3000:]
        raise RuntimeError(
            f"data-parallel pre-training with {gpus} processes failed (exit {proc.returncode}); "
            f"log: {run_path / 'ddp.log'}\n{tail}"
        )
    return _result_from_json(json.loads((run_path / RESULT).read_text()))


def _result_from_json(d: dict[str, Any]) -> TrainResult:
    for key in ("checkpoint_path", "best_checkpoint_path"):
        d[key] = Path(d[key]) if d[key] else None
    return TrainResult(**d)


def main(spec_path: str) -> None:
    from tasks.pretrain import corruption, train_val_readers, training_profile
    from tasks.settings import get_settings
    from tasks.tracking import MlflowSink, use_tracking

    spec = json.loads(Path(spec_path).read_text())
    rank = int(os.environ.get("RANK", 0))
    # the launching task verified the whole store; each rank still verifies what it reads
    sampling = spec.get("sampling", "random")
    train_r, val_r = train_val_readers(spec["store_uri"], verify_all=False, sampling=sampling)
    prof = training_profile(spec["profile"], spec["steps"], spec["device"], spec["seed"],
                            spec["transforms"], sampling)  # fmt: skip
    torch.manual_seed(spec["seed"])  # as one process: rank 0's weights are broadcast
    model = UNet3D(prof.model)
    if spec.get("init"):
        model.load_state_dict(load_checkpoint(spec["init"])["model"])
    sink = None
    if rank == 0:
        use_tracking(get_settings())
        sink = MlflowSink(spec["run_id"])
    try:
        result = train(
            model, train_r, val_r, corruption(spec["transforms"]), prof.loop, sink,
            spec["checkpoint_dir"], resume=spec["resume"],
        )  # fmt: skip
        if rank == 0:
            out = dataclasses.asdict(result)
            for key in ("checkpoint_path", "best_checkpoint_path"):
                out[key] = str(out[key]) if out[key] else None
            path = Path(spec_path).parent / RESULT
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(out, indent=1))
            tmp.replace(path)
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def save_init(model: torch.nn.Module, path: Path) -> str:
    """The starting weights every rank loads (a warm start)."""
    return str(save_atomic({"model": model.state_dict()}, path))


if __name__ == "__main__":
    main(sys.argv[1])
