"""The target tasks are data: one definition per kind, read by every layer."""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pytest

from genesis_core.target_tasks import TARGET_TASKS, TargetTask, TaskName, target_task


def test_one_list_of_names_everywhere() -> None:
    from flows.cli.base import TaskName as CliTaskName
    from flows.evaluate import Task as FlowTask
    from genesis_core.targets import TASKS

    assert typing.get_args(TaskName) == tuple(TARGET_TASKS) == TASKS
    assert CliTaskName is TaskName and FlowTask is TaskName


@pytest.mark.parametrize("name", list(TARGET_TASKS))
def test_every_builder_resolves(name: str) -> None:
    import importlib

    spec = target_task(name)
    module, _, function = spec.builder.partition(":")
    assert callable(getattr(importlib.import_module(module), function))
    assert spec.primary_metric == ("auc" if spec.classification else "iou")
    assert not (spec.label_map and spec.catalog_table), "a task reads a label map or a table"


def test_an_unknown_task_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown task 'xyz'; use one of \('ncc'"):
        target_task("xyz")


@pytest.mark.parametrize("name", list(TARGET_TASKS))
def test_fine_tuning_follows_the_definition(name: str) -> None:
    """Head, loss, scores and the served output all come from ``classification``."""
    import torch

    from genesis_core.finetuning import WithProbabilities, build_model, loss_for, score
    from genesis_core.models import UNet3DClassifier

    spec = target_task(name)
    model, _ = build_model(name, 0.125, None)
    assert isinstance(model, UNet3DClassifier) == spec.classification
    out = WithProbabilities(model.eval(), name)(torch.rand(2, 1, 32, 32, 16))
    assert tuple(out.shape) == ((2,) if spec.classification else (2, 1, 32, 32, 16))
    assert (loss_for(name).__name__ == "weighted_bce") == spec.classification
    probs, truth = np.array([0.2, 0.8]), np.array([0, 1])
    if not spec.classification:
        probs, truth = np.ones((2, 4, 4, 4)) * 0.9, np.ones((2, 4, 4, 4), dtype=np.uint8)
    assert spec.primary_metric in score(name, probs, truth)


def test_a_new_kind_is_one_definition() -> None:
    """A task defined as data builds its samples through its own builder."""
    spec = dataclasses.replace(TARGET_TASKS["lcs"], name="kidney", summary="kidney masks")
    assert isinstance(spec, TargetTask) and spec.builder == TARGET_TASKS["lcs"].builder
    from genesis_core.io.readers import ScanReadError

    with pytest.raises(ScanReadError, match="no label map"):
        spec.build(None, None, None, None, None)
