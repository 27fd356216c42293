"""Pseudonyms (#30): keyed, stable, reversible only with the catalog and the site secret."""

from __future__ import annotations

import os

import pytest

from genesis_core.privacy import lookup, pseudonym
from tasks.fanout import task_keys
from tasks.settings import get_settings

UID = "1.3.6.1.4.1.14519.5.2.1.6279.6001.105756658031515062000744821260"


def test_a_pseudonym_depends_on_the_secret_and_maps_back_through_the_catalog() -> None:
    a, b = b"a" * 32, b"b" * 32
    assert pseudonym(UID, a) == pseudonym(UID, a) != pseudonym(UID, b)
    assert UID[-8:] not in pseudonym(UID, a) and pseudonym(UID, a).startswith("scan-")
    assert lookup(pseudonym(UID, a), ["1.2.3", UID], a) == [UID]
    assert lookup(pseudonym(UID, a), ["1.2.3", UID], b) == []
    with pytest.raises(ValueError, match="at least 16 bytes"):
        pseudonym(UID, b"short")


def test_the_site_secret_is_made_once_private_and_env_wins(tmp_path, monkeypatch) -> None:
    from tasks.settings import reset_settings_cache

    root = tmp_path / "root"
    first = get_settings(str(root)).secret()
    assert first == get_settings(str(root)).secret() and len(first) == 64
    assert oct(os.stat(root / "site-secret").st_mode & 0o777) == "0o600"
    assert get_settings(str(tmp_path / "other")).secret() != first  # a key per root
    monkeypatch.setenv("GENESIS_SITE_SECRET", "x" * 24)
    reset_settings_cache()
    try:
        assert get_settings(str(root)).secret() == b"x" * 24
    finally:
        monkeypatch.delenv("GENESIS_SITE_SECRET")
        reset_settings_cache()


def test_dask_task_keys_name_scans_by_pseudonym(tmp_path) -> None:
    """The scheduler's dashboard and task stream show keys: never a SeriesInstanceUID."""
    (key,) = task_keys("preprocess", [{"scan_id": UID}], {"seed": 0}, root=str(tmp_path))
    assert UID not in key and UID[-12:] not in key
    shown = pseudonym(UID, get_settings(str(tmp_path)).secret())
    assert key.startswith(f"preprocess-{shown}-")


def test_a_remote_root_keeps_its_secret_in_the_bucket(s3_env) -> None:
    """An ``s3://`` root (with its endpoint options) gets one key, kept beside the data."""
    s3_env.mkdir("phi-root")
    first = get_settings("s3://phi-root/r").secret()
    assert len(first) == 64 and s3_env.cat("phi-root/r/site-secret").strip() == first
    assert get_settings("s3://phi-root/r").secret() == first
