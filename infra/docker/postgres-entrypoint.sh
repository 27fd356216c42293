#!/bin/sh
# First start of an empty data folder: initdb (superuser `postgres`, password from
# POSTGRES_PASSWORD), run /docker-entrypoint-initdb.d/*.sh against a server that listens
# on its socket only (so TCP clients, and health checks, see the databases only once
# they exist), stop it.  Every start: exec the server on all addresses.
# Connections from inside the container (socket, loopback) are trusted, as in the
# official image; every other host must give a password (scram-sha-256).
set -eu
: "${PGDATA:?PGDATA is not set}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set (needed on the first start)}"
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb --pgdata="$PGDATA" --username=postgres --pwfile="$pwfile" --auth=trust \
         --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait start >/dev/null
  for script in /docker-entrypoint-initdb.d/*.sh; do
    [ -e "$script" ] || continue
    echo "postgres-entrypoint: running $script"
    POSTGRES_USER=postgres bash "$script"
  done
  pg_ctl --pgdata="$PGDATA" --mode=fast --wait stop >/dev/null
  echo "postgres-entrypoint: database cluster initialised"
fi
exec postgres -c listen_addresses='*' "$@"
