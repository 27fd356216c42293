"""One storage abstraction for local paths and ``s3://`` URIs (through fsspec).

Everything that touches files goes through a :class:`Location`: a URI with the
fsspec options (endpoint, credentials) that reach it, never logged.  SimpleITK can
only read local files, so remote scans are first staged in a private temporary folder
that is removed as soon as the scan has been read (:func:`staged`): remote DICOM and
MetaImage files carry full patient headers, and no copy of them outlives its read.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import fsspec
from fsspec.implementations.local import LocalFileSystem

from genesis_core.atomic import write_local_atomic

_USERINFO = re.compile(r"^([a-z0-9+.-]+://)[^/@]*@", re.IGNORECASE)


def redact_uri(uri: str) -> str:
    """``uri`` without its ``user:secret@`` part: what may be printed, logged or recorded."""
    return _USERINFO.sub(r"\1", uri)


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def join(base: str, *parts: str) -> str:
    """Join URI parts with '/' (works for local paths and s3:// alike)."""
    out = base.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out


def to_uri(fs, path: str) -> str:
    """Turn an fsspec path back into a URI the user would recognise."""
    if isinstance(fs, LocalFileSystem):
        return str(Path(path))
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple | list) else fs.protocol
    return f"{protocol}://{path}"


def fingerprint(info: Mapping[str, Any]) -> str:
    """Cheap identity of a file version from its listing entry (no content read).

    Local files: size and mtime; object stores: size and ETag.  A rerun compares
    fingerprints to avoid re-reading unchanged scans.
    """
    size = info.get("size")
    stamp = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified")
    return f"{size}:{str(stamp).strip(chr(34))}"


LocationLike = Union["Location", str, os.PathLike]


@dataclass(frozen=True)
class Location:
    """The storage handle: a URI and the fsspec options that reach it (like zarr's Store).

    Every core function that reads or writes takes one ``Location`` (or a plain path or
    URI, which needs no options) instead of a ``(uri, storage_options)`` pair.  The
    options (endpoint, credentials) never show in ``repr`` or ``str`` and do not take
    part in equality: two handles on one URI name the same data.
    """

    uri: str
    options: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, where: LocationLike) -> Location:
        """``where`` as a handle; a plain path or URI gets no options."""
        return where if isinstance(where, Location) else cls(str(where))

    def __str__(self) -> str:
        return self.uri

    def at(self, uri: str) -> Location:
        """Another URI reached the same way (a file listed under this location)."""
        return Location(uri, self.options)

    def join(self, *parts: str) -> Location:
        return self.at(join(self.uri, *parts))

    @property
    def remote(self) -> bool:
        return is_remote(self.uri)

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]

    def filesystem(self):
        """``(fs, path)`` for this location; a plain path is local."""
        return fsspec.core.url_to_fs(self.uri, **dict(self.options))

    def read_bytes(self) -> bytes:
        fs, path = self.filesystem()
        return fs.cat_file(path)

    def exists(self) -> bool:
        fs, path = self.filesystem()
        return fs.exists(path)

    def write_bytes_atomic(self, data: bytes) -> None:
        """Write the whole object so readers see the old or the new version, never half.

        Local: a temporary sibling, fsynced, then renamed.  S3: a single PUT is atomic.
        """
        fs, path = self.filesystem()
        if isinstance(fs, LocalFileSystem):
            write_local_atomic(path, lambda f: f.write(data))
        else:
            fs.pipe_file(path, data)


@contextmanager
def staged(files: Sequence[Location], cache_dir: Path) -> Iterator[list[Path]]:
    """Local paths for files that must sit side by side (``.mhd`` + ``.raw``, a DICOM series),
    valid inside the ``with`` block only.

    Local files are used in place.  Remote ones are downloaded into a fresh private folder
    under ``cache_dir`` (mode 0700) that is deleted when the block ends, whatever happens:
    the cache holds only the scans being read right now (one per reading worker), never a
    lasting copy of a patient's files.
    """
    if not any(f.remote for f in files):
        yield [Path(f.uri) for f in files]
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="scan-", dir=cache_dir))  # 0700, unique
    try:
        out = []
        for i, f in enumerate(files):
            fs, path = f.filesystem()
            # a numbered sub-folder per file keeps same-named files apart (a label beside
            # its image) while every file keeps its own name (an .mhd names its .raw)
            sub = folder / (str(i) if len(files) > 1 and _clash(files, f) else "")
            out.append(_download(fs, path, sub / Path(path).name))
        yield out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _clash(files: Sequence[Location], f: Location) -> bool:
    return sum(g.name == f.name for g in files) > 1


def _download(fs, path: str, dest: Path) -> Path:
    def copy(f) -> None:
        with fs.open(path, "rb") as src:
            shutil.copyfileobj(src, f, 1 << 22)

    write_local_atomic(dest, copy)
    return dest
