"""The data elements of a DICOM file, parsed from its bytes.

SimpleITK (GDCM) shows a file's top-level tags as text, but neither its sequences
(an enhanced CT keeps its per-frame positions in PerFrameFunctionalGroupsSequence)
nor the stored pixel values before it rescales (and masks) them.  This parser reads
both, for Implicit and Explicit VR Little Endian datasets (the encapsulated, compressed
syntaxes are Explicit VR LE too: their header parses, their pixel data is skipped).
Big-endian and deflated datasets give ``None``: they are checked on what GDCM decodes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
IMPLICIT_LE = "1.2.840.10008.1.2"
UNPARSED = {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}  # big endian, deflated


class DicomParseError(ValueError):
    """The element structure is broken (a length past the end, a stray delimiter)."""


@dataclass
class Element:
    tag: int
    vr: str  # '' in an implicit-VR dataset
    value: bytes | memoryview = b""  # the raw value; empty for a sequence
    items: list[dict[int, Element]] | None = None  # a sequence's items
    start: int = 0  # where the element's header starts in the file
    end: int = 0  # just past its value
    encapsulated: bool = False  # compressed pixel data (fragments, not read here)


@dataclass
class Dataset:
    syntax: str
    elements: dict[int, Element] = field(default_factory=dict)
    meta: dict[int, Element] = field(default_factory=dict)

    def get(self, tag: int) -> Element | None:
        return self.elements.get(tag)


def parse(data: bytes) -> Dataset | None:
    """The file's elements, or ``None`` when it is no DICOM Part 10 file this parser reads."""
    if data[128:132] != b"DICM":
        return None
    buf = memoryview(data)
    meta, pos = _walk(buf, 132, len(buf), True, group=0x0002)
    syntax = text(meta.get(0x00020010))
    if syntax in UNPARSED:
        return None
    elements, _ = _walk(buf, pos, len(buf), syntax != IMPLICIT_LE)
    return Dataset(syntax, elements, meta)


def text(el: Element | None) -> str:
    """A string value without its padding ('' when absent)."""
    if el is None or el.items is not None:
        return ""
    return bytes(el.value).decode("latin-1").strip("\0 ")


def uint16(el: Element | None) -> int | None:
    """A US value (the first one when several)."""
    if el is None or len(el.value) < 2:
        return None
    return struct.unpack_from("<H", el.value)[0]


def _head(buf: memoryview, pos: int, explicit: bool) -> tuple[int, str, int, int]:
    """(tag, VR, where the value starts, its length) of the element at ``pos``."""
    if pos + 8 > len(buf):
        raise DicomParseError(f"an element header at byte {pos} runs past the end")
    group, elem = struct.unpack_from("<HH", buf, pos)
    tag = group << 16 | elem
    if group == 0xFFFE or not explicit:
        return tag, "", pos + 8, struct.unpack_from("<I", buf, pos + 4)[0]
    vr = bytes(buf[pos + 4 : pos + 6]).decode("latin-1")
    if vr in LONG_VRS:
        if pos + 12 > len(buf):
            raise DicomParseError(f"an element header at byte {pos} runs past the end")
        return tag, vr, pos + 12, struct.unpack_from("<I", buf, pos + 8)[0]
    return tag, vr, pos + 8, struct.unpack_from("<H", buf, pos + 6)[0]


def _walk(
    buf: memoryview, pos: int, end: int, explicit: bool, group: int | None = None
) -> tuple[dict[int, Element], int]:
    """Elements from ``pos`` to ``end`` (or an item delimiter, or the end of ``group``)."""
    out: dict[int, Element] = {}
    while pos + 8 <= end:
        tag, vr, start, n = _head(buf, pos, explicit)
        if group is not None and tag >> 16 != group:
            break
        if tag in (ITEM_END, SEQ_END):
            return out, start
        if n == UNDEFINED and tag == PIXEL_DATA:
            stop = _skip_fragments(buf, start)
            out[tag] = Element(tag, vr, b"", None, pos, stop, encapsulated=True)
        elif n == UNDEFINED:
            items, stop = _items(buf, start, len(buf), explicit if vr != "UN" else False)
            out[tag] = Element(tag, vr, b"", items, pos, stop)
        else:
            stop = start + n
            if stop > len(buf):
                raise DicomParseError(
                    f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) says {n} bytes, "
                    f"the file ends {stop - len(buf)} bytes early"
                )
            if vr == "SQ" or (not vr and bytes(buf[start : start + 4]) == b"\xfe\xff\x00\xe0"):
                out[tag] = Element(tag, vr, b"", _items(buf, start, stop, explicit)[0], pos, stop)
            else:
                out[tag] = Element(tag, vr, buf[start:stop], None, pos, stop)
        pos = stop
    return out, pos


def _items(buf: memoryview, pos: int, end: int, explicit: bool):
    items: list[dict[int, Element]] = []
    while pos + 8 <= end:
        tag, _, start, n = _head(buf, pos, explicit)
        if tag == SEQ_END:
            return items, start
        if tag != ITEM:
            raise DicomParseError(f"a sequence holds a non-item element at byte {pos}")
        if n == UNDEFINED:
            item, pos = _walk(buf, start, len(buf), explicit)
        else:
            item, _ = _walk(buf, start, start + n, explicit)
            pos = start + n
        items.append(item)
    return items, pos


def _skip_fragments(buf: memoryview, pos: int) -> int:
    while pos + 8 <= len(buf):
        tag, _, start, n = _head(buf, pos, False)
        if tag == SEQ_END:
            return start
        pos = start + n
    raise DicomParseError("encapsulated pixel data has no sequence delimiter (truncated)")
