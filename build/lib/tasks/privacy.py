"""Scan names outside the data plane: pseudonyms under this site's secret.

Every progress line, log message, Dask task key and tracking record names a scan with
:func:`shown`, never by its source identifier (:mod:`genesis_core.privacy`)."""

from __future__ import annotations

from genesis_core.privacy import pseudonym
from tasks.settings import get_settings


def shown(scan_id: str, root: str | None = None) -> str:
    """The pseudonym of ``scan_id`` under the site secret of ``root``'s settings."""
    return pseudonym(str(scan_id), get_settings(root).secret())
