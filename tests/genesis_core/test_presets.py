"""Presets are data files a user can copy and edit (GENESIS_PRESETS_DIR)."""

from __future__ import annotations

import shutil

import pytest

from genesis_core.finetuning import finetune_profile
from genesis_core.presets import HERE, presets
from genesis_core.training.profiles import profile


def test_built_in_presets_are_the_two_documented_profiles() -> None:
    assert sorted(presets("pretrain")) == sorted(presets("finetune")) == ["paper", "tiny"]
    tiny = profile("tiny", steps=None, device="cpu")
    assert tiny.loop.max_steps == 120 and tiny.loop.patience is None and tiny.model.width == 0.125
    paper = profile("paper", steps=7, device="cpu")
    assert paper.loop.max_steps == 7 and paper.loop.optimizer == "sgd" and paper.model.width == 1.0
    # "task": the reference's batch size and patience of the task (genesis_core/target_tasks.py)
    assert finetune_profile("paper", "ncc", None, 0).loop.batch_size == 24
    assert finetune_profile("paper", "ncs", None, 0).loop.patience == 50


def test_an_edited_copy_replaces_the_built_in_profile(tmp_path, monkeypatch) -> None:
    shutil.copy(HERE / "pretrain.toml", tmp_path / "pretrain.toml")
    text = (tmp_path / "pretrain.toml").read_text().replace("max_steps = 120", "max_steps = 9")
    (tmp_path / "pretrain.toml").write_text(
        text + "\n[mine]\nmodel = { width = 0.25 }\nloop = { batch_size = 2 }\n"
    )
    monkeypatch.setenv("GENESIS_PRESETS_DIR", str(tmp_path))
    assert profile("tiny", device="cpu").loop.max_steps == 9
    mine = profile("mine", device="cpu")
    assert mine.model.width == 0.25 and mine.loop.batch_size == 2
    assert finetune_profile("tiny", "ncc", None, 0).loop.max_steps == 40, "no finetune.toml there"


def test_a_mistake_in_a_preset_names_the_file_and_the_profile(tmp_path, monkeypatch) -> None:
    (tmp_path / "pretrain.toml").write_text("[tiny]\nloop = { batch_sise = 4 }\n")
    monkeypatch.setenv("GENESIS_PRESETS_DIR", str(tmp_path))
    with pytest.raises(ValueError, match=r"pretrain.toml \[tiny\]: .*batch_sise"):
        profile("tiny")
    with pytest.raises(ValueError, match=r"unknown profile 'huge': use one of \['paper', 'tiny'\]"):
        profile("huge")
    (tmp_path / "pretrain.toml").write_text("[tiny\n")
    with pytest.raises(ValueError, match="pretrain.toml: not valid TOML"):
        profile("tiny")
