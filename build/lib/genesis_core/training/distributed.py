"""Data-parallel training across processes (``torchrun``), with nothing to do in one process.

``torchrun --nproc-per-node G …`` starts G processes with ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` set; :func:`init_from_env` joins them into a process group (NCCL on CUDA,
Gloo on the CPU) and pins each process to GPU ``LOCAL_RANK``.  The training loop then:

* wraps the model in ``DistributedDataParallel`` (gradients averaged across ranks);
* gives each rank a disjoint slice of every global batch (``batch_size`` is per rank, the
  global batch is ``batch_size × world``), from the same epoch permutation, so the data
  position stays one number for all ranks and resuming works as in one process;
* seeds each rank's corruption generator with ``seed + rank`` and checkpoints every rank's
  generator state;
* sums validation losses over ranks, so early stopping and ``best.pt`` agree everywhere;
* reports metrics and writes checkpoints from rank 0 only (the others wait at a barrier).

BatchNorm statistics stay per rank (as the reference's per-GPU batches of 6).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    """This process's place: ``rank`` of ``world`` processes, GPU ``local_rank`` on its host."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world() -> Dist:
    """What ``torchrun`` says about this process (one process when it says nothing)."""
    return Dist(
        rank=int(os.environ.get("RANK", 0)),
        world=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def init_from_env(device_type: str) -> Dist:
    """Join the ``torchrun`` process group if there is one; returns this process's place."""
    info = env_world()
    if info.active and not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return current()


def current() -> Dist:
    """This process's place in an initialised process group, else a single process."""
    if dist.is_available() and dist.is_initialized():
        return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return Dist()


def device_for(name: str, info: Dist) -> str:
    """``cuda`` means this rank's GPU under ``torchrun``."""
    if info.active and name in ("cuda", "auto") and torch.cuda.is_available():
        return f"cuda:{info.local_rank}"
    return name


def barrier(info: Dist) -> None:
    if info.active:
        dist.barrier()


def all_sum(value: torch.Tensor, info: Dist) -> torch.Tensor:
    """Sum over ranks (in place); a no-op in one process."""
    if info.active:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def gather_objects(obj: Any, info: Dist) -> list[Any]:
    """Every rank's ``obj``, in rank order (a one-element list in one process)."""
    if not info.active:
        return [obj]
    out: list[Any] = [None] * info.world
    dist.all_gather_object(out, obj)
    return out
