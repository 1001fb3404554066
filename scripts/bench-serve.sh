#!/usr/bin/env bash
# Throughput and latency of `sm-pack serve` next to a reference Python server
# (benches/serve_reference.py: the container's stack, Flask under gunicorn
# with one gevent worker per CPU, serving the same archive's model with the
# real xgboost 1.7.4), in the same run, with wrk on loopback.
#
#   scripts/bench-serve.sh            # 3 rounds of 10 s per server, 8 connections
#   DURATION=30 CONNS=16 ROUNDS=5 scripts/bench-serve.sh
#
# Model: 2,000 trees of depth 8, binary:logistic, 50 features, trained once by
# xgboost 1.7.4 and cached with the request bodies under $SM_PACK_BENCH_DIR
# (default /tmp/sm-pack-bench/serve). Requests: text/csv, one row and 1,000 rows.
# Before timing, both servers must return byte-identical responses.
# Needs: a Rust toolchain, wrk (installed with apt-get when missing), the
# xgboost 1.7.4 venv ($SM_PACK_BENCH_PYTHON, default
# /tmp/sm-pack-venvs/xgb-1.7.4/bin/python); flask, gunicorn and gevent are
# pip-installed into $SM_PACK_BENCH_DIR/pylib when missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${SM_PACK_BENCH_DIR:-/tmp/sm-pack-bench/serve}
PY=${SM_PACK_BENCH_PYTHON:-/tmp/sm-pack-venvs/xgb-1.7.4/bin/python}
DURATION=${DURATION:-10}
CONNS=${CONNS:-8}
ROUNDS=${ROUNDS:-3}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$CACHE"

PIDS=()
cleanup() {
    # SIGTERM each server we started (by PID), wait up to 10 s, then SIGKILL.
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] || continue
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT INT TERM

if ! command -v wrk >/dev/null; then
    echo "installing wrk" >&2
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
if ! PYTHONPATH="$CACHE/pylib" "$PY" -c 'import flask, gunicorn, gevent, packaging' 2>/dev/null; then
    echo "installing flask, gunicorn, gevent, packaging into $CACHE/pylib" >&2
    "$PY" -m pip install -q --target "$CACHE/pylib" flask gunicorn gevent packaging
fi

# --- model and requests (cached) ---------------------------------------------
if [ ! -f "$CACHE/model-2000.json" ]; then
    echo "training the 2,000-tree model with $("$PY" -c 'import xgboost; print(xgboost.__version__)')" >&2
    "$PY" - "$CACHE" <<'PYEOF'
import sys
import numpy as np
import xgboost as xgb
out = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.standard_normal((20000, 50)).astype(np.float32)
w = rng.standard_normal(50)
y = ((X @ w + 0.5 * rng.standard_normal(20000)) > 0).astype(int)
b = xgb.train({"objective": "binary:logistic", "max_depth": 8, "eta": 0.05, "seed": 0,
               "nthread": 2, "tree_method": "hist"}, xgb.DMatrix(X, label=y), 2000)
b.save_model(out + "/model-2000.json")
R = rng.standard_normal((1000, 50)).astype(np.float32)
with open(out + "/rows1000.csv", "w") as f:
    f.write("\n".join(",".join("%.9g" % v for v in r) for r in R) + "\n")
with open(out + "/single.csv", "w") as f:
    f.write(",".join("%.9g" % v for v in R[0]) + "\n")
PYEOF
fi

# --- sm-pack (release) and the archive -------------------------------------
(cd "$ROOT" && cargo build -q --release --no-default-features --features serve)
SMPACK="$TARGET/release/sm-pack"
"$SMPACK" -q xgboost "$CACHE/model-2000.json" --container 1.7-1 -o "$CACHE/model.tar.gz" --force
mkdir -p "$CACHE/extracted"
tar -xzf "$CACHE/model.tar.gz" -C "$CACHE/extracted"

cat > "$CACHE/post.lua" <<'EOF'
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "text/csv"
EOF

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_ping() {
    for _ in $(seq 1 300); do
        curl -sf -m 5 "http://127.0.0.1:$1/ping" >/dev/null && return 0
        sleep 0.1
    done
    echo "server on port $1 did not come up" >&2
    return 1
}

# --- start both servers --------------------------------------------------------
"$SMPACK" serve "$CACHE/model.tar.gz" --container 1.7-1 --port 0 --no-access-log \
    > "$CACHE/smpack.out" 2> "$CACHE/smpack.err" &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$CACHE/smpack.out" ] && break; sleep 0.1; done
