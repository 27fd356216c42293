"""The catalog is a record: checked on every load, and changed under a lease so that two
ingests into one dataset never lose each other's rows."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from genesis_core import catalog, ingest


def _row(k: int, folder: str) -> dict:
    return {
        "scan_id": f"{folder}-scan{k}",
        "source_uri": f"/data/{folder}/scan{k}.mhd",
        "source_key": f"/data/{folder}/scan{k}.mhd",
        "fingerprint": f"f{k}",
        "format": "mhd",
        "label_uri": None,
        "subset": k % 10,
        "status": "ok",
        "reason": "",
        "shape_xyz": [64, 64, 40],
        "spacing_xyz": [1.0, 1.0, 2.5],
        "origin_xyz": [0.0, 0.0, 0.0],
        "direction": [1.0, 0, 0, 0, 1, 0, 0, 0, 1],
        "hu_min": -1000.0,
        "hu_max": 1500.0,
        "sha256": f"{k:064x}",
        "revision": 0,
        "previous_sha256": None,
        "ingested_at": pd.Timestamp("2026-12-01", tz="UTC"),
    }


def _ingest(where: str, folder: str, n: int) -> None:
    rows = [_row(k, folder) for k in range(n)]
    sources = [SimpleNamespace(source_uri=r["source_uri"]) for r in rows]
    ingest.commit(where, rows, sources)


def test_two_ingests_racing_at_the_catalog_write_keep_both_runs_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = str(tmp_path / "catalog" / "d.parquet")
    _ingest(where, "first", 2)
    real_merge = catalog.merge

    def slow_merge(*args, **kwargs):  # widen the read → write window of each writer
        out = real_merge(*args, **kwargs)
        time.sleep(0.5)
        return out

    monkeypatch.setattr(catalog, "merge", slow_merge)
    errors: list[BaseException] = []

    def run(folder: str) -> None:
        try:
            _ingest(where, folder, 3)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(f,)) for f in ("night-a", "night-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ids = set(catalog.load(where)["scan_id"])
    assert {f"{f}-scan{k}" for f in ("night-a", "night-b") for k in range(3)} <= ids
    assert {"first-scan0", "first-scan1"} <= ids and len(ids) == 8


def test_a_flipped_bit_in_the_catalog_is_an_error_naming_it(tmp_path: Path) -> None:
    where = tmp_path / "d.parquet"
    _ingest(str(where), "x", 40)
    truth = catalog.load(str(where))
    data = where.read_bytes()
    rng = random.Random(0)
    for i in range(0, len(data), max(1, len(data) // 400)):
        b = bytearray(data)
        b[i] ^= 1 << rng.randrange(8)
        where.write_bytes(bytes(b))
        try:
            got = catalog.load(str(where))
        except catalog.CatalogDamaged as e:
            assert str(where) in str(e)
            continue
        pd.testing.assert_frame_equal(got, truth)  # a flip that changes nothing read


def test_a_catalog_written_before_checksums_still_loads(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = tmp_path / "old.parquet"
    df = pd.DataFrame([_row(0, "old")])
    pq.write_table(pa.Table.from_pandas(df, schema=catalog.SCHEMA, preserve_index=False), where)
    assert list(catalog.load(str(where))["scan_id"]) == ["old-scan0"]
