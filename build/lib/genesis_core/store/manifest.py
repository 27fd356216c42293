"""Manifests: the commit record of a cube store, as a log of small deltas.

Each commit creates ``manifests/<k>.json`` exclusively.  Version k is either a
*checkpoint* (every committed scan; written for a new store, a replace, and when the
deltas above the last checkpoint have grown: see :func:`_next_record`) or a *delta* (only
the scans that commit added, on top of version k − 1, naming its checkpoint), so a commit
costs O(scans committed), not O(store).  Reading version k applies its deltas to the
checkpoint below it.  ``manifests/latest.json`` is a hint for the newest version.  A
reader sees the scans of one version, never a mix; old versions stay, giving a history.

Every record is sealed with the SHA-256 of its content and names the checksum of the
record below it (``parent``), so a flipped bit, a replaced version or a gap is an error
naming the file (:class:`~genesis_core.store.integrity.StoreCorruption`), never a
silently different set of scans.
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
from genesis_core.store.integrity import StoreCorruption, record_digest, seal, unseal
from genesis_core.store.objects import Objects


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
    """The committed scans of one version.  ``record``: the checksum of that version's
    record (the next version names it as its parent); ``checkpoint``: the version of the
    checkpoint it was rebuilt from; ``delta_entries``: entries added since that checkpoint."""

    version: int = 0
    config_hash: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    scans: dict[str, ScanEntry] = field(default_factory=dict)
    created: str = ""
    record: str = field(default="", compare=False, repr=False)
    checkpoint: int = field(default=0, compare=False, repr=False)
    delta_entries: int = field(default=0, compare=False, repr=False)

    @property
    def n_cubes(self) -> int:
        return sum(e.n_cubes for e in self.scans.values())

    def catalog_sha256(self) -> str:
        """Digest of the catalog rows these scans were cut from (``catalog.rows_sha256``).

        The catalog file itself changes after every ingest, and a store grows over many
        catalog versions, so the lineage is the rows used, not a file hash."""
        from genesis_core.catalog import rows_sha256

        return rows_sha256({k: e.source_sha256 for k, e in self.scans.items()})

    def payload(self) -> dict[str, Any]:
        """A checkpoint's content: every committed scan."""
        return {
            "kind": "checkpoint",
            "version": self.version,
            "config_hash": self.config_hash,
            "config": self.config,
            "created": self.created,
            "scans": {k: asdict(v) for k, v in sorted(self.scans.items())},
        }

    def to_json(self) -> bytes:
        """A checkpoint record, sealed with its checksum."""
        return seal(self.payload())


CHECKPOINT_EVERY = 32  # deltas between checkpoints at least ...
CHECKPOINT_FRACTION = 0.25  # ... and until they add this share of the checkpoint's scans
MAX_CHAIN = 512  # ... but never more deltas than this above one checkpoint
_CACHE: OrderedDict[tuple[str, int], Manifest] = OrderedDict()


def _record_name(version: int) -> str:
    return f"manifests/{version:06d}.json"


def _load_records(store: Location, versions: list[int], needed_by: int) -> dict[int, dict]:
    """The checked payloads of ``versions`` (read at once); a missing one is a gap in the log."""
    blobs = Objects(store).get([(_record_name(v), None, None) for v in versions])
    out = {}
    for v, data in zip(versions, blobs, strict=True):
        name = f"{store.uri.rstrip('/')}/{_record_name(v)}"
        if data is None:
            raise StoreCorruption(
                f"store {store}: {name} is missing: the manifest log has a gap "
                f"(version {needed_by} is built on it); run `genesis store verify {store}`"
            )
        out[v] = {**unseal(data, name), "_sha": record_digest(data), "_name": name}
    return out


def _check_link(store: Location, lower: dict, upper: dict) -> None:
    """A record names the checksum of the one below it: a replaced version breaks the chain."""
    parent = upper.get("parent")
    if parent is not None and not lower.get("legacy") and parent != lower["_sha"]:
        raise StoreCorruption(
            f"store {store}: {upper['_name']} does not follow {lower['_name']} "
            f"(it names parent {parent[:12]}…, that record is {lower['_sha'][:12]}…): "
            "the log was forked or a version replaced"
        )


