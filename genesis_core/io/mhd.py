"""MetaImage (``.mhd`` + ``.raw``) header checks done before SimpleITK reads data.

SimpleITK's own errors on a missing or truncated ``.raw`` are vague; checking
the header against the data file first lets the catalog say exactly what is
wrong (which file, how many bytes expected and found).
"""

from __future__ import annotations

from pathlib import Path

ELEMENT_BYTES = {
    "MET_CHAR": 1,
    "MET_UCHAR": 1,
    "MET_SHORT": 2,
    "MET_USHORT": 2,
    "MET_INT": 4,
    "MET_UINT": 4,
    "MET_LONG": 8,
    "MET_ULONG": 8,
    "MET_FLOAT": 4,
    "MET_DOUBLE": 8,
}


class MhdError(ValueError):
    """A MetaImage header or its data file is inconsistent."""


def parse_header(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            fields[k.strip()] = v.strip()
    return fields


def data_file_name(header: dict[str, str]) -> str | None:
    """The ``ElementDataFile`` entry, or None when the data is inline (LOCAL)."""
    name = header.get("ElementDataFile")
    if name is None:
        raise MhdError("header has no ElementDataFile")
    return None if name.upper() == "LOCAL" else name


def expected_bytes(header: dict[str, str]) -> int:
    try:
        dims = [int(v) for v in header["DimSize"].split()]
        per = ELEMENT_BYTES[header["ElementType"]] * int(header.get("ElementNumberOfChannels", 1))
    except (KeyError, ValueError) as e:
        raise MhdError(f"header field missing or malformed: {e}") from e
    n = 1
    for d in dims:
        n *= d
    return n * per


def check_mhd(mhd_path: Path) -> None:
    """Raise :class:`MhdError` naming the problem when header and data disagree."""
    header = parse_header(mhd_path.read_text(errors="replace"))
    name = data_file_name(header)
    if name is None:
        return
    raw = mhd_path.parent / name
    if not raw.exists():
        raise MhdError(f"data file {name!r} named by {mhd_path.name} is missing")
    if header.get("CompressedData", "False").lower() == "true":
        return  # compressed size cannot be checked from the header
    want, have = expected_bytes(header), raw.stat().st_size
    if have != want:
        kind = "truncated" if have < want else "larger than the header says"
        raise MhdError(
            f"header/data size mismatch: {name} is {kind} "
            f"(header DimSize×ElementType needs {want} bytes, file has {have})"
        )
