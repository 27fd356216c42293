"""Low-label studies and significance: nested label fractions, t-tests, result tables, curves.

The study design (SPEC §4–5): every initialisation (e.g. ``scratch``, ``genesis``) is
fine-tuned on the *same* nested training subsets (10 % ⊂ 25 % ⊂ 50 % ⊂ 100 % of the
training scans) over several seeds; results are reported as mean ± std per
(init, fraction) with an independent two-sample t-test between initialisations.

A result is a dict ``{"init": str, "fraction": float, "seed": int, "metric": float}``
(the value key is configurable).  Standard deviations are sample std (``ddof=1``),
as papers report them.  Non-finite metric values (a failed run) are left out and the
remaining count is reported as ``n``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def nested_fractions(
    train_scan_ids: Iterable[str], fractions: Sequence[float], seed: int
) -> dict[float, list[str]]:
    """Nested training subsets: ``{fraction: sorted scan ids}``, smaller ⊂ larger.

    One permutation of the sorted unique ids (from ``seed`` alone, so it is the same for
    every initialisation and independent of input order); fraction ``f`` takes its first
    ``max(1, ceil(f·N))`` scans.  Fractions must lie in (0, 1].
    """
    ids = sorted(set(train_scan_ids))
    if not ids:
        raise ValueError("no training scans to subsample")
    fr = sorted({float(f) for f in fractions})
    if not fr or fr[0] <= 0.0 or fr[-1] > 1.0:
        raise ValueError(f"fractions must lie in (0, 1], got {list(fractions)}")
    order = np.random.default_rng(seed).permutation(len(ids))
    shuffled = [ids[i] for i in order]
    n = len(ids)
    counts = {f: max(1, min(n, math.ceil(f * n - 1e-9))) for f in fr}
    return {f: sorted(shuffled[: counts[f]]) for f in fr}


@dataclass(frozen=True)
class TTest:
    """A t-test outcome; unpacks as ``t, p = result``.  ``reason`` says why ``p`` is nan."""

    t: float
    p: float
    df: float = float("nan")
    reason: str = ""

    def __iter__(self):
        return iter((self.t, self.p))


def _degenerate(a: np.ndarray, b: np.ndarray) -> str:
    """Why a t-test cannot be computed, or '' when it can."""
    if len(a) < 2 or len(b) < 2:
        return f"need at least 2 values per group, got {len(a)} and {len(b)}"
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return "non-finite values in the samples"
    if np.var(a) == 0.0 and np.var(b) == 0.0:
        return "zero variance in both groups"
    return ""


def welch_ttest(a: Sequence[float], b: Sequence[float], equal_var: bool = False) -> TTest:
    """Independent two-sample, two-sided t-test of mean(a) vs mean(b).

    Welch's test (unequal variances) by default; ``equal_var=True`` gives Student's
    pooled-variance test.  Never raises for degenerate data: with fewer than 2 values
    in a group, non-finite values or zero variance in both groups, ``t`` and ``p`` are
    nan and ``reason`` says why.
    """
    x = np.asarray(a, dtype=np.float64).reshape(-1)
    y = np.asarray(b, dtype=np.float64).reshape(-1)
    reason = _degenerate(x, y)
    if reason:
        return TTest(float("nan"), float("nan"), reason=reason)
    from scipy import stats  # lazy: keep the module import light

    res = stats.ttest_ind(x, y, equal_var=equal_var)
    return TTest(float(res.statistic), float(res.pvalue), float(res.df))


@dataclass(frozen=True)
class Paired:
    """Per-seed differences (init − baseline) of one cell: the fits of a seed share label
    subset, head init and data order, so the comparison is paired.

    ``mdd80``: the smallest true mean difference a two-sided paired t-test at ``alpha``
    detects with 80 % power, for these seeds and this SD of differences; a difference
    below it may well exist though "not significant"."""

    n: int
    mean: float
    ci_low: float
    ci_high: float
    p_t: float
    p_wilcoxon: float
    mdd80: float
    reason: str = ""


NAN = float("nan")


def paired_test(a: Sequence[float], b: Sequence[float], alpha: float = 0.05) -> Paired:
    """Paired comparison of ``a`` and ``b`` (equal length, pair i = seed i): mean of the
    differences with its (1 − alpha) CI, the paired t-test, the Wilcoxon signed-rank test
    and the minimal detectable difference at 80 % power.  Never raises for degenerate data
    (fewer than 2 pairs, non-finite values, all differences equal): nan and a reason."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = len(d)
    if n < 2 or not np.isfinite(d).all():
        why = f"need at least 2 finite pairs, got {n}" if n < 2 else "non-finite differences"
        return Paired(n, float(d.mean()) if n else NAN, NAN, NAN, NAN, NAN, NAN, why)
    from scipy import stats

    mean, sd = float(d.mean()), float(d.std(ddof=1))
    t_crit = float(stats.t.ppf(1 - alpha / 2, n - 1))
    half = t_crit * sd / math.sqrt(n)
    if sd == 0.0:
        return Paired(n, mean, mean, mean, NAN, NAN, 0.0, "all differences are equal")
    p_t = float(stats.ttest_rel(a, b).pvalue)
    nonzero = d[d != 0]
    p_w = float(stats.wilcoxon(nonzero).pvalue) if len(nonzero) >= 1 else NAN
    mdd = (t_crit + float(stats.t.ppf(0.80, n - 1))) * sd / math.sqrt(n)
    return Paired(n, mean, mean - half, mean + half, p_t, p_w, mdd)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (nan entries stay nan and do not
    count towards the family)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(len(p), NAN)
    idx = [i for i in np.argsort(p) if math.isfinite(p[i])]
    m, running = len(idx), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def _by_seed(results: list[Mapping[str, Any]], value_key: str, fraction: float) -> dict:
    """``{init: {seed: value}}`` of one fraction (finite values only)."""
    out: dict[str, dict[int, float]] = {}
    for r in results:
        v = float(r[value_key])
        if float(r["fraction"]) == fraction and "seed" in r and math.isfinite(v):
            out.setdefault(str(r["init"]), {})[int(r["seed"])] = v
    return out


