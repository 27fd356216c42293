"""Fine-tuning on a target task: model + initialisation, loss, one fit, test scores.

Tasks (SPEC §4, defined in :mod:`genesis_core.target_tasks`): classification (``ncc``:
encoder → pool → 1024 → 1, BCE, ROC-AUC) or segmentation (``lcs``, ``ncs``, ``seg``: whole
U-Net, sigmoid, 1 − soft Dice; Dice, IoU and the paper's mean IoU).  Initialisations are a
state dict (pre-trained U-Net, released
reference weights, any checkpoint) or ``None`` for scratch.  The ``paper`` profile is the
reference's recipe (plain BCE); the ``tiny`` profile weights ``ncc`` positives with
``n_negative / n_positive`` of the training fraction (``FinetuneProfile.pos_weight``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genesis_core import metrics
from genesis_core.models import load_reference_weights
from genesis_core.models.networks import DEFAULT, network
from genesis_core.presets import build, none_values, preset
from genesis_core.target_tasks import target_task
from genesis_core.training import FinetuneConfig, finetune, soft_dice_loss
from genesis_core.training.device import resolve_device


@dataclass(frozen=True)
class FinetuneProfile:
    name: str
    width: float
    loop: FinetuneConfig
    pos_weight: bool = False  # weight ncc positives by n_negative / n_positive
    network: str = DEFAULT  # genesis_core.models.networks


def finetune_profile(
    name: str, task: str, steps: int | None, seed: int, device: str = "auto"
) -> FinetuneProfile:
    """The profile ``name`` of ``genesis_core/presets/finetune.toml`` (or a user's copy, see
    :mod:`genesis_core.presets`): ``tiny`` (CPU minutes) or ``paper`` (SPEC §4: Adam 1e-3,
    the reference's batch size and patience for ``task``, plain BCE)."""
    table = preset("finetune", name)
    where = f"{table['source']} [{name}]"
    spec = target_task(task)
    per_task = {"batch_size": spec.paper_batch, "patience": spec.paper_patience}
    loop = {
        k: per_task[k] if v == "task" else v for k, v in none_values(table.get("loop", {})).items()
    }
    if steps is not None:
        loop["max_steps"] = steps
    loop.update(device=device, seed=seed)
    return FinetuneProfile(
        name,
        float(table.get("width", 1.0)),
        build(FinetuneConfig, loop, where),
        bool(table.get("pos_weight", False)),
        network(table.get("network", DEFAULT)).name,
    )


def build_model(
    task: str, width: float, init_state: dict[str, Tensor] | None, network_name: str = DEFAULT
) -> tuple[nn.Module, dict]:
    """The task's network, initialised from ``init_state`` where names match; returns a load report."""
    net = network(network_name)
    cfg = net.config(width=width, bn_momentum=0.5 if width < 1 else 0.1)
    model = net.build(cfg, classification=target_task(task).classification)
    if init_state is None:
        return model, {"init": "scratch"}
    # init_state is already in the project's layout (read_state_dict converted any released file)
    report = load_reference_weights(model, {"state_dict": init_state}, layout="zyx")
    return model, {
        "init": "weights",
        "missing": len(report.missing),
        "unexpected": len(report.unexpected),
    }


def loss_for(task: str, pos_weight: float = 1.0):
    if not target_task(task).classification:
        return soft_dice_loss
    weight = torch.tensor(float(pos_weight))

    def weighted_bce(logits: Tensor, targets: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            logits, targets, pos_weight=weight.to(logits.device)
        )

    return weighted_bce


def positive_weight(labels: np.ndarray) -> float:
    pos = int((labels > 0).sum())
    return float((len(labels) - pos) / pos) if pos else 1.0


@torch.no_grad()
def predict(
    model: nn.Module, reader: Any, batch_size: int = 8, device: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and targets for every sample of ``reader`` (classification: (n,), masks: (n, D, H, W))."""
    dev = resolve_device(device)
    model.to(dev).eval()
    probs, truth = [], []
    for start in range(0, len(reader), batch_size):
        x, y = reader.read(range(start, min(start + batch_size, len(reader))))
        out = model(torch.from_numpy(x)[:, None].to(dev)).float().cpu()
        probs.append(torch.sigmoid(out).squeeze(-1).numpy() if out.ndim == 2 else out[:, 0].numpy())
        truth.append(y)
    return np.concatenate(probs), np.concatenate(truth)


def score(task: str, probs: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    if target_task(task).classification:
        return {"auc": metrics.roc_auc(probs, truth, on_single_class="nan")}
    return {
        "dice": metrics.dice(probs, truth),
        "iou": metrics.iou(probs, truth),
        "mean_iou_paper": metrics.mean_iou_paper(probs, truth),
    }


def fit(
    task: str,
    train_reader: Any,
    val_reader: Any,
    test_reader: Any,
    init_state: dict | None,
    profile: FinetuneProfile,
    checkpoint_dir: Path | None = None,
    sink: Any = None,
    resume: bool = False,
    init_seed: int | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Fine-tune one model, then score it on the validation split (``val_*``: what chooses
    between fits) and on the test split (reported, never used to choose); returns (model,
    result dict).  ``init_seed`` (default: the loop's seed) seeds the weights ``init_state``
    does not provide; the data order always follows the loop's seed."""
    # head/decoder initialisation is part of the seed
    torch.manual_seed(profile.loop.seed if init_seed is None else init_seed)
    model, report = build_model(task, profile.width, init_state, profile.network)
    weighted = target_task(task).classification and profile.pos_weight
    pw = positive_weight(train_reader.labels()) if weighted else 1.0
    res = finetune(
        model,
        train_reader,
        val_reader,
        loss_for(task, pw),
        profile.loop,
        sink=sink,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
    )
    val_probs, val_truth = predict(model, val_reader, profile.loop.batch_size, profile.loop.device)
    probs, truth = predict(model, test_reader, profile.loop.batch_size, profile.loop.device)
    out = {
        "best_val_loss": res.best_val_loss,
        "steps": res.steps,
        "stop_reason": res.stop_reason,
        "pos_weight": pw,
        "test_scans": len(getattr(test_reader, "scan_ids", [])),
        "test_positives": _positives(truth),
        **report,
        **score(task, probs, truth),
        **_test_interval(task, probs, truth),
        **{f"val_{k}": v for k, v in score(task, val_probs, val_truth).items()},
    }
    return model, out


def _test_interval(task: str, probs: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The primary test score's 95 % bootstrap interval over test cases (``test_ci_low`` /
    ``test_ci_high``): the variance that comes from which cases were tested."""
    spec = target_task(task)
    lo, hi = metrics.bootstrap_ci(probs, truth, spec.classification)
    return {"test_ci_low": lo, "test_ci_high": hi}


def _positives(truth: np.ndarray) -> int:
    """Positive test samples: class 1 (classification) or samples with foreground (masks)."""
    t = np.asarray(truth)
    return int(np.count_nonzero(t.reshape(len(t), -1).any(axis=1))) if len(t) else 0


class WithProbabilities(nn.Module):
    """Serving wrapper: cubes (N, 1, D, H, W) in [0, 1] → probabilities.

    Classification: (N,) probability of the positive class; segmentation: the
    U-Net's sigmoid masks (N, 1, D, H, W).
    """

    def __init__(self, model: nn.Module, task: str) -> None:
        super().__init__()
        self.model, self.classification = model, target_task(task).classification

    def forward(self, x: Tensor) -> Tensor:
        out = self.model(x)
        return torch.sigmoid(out).squeeze(-1) if self.classification else out
