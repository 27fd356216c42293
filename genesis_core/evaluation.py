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
    """Table rows, one per (fraction, init): n, mean, std, and a t-test p-value.

    With ``baseline`` (e.g. ``"scratch"``) every other init is compared with it; without,
    the two best inits of each fraction are compared with each other (as the paper's
    table does; with exactly two inits that is simply the two).  Rows not compared have
    ``p_value`` nan.  Rows are sorted by fraction, then init.
    """
    results = list(results)
    rows = []
    for fraction, by_init in sorted(_groups(results, value_key).items()):
        table = {i: _stats_row(i, fraction, v) for i, v in sorted(by_init.items())}
        for init, other in _pairs(by_init, baseline):
            res = welch_ttest(by_init[init], by_init[other], equal_var=equal_var)
            student = welch_ttest(by_init[init], by_init[other], equal_var=True)
            table[init].update(
                p_value=res.p, p_student=student.p, compared_to=other, p_reason=res.reason
            )
        for init, row in table.items():
            row.update(_test_counts(results, fraction, init))
        rows += list(table.values())
    return rows


def _test_counts(results: list[Mapping[str, Any]], fraction: float, init: str) -> dict[str, Any]:
    """Test scans and positives of a (fraction, init) group (one test split for all its fits)."""
    for r in results:
        if float(r["fraction"]) == fraction and str(r["init"]) == init:
            return {k: r[k] for k in ("test_scans", "test_positives") if k in r}
    return {}


def _fmt(x: float, digits: int) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.{digits}f}"


def to_markdown(
    rows: Sequence[Mapping[str, Any]], metric_name: str = "metric", digits: int = 4
) -> str:
    """A Markdown table: fraction | init | seeds | test scans | positives | mean ± std |
    Welch p | Student p | vs.  (The paper's "independent t-test" is most likely Student's.)"""
    lines = [
        f"| fraction | init | seeds | test scans | test positives | {metric_name} (mean ± std) "
        "| p (Welch) | p (Student) | vs |",
        "|---:|---|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        cell = f"{_fmt(r['mean'], digits)} ± {_fmt(r['std'], digits)}"
        compared = bool(r.get("compared_to"))
        p = _fmt(r["p_value"], 4) if compared else ""
        ps = _fmt(r.get("p_student", float("nan")), 4) if compared else ""
        lines.append(
            f"| {r['fraction']:g} | {r['init']} | {r['n']} | {r.get('test_scans', '')} "
            f"| {r.get('test_positives', '')} | {cell} | {p} | {ps} | {r.get('compared_to', '')} |"
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
