"""Metrics against hand-computed values, including empty masks, ties and single-class AUC."""

from __future__ import annotations

import numpy as np
import pytest

from genesis_core.metrics import average_ranks, dice, iou, mean_iou_paper, per_case, roc_auc


def test_average_ranks_share_ties() -> None:
    np.testing.assert_array_equal(average_ranks([30, 10, 20, 20]), [4.0, 1.0, 2.5, 2.5])
    np.testing.assert_array_equal(average_ranks([5, 5, 5]), [2.0, 2.0, 2.0])


def test_auc_hand_values() -> None:
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert roc_auc([1, 2, 3], [0, 1, 1]) == 1.0
    assert roc_auc([3, 2, 1], [0, 1, 1]) == 0.0


def test_auc_ties_count_half() -> None:
    assert roc_auc([0.5, 0.5], [0, 1]) == 0.5
    # pos {2, 3} vs neg {1, 2}: 1 + ½ + 1 + 1 over 4 pairs
    assert roc_auc([1, 2, 2, 3], [0, 0, 1, 1]) == pytest.approx(0.875)
    assert roc_auc(np.ones(6), [0, 1, 0, 1, 1, 0]) == 0.5


def test_auc_equals_the_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    s = np.round(rng.random(60), 1)  # many ties
    y = (rng.random(60) < 0.3).astype(int)
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]
    expected = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
    assert roc_auc(s, y) == pytest.approx(expected, abs=1e-12)


def test_auc_single_class_and_bad_input() -> None:
    with pytest.raises(ValueError, match="AUC undefined: only one class"):
        roc_auc([0.2, 0.9], [1, 1])
    with pytest.raises(ValueError, match="AUC undefined"):
        roc_auc([0.2, 0.9], [0, 0])
    assert np.isnan(roc_auc([0.2, 0.9], [0, 0], on_single_class="nan"))
    with pytest.raises(ValueError, match="0/1"):
        roc_auc([0.2, 0.9], [0, 2])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([np.nan, 0.9], [0, 1])


def test_dice_and_iou_hand_values() -> None:
    pred = np.array([0.9, 0.6, 0.2, 0.4])
    true = np.array([1, 0, 1, 0])
    assert dice(pred, true) == pytest.approx(0.5)  # 2·1 / (2 + 2)
    assert iou(pred, true) == pytest.approx(1 / 3)  # 1 / 3
    # threshold is strict: 0.5 is background
    assert dice(np.array([0.5, 1.0]), np.array([1, 1])) == pytest.approx(2 / 3)


def test_empty_masks() -> None:
    z = np.zeros((2, 4, 4))
    assert dice(z, z) == 1.0 and iou(z, z) == 1.0
    t = z.copy()
    t[0, 0, 0] = 1
    assert dice(z, t) == 0.0 and iou(z, t) == 0.0
    assert dice(t, z) == 0.0
    with pytest.raises(ValueError, match="shape"):
        dice(z, z[0])


def test_mean_iou_paper_constructed_example() -> None:
    probs = np.array([0.52, 0.72, 0.91, 0.30])
    true = np.array([1, 1, 0, 0])
    # t=.50: fg 2/3, bg 1/2 → 7/12;  t=.55–.70 (4): fg 1/3, bg 1/3;
    # t=.75–.90 (4): fg 0, bg 1/4 → 1/8;  t=.95: fg 0, bg 2/4 → 1/4.
    expected = (7 / 12 + 4 * (1 / 3) + 4 * (1 / 8) + 1 / 4) / 10
    assert mean_iou_paper(probs, true) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(4 / 15)


def test_mean_iou_paper_edge_cases() -> None:
    true = np.zeros((2, 3, 3))
    assert mean_iou_paper(np.zeros_like(true), true) == 1.0  # absent fg class is skipped
    true[0, 1, 1] = 1
    assert mean_iou_paper(true.copy(), true) == 1.0
    # everything predicted foreground at every threshold: fg 1/18, bg 0/17 → mean 1/36
    assert mean_iou_paper(np.ones_like(true), true) == pytest.approx(1 / 36)


def test_batch_pooling_versus_per_case() -> None:
    probs = np.array([[0.9, 0.9, 0.1, 0.1], [0.9, 0.1, 0.1, 0.1]])
    true = np.array([[1, 1, 0, 0], [0, 0, 0, 1]])
    np.testing.assert_allclose(per_case(iou, probs, true), [1.0, 0.0])
    assert iou(probs, true) == pytest.approx(2 / 4)  # pooled: inter 2, union 4
    assert mean_iou_paper(probs, true) == pytest.approx(mean_iou_paper(probs.ravel(), true.ravel()))
    cases = per_case(mean_iou_paper, probs, true)
    # case 0: perfect for t < 0.9 (8 thresholds); at 0.90/0.95 fg 0, bg 2/4 → 0.25
    assert cases[0] == pytest.approx((8 + 2 * 0.25) / 10) and cases.dtype == np.float64
