"""The catalog: one row per scan, stored as ``ROOT/catalog/NAME.parquet``.

Columns (``_xyz`` geometry is in SimpleITK's (X, Y, Z) order, mm):

==============  ==========================================================
scan_id         unique id (LUNA16 series uid, DICOM SeriesInstanceUID, file stem)
source_uri      the image file (or DICOM folder) it came from
source_key      the planned source it came from (a DICOM folder can yield several rows)
fingerprint     listing fingerprint of its files (size + mtime/ETag): reruns skip unchanged
format          mhd | nifti | nrrd | dicom
label_uri       segmentation file, if any
subset          LUNA16 subset number, or null
status          ok | quarantined
reason          why it is quarantined; for an ok row "note: …" (what reading changed) or empty
shape_xyz, spacing_xyz, origin_xyz, direction (9 numbers), hu_min, hu_max
sha256          hash of the voxel content (see ``readers.content_sha256``)
revision        0 when first seen; +1 each time the content hash changes
previous_sha256 the hash before the last change (flags a changed file)
ingested_at     UTC time the row was (re)read
==============  ==========================================================
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from genesis_core.io import storage
from genesis_core.io.storage import Location, LocationLike

SCHEMA = pa.schema(
    [
        ("scan_id", pa.string()),
        ("source_uri", pa.string()),
        ("source_key", pa.string()),
        ("fingerprint", pa.string()),
        ("format", pa.string()),
        ("label_uri", pa.string()),
        ("subset", pa.int64()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("shape_xyz", pa.list_(pa.int64())),
        ("spacing_xyz", pa.list_(pa.float64())),
        ("origin_xyz", pa.list_(pa.float64())),
        ("direction", pa.list_(pa.float64())),
        ("hu_min", pa.float64()),
        ("hu_max", pa.float64()),
        ("sha256", pa.string()),
        ("revision", pa.int64()),
        ("previous_sha256", pa.string()),
        ("ingested_at", pa.timestamp("us", tz="UTC")),
    ]
)
COLUMNS = SCHEMA.names
OK, QUARANTINED = "ok", "quarantined"


def catalog_uri(root: str, name: str) -> str:
    return storage.join(str(root), "catalog", f"{name}.parquet")


def empty() -> pd.DataFrame:
    return SCHEMA.empty_table().to_pandas()


class CatalogDamaged(RuntimeError):
    """The catalog file does not read back as it was written; the message names it."""


_DIGEST_KEY = b"genesis.rows_sha256"
_DIGEST_COLUMNS = ("scan_id", "source_uri", "status", "reason", "sha256", "revision")


def _rows_digest(table: pa.Table) -> str:
    """SHA-256 over the identifying columns of every row, in order (with the row count).

    The rest of each row is covered by the parquet page checksums; this one also catches
    rows lost, added or reordered, and a footer that decodes to something else."""
    h = hashlib.sha256(f"{table.num_rows}|".encode())
    for name in _DIGEST_COLUMNS:
        values = table.column(name).to_pandas().astype("string").fillna("\x00")
        h.update(name.encode() + b"\x1f" + "\x1e".join(values.tolist()).encode())
    return h.hexdigest()


def load(where: LocationLike) -> pd.DataFrame:
    """The catalog at ``where``, checked; an empty frame with the schema when there is none yet.

    Catalogs written since checksums carry parquet page CRCs and a digest of their rows
    (:func:`save`); both are verified here, and damage is :class:`CatalogDamaged` naming
    the file.  Older catalogs (no digest) are read as they are."""
    where = Location.of(where)
    if not where.exists():
        return empty()
    data = where.read_bytes()
    try:
        table = pq.read_table(io.BytesIO(data), page_checksum_verification=True)
    except (OSError, pa.ArrowException) as e:
        raise CatalogDamaged(f"catalog {where} is damaged: {e}") from None
    declared = (table.schema.metadata or {}).get(_DIGEST_KEY)
    table = table.replace_schema_metadata(None)  # the rows are read by the schema alone
    if not table.schema.equals(SCHEMA):
        got = ", ".join(f"{f.name}: {f.type}" for f in table.schema if f not in SCHEMA)
        raise CatalogDamaged(f"catalog {where} is damaged: columns not in its schema ({got})")
    if declared is not None and declared.decode("ascii", "replace") != _rows_digest(table):
        raise CatalogDamaged(
            f"catalog {where} is damaged: its rows do not match the digest written with them"
        )
    return table.to_pandas()


def save(df: pd.DataFrame, where: LocationLike) -> None:
    """Write atomically (readers see the old or the new catalog, never half), with checksums.

    Writers hold the catalog's lease (:func:`lease`) around load → change → save, so two
    ingests into one dataset never lose each other's rows."""
    table = pa.Table.from_pandas(df[COLUMNS], schema=SCHEMA, preserve_index=False)
    meta = {**(table.schema.metadata or {}), _DIGEST_KEY: _rows_digest(table).encode()}
    buf = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), buf, write_page_checksum=True)
    Location.of(where).write_bytes_atomic(buf.getvalue())