def read_version(store: LocationLike, version: int) -> Manifest:
    """Version ``version`` of the store: its checkpoint with the deltas above it applied.

    Every record read is checked (:func:`genesis_core.store.integrity.unseal`) and linked
    to the one below it; a damaged or missing record is :class:`StoreCorruption` naming
    the file.  Committed versions never change, so reconstructed ones are cached (a
    writer's next commit starts from its last one without rereading the log).
    """
    if version == 0:
        return Manifest()
    store = Location.of(store)
    if (store.uri, version) in _CACHE:
        return _CACHE[(store.uri, version)]
    top = _load_records(store, [version], version)[version]
    chain = [top]
    if top.get("kind") == "delta":
        below = top.get("checkpoint")
        if below is not None:  # every record from the checkpoint up, read at once
            recs = _load_records(store, list(range(int(below), version)), version)
            chain = [recs[v] for v in range(version - 1, int(below) - 1, -1)]
            chain.insert(0, top)
        else:  # a legacy delta: walk down one record at a time
            while chain[-1].get("kind") == "delta":
                v = int(chain[-1]["version"]) - 1
                chain.append(_load_records(store, [v], version)[v])
    for upper, lower in zip(chain, chain[1:], strict=False):
        _check_link(store, lower, upper)
    base, deltas = chain[-1], chain[-2::-1]
    if int(top.get("version", version)) != version:
        raise StoreCorruption(f"store {store}: {top['_name']} is not version {version}")
    if base.get("kind") == "delta" or any(d.get("kind") != "delta" for d in deltas):
        raise StoreCorruption(
            f"store {store}: {top['_name']} names checkpoint {base['_name']}, "
            "which is not one (or a checkpoint lies between them)"
        )
    scans = {k: ScanEntry(**v) for k, v in base.get("scans", {}).items()}
    added = 0
    for d in deltas:
        scans.update({k: ScanEntry(**e) for k, e in d["added"].items()})
        added += len(d["added"])
    m = Manifest(
        version,
        base.get("config_hash", ""),
        base.get("config", {}),
        scans,
        top.get("created", ""),
    )
    m.record, m.checkpoint, m.delta_entries = top["_sha"], int(base["version"]), added
    _CACHE[(store.uri, version)] = m
    while len(_CACHE) > 8:
        _CACHE.popitem(last=False)
    return m


def log_records(store: LocationLike) -> list[dict]:
    """Every record of the log, version 1 up, checked and linked (``genesis store verify``, gc)."""
    store = Location.of(store)
    latest = latest_version(store)
    out: list[dict] = []
    for first in range(1, latest + 1, 256):
        versions = list(range(first, min(first + 256, latest + 1)))
        recs = _load_records(store, versions, latest)
        out.extend(recs[v] for v in versions)
    for lower, upper in zip(out, out[1:], strict=False):
        _check_link(store, lower, upper)
    return out


def record_entries(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The scan entries a record lists: a delta's additions, a checkpoint's every scan."""
    return record["added"] if record.get("kind") == "delta" else record.get("scans", {})


def all_groups(store: LocationLike) -> set[str]:
    """Every array group any committed version has listed (for garbage collection)."""
    return {ScanEntry(**e).group for r in log_records(store) for e in record_entries(r).values()}


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
    return store.join(*_record_name(version).split("/"))


def _pointed(store: Location) -> int | None:
    """The pointer's version; ``None`` when there is none or it is damaged (a hint only)."""
    ptr = _pointer(store)
    try:
        return int(unseal(ptr.read_bytes(), ptr.uri)["version"])
    except FileNotFoundError:
        return None
    except (StoreCorruption, KeyError, TypeError, ValueError):
        return None  # damaged: the log itself says which version is newest


def _listed_versions(store: Location) -> list[int]:
    fs, path = _pointer(store).filesystem()
    folder = path.rsplit("/", 1)[0]
    try:
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(folder, detail=False)]
    except FileNotFoundError:
        return []
    return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())


def latest_version(store: LocationLike) -> int:
    """The highest committed version: from the pointer up, or from a listing of the log.

    Versions are created exclusively and in sequence, so a record that exists is
    committed.  The pointer is only a hint: it may lag (a writer killed between the two
    writes) and is probed upwards from; a missing or damaged pointer is replaced by a
    listing of ``manifests/``, so the newest version is found whatever happened to it.
    A pointer naming a version whose record is gone is an error, never a step back.
    """
    store = Location.of(store)
    ptr = _pointer(store)
    fs, path = ptr.filesystem()
    fs.invalidate_cache(path.rsplit("/", 1)[0])  # another writer may have committed since
    version = _pointed(store)
    if version is None:
        listed = _listed_versions(store)
        version = listed[-1] if listed else 0
    elif version and not _manifest(store, version).exists():
        raise StoreCorruption(
            f"store {store}: {ptr.uri} names version {version}, but "
            f"{_manifest(store, version).uri} is missing; run `genesis store verify {store}`"
        )
    while _manifest(store, version + 1).exists():
        version += 1
    return version


