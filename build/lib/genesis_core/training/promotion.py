"""Champion promotion: a registered candidate becomes ``champion`` only if it is better.

Pure: versions and validation losses in, decision out.  Both losses are measured on the
same fixed validation pairs (the caller's job), so they are comparable: the **reference
corruption set** below, whatever transforms and batch the candidate trained with.  A
candidate trained on an easier ablation (``--transforms I&II``) is judged on the full task,
not on its own easier one.
"""

from __future__ import annotations

from dataclasses import dataclass

from genesis_core.transforms.config import TransformConfig

# The corruptions every candidate and champion are scored on: all four transforms at the
# paper's rates (SPEC §2), fixed pairs (seed), fixed batching.  Changing any of these makes
# earlier versions' recorded ``val_loss`` incomparable: bump REFERENCE_NAME then.
REFERENCE_TRANSFORMS = TransformConfig()
REFERENCE_BATCH = 6
REFERENCE_SEED = 20190101
REFERENCE_NAME = "reference-v1 (transforms I-IV at SPEC rates, batch 6, seed 20190101)"


@dataclass(frozen=True)
class Promotion:
    promoted: bool
    champion_version: str  # the champion after the decision
    compared_with: str | None  # the champion the candidate was measured against, if any


def decide(
    candidate: str, candidate_loss: float, champion: str | None, champion_loss: float | None
) -> Promotion:
    """No champion yet, or the candidate already is it: promoted.  Otherwise promoted only
    if its loss is strictly lower (a tie keeps the champion: no churn, no re-deploys)."""
    if champion is None or champion == candidate:
        return Promotion(True, candidate, None)
    if champion_loss is None:
        raise ValueError(f"champion v{champion} needs its validation loss to be compared")
    better = candidate_loss < champion_loss
    return Promotion(better, candidate if better else champion, champion)
