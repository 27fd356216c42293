"""Voxel payloads read to the exact byte, plain or compressed.

SimpleITK zero-fills a compressed stream that ends early and never says so; here a
payload is read into a buffer of exactly the size the header implies, and any
shortfall or excess is an error giving both numbers.  Nothing is allocated before
the claim is checked against what the file could possibly hold.
"""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 22
# zlib's deflate cannot expand more than about 1032:1; a header claiming more
# voxels than that from its compressed size is refused before allocating anything.
MAX_INFLATE_RATIO = 1100


class PayloadError(ValueError):
    """The voxel data does not match what its header says; the message gives the numbers."""


def regular_file_size(path: Path) -> int:
    """Size of a regular file; refuses FIFOs, devices, sockets and folders (never opens them)."""
    try:
        st = os.stat(path)
    except FileNotFoundError as e:
        raise PayloadError(f"data file {path.name} is missing") from e
    if not stat.S_ISREG(st.st_mode):
        raise PayloadError(f"{path.name} is not a regular file ({file_kind(st.st_mode)})")
    return st.st_size


def file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "a special file"


def check_claim(expected: int, available: int, compressed: bool, where: str) -> None:
    """Refuse a header whose voxel count the file cannot hold, before any allocation."""
    limit = available * MAX_INFLATE_RATIO if compressed else available
    if expected > limit:
        how = (
            f"{available} compressed bytes (at most ~{limit} inflated)"
            if compressed
            else (f"{available} bytes")
        )
        raise PayloadError(
            f"{where}: header claims {expected} bytes of voxel data but the file holds {how}"
        )


def read_plain(parts: Sequence[tuple[Path, int]], expected: int, where: str) -> bytearray:
    """Concatenate ``(file, offset)`` payload parts; their sizes must add up to ``expected``."""
    sizes = [regular_file_size(p) - off for p, off in parts]
    for (p, off), size in zip(parts, sizes, strict=True):
        if size < 0:
            raise PayloadError(
                f"{where}: data offset {off} is past the end of {p.name} ({off + size} bytes)"
            )
    have = sum(sizes)
    if have != expected:
        kind = "truncated" if have < expected else "larger than the header says"
        names = parts[0][0].name + (f" + {len(parts) - 1} more files" if len(parts) > 1 else "")
        raise PayloadError(
            f"{where}: header/data size mismatch: {names} is {kind} (the header needs "
            f"{expected} bytes of voxel data, {'they hold' if len(parts) > 1 else 'it holds'} "
            f"{have})"
        )
    out = bytearray(expected)
    view, n = memoryview(out), 0
    for p, off in parts:
        with open(p, "rb") as f:
            f.seek(off)
            n += _readinto_full(f, view[n:])
    if n != expected:  # the file shrank while we read it
        raise PayloadError(f"{where}: read {n} of {expected} bytes (file changed while reading)")
    return out


def _readinto_full(f: BinaryIO, view: memoryview) -> int:
    n = 0
    while n < len(view):
        got = f.readinto(view[n:])
        if not got:
            break
        n += got
    return n


class Inflater:
    """A zlib or gzip stream (several gzip members allowed) read exactly, chunk by chunk."""

    def __init__(self, f: BinaryIO, where: str) -> None:
        self._f, self._where = f, where
        self._d = zlib.decompressobj(32 + zlib.MAX_WBITS)  # auto-detect zlib or gzip
        self._tail = b""
        self.produced = 0

    def _next_input(self) -> bytes:
        if self._d.unconsumed_tail:
            return self._d.unconsumed_tail
        if self._d.eof:
            rest = self._d.unused_data or self._f.read(CHUNK)
            if not rest:
                return b""
            self._d = zlib.decompressobj(32 + zlib.MAX_WBITS)  # next gzip member
            return rest
        return self._f.read(CHUNK)

    def readinto(self, view: memoryview) -> int:
        """Fill ``view``; returns how many bytes the stream had (fewer means it ended)."""
        n = 0
        while n < len(view):
            data = self._next_input()
            if not data:
                break
            try:
                piece = self._d.decompress(data, len(view) - n)
            except zlib.error as e:
                raise PayloadError(f"{self._where}: compressed data is corrupt ({e})") from e
            view[n : n + len(piece)] = piece
            n += len(piece)
        self.produced += n
        return n

    def ended_cleanly(self) -> bool:
        """True when the stream's end marker (and checksum) was reached."""
        return self._d.eof

    def extra_bytes(self) -> int:
        """Inflate the rest of the stream (checking its checksum); how many bytes were left."""
        extra, sink = 0, memoryview(bytearray(CHUNK))
        while True:
            got = self.readinto(sink)
            extra += got
            if got < len(sink):
                return extra


def read_inflated(
    inf: Inflater, skip: int, expected: int, where: str, prefix: bytes = b""
) -> bytearray:
    """Drop ``skip`` more inflated bytes, then return exactly ``expected`` bytes.

    ``prefix``: bytes of the payload already inflated (a NIfTI header read ahead).
    """
    if skip:
        got = inf.readinto(memoryview(bytearray(skip)))
        if got < skip:
            raise PayloadError(
                f"{where}: data offset is past the end of the decompressed file "
                f"({inf.produced} bytes)"
            )
    out = bytearray(expected)
    head = min(len(prefix), expected)
    out[:head] = prefix[:head]
    got = head + inf.readinto(memoryview(out)[head:])
    if got < expected:
        how = "compressed stream ends early" if not inf.ended_cleanly() else "stream is complete"
        raise PayloadError(
            f"{where}: truncated voxel data ({how}): decompressed {got} bytes, "
            f"header needs {expected}"
        )
    extra = inf.extra_bytes() + len(prefix) - head
    if not inf.ended_cleanly():
        raise PayloadError(
            f"{where}: compressed stream ends early (no end marker after {inf.produced} "
            "bytes): the file is truncated"
        )
    if extra:
        raise PayloadError(
            f"{where}: decompressed data is larger than the header says "
            f"({expected + extra} bytes of voxel data, header needs {expected})"
        )
    return out


def read_inflated_file(path: Path, offset: int, expected: int, where: str) -> bytearray:
    """Inflate the compressed stream that starts ``offset`` bytes into ``path``."""
    size = regular_file_size(path)
    if offset > size:
        raise PayloadError(
            f"{where}: data offset {offset} is past the end of {path.name} ({size} bytes)"
        )
    check_claim(expected, size - offset, compressed=True, where=where)
    with open(path, "rb") as f:
        f.seek(offset)
        return read_inflated(Inflater(f, where), 0, expected, where)
