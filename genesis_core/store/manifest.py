"""Manifests: the commit record of a cube store, as a log of small deltas.

Each commit creates ``manifests/<k>.json`` exclusively.  Version k is either a
*checkpoint* (every committed scan; written for a new store, a replace, and every
``CHECKPOINT_EVERY`` versions) or a *delta* (only the scans that commit added, on top of
version k − 1), so a commit costs O(scans committed), not O(store).  Reading version k
applies its deltas to the checkpoint below it.  ``manifests/latest.json`` is a hint for
the newest version.  A reader sees the scans of one version, never a mix; old versions
stay, giving a history of the store.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from genesis_core.io.storage import Location, LocationLike


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
        return cls(
            r["scan_id"],
            int(r["n_cubes"]),
            r.get("source_sha256") or "",
            subset,
            r.get("path", ""),
            r.get("checksum", ""),
        )


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

    def catalog_sha256(self) -> str:
        """Digest of the catalog rows these scans were cut from (``catalog.rows_sha256``).

        The catalog file itself changes after every ingest, and a store grows over many
        catalog versions, so the lineage is the rows used, not a file hash."""
        from genesis_core.catalog import rows_sha256

        return rows_sha256({k: e.source_sha256 for k, e in self.scans.items()})

    def to_json(self) -> bytes:
        """A checkpoint: every committed scan."""
        d = asdict(self)
        d["kind"] = "checkpoint"
        d["scans"] = {k: asdict(v) for k, v in sorted(self.scans.items())}
        return json.dumps(d, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        d = json.loads(data)
        d.pop("kind", None)
        d["scans"] = {k: ScanEntry(**v) for k, v in d.get("scans", {}).items()}
        return cls(**d)


def delta_json(version: int, config_hash: str, created: str, added: list[ScanEntry]) -> bytes:
    d = {
        "kind": "delta",
        "version": version,
        "config_hash": config_hash,
        "created": created,
        "added": {e.scan_id: asdict(e) for e in added},
    }
    return json.dumps(d, separators=(",", ":"), sort_keys=True).encode()


CHECKPOINT_EVERY = 32
_CACHE: OrderedDict[tuple[str, int], Manifest] = OrderedDict()


def read_version(store: LocationLike, version: int) -> Manifest:
    """Version ``version`` of the store: its checkpoint with the deltas above it applied.

    Committed versions never change, so reconstructed ones are cached (a writer's next
    commit starts from its last one without rereading the log).
    """
    if version == 0:
        return Manifest()
    store = Location.of(store)
    deltas: list[dict[str, Any]] = []
    v, base = version, None
    while base is None:
        if (store.uri, v) in _CACHE:
            base = _CACHE[(store.uri, v)]
            break
        d = json.loads(_manifest(store, v).read_bytes())
        if d.get("kind") != "delta":
            base = Manifest.from_json(json.dumps(d).encode())
            break
        deltas.append(d)
        v -= 1
    scans = dict(base.scans)
    for d in reversed(deltas):
        scans.update({k: ScanEntry(**e) for k, e in d["added"].items()})
    m = Manifest(
        version,
        base.config_hash,
        base.config,
        scans,
        deltas[0]["created"] if deltas else base.created,
    )
    _CACHE[(store.uri, version)] = m
    while len(_CACHE) > 8:
        _CACHE.popitem(last=False)
    return m


def all_groups(store: LocationLike) -> set[str]:
    """Every array group any committed version has listed (for garbage collection)."""
    store = Location.of(store)
    out: set[str] = set()
    for v in range(1, latest_version(store) + 1):
        d = json.loads(_manifest(store, v).read_bytes())
        entries = d["added"] if d.get("kind") == "delta" else d.get("scans", {})
        out.update(ScanEntry(**e).group for e in entries.values())
    return out


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


def check_same_config(
    store: LocationLike, stored: Mapping[str, Any], wanted: Mapping[str, Any]
) -> None:
    """Refuse to add to a store built with another config, naming the fields and the ways out."""
    diff = config_differences(stored, wanted)
    if diff:
        raise ValueError(
            f"store {store} was built with another config ({'; '.join(diff[:6])}): "
            "use a new store (--store URI) or rebuild this one with --force"
        )


def _pointer(store: Location) -> Location:
    return store.join("manifests", "latest.json")


def _manifest(store: Location, version: int) -> Location:
    return store.join("manifests", f"{version:06d}.json")


def latest_version(store: LocationLike) -> int:
    """The highest committed version: the pointer's, then probed upwards.

    Versions are created exclusively and in sequence, so a manifest that exists is
    committed; the pointer is only a hint that may lag (a writer killed between the two
    writes), and never makes a reader go backwards.
    """
    store = Location.of(store)
    ptr = _pointer(store)
    fs, path = ptr.filesystem()
    fs.invalidate_cache(path.rsplit("/", 1)[0])  # another writer may have committed since
    version = 0
    if ptr.exists():
        version = int(json.loads(ptr.read_bytes())["version"])
    while _manifest(store, version + 1).exists():
        version += 1
    return version


def read_latest(store: LocationLike) -> Manifest:
    """The committed manifest; an empty one (version 0) for a new store."""
    return read_version(store, latest_version(store))


COMMIT_ATTEMPTS = 5


def commit_scans(
    store: LocationLike,
    entries: list[ScanEntry],
    config: dict[str, Any],
    config_hash: str,
    replace: bool = False,
) -> Manifest:
    """Add (or with ``replace``, set) the committed scans; write the manifest then the pointer.

    The new version is created exclusively (``O_EXCL`` locally, ``If-None-Match: *`` on S3),
    so two concurrent commits cannot both win it.  An append that loses re-reads the new
    base and tries again (appends merge); a ``replace`` that loses raises
    :class:`StoreConflict`.
    """
    store = Location.of(store)
    for attempt in range(COMMIT_ATTEMPTS):
        base = read_latest(store)
        if base.version and base.config_hash != config_hash and not replace:
            raise StoreConflict(
                f"store {store} was built with config {base.config_hash[:12]}, "
                f"not {config_hash[:12]}; use another store or force a rebuild"
            )
        scans = {} if replace else dict(base.scans)
        scans.update({e.scan_id: e for e in entries})
        new = Manifest(
            version=base.version + 1,
            config_hash=config_hash,
            config=config if (replace or not base.version) else base.config,
            scans=scans,
            created=datetime.now(UTC).isoformat(),
        )
        checkpoint = replace or not base.version or new.version % CHECKPOINT_EVERY == 0
        data = (
            new.to_json()
            if checkpoint
            else delta_json(new.version, config_hash, new.created, list(entries))
        )
        try:
            create_exclusive(_manifest(store, new.version), data)
        except StoreConflict:
            if replace or attempt == COMMIT_ATTEMPTS - 1:
                raise
            continue
        _advance_pointer(store, new.version)
        _CACHE[(store.uri, new.version)] = new
        return new
    raise AssertionError("unreachable")


def _advance_pointer(store: Location, version: int) -> None:
    """Move the pointer forward only (a slower writer never moves it back)."""
    ptr = _pointer(store)
    if ptr.exists() and int(json.loads(ptr.read_bytes())["version"]) >= version:
        return
    ptr.write_bytes_atomic(json.dumps({"version": version}).encode())


def create_exclusive(where: Location, data: bytes) -> None:
    """Create ``where`` with ``data`` whole, or raise :class:`StoreConflict` if it exists."""
    fs, path = where.filesystem()
    uri = where.uri
    if where.remote:
        try:
            fs.pipe_file(path, data, mode="create")  # PUT with If-None-Match: *
        except FileExistsError as e:
            raise StoreConflict(f"{uri} already exists: a concurrent writer won") from e
        except OSError as e:
            if _precondition_failed(e):
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


def _precondition_failed(e: OSError) -> bool:
    """Whether a conditional create was refused (HTTP 412): the key exists.

    s3fs raises ``FileExistsError`` only when the error names its condition
    (``<Condition>If-None-Match</Condition>``, as AWS and moto send); SeaweedFS sends a bare
    ``PreconditionFailed``, which s3fs turns into ``OSError(EINVAL)`` with the server's
    message.  The code is on the botocore error it was raised from.  A create has no other
    precondition, so any 412 means another writer created the key first."""
    for err in (e, e.__cause__, e.__context__):
        response = getattr(err, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "PreconditionFailed" or status == 412:
                return True
    return "PreconditionFailed" in str(e)  # not a bare "412": version 412 is a file name
