#!/usr/bin/env bash
# Creates the two application databases on the first start of an empty data volume
# (docker-entrypoint-initdb.d): `prefect` and `mlflow`, each owned by its own role, and
# only that role may CONNECT to it (REVOKE CONNECT ... FROM PUBLIC): the Prefect role
# cannot open MLflow's database, nor the MLflow role Prefect's.
# Passwords come from the environment and are passed as psql variables, never
# interpolated into SQL text.
set -euo pipefail

: "${POSTGRES_PREFECT_PASSWORD:?POSTGRES_PREFECT_PASSWORD is not set}"
: "${POSTGRES_MLFLOW_PASSWORD:?POSTGRES_MLFLOW_PASSWORD is not set}"

create_db() {
  local name="$1" password="$2"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
       -v name="$name" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'name', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name')\gexec
SELECT format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', :'name')\gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'name', :'name')\gexec
SQL
}

create_db prefect "$POSTGRES_PREFECT_PASSWORD"
create_db mlflow "$POSTGRES_MLFLOW_PASSWORD"
