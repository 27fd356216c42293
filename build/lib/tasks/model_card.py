"""Model cards: the description of every registered version, readable in the MLflow UI
(Markdown).  What a reviewer asks first: what data, which recipe, how it was judged, and
what it is (not) for.  Built from what the registration already knows; nothing here
reads a scan or names a patient (scans are counted, stores named by dataset)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

LIMITS = (
    "Research use only: a self-supervised image encoder (or a model fine-tuned from one), "
    "**not a diagnostic device** and not validated for clinical decisions."
)


def _phantoms(store_uri: str) -> str:
    return (
        " Trained on synthetic phantoms (demo or test data): says nothing about real CT."
        if any(k in store_uri for k in ("demo", "synth", "phantom"))
        else ""
    )


def pretrained(
    tags: Mapping[str, str],
    scans: int,
    val_loss: float,
    decision: str,
    champion_loss: float | None = None,
    gate_run: Any = None,
) -> str:
    """The card of a pre-trained (restoration) version; ``gate_run``: the transfer gate's
    :class:`tasks.gate.GateRun` when it ran (its comparisons become a table)."""
    transforms = json.loads(tags.get("transform_config") or "{}")
    on = [k.removeprefix("use_") for k, v in transforms.items() if k.startswith("use_") and v]
    compared = (
        f" Champion's loss on the same set: {champion_loss:.6g}."
        if champion_loss is not None
        else ""
    )
    return "\n".join(
        [
            "## Models Genesis: pre-trained 3D U-Net (restoration of transformed sub-volumes)",
            "",
            "**Data.** Cube store `{}` at manifest version {} ({} scans); catalog rows digest "
            "`{}`, manifest digest `{}`.".format(
                tags.get("cube_store_uri", "?"),
                tags.get("manifest_version", "?"),
                scans,
                tags.get("catalog_sha256", "?")[:16],
                tags.get("manifest_sha256", "?")[:16],
            ),
            "",
            f"**Recipe.** Profile `{tags.get('profile', '?')}`; transforms: "
            f"{', '.join(on) or 'see transform_config'}; warm start: "
            f"{tags.get('warm_start') or 'none'}; code `{tags.get('code_version', '?')}`; "
            f"Prefect flow run `{tags.get('prefect_flow_run_id', '?')}`.",
            "",
            f"**Judged.** Restoration MSE on the reference corruption set "
            f"({tags.get('val_loss_on', 'reference')}): {val_loss:.6g}.{compared} "
            f"Decision ({tags.get('gate', 'gate')}): {decision}",
            *_gate_table(gate_run),
            "",
            f"**Intended use and limits.** An initialisation for fine-tuning on 3D CT target "
            f"tasks where labels are scarce. {LIMITS}{_phantoms(tags.get('cube_store_uri', ''))}",
        ]
    )


def _gate_table(gate_run: Any) -> list[str]:
    if gate_run is None or not gate_run.verdict.comparisons:
        return []
    rows = [
        "",
        f"**Transfer gate** on the validation split of {', '.join(gate_run.dev)} "
        f"({gate_run.seconds:.0f} s):",
        "",
        "| comparison | candidate | champion | difference [95% CI] | runs |",
        "|---|---|---|---|---|",
    ]
    for c in gate_run.verdict.comparisons:
        rows.append(
            f"| {c.name} ({c.metric}) | {c.candidate:.4f} | {c.champion:.4f} | "
            f"{c.diff:+.4f} [{c.lo:+.4f}, {c.hi:+.4f}] | {c.n} |"
        )
    return rows


def finetuned(
    tags: Mapping[str, str],
    task: str,
    init: str,
    fraction: float,
    seed: int,
    val_scores: Mapping[str, float],
    test_scores: Mapping[str, float],
    train_scans: int,
) -> str:
    """The card of a fine-tuned version (one fit)."""

    def fmt(scores: Mapping[str, float]) -> str:
        return ", ".join(f"{k} {v:.4f}" for k, v in scores.items()) or "none"

    store = tags.get("target_store_uri", tags.get("store_uri", "?"))
    return "\n".join(
        [
            f"## Models Genesis: fine-tuned for `{task}`",
            "",
            f"**Data.** Target store `{store}` at version "
            f"{tags.get('target_store_version', '?')}; {train_scans} training scans "
            f"(label fraction {fraction:g}), seed {seed}.",
            "",
            f"**Recipe.** Initialised from `{init}`"
            + (
                f" (`{tags['init_model_name']}` v{tags['init_model_version']})"
                if tags.get("init_model_name")
                else ""
            )
            + ".",
            "",
            f"**Judged.** Validation: {fmt(val_scores)} (what chooses the champion). "
            f"Test: {fmt(test_scores)} (reported only, never used to choose).",
            "",
            f"**Intended use and limits.** {LIMITS}{_phantoms(store)}",
        ]
    )
