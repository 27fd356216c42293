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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genesis_core.io.storage import Location
from genesis_core.models.networks import network
from genesis_core.training import load_checkpoint, save_atomic, train
from genesis_core.training.state import TrainResult
from tasks.training_inputs import corruption, train_val_readers, training_profile

RESULT = "ddp_result.json"


@dataclass(frozen=True)
class DdpSpec:
    """Everything every rank needs to run the pretrain task's loop (JSON on disk)."""

    store_uri: str
    profile: str
    steps: int | None
    device: str
    seed: int
    transforms: dict[str, Any]  # TransformConfig.as_dict()
    sampling: str
    checkpoint_dir: str
    resume: bool
    run_id: str  # the task's MLflow run, which rank 0 reports to
    tracking_uri: str
    init: str | None = None  # warm start: a checkpoint every rank loads
    root: str | None = None  # the flow's data root (settings are rebuilt from it per rank)
    manifest_version: int | None = None  # the run's store version, the same on every rank

    def write(self, path: Path) -> None:
        Location.of(path).write_bytes_atomic(
            json.dumps(dataclasses.asdict(self), indent=1).encode()
        )

    @classmethod
    def read(cls, path: str | Path) -> DdpSpec:
        return cls(**json.loads(Path(path).read_text()))


def launch(spec: DdpSpec, gpus: int, run_path: Path) -> TrainResult:
    """Run the training described by ``spec`` in ``gpus`` processes; the rank-0 result."""
    run_path.mkdir(parents=True, exist_ok=True)
    spec_path = run_path / "ddp_spec.json"
    spec.write(spec_path)
    (run_path / RESULT).unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={gpus}",
        "-m",
        "tasks.ddp_pretrain",
        str(spec_path),
    ]
    env = os.environ | {"MLFLOW_TRACKING_URI": spec.tracking_uri, "OMP_NUM_THREADS": "1"}
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
    from tasks.settings import get_settings
    from tasks.tracking import MlflowSink, use_tracking

    spec = DdpSpec.read(spec_path)
    rank = int(os.environ.get("RANK", 0))
    # the launching task verified the whole store; each rank still verifies what it reads
    train_r, val_r = train_val_readers(
        spec.store_uri,
        verify_all=False,
        sampling=spec.sampling,
        root=spec.root,
        version=spec.manifest_version,
    )
    prof = training_profile(
        spec.profile,
        spec.steps,
        spec.device,
        spec.seed,
        spec.transforms,
        spec.sampling,
        root=spec.root,
    )
    torch.manual_seed(spec.seed)  # as one process: rank 0's weights are broadcast
    model = network(prof.network).restorer(prof.model)
    if spec.init:
        model.load_state_dict(load_checkpoint(spec.init)["model"])
    sink = None
    if rank == 0:
        use_tracking(get_settings(spec.root))
        sink = MlflowSink(spec.run_id)
    try:
        result = train(
            model,
            train_r,
            val_r,
            corruption(spec.transforms),
            prof.loop,
            sink,
            spec.checkpoint_dir,
            resume=spec.resume,
        )
        if rank == 0:
            out = dataclasses.asdict(result)
            for key in ("checkpoint_path", "best_checkpoint_path"):
                out[key] = str(out[key]) if out[key] else None
            Location.of(Path(spec_path).parent / RESULT).write_bytes_atomic(
                json.dumps(out, indent=1).encode()
            )
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def save_init(model: torch.nn.Module, path: Path) -> str:
    """The starting weights every rank loads (a warm start)."""
    return str(save_atomic({"model": model.state_dict()}, path))


if __name__ == "__main__":
    main(sys.argv[1])
