"""The same ingest from an s3:// bucket on a real object store (SeaweedFS on 127.0.0.1):
listings, ETags as fingerprints and reads of every layout go through its S3 API."""

from __future__ import annotations

import pandas as pd
import pytest

from genesis_core import catalog
from genesis_core.io.storage import Location
from tests.helpers import volumes

pytestmark = pytest.mark.integration


def test_ingest_from_s3_matches_local(seaweed_env, prefect_harness, tmp_path, monkeypatch) -> None:
    from flows.ingest import ingest_flow
    from tasks.settings import reset_settings_cache

    src = tmp_path / "src"
    volumes.write(volumes.volume(seed=1), src / "subset0" / "1.2.3.1.mhd")
    volumes.write(volumes.volume(seed=2), src / "subset1" / "1.2.3.2.mhd")
    volumes.write(volumes.volume(seed=3), src / "subset1" / "1.2.3.3.mhd")
    (src / "subset1" / "1.2.3.3.raw").write_bytes(b"\0" * 100)
    pd.DataFrame(
        {
            "seriesuid": ["1.2.3.1", "9.9.9"],
            "coordX": [1.0, 2.0],
            "coordY": [0.0, 0.0],
            "coordZ": [-280.0, 0.0],
            "diameter_mm": [5.0, 6.0],
        }
    ).to_csv(src / "annotations.csv", index=False)
    fs = seaweed_env
    fs.mkdir("scans")
    fs.put(str(src) + "/", "scans/luna", recursive=True)
    monkeypatch.setenv("GENESIS_ROOT", "s3://scans/genesis-root")
    monkeypatch.setenv("GENESIS_CACHE_DIR", str(tmp_path / "cache"))
    reset_settings_cache()

    remote = ingest_flow(source="s3://scans/luna", dataset="luna")
    local = ingest_flow(source=str(src), dataset="luna", root=str(tmp_path / "local"))
    assert remote.catalog_uri == "s3://scans/genesis-root/catalog/luna.parquet"
    assert fs.exists("scans/genesis-root/catalog/luna.parquet")
    endpoint = {"client_kwargs": {"endpoint_url": fs.client_kwargs["endpoint_url"]}}
    r = catalog.load(Location(remote.catalog_uri, endpoint))
    lo = catalog.load(local.catalog_uri)
    cols = ["scan_id", "status", "subset", "sha256", "hu_min", "hu_max"]
    pd.testing.assert_frame_equal(
        r[cols].sort_values("scan_id").reset_index(drop=True),
        lo[cols].sort_values("scan_id").reset_index(drop=True),
    )
    assert (
        r.set_index("scan_id").loc["1.2.3.1", "source_uri"] == "s3://scans/luna/subset0/1.2.3.1.mhd"
    )
    assert "truncated" in r.set_index("scan_id").loc["1.2.3.3", "reason"]
    # the remote files (full headers in real exports) were staged only while being read
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []
    (ann,) = [a for a in remote.annotations if a.kind == "annotations"]
    assert ann.orphans == 1 and ann.orphan_ids == ("9.9.9",)
    # A rerun against S3 does no re-reading (fingerprints are ETags).
    assert ingest_flow(source="s3://scans/luna", dataset="luna").read == 0
