"""Champion promotion as a pure decision."""

import pytest

from genesis_core.training.promotion import Promotion, decide


def test_first_model_and_rerun_are_champions() -> None:
    assert decide("1", 0.5, None, None) == Promotion(True, "1", None)
    assert decide("3", 0.9, "3", None) == Promotion(True, "3", None)


def test_only_a_strictly_better_candidate_is_promoted() -> None:
    assert decide("2", 0.40, "1", 0.50) == Promotion(True, "2", "1")
    assert decide("2", 0.60, "1", 0.50) == Promotion(False, "1", "1")
    assert decide("2", 0.50, "1", 0.50) == Promotion(False, "1", "1"), "a tie keeps the champion"


def test_a_champion_without_its_loss_cannot_be_compared() -> None:
    with pytest.raises(ValueError, match="champion v1 needs its validation loss"):
        decide("2", 0.4, "1", None)
