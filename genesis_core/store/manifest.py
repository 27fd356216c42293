"""Manifests: the commit record of a cube store.

Each commit writes ``manifests/<k>.json`` (the full list of committed scans)
and then rewrites ``manifests/latest.json`` to point at it.  The pointer is one
small object replaced atomically, so a reader sees the old or the new set of
scans, never a mix.  Old manifests stay, giving a history of the store.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from genesis_core.io import storage


class StoreConflict(RuntimeError):
    """Another writer committed to the store at the same time."""


@dataclass(frozen=True)
class ScanEntry:
    """One committed scan.  ``path``: its arrays' group (``scans/<id>/<generation>``; empty
    in stores written before generations, meaning ``scans/<id>``); ``checksum``: the SHA-256
    of its arrays (:mod:`genesis_core.store.integrity`; empty in older stores)."""

    scan_id: str
    n_cubes: int
    source_sha256: str
    subset: int | None = None
    path: str = ""
    checksum: str = ""

    @property
    def group(self) -> str:
        return self.path or f"scans/{self.scan_id}"

    @classmethod
    def from_result(cls, r: Mapping[str, Any]) -> ScanEntry:
        """The entry for a per-scan report (``preprocess_scan`` / ``build_target_scan``)."""
        sub = r.get("subset")
        subset = None if sub is None or sub != sub else int(sub)
        return cls(r["scan_id"], int(r["n_cubes"]), r.get("source_sha256") or "", subset,
                   r.get("path", ""), r.get("checksum", ""))  # fmt: skip


@dataclass
class Manifest:
    version: int = 0
    config_hash: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    scans: dict[str, ScanEntry] = field(default_factory=dict)
    created: str = ""

    @property
    def n_cubes(self) -> int:
        return sum(e.n_cubes for e in self.scans.values())

    def to_json(self) -> bytes:
        d = asdict(self)
        d["scans"] = {k: asdict(v) for k, v in sorted(self.scans.items())}
        return json.dumps(d, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        d = json.loads(data)
        d["scans"] = {k: ScanEntry(**v) for k, v in d.get("scans", {}).items()}
        return cls(**d)


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, Mapping):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``field: old → new`` for every (nested) field where two configs differ."""
    a, b = _flat(json.loads(json.dumps(old))), _flat(json.loads(json.dumps(new)))
    return [
        f"{k}: {a.get(k)!r} → {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)
    ]


def check_same_config(store_uri: str, stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
    """Refuse to add to a store built with another config, naming the fields and the ways out."""
    diff = config_differences(stored, wanted)
    if diff:
        raise ValueError(
            f"store {store_uri} was built with another config ({'; '.join(diff[:6])}): "
            "use a new store (--store URI) or rebuild this one with --force"
        )


def _pointer(store_uri: str) -> str:
    return storage.join(store_uri, "manifests", "latest.json")


def _manifest_uri(store_uri: str, version: int) -> str:
    return storage.join(store_uri, "manifests", f"{version:06d}.json")


def latest_version(store_uri: str, storage_options: Mapping[str, Any] | None = None) -> int:
    """The highest committed version: the pointer's, then probed upwards.

    Versions are created exclusively and in sequence, so a manifest that exists is
    committed; the pointer is only a hint that may lag (a writer killed between the two
    writes), and never makes a reader go backwards.
    """
    ptr = _pointer(store_uri)
    fs, path = storage.filesystem(ptr, storage_options)
    fs.invalidate_cache(path.rsplit("/", 1)[0])  # another writer may have committed since
    version = 0
    if storage.exists(ptr, storage_options):
        version = int(json.loads(storage.read_bytes(ptr, storage_options))["version"])
    while storage.exists(_manifest_uri(store_uri, version + 1), storage_options):
        version += 1
    return version


def read_latest(store_uri: str, storage_options: Mapping[str, Any] | None = None) -> Manifest:
    """The committed manifest; an empty one (version 0) for a new store."""
    version = latest_version(store_uri, storage_options)
    if version == 0:
        return Manifest()
    return Manifest.from_json(
        storage.read_bytes(_manifest_uri(store_uri, version), storage_options)
    )


COMMIT_ATTEMPTS = 5


def commit_scans(
    store_uri: str,
    entries: list[ScanEntry],
    config: dict[str, Any],
    config_hash: str,
    storage_options: Mapping[str, Any] | None = None,
    replace: bool = False,
) -> Manifest:
    """Add (or with ``replace``, set) the committed scans; write the manifest then the pointer.

    The new version is created exclusively (``O_EXCL`` locally, ``If-None-Match: *`` on S3),
    so two concurrent commits cannot both win it.  An append that loses re-reads the new
    base and tries again (appends merge); a ``replace`` that loses raises
    :class:`StoreConflict`.
    """
    for attempt in range(COMMIT_ATTEMPTS):
        base = read_latest(store_uri, storage_options)
        if base.version and base.config_hash != config_hash and not replace:
            raise StoreConflict(
                f"store {store_uri} was built with config {base.config_hash[:12]}, "
                f"not {config_hash[:12]}; use another store or force a rebuild"
            )
        scans = {} if replace else dict(base.scans)
        scans.update({e.scan_id: e for e in entries})
        new = Manifest(
            version=base.version + 1,
            config_hash=config_hash,
            config=config,
            scans=scans,
            created=datetime.now(UTC).isoformat(),
        )
        try:
            create_exclusive(_manifest_uri(store_uri, new.version), new.to_json(), storage_options)
        except StoreConflict:
            if replace or attempt == COMMIT_ATTEMPTS - 1:
                raise
            continue
        _advance_pointer(store_uri, new.version, storage_options)
        return new
    raise AssertionError("unreachable")


def _advance_pointer(store_uri: str, version: int, storage_options) -> None:
    """Move the pointer forward only (a slower writer never moves it back)."""
    ptr = _pointer(store_uri)
    if storage.exists(ptr, storage_options):
        if int(json.loads(storage.read_bytes(ptr, storage_options))["version"]) >= version:
            return
    storage.write_bytes_atomic(ptr, json.dumps({"version": version}).encode(), storage_options)


def create_exclusive(uri: str, data: bytes, storage_options: Mapping[str, Any] | None) -> None:
    """Create ``uri`` with ``data`` whole, or raise :class:`StoreConflict` if it exists."""
    fs, path = storage.filesystem(uri, storage_options)
    if storage.is_remote(uri):
        try:
            fs.pipe_file(path, data, mode="create")  # PUT with If-None-Match: *
        except FileExistsError as e:
            raise StoreConflict(f"{uri} already exists: a concurrent writer won") from e
        except OSError as e:
            if "PreconditionFailed" in str(e) or "412" in str(e):
                raise StoreConflict(f"{uri} already exists: a concurrent writer won") from e
            raise
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # atomic and exclusive: never a half-written manifest
    except FileExistsError as e:
        raise StoreConflict(f"{uri} already exists: a concurrent writer won") from e
    finally:
        os.unlink(tmp)
