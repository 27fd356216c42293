"""Progress bars for long fan-outs (rich), fed as results arrive."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def progress_bar(description: str, total: int) -> Iterator:
    """Yield ``advance(n=1, **fields)``; the bar goes to stderr."""
    cols = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*cols, console=console, transient=False) as prog:
        tid = prog.add_task(description, total=total, info="")

        def advance(n: int = 1, info: str = "") -> None:
            prog.update(tid, advance=n, info=info)

        yield advance
