"""The target tasks (SPEC §4), one definition each: what a task is, as data.

A :class:`TargetTask` names everything that differs between tasks: how its samples are
built from a scan (``builder``, resolved on first use so this module stays cheap to
import), which LUNA16 table or label map it needs, whether it predicts one probability
per cube (classification: encoder + head, weighted BCE, ROC-AUC) or a mask
(segmentation: the whole U-Net, soft Dice, IoU), and the paper's batch size and patience.
Everything else (target stores, fine-tuning, registration, the CLI's choices) reads it
from :data:`TARGET_TASKS`.

Adding a task kind: write its builder ``build(image, label, table, config, rng) ->
TargetArrays`` in a module of :mod:`genesis_core.targets`, add one line below and its
name to :data:`TaskName`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal, get_args

TaskName = Literal["ncc", "lcs", "ncs", "seg"]


@dataclass(frozen=True)
class TargetTask:
    name: str
    summary: str
    classification: bool  # one probability per cube; else a mask per cube
    builder: str  # "module:function", build(image, label, table, config, rng) -> TargetArrays
    catalog_table: str | None = None  # the LUNA16 CSV the builder needs (candidates/annotations)
    label_map: bool = False  # masks come from the scan's label map
    needs_label: bool = False  # the user names the label (its store and model are named after it)
    paper_batch: int = 16  # SPEC §4, the reference's downstream configs
    paper_patience: int = 20  # early-stopping patience, epochs

    @property
    def primary_metric(self) -> str:
        """The score that ranks models of this task (registry, evaluation)."""
        return "auc" if self.classification else "iou"

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the served model's output: (N,) probabilities or (N, 1, D, H, W) masks."""
        return (-1,) if self.classification else (-1, 1, -1, -1, -1)

    def build(self, image: Any, label: Any, table: Any, config: Any, rng: Any) -> Any:
        module, _, function = self.builder.partition(":")
        return getattr(importlib.import_module(module), function)(image, label, table, config, rng)


TARGET_TASKS: dict[str, TargetTask] = {
    t.name: t
    for t in (
        TargetTask(
            "ncc",
            "lung-nodule false-positive reduction (LUNA16 candidates)",
            classification=True,
            builder="genesis_core.targets.ncc:build",
            catalog_table="candidates",
            paper_batch=24,
            paper_patience=10,
        ),
        TargetTask(
            "lcs",
            "liver segmentation (LiTS label maps)",
            classification=False,
            builder="genesis_core.targets.lcs:build",
            label_map=True,
            paper_patience=20,
        ),
        TargetTask(
            "ncs",
            "lung-nodule segmentation (LUNA16 annotations)",
            classification=False,
            builder="genesis_core.targets.ncs:build",
            catalog_table="annotations",
            paper_patience=50,
        ),
        TargetTask(
            "seg",
            "any labelled dataset, e.g. an MSD organ (label maps)",
            classification=False,
            builder="genesis_core.targets.lcs:build",
            label_map=True,
            needs_label=True,
            paper_patience=20,
        ),
    )
}

if tuple(TARGET_TASKS) != get_args(TaskName):  # one list of names, checked at import
    raise RuntimeError(f"TaskName {get_args(TaskName)} != TARGET_TASKS {tuple(TARGET_TASKS)}")


def target_task(name: str) -> TargetTask:
    """The task called ``name``; an unknown name is an error listing the known ones."""
    try:
        return TARGET_TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; use one of {tuple(TARGET_TASKS)}") from None
