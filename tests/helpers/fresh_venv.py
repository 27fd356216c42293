"""A virtual environment with only the named packages, built once and cached under the temp dir.

Used to prove that a registered model loads where the project is not installed.  Packages
come from the configured pip index (pip's own settings: index, find-links, constraints)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path


def fresh_venv(packages: list[str], timeout_s: float = 1200) -> Path:
    """The venv's python; created with ``python -m venv`` and ``pip install`` on first use."""
    key = hashlib.sha256(" ".join(sorted(packages)).encode()).hexdigest()[:12]
    root = Path(tempfile.gettempdir()) / "genesis-fresh-venv" / key
    python = root / "bin" / "python"
    if (root / ".ready").exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *packages],
        check=True,
        timeout=timeout_s,
        capture_output=True,
    )
    (root / ".ready").write_text("\n".join(packages))
    return python
