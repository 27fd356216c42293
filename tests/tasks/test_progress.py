"""Progress as the terminal shows it: training steps with loss and speed, scan fan-outs."""

from __future__ import annotations

import io

from rich.console import Console

from tasks.progress import ProgressSink, progress_bar


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=160, force_terminal=False), out


def test_training_progress_shows_step_loss_validation_and_speed() -> None:
    con, out = _console()
    sink = ProgressSink("pre-train", 10, console=con)
    sink.log_params({"max_steps": 10})
    sink.log_metrics({"train_loss": 0.1234, "cubes_per_s": 321.4}, 5)
    sink.log_metrics({"val_loss": 0.2}, 10)
    sink.close()
    text = out.getvalue()
    for part in ("pre-train", "step 10/10", "loss 0.1234", "val 0.2000", "321 cubes/s"):
        assert part in text, text


def test_training_progress_without_a_step_limit_counts_steps() -> None:
    con, out = _console()
    sink = ProgressSink("fine-tune scratch", None, console=con)
    sink.log_metrics({"train_loss": 0.5}, 7)  # a resumed run: no parameters logged first
    sink.close()
    assert "step 7 " in out.getvalue()


def test_a_fan_out_counts_scans_outside_a_flow_run() -> None:
    with progress_bar("preprocess", total=2) as advance:
        advance(info="…90517 32 cubes")
        advance(info="volume-3 32 cubes")
