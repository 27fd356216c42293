"""Evaluation metrics of the target tasks (SPEC §4): ROC-AUC, Dice, IoU, the paper's mean IoU.

Plain NumPy, float64 arithmetic, integer voxel counts.  Inputs are never modified.

* Probabilities are binarised as ``prob > threshold`` (strictly greater, as the
  reference Keras code does: ``tf.to_int32(y_pred > t)``); ground-truth masks as
  ``true > 0.5`` (so {0, 1} masks of any dtype work).
* :func:`dice` / :func:`iou` are foreground metrics pooled over every voxel they are
  given (any shape, e.g. one case (D, H, W) or a batch (n, D, H, W)).  When both the
  prediction and the truth are empty the overlap is perfect by definition: **1.0**.
* :func:`mean_iou_paper` is the Keras ``tf.metrics.mean_iou`` over two classes
  (background, foreground) averaged over thresholds 0.50, 0.55, …, 0.95, pooling all
  voxels of the batch into one confusion matrix; a class absent from both prediction
  and truth is left out of the class mean, exactly as TensorFlow does.
* :func:`per_case` applies any of them to each case of a batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

PAPER_THRESHOLDS = np.round(0.50 + 0.05 * np.arange(10), 2)  # 0.50 … 0.95


def _check_same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"prediction {a.shape} and truth {b.shape} differ in shape")


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` (1-D), ties sharing the mean of the ranks they span."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], len(xs)]  # exclusive
    group_rank = (starts + 1 + ends) / 2.0  # mean of ranks starts+1 … ends
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def roc_auc(
    scores: np.ndarray,
    labels: np.ndarray,
    on_single_class: Literal["raise", "nan"] = "raise",
) -> float:
    """Area under the ROC curve from the Mann–Whitney rank statistic.

    ``scores`` (m,) any real values (higher = more positive); ``labels`` (m,) in {0, 1}.
    Tied scores get average ranks, so a tie between a positive and a negative counts ½.
    With only one class present the AUC is undefined: ``on_single_class="raise"``
    (default) raises ``ValueError``, ``"nan"`` returns ``nan``.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    _check_same_shape(s, y)
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0/1, got values {np.unique(y)[:5]}")
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        if on_single_class == "nan":
            return float("nan")
        raise ValueError(
            f"AUC undefined: only one class present ({n_pos} positives, {n_neg} negatives)"
        )
    rank_sum = float(average_ranks(s)[pos].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _overlap(pred: np.ndarray, true: np.ndarray, threshold: float) -> tuple[int, int, int]:
    """Foreground voxel counts: (intersection, predicted, true)."""
    p = np.asarray(pred)
    t = np.asarray(true)
    _check_same_shape(p, t)
    pf = p > threshold
    tf = t > 0.5
    return int(np.count_nonzero(pf & tf)), int(np.count_nonzero(pf)), int(np.count_nonzero(tf))


def dice(pred: np.ndarray, true: np.ndarray, threshold: float = 0.5) -> float:
    """Foreground Dice ``2|P∩T| / (|P| + |T|)`` with ``P = pred > threshold``; 1.0 if both empty."""
    inter, n_pred, n_true = _overlap(pred, true, threshold)
    if n_pred + n_true == 0:
        return 1.0
    return 2.0 * inter / float(n_pred + n_true)


def iou(pred: np.ndarray, true: np.ndarray, threshold: float = 0.5) -> float:
    """Foreground IoU ``|P∩T| / |P∪T|`` with ``P = pred > threshold``; 1.0 if both empty."""
    inter, n_pred, n_true = _overlap(pred, true, threshold)
    union = n_pred + n_true - inter
    if union == 0:
        return 1.0
    return inter / float(union)


def _two_class_mean_iou(inter: int, n_pred: int, n_true: int, n_all: int) -> float:
    """TensorFlow's 2-class mean IoU from foreground counts (classes absent everywhere skipped)."""
    fg_union = n_pred + n_true - inter
    bg_inter = n_all - fg_union  # voxels background in both
    bg_union = n_all - inter  # voxels background in either
    ious = [i / u for i, u in ((inter, fg_union), (bg_inter, bg_union)) if u > 0]
    return float(np.mean(ious)) if ious else 0.0


def mean_iou_paper(
    probs: np.ndarray, true: np.ndarray, thresholds: np.ndarray = PAPER_THRESHOLDS
) -> float:
    """The paper's segmentation "IoU": Keras 2-class mean IoU averaged over ``thresholds``.

    ``probs`` sigmoid outputs and ``true`` {0, 1} masks of one shape, e.g. (n, D, H, W);
    every voxel of the batch goes into one confusion matrix per threshold.
    """
    p = np.asarray(probs)
    t = np.asarray(true)
    _check_same_shape(p, t)
    scores = [_two_class_mean_iou(*_overlap(p, t, float(th)), p.size) for th in thresholds]
    return float(np.mean(np.asarray(scores, dtype=np.float64)))


def per_case(
    metric: Callable[[np.ndarray, np.ndarray], float], probs: np.ndarray, true: np.ndarray
) -> np.ndarray:
    """``metric`` applied to each case of a batch (leading axis) → float64 (n,)."""
    p = np.asarray(probs)
    t = np.asarray(true)
    _check_same_shape(p, t)
    return np.asarray([metric(p[i], t[i]) for i in range(len(p))], dtype=np.float64)


def bootstrap_ci(
    probs: np.ndarray,
    true: np.ndarray,
    classification: bool,
    resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float]:
    """Percentile (1 − alpha) interval of the test score over resamples of the test cases:
    ROC-AUC for ``classification`` (resamples with one class only are skipped), else the
    foreground IoU at 0.5 pooled over the resampled cases (the score :func:`iou` gives on
    all of them).  The variance of one fit's score that comes from which cases were tested;
    nan when it cannot be estimated (fewer than 20 usable resamples)."""
    rng = np.random.default_rng(seed)
    p, t = np.asarray(probs), np.asarray(true)
    n = len(p)
    if n < 2:
        return float("nan"), float("nan")
    values = []
    if classification:
        for _ in range(resamples):
            i = rng.integers(0, n, n)
            if 0 < t[i].sum() < n:
                values.append(roc_auc(p[i], t[i]))
    else:
        counts = np.array(
            [_overlap(p[i], t[i], 0.5) for i in range(n)], dtype=np.float64
        )  # per case: intersection, predicted, true
        for _ in range(resamples):
            inter, n_pred, n_true = counts[rng.integers(0, n, n)].sum(axis=0)
            union = n_pred + n_true - inter
            values.append(inter / union if union else 1.0)
    if len(values) < 20:
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)
