"""No patient identifier leaves the data plane (#30).

A hospital export named after its patient, with full DICOM headers, goes through ingest,
preprocess and a tiny pre-training, all through the CLI as a user runs them.  Then every
record outside the data plane is searched for the patient's identifiers: the Prefect API
database (flow-run parameters, logs, artifacts, events), the MLflow database and artifact
store, every other file under the data root (checkpoints, ``registered.json``) and all
that the commands printed.  The catalog and the stores (the data plane) hold them, as
they must, so that an authorised user can go back from a pseudonym to the source.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.helpers import volumes
from tests.helpers.dicom import write_series

pytestmark = pytest.mark.integration

EXPORT = "DOE_JANE_MRN-8842135577"  # how hospital exports get named
# three series whose stable split hash puts them in train, train and val
SERIES = [f"1.2.826.0.1.3680043.8.498.7731182230{i}" for i in (0, 1, 4)]
PHI = {
    "PatientName": ("0010|0010", "DOE^JANE"),
    "PatientID": ("0010|0020", "8842135577"),
    "PatientBirthDate": ("0010|0030", "19610412"),
    "AccessionNumber": ("0008|0050", "ACC99173"),
    "InstitutionName": ("0008|0080", "ST EXAMPLE GENERAL"),
    "ReferringPhysicianName": ("0008|0090", "HOUSE^GREGORY"),
}
STUDY = "1.2.826.0.1.3680043.8.498.55519"


def _identifiers() -> list[str]:
    """What must never be found outside the data plane (SERIES: the scan ids themselves,
    and their tails, which progress lines used to show)."""
    ids = [EXPORT, "DOE_JANE", STUDY, *SERIES, *(s[-11:] for s in SERIES)]
    return ids + [v for _, v in PHI.values()]


def _export(folder: Path) -> None:
    for i, uid in enumerate(SERIES):
        hu = volumes.ct_like((48, 96, 96), seed=i)
        tags = {tag: value for tag, value in PHI.values()} | {"0020|000d": STUDY}
        write_series(
            folder / f"series{i}",
            hu,
            spacing_xyz=(1.0, 1.0, 1.0),
            series_uid=uid,
            slice_tags=lambda _z, t=tags: t,
        )


def _found(blob: str, where: str) -> list[str]:
    low = blob.lower()
    return [f"{i!r} in {where}" for i in _identifiers() if i.lower() in low]


def _sqlite_dump(url_or_path: str) -> str:
    path = url_or_path.split(":///", 1)[-1]
    con = sqlite3.connect(path)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def _files(folder: Path, skip: set[str]) -> list[Path]:
    return [
        p
        for p in folder.rglob("*")
        if p.is_file() and not (set(p.relative_to(folder).parts) & skip)
    ]


def test_patient_identifiers_stay_in_the_catalog_and_stores(
    tmp_path, genesis_root, prefect_harness, monkeypatch
) -> None:
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import get_current_settings

    from tasks.settings import reset_settings_cache

    monkeypatch.chdir(tmp_path)
    for name in ("prefect.flow_runs", "prefect.task_runs"):  # every run log reaches the API
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "level", logging.INFO)
    monkeypatch.setenv("GENESIS_LOG_MONTAGES", "false")  # no CT pixels in tracking either
    reset_settings_cache()
    export = tmp_path / "exports" / EXPORT
    _export(export)
    runner = CliRunner()
    out = []
    for args in (
        ["ingest", str(export), "--dataset", "chest"],
        [
            "preprocess",
            "--dataset",
            "chest",
            "--cube",
            "32,32,16",
            "--cubes-per-scan",
            "6",
            "--acceptance",
            "none",
        ],
        ["pretrain", "--dataset", "chest", "--profile", "tiny", "--steps", "2"],
        ["inspect", str(genesis_root / "stores" / "chest.zarr"), "--out", "m.png", "--n", "2"],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, (args, res.output)
        out.append(res.output)

    # the data plane holds the identifiers, and the catalog maps pseudonyms back to them
    from genesis_core import catalog

    df = catalog.load(catalog.catalog_uri(str(genesis_root), "chest"))
    assert sorted(df["scan_id"]) == SERIES and all(EXPORT in u for u in df["source_uri"])
    from tasks.privacy import shown

    name = shown(SERIES[1], str(genesis_root))
    assert re.search(r"scan-[0-9a-f]{12}", "".join(out))  # progress names scans so
    who = runner.invoke(app, ["catalog", "who", name, "--dataset", "chest"])
    assert who.exit_code == 0 and SERIES[1] in who.output, who.output

    APILogHandler().flush()
    leaks = _found("\n".join(out), "the commands' output")
    db = str(get_current_settings().server.database.connection_url.get_secret_value())
    prefect_db = _sqlite_dump(db)
    # not a vacuous search: the runs, their parameters and their logs are there
    assert "'chest'" in prefect_db or '"chest"' in prefect_db
    assert "catalog" in prefect_db and "**********" in prefect_db  # the masked source
    leaks += _found(prefect_db, "the Prefect database")
    data_plane = {"catalog", "stores", "targets", "site-secret"}
    for p in _files(genesis_root, data_plane):
        if p.suffix == ".db":
            leaks += _found(_sqlite_dump(str(p)), str(p.relative_to(genesis_root)))
        else:
            leaks += _found(p.read_bytes().decode("latin-1"), str(p.relative_to(genesis_root)))
    assert not leaks, leaks
    assert not [p for p in (genesis_root / "cache").rglob("*") if p.is_file()]
    artifacts = genesis_root / "mlflow"
    assert list(artifacts.rglob("*.safetensors"))  # the model was logged, its montages not
    assert not [p for p in artifacts.rglob("*.png") if "montages" in p.parts]
