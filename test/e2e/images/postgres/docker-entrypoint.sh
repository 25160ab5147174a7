#!/bin/sh
# Upstream's entrypoint contract, written small: POSTGRES_PASSWORD / POSTGRES_USER / POSTGRES_DB (or their *_FILE secrets),
# initdb on an empty PGDATA, scripts from /docker-entrypoint-initdb.d once, then postgres in the foreground as the postgres user.
set -eu
bin=/usr/lib/postgresql/$PG_MAJOR/bin

# Options alone (`-c x=y`) are postgres options.
if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
[ "$1" = postgres ] || exec "$@"

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  find "$PGDATA" ! -user postgres -exec chown postgres:postgres '{}' +
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

# VAR or VAR_FILE (a mounted secret), never both.
from_env_or_file() {
  eval "direct=\${$1:-}; file=\${$1_FILE:-}"
  if [ -n "$direct" ] && [ -n "$file" ]; then echo "$0: both $1 and $1_FILE are set; set only one" >&2; exit 1; fi
  if [ -n "$file" ]; then direct=$(cat "$file"); fi
  export "$1=$direct"
  unset "$1_FILE"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  from_env_or_file POSTGRES_PASSWORD
  from_env_or_file POSTGRES_USER
  from_env_or_file POSTGRES_DB
  : "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}" "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    echo "$0: the database is uninitialized and no password is set: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of options, as upstream.
  "$bin/initdb" --username="$POSTGRES_USER" --pwfile="$pwfile" ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"
  printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"

  # A server on the local socket only, for the first database and the init scripts.
  "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start
  if [ "$POSTGRES_DB" != postgres ]; then
    "$bin/psql" -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
  fi
  for script in /docker-entrypoint-initdb.d/*; do
    case "$script" in
      *.sh) echo "$0: running $script"; . "$script" ;;
      *.sql) echo "$0: running $script"; "$bin/psql" -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$script" ;;
      *) ;;
    esac
  done
  "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop
  echo "$0: PostgreSQL init process complete; ready for start up."
fi

exec "$@"
