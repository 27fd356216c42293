"""The PostgreSQL the integration tier runs: compose's databases and roles, password auth
over TCP, and a one-line failure naming the binary when the server is not installed."""

from __future__ import annotations

import pytest

from tests.servers.postgres import PostgresMissing, bindir, postgres_server

pytestmark = pytest.mark.integration


def test_missing_binaries_are_named_in_one_line(tmp_path, monkeypatch) -> None:
    (tmp_path / "initdb").write_text("")
    monkeypatch.setenv("GENESIS_TEST_PG_BINDIR", str(tmp_path))
    with pytest.raises(PostgresMissing) as e:
        bindir()
    assert "'postgres' not found" in str(e.value) and "\n" not in str(e.value)


def test_compose_roles_own_their_databases_and_need_their_passwords(tmp_path) -> None:
    import psycopg

    with postgres_server(tmp_path) as db:
        for name in ("prefect", "mlflow"):
            with psycopg.connect(db.url(name)) as conn:
                row = conn.execute(
                    "select current_user, pg_get_userbyid(datdba) from pg_database"
                    " where datname = current_database()"
                ).fetchone()
            assert row == (name, name)
        wrong = db.url("mlflow").replace(db.passwords["mlflow"], "wrong")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(wrong)
