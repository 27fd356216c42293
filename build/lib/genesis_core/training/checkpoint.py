"""Atomic checkpoint files.

A checkpoint is written to a temporary file in the target directory, flushed to disk,
then renamed over the old one with :func:`os.replace` (atomic on POSIX and Windows), so a
crash at any moment leaves either the previous checkpoint or the new one — never a torn
file. Files load with ``weights_only=True``: the payload holds only tensors and plain
Python containers of numbers and strings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from genesis_core.atomic import write_local_atomic

LAST_NAME = "last.pt"
BEST_NAME = "best.pt"


def save_atomic(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``payload`` to ``path`` atomically; returns ``path``."""
    return write_local_atomic(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str | os.PathLike, map_location: str = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_atomic` (``weights_only=True``)."""
    return torch.load(path, map_location=map_location, weights_only=True)


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The resumable checkpoint of a run directory, or ``None`` if there is none yet."""
    path = Path(directory) / LAST_NAME
    return path if path.is_file() else None
