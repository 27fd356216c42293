"""The ingest flow under Prefect's test harness: catalog contract and incremental reruns."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from genesis_core import catalog
from genesis_core.volume import Volume
from tests.helpers import volumes


@pytest.fixture()
def run_ingest(prefect_harness, genesis_root):
    from flows.ingest import ingest_flow

    def run(src: Path, **kw):
        return ingest_flow(source=str(src), dataset="ds", **kw)

    return run


def test_flow_catalogs_and_reruns_incrementally(run_ingest, genesis_root, tmp_path) -> None:
    src = tmp_path / "src"
    volumes.write(volumes.volume(seed=1), src / "a.nii.gz")
    volumes.write(volumes.volume(seed=2), src / "b.mhd")
    first = run_ingest(src)
    uri = catalog.catalog_uri(str(genesis_root), "ds")
    assert first.catalog_uri == uri
    assert (first.scans, first.ok, first.read) == (2, 2, 2)
    before = Path(uri).read_bytes()

    again = run_ingest(src)
    assert again.read == 0 and again.scans == 2
    assert Path(uri).read_bytes() == before, "an unchanged rerun must leave the catalog untouched"

    volumes.write(volumes.volume(seed=3), src / "c.nrrd")
    added = run_ingest(src)
    assert added.read == 1 and added.scans == 3

    time.sleep(0.01)  # make sure the mtime moves
    changed = volumes.volume(seed=1)
    volumes.write(
        Volume(changed.array + np.int16(5), changed.spacing, changed.origin), src / "a.nii.gz"
    )
    flagged = run_ingest(src)
    assert flagged.read == 1 and flagged.changed == 1
    df = catalog.load(uri).set_index("scan_id")
    assert df.loc["a", "revision"] == 1
    assert (
        df.loc["a", "previous_sha256"] and df.loc["a", "previous_sha256"] != df.loc["a", "sha256"]
    )
    assert df.loc["b", "revision"] == 0


def test_flow_quarantines_without_failing(run_ingest, tmp_path) -> None:
    src = tmp_path / "src"
    volumes.write(volumes.volume(seed=1), src / "ok.nii.gz")
    volumes.write(volumes.volume(seed=2), src / "broken.mhd")
    (src / "broken.raw").write_bytes(b"\0" * 10)
    report = run_ingest(src)
    assert report.ok == 1 and report.quarantined == 1
    (q,) = report.quarantine
    assert q.scan_id == "broken" and "truncated" in q.reason


def test_flow_missing_source_fails_clearly(run_ingest, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_ingest(tmp_path / "nope")
