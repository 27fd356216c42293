"""No credential is printed or recorded: a tracking URI with ``user:secret@`` is shown and
written without it (#30)."""

from __future__ import annotations

import pytest

from genesis_core.io.storage import redact_uri

SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize(
    "uri, shown",
    [
        (f"http://pipeline:{SECRET}@mlflow:5000", "http://mlflow:5000"),
        (f"https://{SECRET}@mlflow.hospital.example/api", "https://mlflow.hospital.example/api"),
        (
            f"postgresql+psycopg://mlflow:{SECRET}@db:5432/mlflow",
            "postgresql+psycopg://db:5432/mlflow",
        ),
        ("sqlite:////data/mlflow.db", "sqlite:////data/mlflow.db"),
        ("http://mlflow:5000/a@b", "http://mlflow:5000/a@b"),  # an @ in the path is not userinfo
    ],
)
def test_redact_uri_drops_the_userinfo_only(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown


def test_the_load_hint_never_prints_the_tracking_password(capsys) -> None:
    from flows.cli.training import print_registry_hints

    print_registry_hints(f"http://pipeline:{SECRET}@127.0.0.1:5000", "genesis-unet3d")
    out = capsys.readouterr().out
    assert SECRET not in out and "pipeline" not in out
    assert "MLFLOW_TRACKING_URI=http://127.0.0.1:5000" in out
    assert "MLFLOW_TRACKING_PASSWORD" in out
