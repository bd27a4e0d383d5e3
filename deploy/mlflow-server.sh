#!/usr/bin/env bash
# The team's MLflow tracking server on PostgreSQL, several workers, artifacts in $ARTIFACTS.
#   deploy/mlflow-server.sh start    start in the background, wait until /health answers
#   deploy/mlflow-server.sh stop     stop it (the whole process group: gunicorn/uvicorn workers)
#   deploy/mlflow-server.sh restart
#   deploy/mlflow-server.sh status
# Needs: `pip install 'llmtrace[team]'` (mlflow + psycopg2) in the environment of $MLFLOW.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=team.env
. "$HERE/team.env"

PID_FILE=$TEAM_DIR/mlflow-server.pid
LOG_FILE=$TEAM_DIR/mlflow-server.log
URL="http://$MLFLOW_HOST:$MLFLOW_PORT"

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

start() {
    if running; then
        echo "mlflow server: already running (pid $(cat "$PID_FILE")) at $URL"
        return
    fi
    mkdir -p "$TEAM_DIR"
    case "$ARTIFACTS" in *://*) ;; *) mkdir -p "$ARTIFACTS" ;; esac
    # setsid: the server and its workers get a process group of their own, stopped as one.
    PGPASSFILE=$PGPASS_FILE setsid "$MLFLOW" server \
        --backend-store-uri "$BACKEND_URI" \
        --artifacts-destination "$ARTIFACTS" --serve-artifacts \
        --workers "$MLFLOW_WORKERS" \
        --host "$MLFLOW_HOST" --port "$MLFLOW_PORT" \
        >>"$LOG_FILE" 2>&1 </dev/null &
    echo $! > "$PID_FILE"
    "$PYTHON" - "$URL/health" "$(cat "$PID_FILE")" <<'PY'
import os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("mlflow server exited; see its log")
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.5)
sys.exit("mlflow server not healthy after 300 s")
PY
    echo "mlflow server: $URL (pid $(cat "$PID_FILE"), $MLFLOW_WORKERS workers, log $LOG_FILE)"
    echo "  point llmtrace at it:  export LLMTRACE_TRACKING_URI=$URL"
}

stop() {
    if ! running; then
        echo "mlflow server: not running"
        rm -f "$PID_FILE"
        return
    fi
    pid=$(cat "$PID_FILE")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    echo "mlflow server: stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    status) if running; then echo "mlflow server: running (pid $(cat "$PID_FILE")) at $URL"; else echo "mlflow server: not running"; exit 3; fi ;;
    *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
