"""Checksums of committed scans, so that every read of committed data can be verified.

A scan's checksum is the SHA-256 of its arrays (name, dtype, shape and bytes, in name
order), computed by the writer from the arrays it wrote and kept in the manifest entry.
A reader recomputes it the first time it touches the scan: flipped bytes, a truncated
or deleted shard (which Zarr would silently read as fill values) all show as a mismatch.

Records about the data (manifests, deltas, the pointer) are checked too: each carries the
SHA-256 of its own content (:func:`seal` / :func:`unseal`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import numpy as np


class StoreCorruption(RuntimeError):
    """Committed data does not match its manifest; the message names the store and scan."""


def digest(arrays: Mapping[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


# -- records: manifests, deltas, the pointer -------------------------------------------------
#
# A record is canonical JSON followed by one trailer line, ``sha256=<64 hex>``, the digest
# of the JSON bytes.  The trailer is not JSON, so a record cut back to its JSON, or one
# whose trailer is damaged, does not parse as a legacy record either: every flipped bit is
# either a checksum mismatch or an unreadable record.  Records written before checksums
# (plain JSON without ``"format"``) still read, flagged ``legacy``.

RECORD_FORMAT = 2
_TRAILER = b"\nsha256="


def seal(payload: Mapping[str, object]) -> bytes:
    """The bytes of a record: ``payload`` (with ``format``) as canonical JSON, then its SHA-256."""
    body = json.dumps(
        {**payload, "format": RECORD_FORMAT}, separators=(",", ":"), sort_keys=True
    ).encode()
    return body + _TRAILER + hashlib.sha256(body).hexdigest().encode() + b"\n"


def record_digest(data: bytes) -> str:
    """The checksum a sealed record declares (its identity in the log's chain)."""
    return data[-65:-1].decode("ascii", "replace")


def unseal(data: bytes, name: str) -> dict:
    """The payload of a record, checked; :class:`StoreCorruption` names ``name`` if damaged."""
    cut = data.rfind(_TRAILER)
    if cut >= 0 and data.endswith(b"\n") and len(data) - cut == len(_TRAILER) + 65:
        body, declared = data[:cut], data[cut + len(_TRAILER) : -1]
        got = hashlib.sha256(body).hexdigest().encode()
        if got != declared:
            raise StoreCorruption(
                f"{name} is damaged: its checksum does not match its content "
                f"(declared {declared[:12].decode('ascii', 'replace')}…, content {got[:12].decode()}…)"
            )
        return _json(body, name)
    payload = _json(data, name)
    if not isinstance(payload, dict) or "format" in payload:
        raise StoreCorruption(f"{name} is damaged: its checksum line is missing or unreadable")
    payload["legacy"] = True
    return payload


def _json(data: bytes, name: str) -> dict:
    try:
        payload = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise StoreCorruption(f"{name} is damaged: not a readable record ({e})") from None
    if not isinstance(payload, dict):
        raise StoreCorruption(f"{name} is damaged: not a JSON object")
    return payload