def _groups(results: Iterable[Mapping[str, Any]], value_key: str) -> dict:
    """``{fraction: {init: finite values}}``."""
    out: dict[float, dict[str, list[float]]] = {}
    for r in results:
        per = out.setdefault(float(r["fraction"]), {}).setdefault(str(r["init"]), [])
        v = float(r[value_key])
        if math.isfinite(v):
            per.append(v)
    return out


def _stats_row(init: str, fraction: float, values: list[float]) -> dict[str, Any]:
    v = np.asarray(values, dtype=np.float64)
    return {
        "fraction": fraction,
        "init": init,
        "n": len(v),
        "mean": float(v.mean()) if len(v) else float("nan"),
        "std": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
        "p_value": float("nan"),
        "p_student": float("nan"),
        "compared_to": "",
        "p_reason": "",
        "pairs": 0,
        "diff": float("nan"),
        "diff_ci_low": float("nan"),
        "diff_ci_high": float("nan"),
        "p_paired": float("nan"),
        "p_holm": float("nan"),
        "p_wilcoxon": float("nan"),
        "mdd80": float("nan"),
    }


def _pairs(by_init: dict[str, list[float]], baseline: str | None) -> list[tuple[str, str]]:
    """Which inits to test: each against ``baseline``, else the two best by mean."""
    if baseline is not None:
        return [(i, baseline) for i in sorted(by_init) if i != baseline and baseline in by_init]
    ranked = sorted(by_init, key=lambda i: -np.mean(by_init[i]) if by_init[i] else math.inf)
    return [(ranked[0], ranked[1]), (ranked[1], ranked[0])] if len(ranked) >= 2 else []


def summarize(
    results: Iterable[Mapping[str, Any]],
    value_key: str = "metric",
    baseline: str | None = None,
    equal_var: bool = False,
) -> list[dict[str, Any]]:
    """Table rows, one per (fraction, init): n, mean, std, and the comparison.

    With ``baseline`` (e.g. ``"scratch"``) every other init is compared with it; without,
    the two best inits of each fraction are compared with each other (as the paper's
    table does; with exactly two inits that is simply the two).

    The comparison is **paired** by seed where results carry ``seed`` (fits of one seed
    share label subset, head init and data order): ``diff`` (mean of init − other per
    seed) with its 95 % CI, ``p_paired`` (paired t), ``p_holm`` (Holm-adjusted across every
    paired comparison of this table: one evaluation, one family), ``p_wilcoxon`` and
    ``mdd80`` (:class:`Paired`).  Welch's (``p_value``) and Student's (``p_student``)
    unpaired tests stay as secondary columns.  Rows not compared have nan there.  Rows are
    sorted by fraction, then init.
    """
    results = list(results)
    rows = []
    for fraction, by_init in sorted(_groups(results, value_key).items()):
        table = {i: _stats_row(i, fraction, v) for i, v in sorted(by_init.items())}
        seeds = _by_seed(results, value_key, fraction)
        for init, other in _pairs(by_init, baseline):
            res = welch_ttest(by_init[init], by_init[other], equal_var=equal_var)
            student = welch_ttest(by_init[init], by_init[other], equal_var=True)
            table[init].update(
                p_value=res.p, p_student=student.p, compared_to=other, p_reason=res.reason
            )
            common = sorted(set(seeds.get(init, {})) & set(seeds.get(other, {})))
            pr = paired_test([seeds[init][k] for k in common], [seeds[other][k] for k in common])
            table[init].update(
                pairs=pr.n,
                diff=pr.mean,
                diff_ci_low=pr.ci_low,
                diff_ci_high=pr.ci_high,
                p_paired=pr.p_t,
                p_wilcoxon=pr.p_wilcoxon,
                mdd80=pr.mdd80,
                p_reason=pr.reason or res.reason,
            )
        for init, row in table.items():
            row.update(_test_counts(results, fraction, init))
        rows += list(table.values())
    # one evaluation, one family; the two-best mode tests a pair both ways (a vs b, b vs a):
    # one member, whose adjusted p the mirrored row shares
    compared = [r for r in rows if r["compared_to"]]
    family = [r for r in compared if baseline is not None or r["init"] < r["compared_to"]]
    for r, p in zip(family, holm([r["p_paired"] for r in family]), strict=True):
        r["p_holm"] = p
    adjusted = {(r["fraction"], r["init"], r["compared_to"]): r["p_holm"] for r in family}
    for r in compared:
        mirror = (r["fraction"], r["compared_to"], r["init"])
        if (r["fraction"], r["init"], r["compared_to"]) not in adjusted and mirror in adjusted:
            r["p_holm"] = adjusted[mirror]
    return rows


