"""Where the training loop reports: a tiny observer protocol (MLflow implements it in tasks/).

Metric names used by the loops: ``train_loss``, ``val_loss``, ``lr``, ``cubes_per_s``
(cubes, i.e. samples, per wall-clock second since the previous report), ``epoch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class MetricsSink(Protocol):
    """Receives metrics and parameters; must not raise on repeated keys."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None: ...

    def log_params(self, params: Mapping[str, Any]) -> None: ...


class NullSink:
    """Discards everything."""

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        pass

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass


class ListSink:
    """Keeps everything in memory (tests, notebooks).

    ``metrics`` is a list of ``(step, {name: value})``; ``params`` the merged parameters.
    """

    def __init__(self) -> None:
        self.metrics: list[tuple[int, dict[str, float]]] = []
        self.params: dict[str, Any] = {}

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.metrics.append((step, dict(metrics)))

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.params.update(params)

    def series(self, name: str) -> list[tuple[int, float]]:
        """All ``(step, value)`` reported for metric ``name``, in order."""
        return [(step, m[name]) for step, m in self.metrics if name in m]


def close_sink(sink: MetricsSink) -> None:
    """End a sink that holds something open (a progress display); the others have no close."""
    close = getattr(sink, "close", None)
    if callable(close):
        close()


class FanoutSink:
    """Reports to every sink it holds, in order (tracking and a progress display, say)."""

    def __init__(self, *sinks: MetricsSink) -> None:
        self.sinks = sinks

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        for sink in self.sinks:
            sink.log_metrics(metrics, step)

    def log_params(self, params: Mapping[str, Any]) -> None:
        for sink in self.sinks:
            sink.log_params(params)

    def close(self) -> None:
        for sink in self.sinks:
            close_sink(sink)
