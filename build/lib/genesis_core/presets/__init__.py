"""Named presets as data: ``pretrain.toml`` and ``finetune.toml`` next to this module.

:func:`presets` reads the built-in file and, when ``GENESIS_PRESETS_DIR`` is set, the file
of the same name there (a user's edited copy); a profile defined in the user's file
replaces the built-in one of that name.  Values stay plain (``"off"`` is None); the
callers (:mod:`genesis_core.training.profiles`, :mod:`genesis_core.finetuning`) turn
them into configs, so an unknown field is reported with the file it came from.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _read(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML: {e}") from None
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ValueError(f"{path}: [{name}] must be a table of settings")
        table["source"] = str(path)
    return data


def presets(kind: str) -> dict[str, dict[str, Any]]:
    """Every profile of ``kind`` ("pretrain" or "finetune"): name → its table."""
    found = _read(HERE / f"{kind}.toml")
    user_dir = os.environ.get("GENESIS_PRESETS_DIR")
    if user_dir and (Path(user_dir) / f"{kind}.toml").is_file():
        found.update(_read(Path(user_dir) / f"{kind}.toml"))
    return found


def preset(kind: str, name: str) -> dict[str, Any]:
    """The profile ``name`` of ``kind``; an unknown name lists the known ones."""
    found = presets(kind)
    if name not in found:
        raise ValueError(f"unknown profile {name!r}: use one of {sorted(found)}")
    return found[name]


def none_values(table: dict[str, Any]) -> dict[str, Any]:
    """``"off"`` → None (TOML has no null; ``"none"`` stays a value, e.g. scheduler)."""
    return {k: (None if v == "off" else v) for k, v in table.items()}


def build(cls: type, values: dict[str, Any], where: str) -> Any:
    """``cls(**values)``, an unknown or invalid field named with the preset it came from."""
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:  # an unknown field / a value the config refuses
        raise ValueError(f"{where}: {e}") from None
