"""A MetaImage header is UTF-8 text (latin-1 when it is not valid UTF-8): a data file
with a non-ASCII name is found, listed, fingerprinted and read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from genesis_core.ingest import ingest_sequential
from genesis_core.io.layout import list_source
from genesis_core.io.metaimage import parse_header

LUNA = "luna16_style_chest_ct/subset0"


def _copy_with_data_name(real_data: Path, dst: Path, data_name: str) -> Path:
    mhd = next((real_data / LUNA).glob("*.mhd"))
    dst.mkdir(parents=True)
    shutil.copyfile(mhd.with_suffix(".raw"), dst / data_name)
    lines = mhd.read_text("ascii").splitlines()
    lines[-1] = f"ElementDataFile = {data_name}"
    (dst / "scan.mhd").write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return dst / "scan.mhd"


@pytest.mark.parametrize("data_name", ["scän.raw", "Ünïcødé 数据.raw"])
def test_non_ascii_data_file_name_reads(tmp_path: Path, real_data: Path, data_name: str) -> None:
    _copy_with_data_name(real_data, tmp_path / "src", data_name)
    listing = list_source(str(tmp_path / "src"))
    [src] = listing.scans
    assert any(f.endswith(data_name) for f in src.files), src.files  # fingerprinted
    df = ingest_sequential(str(tmp_path / "src"), str(tmp_path / "c.parquet"), tmp_path / "cache")
    row = df.iloc[0].to_dict()
    assert row["status"] == "ok", row["reason"]
    assert tuple(row["shape_xyz"]) == (512, 512, 64)


def test_latin1_header_still_parses() -> None:
    head = "NDims = 3\nComment = caf\xe9\nElementDataFile = a.raw\n".encode("latin-1")
    h = parse_header(head, "x.mhd")
    assert h.fields["Comment"] == "café" and h.data_files == ("a.raw",)
