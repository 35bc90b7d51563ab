#!/bin/sh
# First start: create the cluster, the user and the database from the POSTGRES_* variables
# (password from POSTGRES_PASSWORD_FILE, read as root), then run postgres as its own user.
set -eu
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
chown postgres:postgres "$PGDATA" && chmod 0700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password_file=$(mktemp) && chown postgres "$password_file"
  cat "${POSTGRES_PASSWORD_FILE:?POSTGRES_PASSWORD_FILE is required}" >"$password_file"
  as_postgres initdb -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" --pwfile="$password_file" \
    --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$password_file"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  as_postgres pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
  if [ "${POSTGRES_DB:-postgres}" != postgres ]; then
    as_postgres createdb -U "${POSTGRES_USER:-postgres}" "$POSTGRES_DB"
  fi
  as_postgres pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
fi
[ "$1" = postgres ] && shift && set -- postgres -D "$PGDATA" -c listen_addresses='*' "$@"
exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
