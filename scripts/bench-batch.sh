#!/usr/bin/env bash
# Benchmark: a batch of many small XGBoost models packed and uploaded to a local S3 server
# by `sm-pack xgboost DIR --out-dir OUT --upload s3://...`, against the shell loop teams
# write by hand (`tar czf` + `sha256sum` + `aws s3 cp` per model), in the same run.
# Not run in CI.
#
#   scripts/bench-batch.sh [MODELS] [ROUNDS]
#
# MODELS  how many models (default 1000). They are trained once by the real xgboost 1.7.4
#         (binary:logistic, 10 rounds of depth-4 trees on 200 rows, a different seed each)
#         and cached in $BENCH_CACHE/models-<n>.
# ROUNDS  how many times each variant runs, interleaved (default 1).
#
# Variants, each into an empty folder and an empty S3 prefix:
#   sm-pack pack          sm-pack xgboost models/ --out-dir A --container 1.7-1
#   sm-pack pack+upload   the same with --upload s3://bench/<round>/sm-pack/
#   sm-pack rerun         the pack+upload command again (everything unchanged, already in S3)
#   loop tar+sha256sum    for each model: copy to xgboost-model, tar czf, sha256sum >> SHA256SUMS
#   loop +aws s3 cp       the same plus `aws s3 cp` of each archive
#
# Needs: cargo, the xgboost 1.7.4 venv (scripts/xgb-venvs.sh; $SM_PACK_VENVS, default
# /tmp/sm-pack-venvs), GNU tar/sha256sum, the aws CLI (on PATH, else installed from PyPI
# into $BENCH_CACHE/awscli), scripts/s3-server.sh (starts its own ministack on a free
# port and stops it at the end). Environment:
#   CARGO_TARGET_DIR  where the release binary is built (default: target)
#   BENCH_CACHE       cache for models and the aws CLI venv (default /tmp/sm-pack-bench-batch)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
count="${1:-1000}"
rounds="${2:-1}"
cache="${BENCH_CACHE:-/tmp/sm-pack-bench-batch}"
venvs="${SM_PACK_VENVS:-/tmp/sm-pack-venvs}"
target="${CARGO_TARGET_DIR:-$here/target}"
work="$(mktemp -d /tmp/sm-pack-bench-batch-run.XXXXXX)"
mkdir -p "$cache"

log() { echo "bench: $*" >&2; }

python="$venvs/xgb-1.7.4/bin/python"
[[ -x "$python" ]] || {
    log "no xgboost 1.7.4 venv at $python (run scripts/xgb-venvs.sh)"
    exit 2
}
models="$cache/models-$count"
if [[ ! -f "$models/.complete" ]]; then
    log "training $count small models with xgboost 1.7.4 into $models"
    rm -rf "$models"
    mkdir -p "$models"
    "$python" - "$models" "$count" <<'EOF'
import os, sys
import numpy as np
import xgboost as xgb
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 8)).astype(np.float32)
for i in range(n):
    w = rng.normal(size=8)
    y = (X @ w + rng.normal(scale=0.5, size=200) > 0).astype(np.float32)
    b = xgb.train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.3, "seed": i,
                   "nthread": 1}, xgb.DMatrix(X, label=y), num_boost_round=10)
    b.save_model(os.path.join(out, f"customer-{i:05d}.json"))
EOF
    touch "$models/.complete"
fi
model_bytes=$(du -sb "$models" | cut -f1)

if command -v aws >/dev/null 2>&1; then
    awsbin="$(command -v aws)"
else
    if [[ ! -x "$cache/awscli/bin/aws" ]]; then
        log "installing the aws CLI from PyPI into $cache/awscli"
        python3 -m venv "$cache/awscli"
        "$cache/awscli/bin/pip" install --quiet --disable-pip-version-check awscli >&2
    fi
    awsbin="$cache/awscli/bin/aws"
fi

log "building sm-pack (release)"
(cd "$here" && CARGO_TARGET_DIR="$target" cargo build --release --bin sm-pack >&2)
bin="$target/release/sm-pack"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export SM_PACK_S3_PORT="$port" SM_PACK_S3_STATE="$work/ministack"
eval "$("$here/scripts/s3-server.sh" start)"
cleanup() {
    "$here/scripts/s3-server.sh" stop || true
    rm -rf "$work"
}
trap cleanup EXIT
endpoint="$SM_PACK_TEST_S3_ENDPOINT"

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
: >"$work/aws-config"
export AWS_CONFIG_FILE="$work/aws-config" AWS_SHARED_CREDENTIALS_FILE="$work/aws-config"
"$awsbin" --endpoint-url "$endpoint" s3api create-bucket --bucket bench >/dev/null

