"""Target store: build → write → commit → read, failures reported, splits, PairReader protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genesis_core.cubes.rng import rng_for
from genesis_core.io.readers import read_image
from genesis_core.store.manifest import read_latest
from genesis_core.targets import (
    TargetConfig,
    TargetStore,
    build_target_scan,
    commit_targets,
    ncc_arrays,
    rows_for_scan,
)
from genesis_core.targets.arrays import WORLD_COLUMNS
from genesis_core.targets.splits import lits_split, split_target_scans
from genesis_core.training import PairReader

from .conftest import lits_row, luna_row

SMALL = (32, 32, 16)


def _build_ncc(luna, candidates, uri: str, cache: Path, config: TargetConfig) -> list[dict]:
    return [
        build_target_scan("ncc", luna_row(s), rows_for_scan(candidates, s.uid), config, uri, cache)
        for s in luna.scans
    ]


def test_ncc_round_trip(tmp_path, luna, candidates) -> None:
    uri, cfg = str(tmp_path / "ncc"), TargetConfig(task="ncc", cube_xyz=SMALL)
    results = _build_ncc(luna, candidates, uri, tmp_path / "cache", cfg)
    assert [r["status"] for r in results] == ["ok", "ok"], results
    assert [r["n_positive"] for r in results] == [1, 1]
    assert TargetStore(uri).scan_ids == []  # nothing visible before the commit
    manifest = commit_targets(uri, results, cfg)
    assert manifest.config_hash == cfg.hash() and manifest.config["task"] == "ncc"
    store = TargetStore(uri)
    assert isinstance(store, PairReader)
    assert len(store) == len(candidates)
    labels = store.labels()
    expected = np.concatenate(
        [rows_for_scan(candidates, sid)["class"].to_numpy() for sid in store.scan_ids]
    )
    np.testing.assert_array_equal(labels, expected)
    idx = [len(store) - 1, int(np.flatnonzero(labels == 1)[0]), 0]
    x, y = store.read(idx)
    assert x.dtype == np.float32 and x.shape == (3, 16, 32, 32)
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.dtype == np.float32 and y.shape == (3,)
    np.testing.assert_array_equal(y, labels[idx].astype(np.float32))
    assert x[1, 8, 16, 16] > (-300 + 1000) / 2000  # the positive cube holds the nodule
    # exactly the builder's int16 cube through the [-1000, 1000] HU window
    sid = store.scan_ids[0]
    rows = rows_for_scan(candidates, sid)
    vol = read_image(next(s.mhd for s in luna.scans if s.uid == sid))
    raw = ncc_arrays(
        vol, rows[WORLD_COLUMNS].to_numpy(), rows["class"].to_numpy(), cfg, rng_for(0, sid)
    ).images[0]
    np.testing.assert_allclose(x[2], (np.clip(raw, -1000, 1000) + 1000) / 2000, atol=1e-6)


def test_provenance_and_subset_split(tmp_path, luna, candidates) -> None:
    uri, cfg = str(tmp_path / "ncc"), TargetConfig(task="ncc", cube_xyz=SMALL)
    commit_targets(uri, _build_ncc(luna, candidates, uri, tmp_path / "c", cfg), cfg)
    store = TargetStore(uri)
    prov = store.provenance(0)
    assert prov["scan_id"] == store.scan_ids[0] and prov["config_hash"] == cfg.hash()
    assert np.subtract(prov["center_zyx"], prov["origin_zyx"]).tolist() == [8, 16, 16]
    splits = store.split()
    assert splits["train"].scan_ids == [luna.scans[0].uid]  # subset 0
    assert splits["val"].scan_ids == [luna.scans[1].uid]  # subset 5
    assert len(splits["test"]) == 0
    one = store.subset([luna.scans[1].uid])
    assert len(one) == len(rows_for_scan(candidates, luna.scans[1].uid))


def test_lcs_round_trip_masks_and_lits_split(tmp_path, lits) -> None:
    uri = str(tmp_path / "lcs")
    cfg = TargetConfig(task="lcs", cube_xyz=SMALL, n=4, labels=(1, 2))
    results = [
        build_target_scan("lcs", lits_row(c), None, cfg, uri, tmp_path / "cache")
        for c in lits.cases
    ]
    assert [r["status"] for r in results] == ["ok", "ok"], results
    assert all(r["subset"] is None and r["n_positive"] >= 2 for r in results)
    commit_targets(uri, results, cfg)
    store = TargetStore(uri)
    assert len(store) == 8 and store.scan_ids == ["volume-0", "volume-1"]
    x, y = store.read(range(8))
    assert x.shape == y.shape == (8, 16, 32, 32) and y.dtype == np.float32
    assert set(np.unique(y)) <= {0.0, 1.0} and y.any()
    assert 0.0 <= x.min() and x.max() <= 1.0
    with pytest.raises(ValueError, match="masks"):
        store.labels()
    # Two LiTS volumes cannot fill the paper's split: the hashed rule applies instead.
    split = store.split()
    assert sorted(sid for v in split.values() for sid in v.scan_ids) == ["volume-0", "volume-1"]


def test_ncs_store_targets_are_masks(tmp_path, luna, annotations) -> None:
    uri, cfg = str(tmp_path / "ncs"), TargetConfig(task="ncs", cube_xyz=SMALL, n_random=1)
    scan = luna.scans[0]
    res = build_target_scan(
        "ncs", luna_row(scan), rows_for_scan(annotations, scan.uid), cfg, uri, tmp_path / "c"
    )
    assert res["status"] == "ok" and res["n_cubes"] == 2 and res["n_positive"] >= 1
    commit_targets(uri, [res], cfg)
    x, y = TargetStore(uri).read([0])
    assert y.shape == (1, 16, 32, 32) and y[0, 8, 16, 16] == 1.0
    assert 400 < y[0].sum() < 650  # ≈ 524 voxels of a 10 mm sphere at 1 mm


def test_bad_and_empty_scans_are_reported_not_raised(tmp_path, luna, candidates) -> None:
    uri, cfg = str(tmp_path / "s"), TargetConfig(task="ncc", cube_xyz=SMALL)
    bad = {**luna_row(luna.scans[0]), "source_uri": str(tmp_path / "missing.mhd")}
    r = build_target_scan("ncc", bad, candidates.iloc[:2], cfg, uri, tmp_path / "c")
    assert r["status"] == "failed" and "missing.mhd" in r["reason"]
    empty = build_target_scan("ncc", luna_row(luna.scans[0]), None, cfg, uri, tmp_path / "c")
    assert empty["status"] == "empty" and empty["n_cubes"] == 0
    bad_table = candidates.drop(columns=["class"])
    r = build_target_scan("ncc", luna_row(luna.scans[0]), bad_table, cfg, uri, tmp_path / "c")
    assert r["status"] == "failed" and "class" in r["reason"]
    no_label = build_target_scan(
        "lcs", {**luna_row(luna.scans[0])}, None, TargetConfig(task="lcs"), uri, tmp_path / "c"
    )
    assert no_label["status"] == "failed" and "label" in no_label["reason"]
    manifest = commit_targets(uri, [r, empty], cfg)
    assert manifest.scans == {} and read_latest(uri).version == 1
    with pytest.raises(ValueError, match="does not match"):
        build_target_scan("lcs", luna_row(luna.scans[0]), None, cfg, uri, tmp_path / "c")


def test_uncommitted_rewrite_is_invisible(tmp_path, luna, candidates) -> None:
    uri, cfg = str(tmp_path / "ncc"), TargetConfig(task="ncc", cube_xyz=SMALL)
    s0, s1 = luna.scans
    r0 = build_target_scan(
        "ncc", luna_row(s0), rows_for_scan(candidates, s0.uid), cfg, uri, tmp_path
    )
    commit_targets(uri, [r0], cfg)
    build_target_scan("ncc", luna_row(s1), rows_for_scan(candidates, s1.uid), cfg, uri, tmp_path)
    assert TargetStore(uri).scan_ids == [s0.uid]


def test_split_rules() -> None:
    ids = {f"volume-{i}": None for i in (0, 99, 100, 114, 115, 129)}
    assert split_target_scans(ids) == {
        "train": ["volume-0", "volume-99"],
        "val": ["volume-100", "volume-114"],
        "test": ["volume-115", "volume-129"],
    }
    assert lits_split(["volume-0", "volume-130"]) is None
    assert lits_split([f"volume-{i}" for i in range(20)]) is None  # no val/test scans: hash instead
    assert lits_split(["volume-0", "liver_3"]) is None
    luna = split_target_scans({"a": 0, "b": 5, "c": 9})
    assert luna == {"train": ["a"], "val": ["b"], "test": ["c"]}
    hashed = split_target_scans({"case-1": None, "case-2": None})
    assert sorted(sum(hashed.values(), [])) == ["case-1", "case-2"]


def test_small_hash_split_gives_every_split_a_scan() -> None:
    from genesis_core.store.reader import split_scans

    ids = {f"toy_{i}": None for i in range(4)}
    assert not all(split_scans(ids).values()), "the plain hash split leaves one empty"
    small = split_target_scans(ids)
    assert [len(small[k]) for k in ("train", "val", "test")] == [2, 1, 1]
    assert sorted(sum(small.values(), [])) == sorted(ids)
    assert split_target_scans(ids) == small, "deterministic"
    many = {f"case-{i}": None for i in range(40)}
    assert split_target_scans(many) == split_scans(many), "larger sets keep the stable hash split"