def _test_counts(results: list[Mapping[str, Any]], fraction: float, init: str) -> dict[str, Any]:
    """Test scans and positives of a (fraction, init) group (one test split for all its
    fits), and ``test_ci_halfwidth``: the mean half-width of its fits' bootstrap intervals
    over test cases (the variance from which cases were tested, beside the seeds' ``std``)."""
    group = [r for r in results if float(r["fraction"]) == fraction and str(r["init"]) == init]
    if not group:
        return {}
    out = {k: group[0][k] for k in ("test_scans", "test_positives") if k in group[0]}
    widths = [
        (float(r["test_ci_high"]) - float(r["test_ci_low"])) / 2
        for r in group
        if "test_ci_low" in r
        and math.isfinite(float(r["test_ci_low"]))
        and math.isfinite(float(r["test_ci_high"]))
    ]
    out["test_ci_halfwidth"] = float(np.mean(widths)) if widths else NAN
    return out


def _fmt(x: float, digits: int) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.{digits}f}"


def _col(r: Mapping[str, Any], key: str, digits: int = 4) -> str:
    """A comparison column of a row: '' when the row is not compared."""
    return _fmt(r.get(key, NAN), digits) if r.get("compared_to") else ""


def to_markdown(
    rows: Sequence[Mapping[str, Any]], metric_name: str = "metric", digits: int = 4
) -> str:
    """A Markdown table: fraction | init | seeds | test scans | positives | mean ± std | vs |
    paired Δ (95 % CI) | p paired (Holm) | p Wilcoxon | MDD 80 % | Welch p | Student p |
    test-set ± (the mean half-width of the fits' bootstrap intervals over test cases).
    The paired columns come first: they are the analysis (fits of a seed share label subset,
    head init and data order); Welch and Student are secondary.  (The paper's "independent
    t-test" is most likely Student's.)"""
    lines = [
        f"| fraction | init | seeds | test scans | test positives | {metric_name} (mean ± std) "
        "| vs | Δ paired (95 % CI) | p paired (Holm) | p Wilcoxon | MDD 80 % "
        "| p (Welch) | p (Student) | test-set ± (bootstrap 95 %) |",
        "|---:|---|---:|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cell = f"{_fmt(r['mean'], digits)} ± {_fmt(r['std'], digits)}"
        compared = bool(r.get("compared_to"))
        diff = (
            f"{_fmt(r.get('diff', NAN), digits)} ({_fmt(r.get('diff_ci_low', NAN), digits)}, "
            f"{_fmt(r.get('diff_ci_high', NAN), digits)})"
            if compared
            else ""
        )
        holm_p = f"{_col(r, 'p_paired')} ({_col(r, 'p_holm')})" if compared else ""
        lines.append(
            f"| {r['fraction']:g} | {r['init']} | {r['n']} | {r.get('test_scans', '')} "
            f"| {r.get('test_positives', '')} | {cell} | {r.get('compared_to', '')} | {diff} "
            f"| {holm_p} | {_col(r, 'p_wilcoxon')} | {_col(r, 'mdd80', digits)} "
            f"| {_col(r, 'p_value')} | {_col(r, 'p_student')} "
            f"| {_fmt(r.get('test_ci_halfwidth', NAN), digits)} |"
        )
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write the rows as CSV (columns: the union of keys, first-seen order)."""
    path = Path(path)
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def learning_curve_plot(
    rows: Sequence[Mapping[str, Any]], path: str | Path, metric_name: str = "metric"
) -> Path:
    """Save metric vs label fraction, one line per init with ±std error bars (PNG, Agg)."""
    from genesis_core.plots import pyplot, save_figure

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for init in sorted({r["init"] for r in rows}):
        mine = sorted((r for r in rows if r["init"] == init), key=lambda r: r["fraction"])
        x = [r["fraction"] for r in mine]
        y = [r["mean"] for r in mine]
        err = [0.0 if not math.isfinite(r["std"]) else r["std"] for r in mine]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=init)
    ax.set_xlabel("fraction of training scans")
    ax.set_ylabel(metric_name)
    ax.grid(alpha=0.3)
    ax.legend()
    return save_figure(fig, Path(path), dpi=100)
