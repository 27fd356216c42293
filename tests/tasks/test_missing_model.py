"""#29: a missing model, version or alias is a user error naming what the registry holds
(a ValueError: one line and exit 2 at the CLI, `flows.console.user_errors`), not an MLflow traceback."""

from __future__ import annotations

import pytest

from tasks import registry
from tests.helpers.registry import register_tiny


def test_a_missing_alias_or_version_names_what_exists(genesis_root, tmp_path) -> None:
    register_tiny(tmp_path, "there")
    with pytest.raises(
        ValueError,
        match=r"models:/there@best: not in the registry \(there has "
        r"versions 1 and aliases champion\)",
    ):
        registry.resolve("models:/there@best")
    with pytest.raises(ValueError, match="there has versions 1"):
        registry.resolve("models:/there/7")
    with pytest.raises(ValueError, match="no model 'nowhere'; train one with `genesis pretrain`"):
        registry.resolve("models:/nowhere@champion")
    assert registry.resolve("models:/there@champion")["version"] == "1"
