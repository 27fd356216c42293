"""Transient faults versus bad data: the one place that tells them apart.

Only bad data becomes a quarantine row.  An I/O or network fault (a full disk, a reset
connection, a timeout, an S3 error) is retried and, if it persists, fails the run with a
clear message; the scan stays as it was and is tried again on the next run.
"""

from __future__ import annotations

import re

_TRANSIENT_MODULES = ("botocore", "aiobotocore", "urllib3", "aiohttp", "requests")
# How transient faults read in reasons written by older code, which quarantined them.
_TRANSIENT_TEXT = re.compile(
    r"No space left|Errno|OSError|TimeoutError|ConnectionError|Connection reset|"
    r"timed out|EndpointConnectionError|ClientError|Service Unavailable|SlowDown"
)
TRANSIENT_PREFIXES = ("preprocess failed:", "cannot fetch:")


def is_transient(e: BaseException) -> bool:
    """An I/O or network fault, not bad data.

    A file that vanished (``FileNotFoundError``) counts as bad data: rereading it will
    not bring it back.
    """
    if isinstance(e, FileNotFoundError):
        return False
    if isinstance(e, OSError | TimeoutError | ConnectionError):
        return True
    return type(e).__module__.startswith(_TRANSIENT_MODULES)


def transient_reason(reason: str) -> bool:
    """Whether a quarantine reason records a transient fault (older code wrote those)."""
    return reason.startswith(TRANSIENT_PREFIXES) and bool(_TRANSIENT_TEXT.search(reason))
