"""The transfer gate as the pipeline runs it: dev stores → paired comparisons → a verdict.

Each development store is a target store (``ncc`` of the nightly's dataset by default);
its version is fixed when the gate starts and its **validation** split is the dev split
(the linear probe and the few-shot fits train on its training split; the test split is
never read).  See :mod:`genesis_core.gate` for the method and the rule.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from torch import nn

from genesis_core import gate
from genesis_core.finetuning import finetune_profile
from genesis_core.store import read_latest
from genesis_core.targets import TargetStore
from tasks.settings import Settings


@dataclass(frozen=True)
class DevStore:
    uri: str
    explicit: bool  # named by the user (missing → error) or the default (missing → skipped)


@dataclass
class GateRun:
    verdict: gate.Verdict
    metrics: dict[str, float] = field(default_factory=dict)
    dev: list[str] = field(default_factory=list)  # "URI@vN" of each dev store used
    skipped: list[str] = field(default_factory=list)  # default dev stores that do not exist
    seconds: float = 0.0


def rule_from(settings: Settings) -> gate.GateRule:
    return gate.GateRule(
        margin=settings.gate_margin,
        restoration_tolerance=settings.gate_restoration_tolerance,
        fewshot_seeds=settings.gate_seeds,
        fewshot_steps=settings.gate_steps,
        fewshot_fraction=settings.gate_fraction,
        probe=settings.gate_probe,
    )


def _name(uri: str, task: str, taken: set[str]) -> str:
    """A short metric-safe name for a dev store: its task, or the store's name if two share one."""
    name = task
    if name in taken:
        name = PurePosixPath(uri.rstrip("/")).name.removesuffix(".zarr")
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in name)


def run_gate(
    candidate: nn.Module,
    champion: nn.Module,
    dev_stores: list[DevStore],
    restoration: float,
    champion_restoration: float,
    settings: Settings,
    rule: gate.GateRule | None = None,
) -> GateRun:
    """Score ``candidate`` against ``champion`` on every dev store and decide."""
    t0 = time.perf_counter()
    rule = rule or rule_from(settings)
    comparisons: list[gate.Comparison] = []
    out = GateRun(gate.Verdict(False, ""))
    taken: set[str] = set()
    for dev in dev_stores:
        where = settings.location(dev.uri)
        manifest = read_latest(where)
        if manifest.version == 0:
            if dev.explicit:
                raise FileNotFoundError(f"gate dev store {dev.uri}: no committed version")
            out.skipped.append(dev.uri)
            continue
        store = TargetStore(where, manifest=manifest)  # one version for the whole gate
        sp = store.split()
        train, val = sp["train"], sp["val"]
        if not (len(train) and len(val)):
            raise ValueError(
                f"gate dev store {dev.uri} v{manifest.version}: needs training and validation "
                f"scans, got {len(train.scan_ids)} and {len(val.scan_ids)}"
            )
        name = _name(dev.uri, store.task, taken)
        taken.add(name)
        out.dev.append(f"{dev.uri}@v{manifest.version}")
        if rule.probe and store.is_classification:
            comparisons.append(gate.linear_probe(name, candidate, champion, train, val, rule))
        if rule.fewshot_seeds > 0:
            profile = finetune_profile(settings.gate_profile, store.task, None, rule.seed)
            comparisons.append(
                gate.fewshot(name, store.task, candidate, champion, train, val, rule, profile)
            )
    out.verdict = gate.decide(comparisons, restoration, champion_restoration, rule)
    for c in comparisons:
        kind = "probe" if c.name.endswith("probe") else "fewshot"
        prefix = f"gate_{c.name.rsplit(' ', 1)[0]}_{kind}_{c.metric}"
        out.metrics.update({k: v for k, v in c.metrics(prefix).items() if math.isfinite(v)})
    out.seconds = time.perf_counter() - t0
    out.metrics.update(
        {
            "gate_ref_loss": restoration,
            "gate_ref_loss_champion": champion_restoration,
            "gate_promoted": float(out.verdict.promoted),
            "gate_seconds": round(out.seconds, 2),
        }
    )
    return out
