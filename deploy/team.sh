#!/usr/bin/env bash
# The whole team stack on one machine, no Docker: PostgreSQL, then the MLflow server on it.
#   deploy/team.sh up       init PostgreSQL (first time), start it, start the mlflow server
#   deploy/team.sh down     stop the mlflow server, then PostgreSQL
#   deploy/team.sh status
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
    up) "$HERE/postgres.sh" init; "$HERE/postgres.sh" start; "$HERE/mlflow-server.sh" start ;;
    down) "$HERE/mlflow-server.sh" stop; "$HERE/postgres.sh" stop ;;
    status) "$HERE/postgres.sh" status || true; "$HERE/mlflow-server.sh" status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
