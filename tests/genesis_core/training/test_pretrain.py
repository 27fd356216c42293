"""Pre-training loop: learning, metrics, schedules, early stopping, checkpoints, resume."""

from __future__ import annotations

import pytest
import torch

from genesis_core.models import UNet3D, UNet3DConfig
from genesis_core.training import ListSink, PretrainConfig, load_checkpoint, train
from genesis_core.training.loop import TrainingLoop
from genesis_core.training.pretrain import pretrain_task

from ._helpers import assert_same_weights, config, noise_corrupt, readers, tiny_model


def test_loss_decreases_on_a_tiny_problem():
    sink = ListSink()
    train_reader, val_reader = readers()
    result = train(
        tiny_model(),
        train_reader,
        val_reader,
        noise_corrupt,
        config(max_steps=24, val_every_steps=8),
        sink,
    )
    losses = [v for _, v in sink.series("train_loss")]
    val = [h["val_loss"] for h in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert val[-1] < val[0] and result.best_val_loss == min(val)
    assert result.steps == 24 and result.stop_reason == "max_steps"


def test_reports_metrics_and_params():
    sink = ListSink()
    train(tiny_model(), *readers(), noise_corrupt, config(max_steps=4), sink)
    assert sink.params["optimizer"] == "adamw" and sink.params["batch_size"] == 4
    assert [s for s, _ in sink.series("train_loss")] == [2, 4]
    assert [s for s, _ in sink.series("val_loss")] == [4]
    assert all(v > 0 for _, v in sink.series("cubes_per_s"))
    assert sink.series("lr")[0][1] == pytest.approx(3e-3)


def test_validation_pairs_are_fixed():
    train_reader, val_reader = readers()
    task = pretrain_task(noise_corrupt, val_seed=11)
    loop = TrainingLoop(tiny_model(), train_reader, val_reader, task, config())
    assert loop.validate() == loop.validate()


def test_sgd_step_schedule_halves_the_rate_in_steps_and_epochs():
    sink = ListSink()
    cfg = config(
        optimizer="sgd",
        lr=0.1,
        scheduler="step",
        lr_step_steps=3,
        max_steps=7,
        log_every_steps=1,
        val_every_steps=100,
    )
    train(tiny_model(), *readers(), noise_corrupt, cfg, sink)
    lrs = [v for _, v in sink.series("lr")]
    assert lrs[:7] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025])
    sink = ListSink()  # 16 cubes / batch 4 = 4 steps per epoch; halve every 0.5 epoch = 2 steps
    cfg = config(
        optimizer="sgd",
        lr=0.1,
        scheduler="step",
        lr_step_epochs=0.5,
        max_steps=4,
        log_every_steps=1,
        val_every_steps=100,
    )
    train(tiny_model(), *readers(), noise_corrupt, cfg, sink)
    assert [v for _, v in sink.series("lr")][:4] == pytest.approx([0.1, 0.05, 0.05, 0.025])


def test_pretrain_defaults_follow_the_paper():
    c = PretrainConfig()
    assert (c.optimizer, c.lr, c.momentum, c.weight_decay) == ("sgd", 1.0, 0.9, 0.0)
    assert (c.scheduler, c.lr_step_epochs, c.lr_gamma, c.batch_size) == ("step", 40, 0.5, 6)
    assert (c.max_epochs, c.patience) == (10_000, 50)


def test_early_stopping_when_validation_stops_improving():
    torch.manual_seed(0)  # frozen weights and batch-statistics BN: validation loss is constant
    model = UNet3D(UNet3DConfig(width=0.125, bn_always_batch_stats=True))
    cfg = config(lr=0.0, max_steps=100, val_every_steps=2, patience=2)
    result = train(model, *readers(), noise_corrupt, cfg, ListSink())
    assert result.stop_reason == "early_stopping"
    assert result.steps == 6 and len(result.history) == 3 and result.best_step == 2


def test_gradient_clipping_bounds_the_update():
    def moved(clip):
        model = tiny_model()
        before = [p.detach().clone() for p in model.parameters()]
        cfg = config(optimizer="sgd", lr=0.1, scheduler="none", max_steps=2, grad_clip_norm=clip)
        train(model, *readers(), noise_corrupt, cfg)
        deltas = [
            (p.detach() - b).flatten() for p, b in zip(model.parameters(), before, strict=True)
        ]
        return float(torch.cat(deltas).norm())

    assert moved(1e-6) <= 0.1 * 1e-6 * 2.9 < 1e-3 < moved(None)


