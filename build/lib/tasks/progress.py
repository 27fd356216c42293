"""Progress for long work: a rich bar on the terminal, a Prefect progress artifact in a run.

Fan-outs (ingest, preprocess, targets) count scans and name each as it finishes, by a
pseudonym (:mod:`tasks.privacy`; never a source identifier).  Training reports step, loss and
cubes/s through :class:`ProgressSink`, a metrics sink beside the tracking one.  Inside a
Prefect flow run (a deployment on a worker) the same progress is also published as a
progress artifact, so the Prefect UI shows how far a run is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


class RunProgress:
    """A Prefect progress artifact of the current flow run (a no-op outside one), updated at
    most every few seconds; a failure to publish never stops the work it reports on."""

    def __init__(self, key: str, description: str, every_s: float = 5.0) -> None:
        self.key, self.description, self.every_s = _artifact_key(key), description, every_s
        self.id, self.last = None, 0.0
        try:
            from prefect.context import FlowRunContext

            if FlowRunContext.get() is not None:
                from prefect.artifacts import create_progress_artifact

                self.id = create_progress_artifact(0.0, key=self.key, description=description)
        except Exception:  # noqa: BLE001 - progress is a courtesy, not a dependency
            self.id = None

    def update(self, fraction: float, force: bool = False) -> None:
        now = time.monotonic()
        if self.id is None or (not force and now - self.last < self.every_s):
            return
        self.last = now
        try:
            from prefect.artifacts import update_progress_artifact

            update_progress_artifact(self.id, min(100.0, 100.0 * fraction))
        except Exception:  # noqa: BLE001
            self.id = None


def _artifact_key(text: str) -> str:
    """Prefect artifact keys: lowercase letters, digits and dashes."""
    key = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    return "-".join(p for p in key.split("-") if p)[:60] or "progress"


@contextmanager
def progress_bar(description: str, total: int) -> Iterator:
    """Yield ``advance(n=1, info="")``; the bar goes to stderr, the fraction to the run."""
    cols = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    run = RunProgress(description, f"{description}: {total} scans")
    done = 0
    with Progress(*cols, console=console, transient=False) as prog:
        tid = prog.add_task(description, total=total, info="")

        def advance(n: int = 1, info: str = "") -> None:
            nonlocal done
            done += n
            prog.update(tid, advance=n, info=info)
            run.update(done / max(total, 1), force=done == total)

        yield advance


class ProgressSink:
    """A training bar (step of max steps, train and validation loss, cubes/s): a metrics
    sink (:mod:`genesis_core.training.sinks`) that sits beside the tracking one."""

    def __init__(
        self, description: str, total_steps: int | None = None, console: Console = console
    ) -> None:
        self.description, self.total, self.console = description, total_steps, console
        self.prog: Progress | None = None
        self.fields = {"steps": "", "loss": "", "val": "", "speed": ""}
        self.run = RunProgress(description, description)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.total = self.total or params.get("max_steps")
        if self.prog is None:
            self.prog = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("step {task.fields[steps]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[loss]} {task.fields[val]} {task.fields[speed]}"),
                console=self.console,
                transient=False,
            )
            self.prog.start()
            self.task = self.prog.add_task(self.description, total=self.total, **self.fields)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        if self.prog is None:
            self.log_params({})
        if "train_loss" in metrics:
            self.fields["loss"] = f"loss {metrics['train_loss']:.4f}"
        if "val_loss" in metrics:
            self.fields["val"] = f"val {metrics['val_loss']:.4f}"
        self.fields["steps"] = f"{step}/{self.total}" if self.total else str(step)
        if "cubes_per_s" in metrics:
            self.fields["speed"] = f"{metrics['cubes_per_s']:.0f} cubes/s"
        self.prog.update(self.task, completed=step, **self.fields)  # type: ignore[union-attr]
        if self.total:
            self.run.update(step / self.total, force=step >= self.total)

    def close(self) -> None:
        if self.prog is not None:
            self.prog.stop()
            self.prog = None


def with_progress(sink, description: str, total_steps: int | None = None):
    """``sink`` plus a :class:`ProgressSink` on the terminal (the loop closes both)."""
    from genesis_core.training.sinks import FanoutSink

    return FanoutSink(sink, ProgressSink(description, total_steps))