def lease(where: LocationLike, purpose: str = "", timeout_s: float = 600.0):
    """The writer lease of the catalog at ``where`` (``catalog/locks/NAME.json``):
    ``with catalog.lease(uri, "ingest"):`` load, change and save inside it."""
    from genesis_core.store.lock import Lease

    where = Location.of(where)
    folder, name = where.uri.rstrip("/").rsplit("/", 1)
    lock = where.at(storage.join(folder, "locks", name.removesuffix(".parquet") + ".json"))
    return Lease(where, lock, purpose, timeout_s)


def merge(existing: pd.DataFrame, fresh: list[dict], reread_keys: set[str]) -> pd.DataFrame:
    """Replace the rows of re-read sources with ``fresh`` ones; keep the rest.

    A scan whose content hash changed gets ``revision + 1`` and
    ``previous_sha256``; exact duplicates are then re-derived over the whole
    catalog (:func:`mark_duplicates`).
    """
    old = {(r["scan_id"], r["source_uri"]): r for r in existing.to_dict("records")}
    rows = []
    for row in fresh:
        prev = old.get((row["scan_id"], row["source_uri"]))
        row.setdefault("revision", 0)
        if prev is not None and _present(prev.get("sha256")) and _present(row.get("sha256")):
            if prev["sha256"] != row["sha256"]:
                row["revision"] = int(prev["revision"] or 0) + 1
                row["previous_sha256"] = prev["sha256"]
            else:
                row["revision"] = int(prev["revision"] or 0)
                row["previous_sha256"] = prev.get("previous_sha256")
        rows.append(row)
    kept = existing[~existing["source_key"].isin(reread_keys)]
    fresh_df = pd.DataFrame(rows, columns=COLUMNS) if rows else empty()
    frames = [f for f in (kept, fresh_df) if len(f)]
    df = pd.concat(frames, ignore_index=True) if frames else empty()
    df = resolve_id_conflicts(df, n_kept=len(kept))
    return mark_duplicates(df.sort_values("source_uri", kind="stable").reset_index(drop=True))


CONFLICT_MARK = "~"


def resolve_id_conflicts(df: pd.DataFrame, n_kept: int = 0) -> pd.DataFrame:
    """Two volumes with one scan id (a re-export with the same SeriesInstanceUID) both stay.

    The id's owner is the row already catalogued (the first ``n_kept`` rows), else the
    first by source URI; every other row gets ``<id>~<hash of its source URI>`` and is
    quarantined with a reason naming the owner, so neither replaces the other in the
    catalog or a cube store.
    """
    df = df.reset_index(drop=True)
    order = sorted(range(len(df)), key=lambda i: (i >= n_kept, str(df.at[i, "source_uri"])))
    owner: dict[str, int] = {}
    for i in order:
        sid = df.at[i, "scan_id"]
        if sid not in owner:
            owner[sid] = i
            continue
        first = owner[sid]
        uri = str(df.at[i, "source_uri"])
        same = _present(df.at[i, "sha256"]) and df.at[i, "sha256"] == df.at[first, "sha256"]
        what = "an exact copy of its content" if same else "different content"
        df.at[i, "scan_id"] = f"{sid}{CONFLICT_MARK}{hashlib.sha256(uri.encode()).hexdigest()[:8]}"
        df.at[i, "status"] = QUARANTINED
        df.at[i, "reason"] = (
            f"scan id conflict: {sid} is already catalogued from {df.at[first, 'source_uri']}; "
            f"this volume ({uri}, {what}) is kept apart until resolved"
            + (f" [{df.at[i, 'reason']}]" if df.at[i, "reason"] else "")
        )
    return df


