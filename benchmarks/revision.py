"""An earlier revision of this repository as a folder, for before/after benchmarks."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def checkout(rev: str, tmp: Path) -> Path:
    """``git archive REV`` unpacked under ``tmp`` (run it with ``PYTHONPATH`` = the folder)."""
    dest = tmp / f"tree-{rev}"
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True
    )
    dest.mkdir()
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest
