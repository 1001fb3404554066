#!/usr/bin/env bash
# Start or stop a local S3-compatible server (ministack, pinned) on 127.0.0.1
# for sm-pack's S3 tests and benchmarks. Idempotent.
#
#   eval "$(scripts/s3-server.sh start)"   # exports SM_PACK_TEST_S3_ENDPOINT (+ dummy AWS settings)
#   scripts/s3-server.sh status            # prints the endpoint, exit 1 when not running
#   scripts/s3-server.sh stop              # kills the server by its PID
#   scripts/s3-server.sh venv              # only create the venv; prints the ministack binary path
#
# Why ministack: it enforces S3's integrity checks (wrong part / object SHA-256 → BadDigest,
# wrong part checksum on Complete → InvalidPart) and returns the composite `<b64>-N` checksum
# exactly like S3 (see shared/reference/s3.md). It does not verify SigV4 signatures.
#
# Environment:
#   SM_PACK_VENVS       parent of the venv (default /tmp/sm-pack-venvs); venv = $SM_PACK_VENVS/ministack
#   SM_PACK_S3_PORT     port (default 4566)
#   SM_PACK_S3_STATE    state folder (PID file, log, data; default /tmp/sm-pack-s3-$SM_PACK_S3_PORT)
#   PYTHON              interpreter for the venv (default python3)
#
# `start` prints `export ...` lines on stdout (eval them) and the human log on stderr.
# It returns once the server answers HTTP (about a second), or fails after 30 s.
set -euo pipefail

SPEC='ministack==1.5.33'
PYTHON_BIN="${PYTHON:-python3}"
ROOT="${SM_PACK_VENVS:-/tmp/sm-pack-venvs}"
VENV="$ROOT/ministack"
MARKER="$VENV/.sm-pack-ready"
PORT="${SM_PACK_S3_PORT:-4566}"
STATE="${SM_PACK_S3_STATE:-/tmp/sm-pack-s3-$PORT}"
PIDFILE="$STATE/ministack.pid"
LOG="$STATE/ministack.log"
ENDPOINT="http://127.0.0.1:$PORT"

log() { echo "s3-server: $*" >&2; }

ensure_venv() {
    mkdir -p "$ROOT"
    # Serialise concurrent installs. The lock lives in a subshell so that its file
    # descriptor is not inherited by the server (which would hold the lock forever).
    (
        if command -v flock >/dev/null 2>&1; then
            flock 8
        fi
        if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$SPEC" && -x "$VENV/bin/ministack" ]]; then
            exit 0
        fi
        log "creating $VENV ($SPEC)"
        rm -rf "$VENV"
        "$PYTHON_BIN" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$SPEC" >&2
        printf '%s' "$SPEC" >"$MARKER"
    ) 8>"$ROOT/.ministack.lock"
}

answers() {
    # Any HTTP answer counts (ministack answers / with a status page).
    if command -v curl >/dev/null 2>&1; then
        curl -s -o /dev/null --max-time 2 "$ENDPOINT/"
    else
        "$PYTHON_BIN" - "$ENDPOINT" <<'EOF' >/dev/null 2>&1
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + "/", timeout=2)
except urllib.error.HTTPError:
    pass
EOF
    fi
}

running_pid() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

print_env() {
    cat <<EOF
export SM_PACK_TEST_S3_ENDPOINT=$ENDPOINT
export SM_PACK_TEST_S3_PID=$1
EOF
}

cmd_start() {
    local pid
    if pid="$(running_pid)"; then
        log "already running (pid $pid) at $ENDPOINT"
        print_env "$pid"
        return 0
    fi
    ensure_venv
    mkdir -p "$STATE/data"
    if answers; then
        log "port $PORT is already taken by another process; choose SM_PACK_S3_PORT"
        exit 1
    fi
    # setsid: the server gets its own session, so a Ctrl-C in the caller's terminal
    # does not reach it and `stop` controls its lifetime.
    # TMPDIR: ministack writes its own ministack-<port>.pid there; keep it in $STATE.
    BIND_HOST=127.0.0.1 GATEWAY_PORT="$PORT" S3_DATA_DIR="$STATE/data" TMPDIR="$STATE" LOG_LEVEL=WARNING \
        setsid "$VENV/bin/ministack" >"$LOG" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PIDFILE"
    for _ in $(seq 1 300); do
        if answers; then
            log "started (pid $pid) at $ENDPOINT; log $LOG"
            print_env "$pid"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            log "ministack exited; log follows"
            cat "$LOG" >&2
            rm -f "$PIDFILE"
            exit 1
        fi
        sleep 0.1
    done
    log "no answer from $ENDPOINT after 30 s; stopping it"
    kill "$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
    exit 1
}

cmd_stop() {
    local pid
    if ! pid="$(running_pid)"; then
        log "not running"
        rm -f "$PIDFILE"
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    log "stopped (pid $pid)"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status)
    if pid="$(running_pid)"; then
        echo "$ENDPOINT (pid $pid)"
    else
        echo "not running" >&2
        exit 1
    fi
    ;;
venv)
    ensure_venv
    echo "$VENV/bin/ministack"
    ;;
*)
    echo "usage: $0 start|stop|status|venv" >&2
    exit 2
    ;;
esac
