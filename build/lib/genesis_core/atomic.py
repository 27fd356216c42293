"""Atomic local writes, with the standard library only (the GPU image imports this too)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_local_atomic(path: str | os.PathLike, write: Callable[[Any], object]) -> Path:
    """Create ``path`` so readers see the old file or the whole new one, never part of it.

    ``write(f)`` fills a hidden temporary sibling named for this process and thread (two
    writers never share it); it is fsynced and renamed over ``path``, then the folder is
    fsynced.  On any error the temporary file is removed and the error propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename durable (best effort)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return path
