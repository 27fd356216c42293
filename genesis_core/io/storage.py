"""One storage abstraction for local paths and ``s3://`` URIs (through fsspec).

Everything that touches files goes through a :class:`Location`: a URI with the
fsspec options (endpoint, credentials) that reach it, never logged.  SimpleITK can
only read local files, so remote scans are first fetched into a local cache keyed by
their fingerprint (:meth:`Location.local_copy`, :func:`local_group`).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Mapping, Sequence
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

    def local_copy(self, cache_dir: Path) -> Path:
        """A local path for this file: itself when local, else a cached download.

        The cache name includes the file's fingerprint, so a changed remote object is
        downloaded again; the download lands under a temporary name, then is renamed.
        """
        if not self.remote:
            return Path(self.uri)
        fs, path = self.filesystem()
        key = hashlib.sha256(f"{self.uri}|{fingerprint(fs.info(path))}".encode()).hexdigest()
        return _download(fs, path, cache_dir / key[:16] / Path(path).name)


def local_group(files: Sequence[Location], cache_dir: Path, key: str) -> list[Path]:
    """Local paths for files that must sit side by side (``.mhd`` + ``.raw``, a DICOM series).

    Local files are used in place.  Remote ones are downloaded into one cache
    folder named by ``key`` (callers pass a content fingerprint, so a changed
    object is fetched again); each file lands under a temporary name first.
    """
    if not any(f.remote for f in files):
        return [Path(f.uri) for f in files]
    folder = cache_dir / hashlib.sha256(key.encode()).hexdigest()[:16]
    out = []
    for f in files:
        fs, path = f.filesystem()
        out.append(_download(fs, path, folder / Path(path).name))
    return out


def _download(fs, path: str, dest: Path) -> Path:
    if not dest.exists():  # two processes may fetch the same file: each into its own temp

        def copy(f) -> None:
            with fs.open(path, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 22)

        write_local_atomic(dest, copy)
    return dest