# The hand-written loop: one archive per model, a checksum file, optionally one `aws s3 cp` each.
shell_loop() {
    local out=$1 upload=$2
    local stage="$out/.stage"
    mkdir -p "$out" "$stage"
    : >"$out/SHA256SUMS"
    for f in "$models"/*.json; do
        local name
        name="$(basename "$f" .json)"
        cp "$f" "$stage/xgboost-model"
        tar czf "$out/$name.tar.gz" -C "$stage" xgboost-model
        (cd "$out" && sha256sum "$name.tar.gz" >>SHA256SUMS)
        if [[ -n "$upload" ]]; then
            "$awsbin" --endpoint-url "$endpoint" s3 cp --quiet "$out/$name.tar.gz" "$upload$name.tar.gz"
        fi
    done
    rm -rf "$stage"
}
export -f shell_loop
export models awsbin endpoint

# run NAME CMD...: wall seconds of CMD into wall_NAME.
run() {
    local name=$1
    shift
    local t0 t1
    t0=$(date +%s.%N)
    "$@"
    t1=$(date +%s.%N)
    printf -v "wall_$name" '%s' "$(python3 -c "print(f'{$t1 - $t0:.2f}')")"
}

cores=$(nproc)
results="$work/results.tsv"
printf 'round\tvariant\twall\n' >"$results"
for r in $(seq 1 "$rounds"); do
    rm -rf "$work/a" "$work/b" "$work/c" "$work/d"
    run pack "$bin" xgboost "$models" --out-dir "$work/a" --container 1.7-1 -q
    run packup "$bin" xgboost "$models" --out-dir "$work/b" --container 1.7-1 -q \
        --upload "s3://bench/r$r/sm-pack/" --endpoint-url "$endpoint" --path-style
    run rerun "$bin" xgboost "$models" --out-dir "$work/b" --container 1.7-1 -q \
        --upload "s3://bench/r$r/sm-pack/" --endpoint-url "$endpoint" --path-style
    run loop bash -c 'shell_loop "$1" ""' _ "$work/c"
    run loopup bash -c 'shell_loop "$1" "$2"' _ "$work/d" "s3://bench/r$r/loop/"
    for v in pack packup rerun loop loopup; do
        w="wall_$v"
        printf '%s\t%s\t%s\n' "$r" "$v" "${!w}" >>"$results"
    done
    n_a=$(find "$work/a" -name '*.tar.gz' | wc -l)
    n_s3=$("$awsbin" --endpoint-url "$endpoint" s3 ls "s3://bench/r$r/sm-pack/" | grep -c '\.tar\.gz$' || true)
    n_loop=$("$awsbin" --endpoint-url "$endpoint" s3 ls "s3://bench/r$r/loop/" | grep -c '\.tar\.gz$' || true)
    if [[ "$n_a" != "$count" || "$n_s3" != "$count" || "$n_loop" != "$count" ]]; then
        log "round $r: expected $count archives everywhere, got $n_a local, $n_s3 (sm-pack) and $n_loop (loop) in S3"
        exit 1
    fi
    (cd "$work/b" && sha256sum -c --quiet SHA256SUMS)
    log "round $r: sm-pack ${wall_pack}s, +upload ${wall_packup}s, rerun ${wall_rerun}s; loop ${wall_loop}s, +aws s3 cp ${wall_loopup}s"
    "$awsbin" --endpoint-url "$endpoint" s3 rm --quiet --recursive "s3://bench/r$r/" >/dev/null
done

python3 - "$results" "$count" "$model_bytes" "$cores" <<'EOF'
import csv, statistics, sys
from collections import defaultdict
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
n, size, cores = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
by = defaultdict(list)
for r in rows:
    by[r["variant"]].append(float(r["wall"]))
med = {k: statistics.median(v) for k, v in by.items()}
print(f"{n} XGBoost models ({size/1e6:.1f} MB of JSON) on {cores} cores, local ministack; "
      f"median wall seconds of {len(by['pack'])} round(s)")
w = 46
print(f"  {'':<{w}}{'local':>9}{'+ S3 upload':>13}")
print(f"  {'sm-pack (validate, judge for 1.7-1, pack)':<{w}}{med['pack']:9.2f}{med['packup']:13.2f}")
print(f"  {'shell loop (tar czf, sha256sum, aws s3 cp)':<{w}}{med['loop']:9.2f}{med['loopup']:13.2f}")
print(f"  {'ratio loop / sm-pack':<{w}}{med['loop']/med['pack']:9.1f}{med['loopup']/med['packup']:13.1f}")
print(f"  sm-pack rerun, nothing changed (hash, HEAD, skip): {med['rerun']:.2f} s")
print(f"  per model: sm-pack {1000*med['packup']/n:.1f} ms, loop with aws s3 cp {1000*med['loopup']/n:.1f} ms")
EOF
