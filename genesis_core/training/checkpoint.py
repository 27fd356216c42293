"""Atomic checkpoint files.

A checkpoint is written to a temporary file in the target directory, flushed to disk,
then renamed over the old one with :func:`os.replace` (atomic on POSIX and Windows), so a
crash at any moment leaves either the previous checkpoint or the new one — never a torn
file. Files load with ``weights_only=True``: the payload holds only tensors and plain
Python containers of numbers and strings.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch

LAST_NAME = "last.pt"
BEST_NAME = "best.pt"


def save_atomic(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``payload`` to ``path`` atomically; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (best effort; not supported on every platform)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def load_checkpoint(path: str | os.PathLike, map_location: str = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_atomic` (``weights_only=True``)."""
    return torch.load(path, map_location=map_location, weights_only=True)


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The resumable checkpoint of a run directory, or ``None`` if there is none yet."""
    path = Path(directory) / LAST_NAME
    return path if path.is_file() else None