RUST_PORT=$(sed -n '1s/^listening on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$CACHE/smpack.out")
[ -n "$RUST_PORT" ] || { cat "$CACHE/smpack.err" >&2; exit 1; }

PY_PORT=$(free_port)
PYTHONPATH="$CACHE/pylib" "$PY" "$ROOT/benches/serve_reference.py" "$CACHE/extracted/xgboost-model" "$PY_PORT" \
    > "$CACHE/python.out" 2> "$CACHE/python.err" &
PIDS+=($!)
wait_ping "$RUST_PORT"
wait_ping "$PY_PORT"
KERNEL=$(sed -n 's/.*trees walked with the \([a-z0-9]*\) kernel.*/\1/p' "$CACHE/smpack.err")

# --- same answers --------------------------------------------------------------
for body in single rows1000; do
    curl -sf -m 120 -H 'Content-Type: text/csv' --data-binary "@$CACHE/$body.csv" \
        "http://127.0.0.1:$RUST_PORT/invocations" > "$CACHE/rust-$body.out"
    curl -sf -m 120 -H 'Content-Type: text/csv' --data-binary "@$CACHE/$body.csv" \
        "http://127.0.0.1:$PY_PORT/invocations" > "$CACHE/python-$body.out"
    if ! cmp -s "$CACHE/rust-$body.out" "$CACHE/python-$body.out"; then
        echo "responses differ for $body.csv:" >&2
        diff <(head -5 "$CACHE/rust-$body.out") <(head -5 "$CACHE/python-$body.out") >&2 || true
        exit 1
    fi
done
echo "responses byte-identical (single row and 1,000 rows)"

# --- load ------------------------------------------------------------------------
run() { # name port body -> "rps p50 p99"
    BODY_FILE="$CACHE/$3.csv" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
        -s "$CACHE/post.lua" "http://127.0.0.1:$2/invocations" > "$CACHE/wrk-$1-$3.txt"
    local rps p50 p99 errs
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$CACHE/wrk-$1-$3.txt")
    p50=$(awk '$1=="50%" {print $2}' "$CACHE/wrk-$1-$3.txt")
    p99=$(awk '$1=="99%" {print $2}' "$CACHE/wrk-$1-$3.txt")
    errs=$(awk '/Non-2xx|Socket errors/ {print}' "$CACHE/wrk-$1-$3.txt")
    [ -z "$errs" ] || echo "  $1 $3: $errs" >&2
    echo "$rps $p50 $p99"
}
# Warm up both.
BODY_FILE="$CACHE/single.csv" wrk -t1 -c2 -d2s -s "$CACHE/post.lua" "http://127.0.0.1:$RUST_PORT/invocations" >/dev/null
BODY_FILE="$CACHE/single.csv" wrk -t1 -c2 -d2s -s "$CACHE/post.lua" "http://127.0.0.1:$PY_PORT/invocations" >/dev/null

REPORT="$CACHE/results-$(date -u +%Y%m%dT%H%M%SZ).md"
{
    echo "wrk -t1 -c$CONNS -d${DURATION}s, $ROUNDS interleaved rounds, $(nproc) CPUs, kernel $KERNEL, load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    echo "| request | round | sm-pack req/s | p50 | p99 | Python req/s | p50 | p99 | ratio |"
    echo "|---|---|---|---|---|---|---|---|---|"
} > "$REPORT"
# Rounds alternate the two servers so that a busy spell on the machine hits
# both; the summary is the median ratio.
for body in single rows1000; do
    label=$([ "$body" = single ] && echo "1 row" || echo "1,000 rows")
    ratios=()
    for round in $(seq 1 "$ROUNDS"); do
        read -r r rp50 rp99 < <(run sm-pack "$RUST_PORT" "$body")
        read -r p pp50 pp99 < <(run python "$PY_PORT" "$body")
        ratio=$(awk -v a="$r" -v b="$p" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "0" }')
        ratios+=("$ratio")
        echo "| $label | $round | $r | $rp50 | $rp99 | $p | $pp50 | $pp99 | ${ratio}x |" >> "$REPORT"
    done
    median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    echo "| $label | median | | | | | | | **${median}x** |" >> "$REPORT"
done
cat "$REPORT"
echo "(saved to $REPORT)"
