"""Atomic checkpoint writes and RNG capture/restore."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from genesis_core.training import checkpoint as checkpoint_module
from genesis_core.training import load_checkpoint, save_atomic
from genesis_core.training.rng import capture_rng_state, restore_rng_state


def test_save_and_load_round_trip(tmp_path):
    path = save_atomic({"w": torch.arange(3), "meta": {"step": 4, "name": "x"}}, tmp_path / "a.pt")
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["w"], torch.arange(3)) and loaded["meta"] == {"step": 4, "name": "x"}


def test_crash_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_atomic({"step": 1, "w": torch.ones(4)}, tmp_path / "last.pt")
    real_save = torch.save

    def torn_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial garbage")  # a torn write, then the process "dies"
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        save_atomic({"step": 2, "w": torch.zeros(4)}, path)
    monkeypatch.setattr(checkpoint_module.torch, "save", real_save)
    loaded = load_checkpoint(path)
    assert loaded["step"] == 1 and torch.equal(loaded["w"], torch.ones(4))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_rng_states_round_trip_through_a_weights_only_file(tmp_path):
    generator = torch.Generator().manual_seed(3)
    torch.manual_seed(1), np.random.seed(2), random.seed(4)
    path = save_atomic({"rng": capture_rng_state(generator)}, tmp_path / "rng.pt")
    expected = (
        torch.rand(3),
        np.random.rand(3),
        random.random(),
        torch.rand(3, generator=generator),
    )
    torch.manual_seed(9), np.random.seed(9), random.seed(9), generator.manual_seed(9)
    restore_rng_state(load_checkpoint(path)["rng"], generator)
    again = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(3, generator=generator))
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2] == again[2] and torch.equal(expected[3], again[3])