def test_max_epochs_stops_the_run():
    result = train(tiny_model(), *readers(), noise_corrupt, config(max_steps=None, max_epochs=2))
    assert result.steps == 8 and result.epochs == 2 and result.stop_reason == "max_epochs"


def test_checkpoint_contents_load_weights_only(tmp_path):
    cfg = config(max_steps=6, checkpoint_every_steps=3, optimizer="sgd", scheduler="step")
    result = train(tiny_model(), *readers(), noise_corrupt, cfg, None, tmp_path)
    payload = load_checkpoint(result.checkpoint_path)  # weights_only=True inside
    assert payload["state"]["step"] == 6
    assert (payload["state"]["epoch"], payload["state"]["batch"]) == (1, 2)
    assert payload["config"]["optimizer"] == "sgd" and payload["model_config"]["width"] == 0.125
    assert {"torch_cpu", "numpy", "python", "generator"} <= payload["rng"].keys()
    assert payload["optimizer"]["state"] and payload["scheduler"]["last_epoch"] == 6
    best = load_checkpoint(result.best_checkpoint_path)
    assert best["step"] == result.best_step and best["val_loss"] == result.best_val_loss


def test_stop_then_resume_equals_a_straight_run(tmp_path):
    """Train 10 steps straight vs 6 steps, stop, resume to 10 (mid-epoch boundary)."""
    cfg = config(
        max_steps=10, val_every_steps=2, optimizer="sgd", lr=0.05, scheduler="step", lr_step_steps=4
    )
    straight = tiny_model()
    expected = train(straight, *readers(), noise_corrupt, cfg, None, tmp_path / "a")

    first = tiny_model()
    train(
        first,
        *readers(),
        noise_corrupt,
        config(**(cfg.to_dict() | {"max_steps": 6})),
        None,
        tmp_path / "b",
    )
    resumed = tiny_model(seed=123)  # a fresh process: different init, all state from disk
    result = train(resumed, *readers(), noise_corrupt, cfg, None, tmp_path / "b", resume=True)

    assert result.steps == 10
    assert_same_weights(straight, resumed)
    assert [h["val_loss"] for h in result.history] == pytest.approx(
        [h["val_loss"] for h in expected.history], abs=1e-6
    )


class Crash(RuntimeError):
    pass


def test_crash_then_resume_equals_a_straight_run(tmp_path):
    """A run killed mid-training resumes from its last periodic checkpoint."""
    cfg = config(max_steps=9, checkpoint_every_steps=3, val_every_steps=3)
    straight = tiny_model()
    train(straight, *readers(), noise_corrupt, cfg, None, tmp_path / "a")

    calls = {"n": 0}

    def crashing_corrupt(cubes, generator):
        if generator.initial_seed() == cfg.seed:  # the training generator, not validation's
            calls["n"] += 1
            if calls["n"] == 8:
                raise Crash("killed while training on batch 8")
        return noise_corrupt(cubes, generator)

    with pytest.raises(Crash):
        train(tiny_model(), *readers(), crashing_corrupt, cfg, None, tmp_path / "b")
    assert load_checkpoint(tmp_path / "b" / "last.pt")["state"]["step"] == 6
    resumed = tiny_model(seed=99)
    result = train(resumed, *readers(), noise_corrupt, cfg, None, tmp_path / "b", resume=True)
    assert result.steps == 9
    assert_same_weights(straight, resumed)


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    a, b = tiny_model(), tiny_model()
    train(a, *readers(), noise_corrupt, config(max_steps=4), None, tmp_path / "x", resume=True)
    train(b, *readers(), noise_corrupt, config(max_steps=4))
    assert_same_weights(a, b)


def test_finished_run_resumes_to_a_no_op(tmp_path):
    model = tiny_model()
    train(model, *readers(), noise_corrupt, config(max_steps=4), None, tmp_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    again = tiny_model(seed=5)
    result = train(again, *readers(), noise_corrupt, config(max_steps=4), None, tmp_path, True)
    assert result.steps == 4
    for key, value in before.items():
        assert torch.equal(again.state_dict()[key], value)
