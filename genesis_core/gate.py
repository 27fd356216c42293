"""The transfer gate: is a pre-trained candidate at least as useful downstream as the champion?

Restoration loss does not track transfer (a 60-step pilot halved it while a linear probe
stayed flat), so promotion is decided on a **development split**: the validation split of
one or more target stores, never their test split.  Candidate and champion are scored on
the same split, in two ways, and compared **paired**:

1. **Linear probe** (classification stores): the frozen encoder's pooled features (global
   average and maximum of each encoder level), standardised on the training split, then an L2-regularised
   logistic regression fitted by Newton's method (closed-form steps, no randomness).  The
   dev AUCs of the two models are compared by a paired bootstrap over dev samples (same
   resamples for both), which gives the difference and its 95 % interval.
2. **Paired few-shot fine-tune**: ``k`` seeds; for each seed both models fine-tune on the
   same label subset, with the same head initialisation and data order, for a fixed number
   of steps, then are scored on the dev split.  The per-seed differences give a paired
   t interval (:func:`genesis_core.evaluation.paired_test`).

Beside them a **restoration sanity check**: both models' loss on the one reference
corruption set (:mod:`genesis_core.training.promotion`) must not regress by more than a
declared relative tolerance.  :func:`decide` applies the :class:`GateRule`.

Pure: models and readers in, numbers and a verdict out; no tracking, no orchestration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from genesis_core import metrics
from genesis_core.evaluation import nested_fractions, paired_test
from genesis_core.target_tasks import target_task


@dataclass(frozen=True)
class GateRule:
    """The decision rule, written in settings (``GENESIS_GATE_*``, :mod:`tasks.settings`).

    Promote only if, for every comparison, the lower 95 % bound of (candidate − champion)
    is ≥ ``-margin`` (in the task's metric: AUC or IoU), and the candidate's reference
    restoration loss is ≤ the champion's × (1 + ``restoration_tolerance``)."""

    margin: float = 0.02
    restoration_tolerance: float = 0.05
    fewshot_seeds: int = 5
    fewshot_steps: int = 20
    fewshot_fraction: float = 1.0
    probe: bool = True
    bootstrap: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.margin < 0 or self.restoration_tolerance < 0:
            raise ValueError("gate margin and restoration tolerance must be >= 0")
        if self.fewshot_seeds < 0 or self.fewshot_steps < 1:
            raise ValueError("gate few-shot seeds must be >= 0 and steps >= 1")
        if not 0 < self.fewshot_fraction <= 1:
            raise ValueError(
                f"gate few-shot fraction must be in (0, 1], got {self.fewshot_fraction}"
            )

    def describe(self) -> str:
        return (
            f"promote if every dev difference's lower 95% bound >= -{self.margin:g} and the "
            f"reference restoration loss is within +{self.restoration_tolerance:.0%} of the "
            f"champion's"
        )


@dataclass(frozen=True)
class Comparison:
    """One paired comparison on one dev split: candidate − champion in ``metric``."""

    name: str  # e.g. "ncc probe", "ncc few-shot"
    metric: str
    candidate: float
    champion: float
    diff: float
    lo: float
    hi: float
    n: int  # bootstrap resamples or seeds
    note: str = ""

    def passes(self, margin: float) -> bool:
        return math.isfinite(self.lo) and self.lo >= -margin

    def metrics(self, prefix: str) -> dict[str, float]:
        return {
            f"{prefix}": self.candidate,
            f"{prefix}_champion": self.champion,
            f"{prefix}_diff": self.diff,
            f"{prefix}_diff_lo95": self.lo,
            f"{prefix}_diff_hi95": self.hi,
        }

    def line(self) -> str:
        return (
            f"{self.name} {self.metric} {self.diff:+.3f} [{self.lo:+.3f}, {self.hi:+.3f}] "
            f"({self.candidate:.3f} vs {self.champion:.3f})"
        )


@dataclass(frozen=True)
class Verdict:
    promoted: bool
    reason: str  # one line: "promoted: …" / "kept champion: …"
    comparisons: tuple[Comparison, ...] = ()


# ---------------------------------------------------------------------- linear probe


@torch.no_grad()
def pooled_features(model: nn.Module, reader: Any, batch_size: int = 8) -> np.ndarray:
    """Frozen-encoder features of every sample of ``reader``: each of the four encoder
    levels averaged and max-pooled over space, concatenated → (n, 2·ΣC) float64.  All
    levels, because the decoder of a restorer reads all of them through its skips; the
    maximum keeps a small object that an average over the cube washes out."""
    from genesis_core.models.unet3d import run_encoder

    was = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(reader), batch_size):
        x, _ = reader.read(range(start, min(start + batch_size, len(reader))))
        deepest, skips = run_encoder(model, torch.from_numpy(x)[:, None].to(device))
        parts = []
        for f in (*skips, deepest):
            f = f.float().flatten(2)
            parts += [f.mean(dim=2), f.amax(dim=2)]
        out.append(torch.cat(parts, dim=1).cpu().double().numpy())
    model.train(was)
    if not out:
        raise ValueError("no samples to compute features of")
    return np.concatenate(out)


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iterations: int = 50
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method, classes weighted to balance:
    deterministic, no learning rate.  Returns (weights, bias)."""
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n, d = x.shape
    pos = y.sum()
    if pos in (0, n):
        raise ValueError(f"linear probe needs both classes in training, got {int(pos)} of {n}")
    sw = np.where(y > 0, n / (2 * pos), n / (2 * (n - pos)))
    xb = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (sw * (p - y)) / n + reg * w
        hess = (xb * (sw * p * (1 - p))[:, None]).T @ xb / n + np.diag(reg) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w[:-1], float(w[-1])


def probe_scores(
    train_x: np.ndarray, train_y: np.ndarray, dev_x: np.ndarray, l2: float = 1e-2
) -> np.ndarray:
    """Fit the probe on the training features, return its dev logits."""
    mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-6
    w, b = fit_logistic((train_x - mean) / std, train_y, l2)
    return ((dev_x - mean) / std) @ w + b


def paired_bootstrap_auc(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, resamples: int, seed: int
) -> tuple[float, float, float, int]:
    """AUC(a) − AUC(b) on the same labels, and its 95 % percentile interval over paired
    resamples of the samples (both scored on the same resample).  Returns (diff, lo, hi,
    valid resamples)."""
    y = np.asarray(y).reshape(-1)
    diff = metrics.roc_auc(a, y) - metrics.roc_auc(b, y)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            diffs.append(metrics.roc_auc(a[i], y[i]) - metrics.roc_auc(b[i], y[i]))
    if len(diffs) < 20:
        return diff, math.nan, math.nan, len(diffs)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return diff, float(lo), float(hi), len(diffs)


def linear_probe(
    name: str,
    candidate: nn.Module,
    champion: nn.Module,
    train_reader: Any,
    dev_reader: Any,
    rule: GateRule,
) -> Comparison:
    """Paired linear-probe comparison on one classification store (dev = its val split)."""
    y_train, y_dev = train_reader.labels(), dev_reader.labels()
    if not (0 < y_dev.sum() < len(y_dev)):
        raise ValueError(
            f"{name}: the dev split needs positives and negatives for an AUC, got "
            f"{int(y_dev.sum())} positives of {len(y_dev)}"
        )
    logits = []
    for model in (candidate, champion):
        logits.append(
            probe_scores(
                pooled_features(model, train_reader), y_train, pooled_features(model, dev_reader)
            )
        )
    diff, lo, hi, n = paired_bootstrap_auc(y_dev, logits[0], logits[1], rule.bootstrap, rule.seed)
    return Comparison(
        f"{name} probe",
        "auc",
        metrics.roc_auc(logits[0], y_dev),
        metrics.roc_auc(logits[1], y_dev),
        diff,
        lo,
        hi,
        n,
        note=f"{len(y_train)} train / {len(y_dev)} dev samples",
    )


# ---------------------------------------------------------------------- few-shot


def fewshot(
    name: str,
    task: str,
    candidate: nn.Module,
    champion: nn.Module,
    train_reader: Any,
    dev_reader: Any,
    rule: GateRule,
    profile: Any,
) -> Comparison:
    """``rule.fewshot_seeds`` paired short fine-tunes; returns the paired comparison.

    Each seed draws one label subset of the training split and fine-tunes both models from
    ``torch.manual_seed(seed)`` (same head/decoder init when their widths agree) with the
    same data order, ``rule.fewshot_steps`` steps, no validation during training; both
    are then scored on the dev split."""
    from genesis_core.finetuning import build_model, loss_for, positive_weight, predict, score
    from genesis_core.training import finetune

    spec = target_task(task)
    metric = spec.primary_metric
    scores: list[list[float]] = [[], []]
    seeds = [rule.seed + k for k in range(rule.fewshot_seeds)]
    for seed in seeds:
        subset = nested_fractions(train_reader.scan_ids, [rule.fewshot_fraction], seed=seed)
        train = train_reader.subset(subset[rule.fewshot_fraction])
        loop = replace(
            profile.loop,
            max_steps=rule.fewshot_steps,
            max_epochs=None,
            seed=seed,
            patience=None,
            restore_best=False,
            val_every_steps=None,
            checkpoint_every_steps=None,
            scheduler="none",
        )
        pw = (
            positive_weight(train.labels()) if (spec.classification and profile.pos_weight) else 1.0
        )
        for arm, source in enumerate((candidate, champion)):
            torch.manual_seed(seed)
            model, _ = build_model(task, _width(source), source.state_dict(), profile.network)
            finetune(model, train, None, loss_for(task, pw), loop)
            probs, truth = predict(model, dev_reader, loop.batch_size, loop.device)
            scores[arm].append(score(task, probs, truth)[metric])
    p = paired_test(scores[0], scores[1])
    return Comparison(
        f"{name} few-shot",
        metric,
        float(np.mean(scores[0])),
        float(np.mean(scores[1])),
        p.mean,
        p.ci_low,
        p.ci_high,
        p.n,
        note=p.reason or f"{len(seeds)} paired seeds, {rule.fewshot_steps} steps",
    )


def _width(model: nn.Module) -> float:
    return float(getattr(getattr(model, "config", None), "width", 1.0))


# ---------------------------------------------------------------------- decision


def decide(
    comparisons: list[Comparison],
    restoration: float,
    champion_restoration: float,
    rule: GateRule,
) -> Verdict:
    """Apply ``rule``: every comparison's lower bound ≥ −margin and restoration within
    tolerance.  With no comparison (no dev store) the restoration check decides alone, and
    then strictly: a candidate is promoted only if its reference loss is lower."""
    failed: list[str] = []
    limit = champion_restoration * (1 + rule.restoration_tolerance)
    if not restoration <= limit:
        failed.append(
            f"reference restoration loss {restoration:.5g} > {limit:.5g} "
            f"(champion {champion_restoration:.5g} +{rule.restoration_tolerance:.0%})"
        )
    for c in comparisons:
        if not c.passes(rule.margin):
            why = "worse" if c.hi < 0 else "cannot show it is not worse"  # interval too wide
            failed.append(f"{c.line()}: lower bound below -{rule.margin:g} ({why})")
    if not comparisons:
        if failed or not restoration < champion_restoration:
            why = failed[0] if failed else "reference restoration loss not lower"
            return Verdict(False, f"kept champion: {why} (no dev split: restoration only)")
        return Verdict(
            True, "promoted: lower reference restoration loss (no dev split: restoration only)"
        )
    if failed:
        return Verdict(False, "kept champion: " + "; ".join(failed), tuple(comparisons))
    best = "; ".join(c.line() for c in comparisons)
    return Verdict(True, f"promoted: {best}; restoration ok", tuple(comparisons))
