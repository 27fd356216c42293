"""Fine-tuning loop: classification with BCE, segmentation with soft Dice, best restore."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genesis_core.models import UNet3D, UNet3DClassifier, UNet3DConfig
from genesis_core.training import (
    ArrayPairReader,
    FinetuneConfig,
    ListSink,
    bce_with_logits_loss,
    finetune,
    load_checkpoint,
    soft_dice_loss,
)
from genesis_core.training.sinks import FanoutSink, NullSink

from ._helpers import smooth_cubes

TINY = UNet3DConfig(width=0.125)


def _bright_vs_dark(n: int, seed: int) -> ArrayPairReader:
    """Class 1 cubes are brighter: a trivially separable task. Labels (n,)."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(np.float32)
    cubes = rng.random((n, 16, 16, 16), dtype=np.float32) * 0.5 + labels[:, None, None, None] * 0.5
    return ArrayPairReader(cubes, labels)


def _config(**overrides) -> FinetuneConfig:
    values = dict(batch_size=4, max_steps=16, val_every_steps=4, log_every_steps=4, device="cpu")
    return FinetuneConfig(**(values | overrides))


def test_finetune_defaults_follow_the_paper():
    c = FinetuneConfig()
    assert (c.optimizer, c.lr, c.scheduler, c.lr_gamma, c.plateau_patience) == (
        "adam",
        1e-3,
        "plateau",
        0.5,
        6,
    )
    assert c.restore_best


def test_classifier_learns_and_best_weights_are_restored(tmp_path):
    torch.manual_seed(0)
    model = UNet3DClassifier(TINY, hidden=32)
    sink = ListSink()
    result = finetune(
        model,
        _bright_vs_dark(16, 0),
        _bright_vs_dark(8, 1),
        bce_with_logits_loss,
        _config(),
        sink,
        tmp_path,
    )
    losses = [v for _, v in sink.series("train_loss")]
    assert losses[-1] < losses[0]
    assert result.best_val_loss < np.log(2)  # better than chance
    best = load_checkpoint(result.best_checkpoint_path)["model"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, best[key]), key


def test_the_loop_closes_a_sink_that_holds_something_open():
    class Closing(ListSink):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    sink = Closing()
    torch.manual_seed(0)
    finetune(
        UNet3DClassifier(TINY, hidden=8),
        _bright_vs_dark(8, 0),
        _bright_vs_dark(4, 1),
        bce_with_logits_loss,
        _config(max_steps=2),
        FanoutSink(sink, NullSink()),
    )
    assert sink.closed == 1 and sink.params  # reported to, then closed once


def test_segmentation_with_soft_dice():
    masks = (smooth_cubes(12, 3) > 0.6).astype(np.float32)
    images = np.clip(masks * 0.6 + smooth_cubes(12, 4) * 0.4, 0, 1).astype(np.float32)
    train_reader = ArrayPairReader(images[:8], masks[:8])
    val_reader = ArrayPairReader(images[8:], masks[8:])
    torch.manual_seed(0)
    sink = ListSink()
    result = finetune(
        UNet3D(TINY), train_reader, val_reader, soft_dice_loss, _config(lr=1e-2, max_steps=12), sink
    )
    losses = [v for _, v in sink.series("train_loss")]
    assert losses[-1] < losses[0] and result.best_val_loss is not None


def test_plateau_scheduler_halves_the_rate():
    def flat_loss(outputs, targets):  # zero gradient, constant validation loss: a plateau
        return (outputs * 0).sum() + 1.0

    torch.manual_seed(0)
    cfg = _config(max_steps=12, val_every_steps=2, plateau_patience=1, patience=None)
    result = finetune(
        UNet3DClassifier(TINY, hidden=8),
        _bright_vs_dark(8, 0),
        _bright_vs_dark(4, 1),
        flat_loss,
        cfg,
    )
    lrs = [h["lr"] for h in result.history]
    assert lrs == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4])


def test_augment_runs_on_training_batches_only():
    seen = []

    def augment(inputs, targets, generator):
        seen.append(tuple(inputs.shape))
        return torch.flip(inputs, dims=[-1]), targets

    torch.manual_seed(0)
    finetune(
        UNet3DClassifier(TINY, hidden=8),
        _bright_vs_dark(8, 0),
        _bright_vs_dark(4, 1),
        bce_with_logits_loss,
        _config(max_steps=3),
        augment=augment,
    )
    assert seen == [(4, 1, 16, 16, 16)] * 3


def test_unknown_optimizer_is_rejected():
    with pytest.raises(ValueError, match="optimizer"):
        FinetuneConfig(optimizer="lbfgs")
