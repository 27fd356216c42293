"""Low-label design, t-tests (hand/scipy values, degenerate inputs), summaries, tables, plots."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from genesis_core.evaluation import (
    learning_curve_plot,
    nested_fractions,
    summarize,
    to_csv,
    to_markdown,
    welch_ttest,
)

IDS = [f"scan-{i:02d}" for i in range(30)]
FRACTIONS = [0.1, 0.25, 0.5, 1.0]


def test_nested_fractions_are_nested_sized_and_deterministic() -> None:
    subsets = nested_fractions(IDS, FRACTIONS, seed=0)
    assert [len(subsets[f]) for f in FRACTIONS] == [3, 8, 15, 30]  # ceil(f·N)
    for small, big in zip(FRACTIONS, FRACTIONS[1:], strict=False):
        assert set(subsets[small]) < set(subsets[big])
    assert subsets[1.0] == sorted(IDS)
    assert nested_fractions(list(reversed(IDS)), FRACTIONS, seed=0) == subsets  # order-free
    assert nested_fractions(IDS, FRACTIONS, seed=1)[0.1] != subsets[0.1]


def test_nested_fractions_minimum_and_validation() -> None:
    assert nested_fractions(["only"], [0.01, 1.0], seed=3) == {0.01: ["only"], 1.0: ["only"]}
    assert len(nested_fractions(IDS, [0.001], seed=0)[0.001]) == 1
    for bad in ([0.0], [1.5], []):
        with pytest.raises(ValueError):
            nested_fractions(IDS, bad, seed=0)
    with pytest.raises(ValueError):
        nested_fractions([], [0.5], seed=0)


A = [1.0, 2.0, 3.0, 4.0]
B = [2.0, 4.0, 6.0, 8.0, 10.0]


def test_welch_matches_hand_formula() -> None:
    from scipy import stats

    va, vb = np.var(A, ddof=1) / len(A), np.var(B, ddof=1) / len(B)  # 5/12, 2
    t = (np.mean(A) - np.mean(B)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(A) - 1) + vb**2 / (len(B) - 1))
    res = welch_ttest(A, B)
    assert res.t == pytest.approx(-2.2514, abs=1e-4) and res.t == pytest.approx(t)
    assert res.df == pytest.approx(df) and df == pytest.approx(5.5208, abs=1e-4)
    assert res.p == pytest.approx(2 * stats.t.sf(abs(t), df))
    t_, p_ = res
    assert (t_, p_) == (res.t, res.p) and res.reason == ""


def test_student_option_matches_pooled_formula() -> None:
    from scipy import stats

    sp2 = (3 * np.var(A, ddof=1) + 4 * np.var(B, ddof=1)) / 7  # 45/7
    t = (np.mean(A) - np.mean(B)) / math.sqrt(sp2 * (1 / 4 + 1 / 5))
    res = welch_ttest(A, B, equal_var=True)
    assert res.t == pytest.approx(t) and res.t == pytest.approx(-2.0578, abs=1e-4)
    assert res.p == pytest.approx(2 * stats.t.sf(abs(t), 7))


@pytest.mark.parametrize(
    ("a", "b", "why"),
    [
        ([1.0], [1.0, 2.0], "at least 2"),
        ([], [], "at least 2"),
        ([3.0, 3.0], [3.0, 3.0], "zero variance"),
        ([3.0, 3.0], [5.0, 5.0, 5.0], "zero variance"),
        ([1.0, np.nan], [1.0, 2.0], "non-finite"),
    ],
)
def test_degenerate_t_tests_give_nan_with_a_reason(a, b, why) -> None:
    t, p = welch_ttest(a, b)
    assert math.isnan(t) and math.isnan(p)
    assert why in welch_ttest(a, b).reason


def test_one_constant_group_is_still_testable() -> None:
    res = welch_ttest([1.0, 1.0, 1.0], [2.0, 3.0, 4.0])
    assert math.isfinite(res.p) and res.reason == ""
    assert res.t == pytest.approx(-2.0 / math.sqrt(1.0 / 3.0)) and res.df == pytest.approx(2.0)


def test_agrees_with_scipy_ttest_ind() -> None:
    from scipy import stats

    rng = np.random.default_rng(4)
    a, b = rng.normal(0.8, 0.05, 7), rng.normal(0.75, 0.1, 5)
    for equal_var in (False, True):
        ref = stats.ttest_ind(a, b, equal_var=equal_var)
        res = welch_ttest(a, b, equal_var=equal_var)
        assert res.t == pytest.approx(ref.statistic) and res.p == pytest.approx(ref.pvalue)


def _results() -> list[dict]:
    vals = {
        ("scratch", 0.1): [0.60, 0.70, 0.65],
        ("genesis", 0.1): [0.80, 0.82, 0.84],
        ("scratch", 1.0): [0.90, 0.91, float("nan")],
        ("genesis", 1.0): [0.92, 0.93, 0.91],
    }
    return [
        {"init": i, "fraction": f, "seed": s, "metric": v, "test_scans": 4, "test_positives": 2}
        for (i, f), vs in vals.items()
        for s, v in enumerate(vs)
    ]


def test_summarize_two_inits() -> None:
    rows = summarize(_results())
    assert [(r["fraction"], r["init"]) for r in rows] == [
        (0.1, "genesis"),
        (0.1, "scratch"),
        (1.0, "genesis"),
        (1.0, "scratch"),
    ]
    g, s = rows[0], rows[1]
    assert g["n"] == 3 and g["mean"] == pytest.approx(0.82) and g["std"] == pytest.approx(0.02)
    assert s["std"] == pytest.approx(0.05)
    p = welch_ttest([0.80, 0.82, 0.84], [0.60, 0.70, 0.65]).p
    assert g["p_value"] == pytest.approx(p) and s["p_value"] == pytest.approx(p)
    assert g["compared_to"] == "scratch" and s["compared_to"] == "genesis"
    assert rows[3]["n"] == 2  # the failed (nan) run is left out


def test_summarize_baseline_and_top_two() -> None:
    res = _results() + [
        {"init": "other", "fraction": 0.1, "seed": k, "metric": 0.5 + 0.01 * k} for k in range(3)
    ]
    top = {r["init"]: r for r in summarize(res) if r["fraction"] == 0.1}
    assert top["genesis"]["compared_to"] == "scratch"  # two best: genesis 0.82, scratch 0.65
    assert math.isnan(top["other"]["p_value"]) and top["other"]["compared_to"] == ""
    base = {r["init"]: r for r in summarize(res, baseline="scratch") if r["fraction"] == 0.1}
    assert base["other"]["compared_to"] == "scratch" and base["scratch"]["compared_to"] == ""
    assert math.isnan(base["scratch"]["p_value"])


def test_markdown_csv_and_plot(tmp_path) -> None:
    rows = summarize(_results())
    md = to_markdown(rows, metric_name="AUC")
    lines = md.strip().splitlines()
    assert lines[0].startswith("| fraction | init | seeds | test scans | test positives | AUC")
    assert "| vs | Δ paired (95 % CI) | p paired (Holm) | p Wilcoxon | MDD 80 % " in lines[0]
    # secondary columns last, then the test-set bootstrap column
    assert lines[0].endswith("| p (Welch) | p (Student) | test-set ± (bootstrap 95 %) |")
    assert len(lines) == 2 + len(rows)
    assert "| 0.1 | genesis | 3 | 4 | 2 | 0.8200 ± 0.0200 |" in md
    assert all(line.endswith("| nan |") for line in lines[2:]), "fits without intervals"
    student = welch_ttest([0.80, 0.82, 0.84], [0.60, 0.70, 0.65], equal_var=True).p
    assert rows[0]["p_student"] == pytest.approx(student) and f"| {student:.4f} |" in md
    path = to_csv(rows, tmp_path / "out" / "summary.csv")
    with path.open() as f:
        back = list(csv.DictReader(f))
    assert len(back) == 4 and float(back[0]["mean"]) == pytest.approx(0.82)
    png = learning_curve_plot(rows, tmp_path / "curve.png", "AUC")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the paired analysis (#26) ------------------------------------------------------------


def test_paired_test_matches_scipy_and_its_ci_covers_the_mean_difference() -> None:
    from scipy import stats

    from genesis_core.evaluation import paired_test

    a, b = [0.81, 0.84, 0.80, 0.86, 0.83], [0.78, 0.80, 0.79, 0.81, 0.80]
    pr = paired_test(a, b)
    d = np.subtract(a, b)
    assert pr.n == 5 and pr.mean == pytest.approx(d.mean())
    assert pr.p_t == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert pr.p_wilcoxon == pytest.approx(stats.wilcoxon(d).pvalue)
    assert pr.ci_low < pr.mean < pr.ci_high and pr.ci_low > 0  # a consistent gain: CI above 0
    assert pr.mdd80 > pr.ci_high - pr.mean  # MDD exceeds the CI half-width (adds the power term)
    assert paired_test([0.5], [0.4]).reason.startswith("need at least 2")
    same = paired_test([0.5, 0.6], [0.4, 0.5])
    assert same.mdd80 == 0.0 and math.isnan(same.p_t) and same.reason


def test_pairing_sees_a_consistent_gain_that_unpaired_welch_misses() -> None:
    """Seeds move both inits together (same label subset): the per-seed gain is steady."""
    base = [0.60, 0.75, 0.68, 0.82, 0.71]
    gain = [0.020, 0.022, 0.018, 0.021, 0.019]
    res = [
        {"init": i, "fraction": 1.0, "seed": k, "metric": v + (gain[k] if i == "genesis" else 0)}
        for i in ("scratch", "genesis")
        for k, v in enumerate(base)
    ]
    (g,) = [r for r in summarize(res, baseline="scratch") if r["init"] == "genesis"]
    assert g["pairs"] == 5 and g["diff"] == pytest.approx(0.02)
    assert g["p_paired"] < 1e-4 and g["p_value"] > 0.5


def test_holm_adjusts_across_the_cells_of_one_evaluation() -> None:
    from genesis_core.evaluation import holm

    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, float("nan")])[0] == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    res = [
        {"init": i, "fraction": f, "seed": k, "metric": float(rng.normal(0.7, 0.05))}
        for f in (0.25, 0.5, 1.0)
        for i in ("scratch", "genesis")
        for k in range(5)
    ]
    rows = [r for r in summarize(res, baseline="scratch") if r["compared_to"]]
    assert len(rows) == 3
    assert [r["p_holm"] for r in rows] == pytest.approx(holm([r["p_paired"] for r in rows]))
    assert all(r["p_holm"] >= r["p_paired"] for r in rows)


def test_a_a_calibration_rejects_at_the_nominal_rate() -> None:
    """Two identical inits (A/A), seeds that share label subsets: the paired test must not
    reject at 0.05 more often than chance (binomial 99.9 % bound over 2000 cells)."""
    from genesis_core.evaluation import paired_test

    rng = np.random.default_rng(1)
    rejections = 0
    cells = 2000
    for _ in range(cells):
        shared = rng.normal(0.7, 0.08, 5)  # the seed's label subset moves both arms
        a, b = shared + rng.normal(0, 0.02, 5), shared + rng.normal(0, 0.02, 5)
        rejections += paired_test(a, b).p_t < 0.05
    assert rejections / cells < 0.05 + 3.1 * math.sqrt(0.05 * 0.95 / cells)


def test_the_minimal_detectable_difference_is_detected_about_80_percent_of_the_time() -> None:
    from genesis_core.evaluation import paired_test

    rng = np.random.default_rng(2)
    sd, n = 0.02, 8
    probe = paired_test(rng.normal(0, sd, n), rng.normal(0, 0, n))
    hits = sum(
        paired_test(rng.normal(probe.mdd80, sd, n), np.zeros(n)).p_t < 0.05 for _ in range(1500)
    )
    # power at the MDD of the observed SD: near 80 % (the sample SD varies around sd)
    assert 0.6 < hits / 1500 < 0.95


def test_bootstrap_interval_of_the_test_score_covers_it_and_narrows_with_more_cases() -> None:
    from genesis_core import metrics

    rng = np.random.default_rng(3)
    widths = []
    for n in (40, 400):
        y = rng.integers(0, 2, n)
        s = rng.normal(size=n) + 1.2 * y
        lo, hi = metrics.bootstrap_ci(s, y, classification=True)
        assert lo < metrics.roc_auc(s, y) < hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2, "ten times the cases, about a third of the width"
    masks = (rng.random((30, 4, 8, 8)) > 0.7).astype(np.float32)
    probs = np.clip(masks + rng.normal(0, 0.4, masks.shape), 0, 1)
    lo, hi = metrics.bootstrap_ci(probs, masks, classification=False)
    assert lo < metrics.iou(probs, masks) < hi
    rows = summarize(
        [
            {
                "fraction": 1.0,
                "init": "a",
                "seed": k,
                "metric": 0.8,
                "test_ci_low": 0.7,
                "test_ci_high": 0.9,
            }
            for k in range(3)
        ]
    )
    assert rows[0]["test_ci_halfwidth"] == pytest.approx(0.1)