def read_latest(store: LocationLike) -> Manifest:
    """The committed manifest; an empty one (version 0) for a new store."""
    return read_version(store, latest_version(store))


COMMIT_ATTEMPTS = 5


class StoreFenced(StoreConflict):
    """A writer's commit was refused: another writer committed since its lease began."""


def commit_scans(
    store: LocationLike,
    entries: list[ScanEntry],
    config: dict[str, Any],
    config_hash: str,
    replace: bool = False,
    expect: int | None = None,
    fence: str = "",
) -> Manifest:
    """Add (or with ``replace``, set) the committed scans; write the manifest then the pointer.

    The new version is created exclusively (``O_EXCL`` locally, ``If-None-Match: *`` on S3),
    so two concurrent commits cannot both win it.  A writer holding the store's lease
    passes ``expect``, the version its lease has seen last: the commit is then exactly
    version ``expect + 1`` or nothing (:class:`StoreFenced`), so a writer that lost its
    lease, at whatever point it was paused, never commits.  Without ``expect`` an append
    that loses re-reads the new base and tries again (appends merge); a ``replace`` that
    loses raises :class:`StoreConflict`.  ``fence`` writes an empty version that only
    marks a lease taken over (:func:`write_fence`).
    """
    store = Location.of(store)
    for attempt in range(COMMIT_ATTEMPTS):
        base = read_latest(store) if expect is None else read_version(store, expect)
        if base.version and base.config_hash != config_hash and not replace:
            raise StoreConflict(
                f"store {store} was built with config {base.config_hash[:12]}, "
                f"not {config_hash[:12]}; use another store or force a rebuild"
            )
        new, data = _next_record(base, entries, config, config_hash, replace, fence)
        try:
            create_exclusive(_manifest(store, new.version), data)
        except StoreConflict as e:
            if expect is not None:
                raise StoreFenced(
                    f"store {store}: version {new.version} was committed by another writer "
                    "while this one expected to hold the store's lease; not committing "
                    "(its lease was lost or taken over)"
                ) from e
            if replace or attempt == COMMIT_ATTEMPTS - 1:
                raise
            continue
        _advance_pointer(store, new.version)
        _CACHE[(store.uri, new.version)] = new
        return new
    raise AssertionError("unreachable")


def _next_record(
    base: Manifest,
    entries: list[ScanEntry],
    config: dict[str, Any],
    config_hash: str,
    replace: bool,
    fence: str,
) -> tuple[Manifest, bytes]:
    """The manifest of the version after ``base`` and the bytes of its record."""
    scans = {} if replace else dict(base.scans)
    scans.update({e.scan_id: e for e in entries})
    new = Manifest(
        version=base.version + 1,
        config_hash=config_hash,
        config=config if (replace or not base.version) else base.config,
        scans=scans,
        created=datetime.now(UTC).isoformat(),
    )
    chain = new.version - base.checkpoint
    grown = base.delta_entries + len(entries) >= CHECKPOINT_FRACTION * len(base.scans)
    checkpoint = (
        replace or not base.version or chain > MAX_CHAIN or (chain > CHECKPOINT_EVERY and grown)
    )
    parent = {"parent": base.record} if base.version else {}
    if checkpoint:
        payload = {**new.payload(), **parent}
        new.checkpoint, new.delta_entries = new.version, 0
    else:
        payload = {
            "kind": "delta",
            "version": new.version,
            "config_hash": config_hash,
            "created": new.created,
            "checkpoint": base.checkpoint,
            "added": {e.scan_id: asdict(e) for e in entries},
            **parent,
            **({"fence": fence} if fence else {}),
        }
        new.checkpoint, new.delta_entries = base.checkpoint, base.delta_entries + len(entries)
    data = seal(payload)
    new.record = record_digest(data)
    return new, data


def write_fence(store: LocationLike, holder: str) -> int:
    """Commit an empty version marking that ``holder`` took the store's lease over.

    A writer that held the lease before and was paused expects to commit the version
    this one takes, so its commit is refused whenever it resumes.  Returns the new
    version (0 for a store with no log yet: there is nothing to fence)."""
    store = Location.of(store)
    while True:
        base = read_latest(store)
        if not base.version:
            return 0
        try:
            return commit_scans(
                store, [], base.config, base.config_hash, expect=base.version, fence=holder
            ).version
        except StoreFenced:
            continue  # the old holder committed just now: fence above it


def _advance_pointer(store: Location, version: int) -> None:
    """Move the pointer forward only (a slower writer never moves it back)."""
    current = _pointed(store)
    if current is not None and current >= version:
        return
    _pointer(store).write_bytes_atomic(seal({"version": version}))


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
