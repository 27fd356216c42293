"""Champions chosen without the test set (#26): the validation score chooses; the test
score, however good, never does."""

from __future__ import annotations

import math

from tasks.contracts.finetune import FitResult
from tasks.finetune import choose_champion


def fit(init: str, val: float, test: float, fraction: float = 1.0, seed: int = 0) -> FitResult:
    return FitResult.from_dict(
        {
            "task": "ncc",
            "init": init,
            "fraction": fraction,
            "seed": seed,
            "run_id": f"{init}-{fraction}-{seed}",
            "checkpoint": "best.pt",
            "width": 1.0,
            "auc": test,
            "val_auc": val,
        }
    )


def test_the_best_validation_score_wins_even_against_a_better_test_score() -> None:
    lucky_on_test = fit("scratch", val=0.70, test=0.95)
    best_on_val = fit("genesis", val=0.80, test=0.75)
    assert choose_champion([lucky_on_test, best_on_val], "auc") is best_on_val


def test_only_fits_with_the_most_labels_compete() -> None:
    few_labels = fit("genesis", val=0.99, test=0.99, fraction=0.25)
    full = fit("scratch", val=0.60, test=0.60, fraction=1.0)
    assert choose_champion([few_labels, full], "auc") is full


def test_without_a_validation_score_there_is_no_champion_not_a_test_fallback() -> None:
    old = FitResult.from_dict(
        {"task": "ncc", "init": "genesis", "fraction": 1.0, "seed": 0, "run_id": "r"}
        | {"checkpoint": "best.pt", "width": 1.0, "auc": 0.9}
    )
    assert math.isnan(old.val_score("auc")) and old.score("auc") == 0.9
    assert choose_champion([old], "auc") is None
    nan_val = fit("scratch", val=math.nan, test=0.9)
    assert choose_champion([nan_val, fit("genesis", 0.5, 0.1)], "auc").init == "genesis"
