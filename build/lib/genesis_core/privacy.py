"""Pseudonyms: how a scan is named outside the data plane.

The catalog and the stores (the data plane) key scans by their source identifier: a DICOM
SeriesInstanceUID, a LUNA16 ``seriesuid``, a file name.  Such an identifier links straight
back to a patient's record in the PACS, so everything outside the data plane (progress
lines, logs, Dask task keys, Prefect and MLflow records, montage labels) names a scan by
its pseudonym instead: a keyed hash of the identifier under the site's secret.

Without the secret nobody can compute a pseudonym from an identifier (or test a guess);
with the catalog and the secret an authorised user goes back from a pseudonym to the scan
(:func:`lookup`).  The same identifier always gets the same pseudonym at one site, so a
pseudonym seen in a log finds the same scan in every run.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

PREFIX = "scan-"
DIGITS = 12  # hex digits: 48 bits, no collision in any realistic site (birthday ~16M scans)
MIN_SECRET_BYTES = 16


def pseudonym(identifier: str, secret: bytes) -> str:
    """``scan-`` and 12 hex digits of HMAC-SHA256(secret, identifier)."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the site secret must be at least {MIN_SECRET_BYTES} bytes")
    mac = hmac.new(secret, identifier.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + mac[:DIGITS]


def lookup(name: str, identifiers: Iterable[str], secret: bytes) -> list[str]:
    """The identifiers (of a catalog) whose pseudonym is ``name``."""
    return [i for i in identifiers if hmac.compare_digest(pseudonym(i, secret), name)]
