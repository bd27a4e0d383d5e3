#!/usr/bin/env bash
# PostgreSQL for the team's MLflow server, from the OS packages, in a data folder of its own.
#   deploy/postgres.sh init     initdb, a role and database for MLflow (password in $TEAM_DIR/pgpass)
#   deploy/postgres.sh start    pg_ctl start (waits until it accepts connections)
#   deploy/postgres.sh stop     pg_ctl stop -m fast
#   deploy/postgres.sh status
# Install first: apt-get install postgresql (Debian/Ubuntu), dnf install postgresql-server (Fedora).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=team.env
. "$HERE/team.env"

pg() { "${PG_AS[@]}" "$@"; }

init() {
    if [ -f "$PGDATA_DIR/PG_VERSION" ]; then
        echo "postgres: $PGDATA_DIR already initialised"
        return
    fi
    [ -x "$PG_BIN/initdb" ] || { echo "initdb not found in $PG_BIN: install PostgreSQL or set PG_BIN" >&2; exit 1; }
    mkdir -p "$TEAM_DIR" "$PG_SOCKET_DIR"
    if [ ! -s "$PGPASS_FILE" ]; then
        umask 077
        password=$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(24))')
        echo "$PG_HOST:$PG_PORT:$PG_DB:$PG_USER:$password" > "$PGPASS_FILE"
        umask 022
    fi
    if [ "${#PG_AS[@]}" -gt 0 ]; then
        # The postgres user must reach the data folder: every parent needs o+x.
        chown postgres: "$PG_SOCKET_DIR"
        mkdir -p "$PGDATA_DIR" && chown postgres: "$PGDATA_DIR"
        if ! runuser -u postgres -- test -w "$PGDATA_DIR"; then
            echo "the postgres user cannot write $PGDATA_DIR: choose a TEAM_DIR whose parents are world-traversable (e.g. /srv/llmtrace-team)" >&2
            exit 1
        fi
    fi
    # Local (socket) connections: trust, but the socket folder is private to the server's user.
    # TCP connections: passwords (scram-sha-256).
    pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres -E UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    cat >> "$PGDATA_DIR/postgresql.conf" <<CONF
listen_addresses = '$PG_HOST'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
unix_socket_permissions = 0700
max_connections = 200
CONF
    start
    password=$(cut -d: -f5 "$PGPASS_FILE")
    pg "$PG_BIN/psql" -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
        -c "CREATE ROLE \"$PG_USER\" LOGIN PASSWORD '$password'" \
        -c "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\""
    echo "postgres: initialised $PGDATA_DIR; database $PG_DB owned by $PG_USER (password in $PGPASS_FILE)"
}

start() {
    if pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
        echo "postgres: already running"
        return
    fi
    pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w -t 60 start >/dev/null
    echo "postgres: running on $PG_HOST:$PG_PORT (log $PGDATA_DIR/server.log)"
}

stop() {
    if pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
        pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
        echo "postgres: stopped"
    else
        echo "postgres: not running"
    fi
}

case "${1:-}" in
    init) init ;;
    start) start ;;
    stop) stop ;;
    status) pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" status ;;
    *) echo "usage: $0 init|start|stop|status" >&2; exit 2 ;;
esac
