"""Ingest-level trust: the run survives every file (FIFOs, names that are not UTF-8), scan ids
never let one volume replace another, labels are checked against their volume, invalid
annotation rows are saved as invalid, and readers refuse content that changed since ingest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genesis_core import catalog
from genesis_core.ingest import ingest_sequential
from genesis_core.io.annotations import load_annotations, valid_rows
from genesis_core.io.layout import list_source
from genesis_core.io.readers import ScanReadError, read_catalogued
from genesis_core.volume import Volume
from tests.helpers import damage, volumes
from tests.helpers.dicom import write_series


def _ingest(src: Path) -> pd.DataFrame:
    return ingest_sequential(str(src), str(src.parent / "c.parquet"), src.parent / "cache")


def _by_id(df: pd.DataFrame) -> dict[str, dict]:
    return {r["scan_id"]: r for r in df.to_dict("records")}


# 7. The process survives every file ---------------------------------------------------------


def test_fifo_named_like_a_scan_never_hangs_ingest(tmp_path: Path) -> None:
    src = tmp_path / "src"
    volumes.write(volumes.volume(), src / "good.nii.gz")
    os.mkfifo(src / "pipe.nii.gz")
    os.mkfifo(src / "pipe.mhd")
    (src / "dicom").mkdir()
    os.mkfifo(src / "dicom" / "IM0001")
    code = (
        "import sys; from pathlib import Path; from genesis_core.ingest import ingest_sequential;"
        f"ingest_sequential({str(src)!r}, {str(tmp_path / 'c.parquet')!r}, Path({str(tmp_path)!r}))"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=os.getcwd())
    assert time.perf_counter() - t0 < 60
    rows = _by_id(catalog.load(str(tmp_path / "c.parquet")))
    assert rows["good"]["status"] == "ok"
    for sid in ("pipe", "IM0001"):
        hits = [r for k, r in rows.items() if k.startswith(sid)]
        assert hits and all(r["status"] == "quarantined" for r in hits), rows.keys()
        assert all("is a FIFO, not a regular file" in r["reason"] for r in hits)


def test_name_that_is_not_utf8_is_quarantined_and_the_run_goes_on(tmp_path: Path) -> None:
    src = tmp_path / "src"
    volumes.write(volumes.volume(), src / "good.nii.gz")
    bad = os.path.join(os.fsencode(src), b"scan-\xff\xfe.nii.gz")
    shutil.copy(src / "good.nii.gz", bad)
    df = _ingest(src)
    rows = _by_id(df)
    assert rows["good"]["status"] == "ok"
    weird = [r for k, r in rows.items() if k != "good"]
    assert len(weird) == 1 and weird[0]["status"] == "quarantined"
    assert "not valid UTF-8" in weird[0]["reason"] and "\\xff\\xfe" in weird[0]["reason"]
    catalog.load(str(tmp_path / "c.parquet"))  # the catalog round-trips


def test_every_data_file_read_is_fingerprinted(tmp_path: Path) -> None:
    src = tmp_path / "src"
    arr = volumes.ct_like()
    damage.write_mhd(src, "data", arr)
    (src / "scan.mhd").write_text(damage.mhd_text(arr.shape[::-1], data_file="data.raw"))
    (src / "data.mhd").unlink()
    before = {s.scan_id: s for s in list_source(str(src)).scans}["scan"]
    assert any(f.endswith("data.raw") for f in before.files)
    time.sleep(0.01)
    (src / "data.raw").write_bytes((arr + 1).tobytes())
    os.utime(src / "data.raw", ns=(time.time_ns() + 10**9,) * 2)
    after = {s.scan_id: s for s in list_source(str(src)).scans}["scan"]
    assert after.fingerprint != before.fingerprint


# 5. Scan identity -------------------------------------------------------------------------


def test_two_volumes_with_one_series_uid_both_stay_visible(tmp_path: Path) -> None:
    src = tmp_path / "src"
    uid = "1.2.3.999"
    write_series(src / "export1", volumes.ct_like((34, 70, 66), seed=1), (1, 1, 2), series_uid=uid)
    df = _ingest(src)
    assert _by_id(df)[uid]["status"] == "ok"
    write_series(src / "export2", volumes.ct_like((34, 70, 66), seed=2), (1, 1, 2), series_uid=uid)
    df = _ingest(src)
    rows = _by_id(df)
    assert df["scan_id"].is_unique and len(df) == 2
    assert rows[uid]["status"] == "ok" and rows[uid]["source_uri"].endswith("export1")
    (other,) = [r for k, r in rows.items() if k != uid]
    assert other["status"] == "quarantined" and other["scan_id"].startswith(uid + "~")
    assert "scan id conflict" in other["reason"] and "export1" in other["reason"]
    again = _ingest(src)  # stable on rerun
    assert sorted(again["scan_id"]) == sorted(df["scan_id"])


# 6. Labels ------------------------------------------------------------------------------------


def _lits_pair(src: Path, n: int, label: Volume | None = None, image: Volume | None = None) -> None:
    image = image or volumes.volume(seed=n)
    volumes.write(image, src / f"volume-{n}.nii.gz")
    if label is None:
        seg = (image.array > 0).astype(np.uint8)
        label = Volume(seg, image.spacing, image.origin, image.direction)
    volumes.write(label, src / f"segmentation-{n}.nii.gz")


@pytest.mark.parametrize(
    "change,fragment",
    [
        ({"spacing": (1.2, 1.1, 2.5)}, "label spacing"),
        ({"origin": (-40.0, 14.5, -300.0)}, "label origin"),
        ({"direction": (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)}, "label direction"),
    ],
)
def test_label_geometry_must_match_its_volume(tmp_path: Path, change: dict, fragment) -> None:
    src = tmp_path / "src"
    image = volumes.volume(seed=1)
    seg = (image.array > 0).astype(np.uint8)
    geo = {"spacing": image.spacing, "origin": image.origin, "direction": image.direction}
    _lits_pair(src, 0, image=image, label=Volume(seg, **{**geo, **change}))
    _lits_pair(src, 1)
    rows = _by_id(_ingest(src))
    assert rows["volume-1"]["status"] == "ok"
    assert rows["volume-0"]["status"] == "quarantined"
    assert fragment in rows["volume-0"]["reason"]
    assert "segmentation-0.nii.gz" in rows["volume-0"]["reason"]


def test_label_values_must_be_integers_from_the_expected_set(tmp_path: Path) -> None:
    src = tmp_path / "src"
    image = volumes.volume(seed=1)
    seg = (image.array > 0).astype(np.uint8)
    seg[0, 0, :3] = 5
    _lits_pair(src, 0, image=image, label=Volume(seg, image.spacing, image.origin))
    prob = (image.array > 0).astype(np.float32) * 0.7
    _lits_pair(src, 1, label=Volume(prob, image.spacing, image.origin))
    rows = _by_id(_ingest(src))
    assert "label values [5] are outside the expected set [0, 1, 2]" in rows["volume-0"]["reason"]
    assert "non-integer values" in rows["volume-1"]["reason"]


def test_labels_without_a_volume_get_a_row(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _lits_pair(src, 0)
    volumes.write(volumes.volume(seed=3), src / "segmentation-7.nii.gz")
    rows = _by_id(_ingest(src))
    assert rows["volume-0"]["status"] == "ok"
    assert rows["segmentation-7"]["status"] == "quarantined"
    assert "no image to go with it" in rows["segmentation-7"]["reason"]
    msd = tmp_path / "msd"
    (msd / "dataset.json").parent.mkdir()
    (msd / "dataset.json").write_text('{"labels": {"0": "background", "1": "spleen"}}')
    volumes.write(volumes.volume(), msd / "imagesTr" / "spleen_1_0000.nii.gz")
    image = volumes.volume()
    seg = (image.array > 0).astype(np.uint8)
    volumes.write(Volume(seg, image.spacing, image.origin), msd / "labelsTr" / "spleen_1.nii.gz")
    volumes.write(Volume(seg, image.spacing, image.origin), msd / "labelsTr" / "spleen_2.nii.gz")
    rows = _by_id(_ingest(msd))
    assert rows["spleen_1"]["status"] == "ok", rows["spleen_1"]["reason"]
    assert "labelsTr/spleen_2.nii.gz is a segmentation with no image" in rows["spleen_2"]["reason"]


def test_invalid_annotation_rows_are_saved_as_invalid(tmp_path: Path) -> None:
    csv = tmp_path / "candidates.csv"
    csv.write_text(
        "seriesuid,coordX,coordY,coordZ,class\n"
        "a,1,2,3,0\na,1,2,3,1\na,1,2,3,3\na,x,2,3,0\nb,1,2,3,-1\n"
    )
    df, report = load_annotations(str(csv), "candidates", {"a"})
    assert len(df) == 5 and df["valid"].tolist() == [True, True, False, False, False]
    assert report.n_invalid == 3 and report.rows == 2
    assert any("row 4: class must be 0 or 1" in m for m in report.invalid)
    assert len(valid_rows(df)) == 2


# Readers verify what they read ------------------------------------------------------------


def test_reader_refuses_content_changed_since_ingest(tmp_path: Path) -> None:
    src = tmp_path / "src"
    volumes.write(volumes.volume(seed=1), src / "a.nii.gz")
    row = _by_id(_ingest(src))["a"]
    read_catalogued(row["source_uri"], row["format"], tmp_path / "cache", row["sha256"])
    volumes.write(volumes.volume(seed=2), src / "a.nii.gz")
    with pytest.raises(ScanReadError, match="changed since ingest"):
        read_catalogued(row["source_uri"], row["format"], tmp_path / "cache", row["sha256"])


def test_an_io_fault_while_fetching_is_raised_not_quarantined(tmp_path: Path, monkeypatch) -> None:
    """An S3 blip or a failing disk is retried by the caller (the read-scan task), never
    turned into a quarantine row that would hide a good scan for good."""
    from genesis_core.ingest import rows_for_source
    from genesis_core.io import storage

    src = tmp_path / "src"
    volumes.write(volumes.volume(), src / "a.nii.gz")
    (source,) = list_source(str(src)).scans

    def blip(*a, **k):
        raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr(storage, "staged", blip)
    with pytest.raises(OSError, match="Connection reset"):
        rows_for_source(source, tmp_path / "cache")


def test_a_read_cut_at_its_time_limit_is_retried_next_run(tmp_path: Path) -> None:
    """A hang may have been a slow disk: unlike bad data, that row is read again next run."""
    from genesis_core.ingest import plan

    src = tmp_path / "src"
    volumes.write(volumes.volume(), src / "a.nii.gz")
    df = _ingest(src)
    assert plan(list_source(str(src)).scans, df) == []  # unchanged: nothing to read
    df.loc[0, ["status", "reason"]] = [
        "quarantined",
        "a.nii.gz: reading did not finish within 30 s",
    ]
    assert [s.scan_id for s in plan(list_source(str(src)).scans, df)] == ["a"]
