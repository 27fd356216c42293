"""One storage abstraction for local paths and ``s3://`` URIs (through fsspec).

Everything that touches files goes through :func:`filesystem`; credentials and
endpoints travel as ``storage_options`` and are never logged.  SimpleITK can
only read local files, so remote scans are first fetched into a local cache
keyed by their fingerprint (:func:`local_copy`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def filesystem(uri: str, storage_options: Mapping[str, Any] | None = None):
    """Return ``(fs, path)`` for a URI; plain paths are local."""
    fs, path = fsspec.core.url_to_fs(uri, **dict(storage_options or {}))
    return fs, path


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


def local_copy(uri: str, cache_dir: Path, storage_options: Mapping[str, Any] | None = None) -> Path:
    """Local path for ``uri``: itself when local, else a cached download.

    The cache name includes the file's fingerprint, so a changed remote object
    is downloaded again.  Downloads go to a temporary name and are renamed, so a
    crash never leaves a truncated file that looks complete.
    """
    if not is_remote(uri):
        return Path(uri)
    fs, path = filesystem(uri, storage_options)
    fp = fingerprint(fs.info(path))
    key = hashlib.sha256(f"{uri}|{fp}".encode()).hexdigest()[:16]
    dest = cache_dir / key / Path(path).name
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        fs.get_file(path, str(tmp))
        os.replace(tmp, dest)
    return dest


def local_group(
    uris: list[str] | tuple[str, ...],
    cache_dir: Path,
    key: str,
    storage_options: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Local paths for files that must sit side by side (``.mhd`` + ``.raw``, a DICOM series).

    Local files are used in place.  Remote ones are downloaded into one cache
    folder named by ``key`` (callers pass a content fingerprint, so a changed
    object is fetched again); each file lands under a temporary name first.
    """
    if not any(is_remote(u) for u in uris):
        return [Path(u) for u in uris]
    folder = cache_dir / hashlib.sha256(key.encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for uri in uris:
        fs, path = filesystem(uri, storage_options)
        dest = folder / Path(path).name
        if not dest.exists():
            tmp = dest.with_name(dest.name + ".part")
            fs.get_file(path, str(tmp))
            os.replace(tmp, dest)
        out.append(dest)
    return out


def write_bytes_atomic(
    uri: str, data: bytes, storage_options: Mapping[str, Any] | None = None
) -> None:
    """Write a whole object so that readers see the old or the new version, never half.

    Local: write a temporary sibling then rename.  S3: a single PUT is atomic.
    """
    fs, path = filesystem(uri, storage_options)
    if isinstance(fs, LocalFileSystem):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    else:
        fs.pipe_file(path, data)


def read_bytes(uri: str, storage_options: Mapping[str, Any] | None = None) -> bytes:
    fs, path = filesystem(uri, storage_options)
    return fs.cat_file(path)


def exists(uri: str, storage_options: Mapping[str, Any] | None = None) -> bool:
    fs, path = filesystem(uri, storage_options)
    return fs.exists(path)
