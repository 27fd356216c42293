"""The transfer gate's parts (#26): the decision rule, the closed-form probe, the paired
bootstrap, and a probe that tells a working encoder from a destroyed one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genesis_core import gate, metrics
from genesis_core.models import UNet3D, UNet3DConfig
from genesis_core.targets import TargetStore
from tests.helpers.stores import ncc_store

RULE = gate.GateRule(margin=0.02, restoration_tolerance=0.05)


def comparison(diff: float, lo: float, hi: float, name: str = "ncc probe") -> gate.Comparison:
    return gate.Comparison(name, "auc", 0.8 + diff, 0.8, diff, lo, hi, 2000)


def test_non_inferior_on_every_comparison_and_restoration_within_tolerance_is_promoted() -> None:
    v = gate.decide(
        [comparison(0.01, -0.015, 0.03), comparison(0.0, -0.01, 0.01, "ncc few-shot")],
        0.0104,  # 4 % worse than the champion: within the 5 % tolerance
        0.0100,
        RULE,
    )
    assert v.promoted and v.reason.startswith("promoted: ncc probe auc +0.010")


def test_a_wide_interval_keeps_the_champion_and_says_it_is_inconclusive() -> None:
    v = gate.decide([comparison(0.03, -0.10, 0.16)], 0.009, 0.010, RULE)
    assert not v.promoted
    assert "cannot show it is not worse" in v.reason and v.reason.startswith("kept champion")


def test_a_worse_candidate_is_kept_out_and_named_worse() -> None:
    v = gate.decide([comparison(-0.2, -0.3, -0.1)], 0.009, 0.010, RULE)
    assert not v.promoted and "(worse)" in v.reason


def test_restoration_beyond_the_tolerance_keeps_the_champion_whatever_transfer_says() -> None:
    v = gate.decide([comparison(0.05, 0.01, 0.09)], 0.0106, 0.0100, RULE)
    assert not v.promoted and "reference restoration loss 0.0106 > 0.0105" in v.reason


def test_without_a_dev_split_only_a_strictly_lower_reference_loss_promotes() -> None:
    assert gate.decide([], 0.0099, 0.0100, RULE).promoted
    tie = gate.decide([], 0.0100, 0.0100, RULE)
    assert not tie.promoted and "restoration only" in tie.reason


def test_a_nan_bound_never_passes() -> None:
    v = gate.decide([comparison(0.0, math.nan, math.nan)], 0.009, 0.010, RULE)
    assert not v.promoted


def test_rule_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="margin"):
        gate.GateRule(margin=-0.1)
    with pytest.raises(ValueError, match="fraction"):
        gate.GateRule(fewshot_fraction=0)


def test_the_probe_is_closed_form_and_deterministic() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    y = (x[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(int)
    a = gate.probe_scores(x[:150], y[:150], x[150:])
    b = gate.probe_scores(x[:150], y[:150], x[150:])
    np.testing.assert_array_equal(a, b)
    assert metrics.roc_auc(a, y[150:]) > 0.9
    w, _ = gate.fit_logistic((x - x.mean(0)) / x.std(0), y)
    assert abs(w[0]) > 3 * np.abs(w[1:]).max(), "the informative feature carries the weight"
    with pytest.raises(ValueError, match="both classes"):
        gate.fit_logistic(x, np.zeros(200))


def test_the_paired_bootstrap_of_identical_scores_is_exactly_zero() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 80)
    s = rng.normal(size=80) + y
    diff, lo, hi, n = gate.paired_bootstrap_auc(y, s, s, 500, 0)
    assert (diff, lo, hi) == (0.0, 0.0, 0.0) and n > 400
    diff, lo, hi, _ = gate.paired_bootstrap_auc(y, s, rng.normal(size=80), 500, 0)
    assert lo < diff < hi and lo > 0, "informative scores beat noise, with the interval above 0"


@pytest.fixture(scope="module")
def dev(tmp_path_factory) -> dict[str, TargetStore]:
    uri = str(tmp_path_factory.mktemp("gate") / "ncc.zarr")
    return TargetStore(ncc_store(uri, scans=20, contrast=(1500, 2000), radius=(4, 6))).split()


def test_the_probe_tells_a_working_encoder_from_a_destroyed_one(dev) -> None:
    """A candidate whose encoder was zeroed has constant features: its probe AUC is 0.5,
    and the gate keeps the champion even when the restoration numbers are equal."""
    torch.manual_seed(0)
    champion = UNet3D(UNet3DConfig(width=0.125))
    candidate = UNet3D(UNet3DConfig(width=0.125))
    candidate.load_state_dict(champion.state_dict())
    with torch.no_grad():
        for name, p in candidate.named_parameters():
            if name.startswith("down_tr"):
                p.zero_()
    rule = gate.GateRule(fewshot_seeds=0, bootstrap=300)
    c = gate.linear_probe("ncc", candidate, champion, dev["train"], dev["val"], rule)
    assert c.candidate == pytest.approx(0.5) and c.champion > 0.95
    assert c.hi < 0
    v = gate.decide([c], 0.01, 0.01, rule)
    assert not v.promoted and "ncc probe" in v.reason and "(worse)" in v.reason
    # and the same model against itself is exactly even
    same = gate.linear_probe("ncc", champion, champion, dev["train"], dev["val"], rule)
    assert (same.diff, same.lo, same.hi) == (0.0, 0.0, 0.0)


def test_few_shot_fits_are_paired_by_seed(dev) -> None:
    """Two copies of one model fine-tune identically seed by seed (same label subset, head
    init and data order): every paired difference is exactly zero."""
    from genesis_core.finetuning import finetune_profile

    torch.manual_seed(0)
    model = UNet3D(UNet3DConfig(width=0.125))
    twin = UNet3D(UNet3DConfig(width=0.125))
    twin.load_state_dict(model.state_dict())
    rule = gate.GateRule(fewshot_seeds=2, fewshot_steps=3, fewshot_fraction=0.5)
    prof = finetune_profile("tiny", "ncc", None, 0, device="cpu")
    c = gate.fewshot("ncc", "ncc", model, twin, dev["train"], dev["val"], rule, prof)
    assert c.n == 2 and c.diff == 0.0 and c.candidate == c.champion