def _present(v: Any) -> bool:
    return isinstance(v, str) and v != ""


DUPLICATE_PREFIX = "exact duplicate of scan "


def mark_duplicates(df: pd.DataFrame) -> pd.DataFrame:
    """Quarantine every scan whose content equals an earlier one (by source_uri order)."""
    df = df.copy()
    was_dup = df["reason"].fillna("").str.startswith(DUPLICATE_PREFIX)
    df.loc[was_dup, ["status", "reason"]] = [OK, ""]
    first: dict[str, str] = {}
    for i, row in df.iterrows():
        if row["status"] != OK or not _present(row["sha256"]):
            continue
        if row["sha256"] in first:
            df.at[i, "status"] = QUARANTINED
            df.at[i, "reason"] = DUPLICATE_PREFIX + first[row["sha256"]]
        else:
            first[row["sha256"]] = row["scan_id"]
    return df


def transient_quarantine(df: pd.DataFrame, stage: str) -> pd.Series:
    """Rows ``stage`` (ingest / preprocess) quarantined for an I/O fault rather than bad data
    (older code did), or ingest cut at its time limit: retry them."""
    from genesis_core.faults import transient_reason

    reasons = df["reason"].fillna("")
    hit = reasons.map(lambda r: transient_reason(r, stage)).astype(bool)
    return (df["status"] == QUARANTINED) & hit


def summary(df: pd.DataFrame) -> dict[str, Any]:
    """Counts for reports: scans by status and format, quarantine reasons."""
    return {
        "scans": int(len(df)),
        "ok": int((df["status"] == OK).sum()),
        "quarantined": int((df["status"] == QUARANTINED).sum()),
        "by_format": {k: int(v) for k, v in df["format"].value_counts().items()},
        "changed": int((df["previous_sha256"].fillna("") != "").sum()),
    }


def pending(
    ok: pd.DataFrame, committed: dict[str, Any], fields: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Rows of ``ok`` scans a store still lacks: not committed, or committed from other content.

    ``committed`` maps scan id → a manifest entry with ``source_sha256``.  Rows come
    back as plain dicts of ``fields`` (small enough to send to workers), ``subset``
    as int or None.
    """
    rows = []
    for r in ok[list(fields)].to_dict("records"):
        entry = committed.get(r["scan_id"])
        if entry is not None and entry.source_sha256 == r["sha256"]:
            continue
        sub = r.get("subset")
        r["subset"] = None if sub is None or sub != sub else int(sub)
        rows.append(r)
    return rows


def rows_sha256(pairs: Mapping[str, str]) -> str:
    """SHA-256 of catalog rows reduced to ``scan_id → sha256`` (voxel content hash), in id order.

    A cube store records each scan's catalog ``sha256`` (``source_sha256`` in its manifest),
    so the same digest comes from the catalog (:func:`selected_rows_sha256`) or from the
    store alone (``Manifest.catalog_sha256``): the lineage of a model trained on the store."""
    lines = "".join(f"{k}\t{pairs[k]}\n" for k in sorted(pairs))
    return hashlib.sha256(lines.encode()).hexdigest()


def selected_rows_sha256(df: pd.DataFrame, scan_ids: list[str]) -> str:
    """:func:`rows_sha256` of the catalog rows of ``scan_ids``."""
    rows = df[df["scan_id"].isin(scan_ids)]
    return rows_sha256(dict(zip(rows["scan_id"], rows["sha256"].fillna(""), strict=True)))
