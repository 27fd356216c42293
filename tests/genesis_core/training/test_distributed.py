"""Data-parallel training as under ``torchrun``: two real processes, Gloo on 127.0.0.1.

The environment variables ``torchrun`` sets are set by hand, so the loop's own
:func:`~genesis_core.training.distributed.init_from_env` joins the group.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from genesis_core.training import ArrayCubeReader, BatchLoader, load_checkpoint, train

from ._helpers import assert_same_weights, config, noise_corrupt, readers, tiny_model

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, port: int, out: str, steps: int, resume: bool) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    try:
        model = tiny_model(seed=rank)  # different inits: DDP must broadcast rank 0's
        cfg = config(max_steps=steps, val_every_steps=2, checkpoint_every_steps=2)
        result = train(model, *readers(), noise_corrupt, cfg, None, Path(out) / "ckpt", resume)
        torch.save(
            {"model": model.state_dict(), "history": result.history, "steps": result.steps},
            Path(out) / f"rank{rank}.pt",
        )
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _run(out: Path, steps: int, resume: bool = False) -> list[dict]:
    mp.start_processes(
        _rank_main,
        args=(_free_port(), str(out), steps, resume),
        nprocs=WORLD,
        start_method="spawn",
        join=True,
    )
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def test_loader_shards_each_global_batch_between_ranks():
    reader = ArrayCubeReader(
        np.arange(20, dtype=np.float32)[:, None, None, None] + np.zeros((1, 2, 2, 2), np.float32)
    )
    loaders = [BatchLoader(reader, 3, seed=4, shard=(r, 2)) for r in range(2)]
    assert [lo.batches_per_epoch for lo in loaders] == [3, 3]  # 20 // (3 × 2)
    order = loaders[0].order(0)
    for b in range(3):
        parts = [lo._slice(order, b) for lo in loaders]
        assert parts[0] + parts[1] == order[b * 6 : (b + 1) * 6].tolist()
    with pytest.raises(ValueError, match="shard"):
        BatchLoader(reader, 3, shard=(2, 2))


def test_two_ranks_train_in_step_and_resume_exactly(tmp_path):
    straight = _run(tmp_path / "a", steps=8)
    assert straight[0]["steps"] == 8
    for key in straight[0]["model"]:  # DDP keeps every rank's weights identical
        torch.testing.assert_close(
            straight[0]["model"][key], straight[1]["model"][key], atol=0, rtol=0
        )
    val = [h["val_loss"] for h in straight[0]["history"]]
    assert val == [h["val_loss"] for h in straight[1]["history"]], "ranks agree on validation"
    assert val[-1] < val[0]
    payload = load_checkpoint(tmp_path / "a" / "ckpt" / "last.pt")
    gens = payload["rng"]["rank_generators"]
    assert len(gens) == WORLD and not torch.equal(gens[0], gens[1])

    _run(tmp_path / "b", steps=4)
    resumed = _run(tmp_path / "b", steps=8, resume=True)
    a, b = tiny_model(), tiny_model()
    a.load_state_dict(straight[0]["model"])
    b.load_state_dict(resumed[0]["model"])
    assert_same_weights(a, b, atol=1e-6)

    # one process with the same global batch sees the same samples, not the same model:
    # per-rank BatchNorm statistics and per-rank corruption streams differ by design
    single = tiny_model()
    train(single, *readers(), noise_corrupt, config(max_steps=8, batch_size=8), None)
    assert any(
        not torch.equal(single.state_dict()[k], straight[0]["model"][k])
        for k in straight[0]["model"]
    )
