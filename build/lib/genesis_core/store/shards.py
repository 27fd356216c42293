"""Direct reads of the shard layout this project writes: one shard per scan, one chunk per cube.

zarr-python's sharding codec fetches the shard index again on every read and decodes the
selected chunks one after another (4–10 ms of CPU per cube on these machines, and on S3
one request after another).  :func:`genesis_core.store.writer.write_scan` always writes
one layout: an int16 array (n, D, H, W) stored as a single shard of n chunks of
(1, D, H, W), each chunk bytes(little endian) + Blosc, the index (offset, length) ×
n as little-endian uint64 + CRC32C at the end of the shard.  This module reads exactly
that layout: the whole shard in one request, or the byte ranges of the chunks asked
for once the index is known.  Nothing is trusted: the index's CRC32C is checked, every
index entry must lie inside the shard, every chunk must decode to exactly one cube.
:func:`layout_of` returns ``None`` for any other layout, and callers use zarr instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import google_crc32c
import numcodecs.blosc as blosc
import numpy as np

EMPTY = 2**64 - 1  # index entry of a chunk that was not written (all fill value)
INNER = ({"name": "bytes", "configuration": {"endian": "little"}}, "blosc")
INDEX = [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}]


class ShardError(ValueError):
    """A shard's bytes do not decode as its metadata says (damage, truncation)."""


@dataclass(frozen=True)
class ShardLayout:
    """What the reader needs of one scan's cube array, from its ``zarr.json``."""

    shape: tuple[int, int, int, int]
    fill: int
    key: str  # the shard's object key, relative to the array
    attrs: dict[str, Any]

    @property
    def n(self) -> int:
        return self.shape[0]

    @property
    def cube(self) -> tuple[int, int, int]:
        return self.shape[1:]  # type: ignore[return-value]

    @property
    def cube_bytes(self) -> int:
        return 2 * int(np.prod(self.cube))

    @property
    def index_bytes(self) -> int:
        return 16 * self.n + 4


def layout_of(meta: dict[str, Any]) -> ShardLayout | None:
    """The layout of an array's metadata, or ``None`` if it is not the one we write."""
    try:
        shape = tuple(int(s) for s in meta["shape"])
        grid = meta["chunk_grid"]["configuration"]["chunk_shape"]
        (codec,) = meta["codecs"]
        cfg = codec["configuration"]
        inner = cfg["codecs"]
        encoding = meta.get("chunk_key_encoding", {})
        sep = encoding.get("configuration", {}).get("separator", "/")
        fits = (
            meta.get("zarr_format") == 3
            and meta.get("data_type") == "int16"
            and len(shape) == 4
            and list(grid) == list(shape)
            and codec["name"] == "sharding_indexed"
            and list(cfg["chunk_shape"]) == [1, *shape[1:]]
            and cfg.get("index_location", "end") == "end"
            and cfg["index_codecs"] == INDEX
            and len(inner) == 2
            and inner[0] == INNER[0]
            and inner[1]["name"] == INNER[1]
            and encoding.get("name", "default") == "default"
        )
    except (KeyError, TypeError, ValueError):
        return None
    if not fits:
        return None
    key = sep.join(["c", *("0" for _ in shape)])
    return ShardLayout(shape, int(meta.get("fill_value", 0)), key, dict(meta.get("attributes", {})))  # type: ignore[arg-type]


def parse_index(
    tail: bytes | memoryview, layout: ShardLayout, shard_size: int | None = None
) -> np.ndarray:
    """The (n, 2) uint64 (offset, length) index from the shard's last bytes, checked.

    ``shard_size`` (when known) bounds the entries; a range read past the end of the
    shard is caught by the caller as a short read."""
    tail = memoryview(tail)
    if len(tail) != layout.index_bytes:
        raise ShardError(f"shard index is {len(tail)} bytes, expected {layout.index_bytes}")
    body, crc = tail[:-4], int.from_bytes(tail[-4:], "little")
    if google_crc32c.value(bytes(body)) != crc:
        raise ShardError("shard index fails its CRC32C")
    index = np.frombuffer(body, dtype="<u8").reshape(layout.n, 2)
    written = index[:, 0] != EMPTY
    ends = index[written, 0] + index[written, 1]
    limit = np.iinfo(np.uint64).max if shard_size is None else shard_size - layout.index_bytes
    if (
        np.any(index[~written, 1] != EMPTY)
        or np.any(ends > limit)
        or np.any(ends < index[written, 0])
    ):
        raise ShardError(f"shard index points outside the shard ({shard_size} bytes)")
    return index


def decode_chunk(data: bytes | memoryview, layout: ShardLayout, out: np.ndarray) -> None:
    """Decode one chunk's Blosc bytes into ``out`` (an int16 cube), checking its sizes."""
    head = bytes(data[:16])  # Blosc 1 header: ..., nbytes (u32 at 4), ..., cbytes (u32 at 12)
    if len(head) < 16:
        raise ShardError(f"chunk of {len(head)} bytes is not a Blosc frame")
    nbytes, cbytes = int.from_bytes(head[4:8], "little"), int.from_bytes(head[12:16], "little")
    if nbytes != layout.cube_bytes or cbytes != len(data):
        raise ShardError(
            f"chunk holds {nbytes} bytes in {cbytes} (expected {layout.cube_bytes} in {len(data)})"
        )
    try:
        blosc.decompress(data, out)
    except Exception as e:  # noqa: BLE001
        raise ShardError(f"chunk does not decompress ({e})") from None


def decode_shard(data: bytes | None, layout: ShardLayout) -> np.ndarray:
    """Every cube of a whole shard as int16 (n, D, H, W); ``None`` (no object) is all fill."""
    out = np.empty(layout.shape, dtype=np.int16)
    if data is None:
        out.fill(layout.fill)
        return out
    view = memoryview(data)
    if len(view) < layout.index_bytes:
        raise ShardError(f"shard is {len(view)} bytes, shorter than its index")
    index = parse_index(view[-layout.index_bytes :], layout, len(view))
    for j, (offset, length) in enumerate(index.tolist()):
        if offset == EMPTY:
            out[j].fill(layout.fill)
        else:
            decode_chunk(view[offset : offset + length], layout, out[j])
    return out


def chunk_range(index: np.ndarray, j: int) -> tuple[int, int] | None:
    """The byte range [start, end) of cube ``j`` in its shard (``None``: not written)."""
    offset, length = (int(v) for v in index[j])
    return None if offset == EMPTY else (offset, offset + length)
