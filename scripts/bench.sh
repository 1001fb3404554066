#!/usr/bin/env bash
# sm-pack benchmark suite: packing speed, memory and determinism against the usual tools,
# on large models made by the real libraries. Not run in CI (minutes, gigabytes).
#
#   scripts/bench.sh                     # models (cached), compare, rss, threads
#   scripts/bench.sh compare threads     # only some parts
#   scripts/bench.sh micro               # criterion micro-benchmarks of the parsers
#
# Parts:
#   models   make and cache the models (done on demand by the other parts):
#            an 808 MB fastText supervised model (fasttext-wheel 0.9.2: dim 100, word
#            bigrams, 2,000,000 buckets), fastText models of ~100 MB, 500 MB, 1 GB and 2 GB
#            (same recipe, other bucket counts), and a 2000-tree XGBoost model in JSON and
#            UBJSON (xgboost 3.2.0) and the legacy binary format (xgboost 1.7.4);
#            see scripts/bench-models.py
#   compare  in the same run, on the fastText model and the XGBoost JSON and UBJSON:
#            sm-pack (release; validation, manifest, SHA256SUMS) vs `tar czf` + sha256sum,
#            `tar | pigz -6` + sha256sum, `tar | pigz -1` + sha256sum, and Python tarfile
#            (gzip level 9, as the SageMaker Python SDK packs) + hashlib; wall time, CPU time
#            (user+sys), peak RSS, output size and each tool's ratio to sm-pack. The key
#            comparison (sm-pack vs pigz -6 on the fastText model) is repeated ROUNDS times,
#            interleaved, best of each kept, and checked against the acceptance criteria
#   rss      sm-pack on the ~100 MB, 500 MB, 800 MB, 1 GB and 2 GB fastText models: peak RSS
#   threads  sm-pack with --threads 1, 2 and 4 on the fastText model and the XGBoost JSON:
#            the archives' SHA-256 must be identical
#   load     reading + validating a model vs the real library loading it, in the same run:
#            sm-pack's XGBoost reader in-process (`inspect_file`, benches/xgboost.rs) and the
#            whole `sm-pack inspect` process (read, parse, validate every tree or float, judge
#            every container tag, JSON out) vs `xgboost.Booster(model_file=...)` (3.2.0 for
#            JSON and UBJSON, 1.7.4 for the legacy binary) and `fasttext.load_model` (0.9.2),
#            timed in-process with the import excluded; best of 3 per round, ROUNDS rounds
#            interleaved; peak RSS of each process; checked against the goals (XGBoost, in
#            process on both sides: at least 2x faster with lower peak memory; fastText:
#            faster, peak under 64 MB)
#   micro    `cargo bench --bench xgboost` (JSON, UBJSON and legacy binary parse + validate)
#            and `cargo bench --bench fasttext` (stream validation), on the cached models
#
# The baselines hash both the model and the archive, as sm-pack's manifest does. Every
# command reads the model from the page cache (it is read once before each run), and
# writes to $SM_PACK_BENCH_CACHE/out, deleted after each measurement.
#
# Needs GNU tar, sha256sum, python3, cargo, pigz and GNU time (/usr/bin/time -v); pigz
# and time are installed with apt-get when missing (the script says so). The model
# generators use the venvs of scripts/ft-venv.sh and scripts/xgb-venvs.sh (created on
# demand; that needs PyPI).
#
# Environment:
#   SM_PACK_BENCH_CACHE  models and scratch output (default /tmp/sm-pack-bench; ~5 GB of
#                        models, plus up to 2 GB while the 2 GB model is packed)
#   SM_PACK_VENVS        parent of the Python venvs (default /tmp/sm-pack-venvs)
#   CARGO_TARGET_DIR     where the release binary is built (default: target)
#   ROUNDS               rounds of the key comparison and of load (default 3)
#   LOAD_REPS            loads per process and round in the load part (default 10)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cache="${SM_PACK_BENCH_CACHE:-/tmp/sm-pack-bench}"
venvs="${SM_PACK_VENVS:-/tmp/sm-pack-venvs}"
target="${CARGO_TARGET_DIR:-$here/target}"
rounds="${ROUNDS:-3}"
load_reps="${LOAD_REPS:-10}"
models="$cache/models"
out="$cache/out"
bin="$target/release/sm-pack"
parts=("$@")
[[ ${#parts[@]} -gt 0 ]] || parts=(compare rss threads)

log() { echo "bench: $*" >&2; }
die() {
    log "$*"
    exit 2
}

# ------------------------------------------------------------------ tools

apt_install() {
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "$1 is missing and this user cannot apt-get install it; install $1"
        sudo="sudo"
    fi
    command -v apt-get >/dev/null || die "$1 is missing and there is no apt-get; install $1"
    log "$1 is missing: installing it with apt-get install -y $1"
    $sudo apt-get install -y "$1" >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y "$1" >&2; } ||
        die "could not install $1"
}

check_tools() {
    command -v pigz >/dev/null || apt_install pigz
    if ! /usr/bin/time --version 2>&1 | grep -q GNU; then
        apt_install time
    fi
    tar --version 2>/dev/null | grep -q "GNU tar" || die "GNU tar is needed (tar czf baseline)"
    for t in sha256sum python3 cargo; do
        command -v "$t" >/dev/null || die "$t is needed"
    done
}

build() {
    log "building sm-pack (release) in $target"
    (cd "$here" && CARGO_TARGET_DIR="$target" cargo build --release --bin sm-pack >&2)
}

# ------------------------------------------------------------------ models

ft_model() { # bucket -> path
    echo "$models/fasttext-sup-b$1.bin"
}

make_ft() { # bucket
    local f
    f="$(ft_model "$1")"
    [[ -s "$f" ]] && return 0
    mkdir -p "$models"
    local py
    py="$(SM_PACK_VENVS="$venvs" "$here/scripts/ft-venv.sh")"
    log "training a fastText supervised model with $1 buckets -> $f (real fastText; a minute or more)"
    "$py" "$here/scripts/bench-models.py" fasttext "$f" --bucket "$1" >&2
}

make_xgb() {
    local v
    for v in 3.2.0 1.7.4; do
        local d="$models/xgb-$v"
        if [[ $v == 3.2.0 && -s "$d/big.json" && -s "$d/big.ubj" ]] || [[ $v == 1.7.4 && -s "$d/big.bin" ]]; then
            continue
        fi
        mkdir -p "$d"
        [[ -x "$venvs/xgb-$v/bin/python" ]] || SM_PACK_VENVS="$venvs" "$here/scripts/xgb-venvs.sh" "$v" >&2
        log "training 2000 trees with xgboost $v -> $d (several minutes)"
        "$venvs/xgb-$v/bin/python" "$here/scripts/bench-models.py" xgboost "$d" >&2
    done
}

# fastText models for the flat-memory run: bucket counts for ~100 MB, 500 MB, 1 GB, 2 GB
# (each bucket is one 100-float row, 400 bytes); the 800 MB model has 2,000,000.
RSS_BUCKETS=(250000 1250000 2000000 2500000 5000000)
FT_BUCKET=2000000

# ------------------------------------------------------------------ measuring

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }

# run LABEL OUTFILE CMD... : runs CMD under GNU time with the model warm in the page
# cache; sets W (wall s), C (user+sys s), R (peak RSS, MB), S (bytes of OUTFILE).
run() {
    local label="$1" outfile="$2"
    shift 2
    rm -rf "$out"
    mkdir -p "$out"
    cat "$MODEL" >/dev/null
    local tf="$cache/time.txt"
    if ! /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$cache/cmd.out" 2>"$cache/cmd.err"; then
        cat "$cache/cmd.err" >&2
        die "$label failed"
    fi
    local e u s m
    read -r e u s m < <(tail -n 1 "$tf")
    W="$e"
    C=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
    R=$(awk -v k="$m" 'BEGIN { printf "%.1f", k / 1024 }')
    S=$(stat -c %s "$out/$outfile")
    rm -rf "$out"
}

# The baselines, as commands: ARCHIVE DIR NAME (the model is DIR/NAME).
TAR_GZIP='tar czf "$1" -C "$2" "$3" && sha256sum "$2/$3" "$1"'
TAR_PIGZ='tar cf - -C "$2" "$3" | pigz -"$4" > "$1" && sha256sum "$2/$3" "$1"'

PY_TARFILE='
import hashlib, sys, tarfile
src, name, dst = sys.argv[1:4]
def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()
model = sha256(src)
# What the SageMaker Python SDK does: tarfile, "w:gz" (compresslevel 9).
with tarfile.open(dst, "w:gz", compresslevel=9) as t:
    t.add(src, arcname=name)
print(model, sha256(dst))
'

header_row() {
    printf '%-34s %8s %8s %10s %11s %7s %7s %7s\n' tool "wall s" "CPU s" "RSS MB" "output MB" "wall x" "CPU x" "size x"
}

row() { # label wall cpu rss size ref_wall ref_cpu ref_size
    awk -v l="$1" -v w="$2" -v c="$3" -v r="$4" -v s="$5" -v rw="$6" -v rc="$7" -v rs="$8" 'BEGIN {
        printf "%-34s %8.2f %8.2f %10.1f %11.2f %7.2f %7.2f %7.3f\n", l, w, c, r, s / 1e6, w / rw, c / rc, s / rs }'
}

# compare_one FAMILY MEMBER_NAME TITLE
compare_one() {
    local family="$1" member="$2" title="$3"
    echo
    echo "== $title: $(basename "$MODEL"), $(mb "$(stat -c %s "$MODEL")") MB"
    local -a labels=() ws=() cs=() rs=() ss=()
    add() {
        labels+=("$1")
        ws+=("$W")
        cs+=("$C")
        rs+=("$R")
        ss+=("$S")
    }
    local dir name
    dir="$(dirname "$MODEL")"
    name="$(basename "$MODEL")"
    run sm-pack model.tar.gz "$bin" "$family" "$MODEL" -o "$out/model.tar.gz" --force -q
    add "sm-pack $family (release)"
    run "tar czf" t.tar.gz bash -c "$TAR_GZIP" _ "$out/t.tar.gz" "$dir" "$name"
    add "tar czf + sha256sum"
    for l in 6 1; do
        run "pigz -$l" t.tar.gz bash -c "$TAR_PIGZ" _ "$out/t.tar.gz" "$dir" "$name" "$l"
        add "tar | pigz -$l + sha256sum"
    done
    run "python tarfile" t.tar.gz python3 -c "$PY_TARFILE" "$MODEL" "$member" "$out/t.tar.gz"
    add "python tarfile (gzip 9) + hashlib"
    header_row
    local i
    for i in "${!labels[@]}"; do
        row "${labels[$i]}" "${ws[$i]}" "${cs[$i]}" "${rs[$i]}" "${ss[$i]}" "${ws[0]}" "${cs[0]}" "${ss[0]}"
    done
    # Kept for the acceptance check.
    TAR_GZ_WALL="${ws[1]}"
}

part_compare() {
    make_ft "$FT_BUCKET"
    make_xgb
    MODEL="$(ft_model "$FT_BUCKET")"
    compare_one fasttext model.bin "fastText supervised model"
    local tar_wall="$TAR_GZ_WALL"

    echo
    echo "== key comparison on $(basename "$MODEL"): $rounds rounds, interleaved, best of each"
    local best_s="" best_p="" size_s="" size_p="" r
    for ((r = 1; r <= rounds; r++)); do
        run sm-pack model.tar.gz "$bin" fasttext "$MODEL" -o "$out/model.tar.gz" --force -q
        local ws="$W" cs="$C"
        size_s="$S"
        run "pigz -6" t.tar.gz bash -c "$TAR_PIGZ" _ "$out/t.tar.gz" "$(dirname "$MODEL")" "$(basename "$MODEL")" 6
        size_p="$S"
        printf 'round %d: sm-pack %6.2f s (CPU %5.2f s)   tar | pigz -6 + sha256sum %6.2f s (CPU %5.2f s)\n' "$r" "$ws" "$cs" "$W" "$C"
        best_s=$(awk -v a="$best_s" -v b="$ws" 'BEGIN { print (a == "" || b < a) ? b : a }')
        best_p=$(awk -v a="$best_p" -v b="$W" 'BEGIN { print (a == "" || b < a) ? b : a }')
    done
    awk -v s="$best_s" -v p="$best_p" -v t="$tar_wall" -v zs="$size_s" -v zp="$size_p" 'BEGIN {
        printf "best: sm-pack %.2f s, tar | pigz -6 + sha256sum %.2f s (%.2fx); tar czf + sha256sum %.2f s (%.2fx)\n", s, p, p / s, t, t / s
        printf "sizes: sm-pack %d bytes, pigz -6 %d bytes (sm-pack %+.2f%%)\n", zs, zp, (zs / zp - 1) * 100
        printf "acceptance: wall <= 1/5 of tar czf + sha256sum: %s (%.2f s <= %.2f s)\n", (s <= t / 5) ? "PASS" : "FAIL", s, t / 5
        printf "acceptance: faster than tar | pigz -6 + sha256sum at the same or smaller size: %s\n", (s < p && zs <= zp) ? "PASS" : "FAIL"
    }'

    MODEL="$models/xgb-3.2.0/big.json"
    compare_one xgboost xgboost-model "XGBoost 3.2.0, 2000 trees, JSON"
    MODEL="$models/xgb-3.2.0/big.ubj"
    compare_one xgboost xgboost-model "XGBoost 3.2.0, 2000 trees, UBJSON"
}

part_rss() {
    echo
    echo "== peak RSS of sm-pack fasttext by model size (flat = independent of the input)"
    printf '%-30s %10s %8s %8s %10s\n' model "input MB" "wall s" "CPU s" "RSS MB"
    local b min="" max=""
    for b in "${RSS_BUCKETS[@]}"; do
        make_ft "$b"
        MODEL="$(ft_model "$b")"
        run sm-pack model.tar.gz "$bin" fasttext "$MODEL" -o "$out/model.tar.gz" --force -q
        printf '%-30s %10s %8.2f %8.2f %10.1f\n' "$(basename "$MODEL")" "$(mb "$(stat -c %s "$MODEL")")" "$W" "$C" "$R"
        min=$(awk -v a="$min" -v b="$R" 'BEGIN { print (a == "" || b < a) ? b : a }')
        max=$(awk -v a="$max" -v b="$R" 'BEGIN { print (a == "" || b > a) ? b : a }')
    done
    awk -v lo="$min" -v hi="$max" 'BEGIN {
        printf "peak RSS %.1f-%.1f MB (max/min %.2f): %s\n", lo, hi, hi / lo, (hi / lo <= 1.25 && hi < 64) ? "flat, PASS" : "FAIL" }'
}

part_threads() {
    echo
    echo "== output identical across --threads (1, 2, 4)"
    make_ft "$FT_BUCKET"
    make_xgb
    local m family t verdict=PASS
    for m in "$(ft_model "$FT_BUCKET"):fasttext" "$models/xgb-3.2.0/big.json:xgboost"; do
        MODEL="${m%:*}"
        family="${m##*:}"
        local first=""
        for t in 1 2 4; do
            rm -rf "$out"
            mkdir -p "$out"
            cat "$MODEL" >/dev/null
            local start end sum
            start=$(date +%s.%N)
            "$bin" "$family" "$MODEL" -o "$out/model.tar.gz" --force -q --threads "$t"
            end=$(date +%s.%N)
            sum=$(sha256sum "$out/model.tar.gz" | cut -d' ' -f1)
            printf '%-26s --threads %d  %6.2f s  sha256 %s\n' "$(basename "$MODEL")" "$t" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$sum"
            [[ -z "$first" ]] && first="$sum"
            [[ "$sum" == "$first" ]] || verdict=FAIL
        done
    done
    rm -rf "$out"
    echo "identical across thread counts: $verdict"
}

# The libraries' own load, timed in-process (import excluded): prints "best_s rss_mb import_rss_mb".
PY_LOAD='
import resource, sys, time
kind, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "xgboost":
    import xgboost
    load = lambda: xgboost.Booster(model_file=path)
else:
    import fasttext
    load = lambda: fasttext.load_model(path)
imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
best = float("inf")
for _ in range(n):
    t = time.perf_counter()
    m = load()
    best = min(best, time.perf_counter() - t)
    del m
print(best, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, imported)
'

# load_one LABEL MODEL PYTHON KIND: ROUNDS interleaved rounds of (a) sm-pack's reader in-process
# (XGBoost: benches/xgboost.rs one-shot, best of LOAD_REPS loads in one process, like the
# library's side), (b) the whole `sm-pack inspect --json` process (best of 3 processes:
# start-up, fresh pages, every container tag judged, JSON out) and (c) the library's load
# in-process (best of LOAD_REPS). The goal compares like with like: (a) against (c) for
# XGBoost, (b) against (c) for fastText (its reader's whole process already wins); memory is
# (b)'s peak RSS against (c)'s.
# Sets LOAD_OK=0 when the goal is missed.
load_one() {
    local label="$1" model="$2" py="$3" kind="$4"
    local r best_s="" best_i="" best_p="" rss_s=0 rss_p=0
    cat "$model" >/dev/null
    for r in $(seq 1 "$rounds"); do
        local i s_best="" s_rss=0 i_best=""
        if [[ "$kind" == xgboost ]]; then
            i_best=$(SM_PACK_XGB_BENCH_ONCE="$model" SM_PACK_XGB_BENCH_REPS="$load_reps" "$xgb_bench" |
                sed -n 's/.*inspect_file min \([0-9.]*\) s.*/\1/p')
            [[ -n "$i_best" ]] || die "the xgboost bench binary printed no time for $model"
        fi
        for i in 1 2 3; do
            # Wall time from bash's microsecond clock (GNU time's %e has 10 ms steps);
            # GNU time for the peak RSS.
            local t0="$EPOCHREALTIME"
            /usr/bin/time -f '%M' -o "$cache/time.txt" "$bin" inspect "$model" --json >/dev/null 2>"$cache/cmd.err" ||
                [[ $? -eq 1 ]] || { cat "$cache/cmd.err" >&2; die "sm-pack inspect $model failed"; }
            local t1="$EPOCHREALTIME" e m
            e=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
            read -r m < <(tail -n 1 "$cache/time.txt")
            s_best=$(awk -v a="$s_best" -v b="$e" 'BEGIN { print (a == "" || b < a) ? b : a }')
            s_rss=$(awk -v a="$s_rss" -v k="$m" 'BEGIN { r = k / 1024; print (r > a) ? r : a }')
        done
        local p_best p_rss p_imp
        read -r p_best p_rss p_imp < <("$py" -c "$PY_LOAD" "$kind" "$model" "$load_reps")
        local ours="${i_best:-$s_best}"
        printf '%-28s round %d  sm-pack %s s in-process, %7.3f s %6.1f MB whole process   library %7.3f s %6.1f MB (import alone %5.1f MB)   %4.1fx faster\n' \
            "$label" "$r" "$([[ -n "$i_best" ]] && printf '%7.4f' "$i_best" || printf '%7s' -)" "$s_best" "$s_rss" \
            "$p_best" "$p_rss" "$p_imp" "$(awk -v a="$p_best" -v b="$ours" 'BEGIN { print a / b }')"
        best_s=$(awk -v a="$best_s" -v b="$ours" 'BEGIN { print (a == "" || b < a) ? b : a }')
        best_p=$(awk -v a="$best_p" -v b="$p_best" 'BEGIN { print (a == "" || b < a) ? b : a }')
        rss_s=$(awk -v a="$rss_s" -v b="$s_rss" 'BEGIN { print (b > a) ? b : a }')
        rss_p=$(awk -v a="$rss_p" -v b="$p_rss" 'BEGIN { print (b > a) ? b : a }')
    done
    local goal
    if [[ "$kind" == xgboost ]]; then
        goal=$(awk -v s="$best_s" -v p="$best_p" -v rs="$rss_s" -v rp="$rss_p" 'BEGIN { print (p / s >= 2 && rs < rp) ? "PASS" : "FAIL" }')
        echo "  in-process best vs best: $(awk -v a="$best_p" -v b="$best_s" 'BEGIN { printf "%.1f", a / b }')x faster; peak RSS ${rss_s} vs ${rss_p} MB (goal: >= 2x and lower): $goal"
    else
        goal=$(awk -v s="$best_s" -v p="$best_p" -v rs="$rss_s" 'BEGIN { print (s < p && rs < 64) ? "PASS" : "FAIL" }')
        echo "  whole process vs in-process load, best vs best: $(awk -v a="$best_p" -v b="$best_s" 'BEGIN { printf "%.1f", a / b }')x faster; peak RSS ${rss_s} MB vs ${rss_p} MB (goal: faster, < 64 MB): $goal"
    fi
    [[ "$goal" == PASS ]] || LOAD_OK=0
}

part_load() {
    make_ft "$FT_BUCKET"
    make_xgb
    local ftpy
    ftpy="$(SM_PACK_VENVS="$venvs" "$here/scripts/ft-venv.sh")"
    log "building the xgboost bench binary (in-process timing of sm-pack's reader)"
    xgb_bench=$(cd "$here" && CARGO_TARGET_DIR="$target" cargo bench --bench xgboost --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json, sys
for line in sys.stdin:
    j = json.loads(line)
    if j.get("reason") == "compiler-artifact" and j.get("executable") and j["target"]["name"] == "xgboost":
        print(j["executable"])' | tail -n 1)
    [[ -x "$xgb_bench" ]] || die "could not build benches/xgboost.rs"
    echo
    echo "== validation (sm-pack's reader in-process, and the whole sm-pack inspect process) vs the real library's load (in-process, import excluded)"
    LOAD_OK=1
    load_one "XGBoost 3.2.0 JSON $(mb "$(stat -c %s "$models/xgb-3.2.0/big.json")") MB" \
        "$models/xgb-3.2.0/big.json" "$venvs/xgb-3.2.0/bin/python" xgboost
    load_one "XGBoost 3.2.0 UBJSON $(mb "$(stat -c %s "$models/xgb-3.2.0/big.ubj")") MB" \
        "$models/xgb-3.2.0/big.ubj" "$venvs/xgb-3.2.0/bin/python" xgboost
    load_one "XGBoost 1.7.4 binary $(mb "$(stat -c %s "$models/xgb-1.7.4/big.bin")") MB" \
        "$models/xgb-1.7.4/big.bin" "$venvs/xgb-1.7.4/bin/python" xgboost
    load_one "fastText $(mb "$(stat -c %s "$(ft_model "$FT_BUCKET")")") MB" \
        "$(ft_model "$FT_BUCKET")" "$ftpy" fasttext
    echo "load goals: $([[ $LOAD_OK == 1 ]] && echo PASS || echo FAIL)"
}

part_micro() {
    make_ft "$FT_BUCKET"
    make_xgb
    local d="$cache/xgb-bench"
    mkdir -p "$d"
    ln -sf "$models/xgb-3.2.0/big.json" "$d/big.json"
    ln -sf "$models/xgb-3.2.0/big.ubj" "$d/big.ubj"
    ln -sf "$models/xgb-1.7.4/big.bin" "$d/big.bin"
    log "criterion: XGBoost JSON, UBJSON and binary parse + validate ($d), fastText stream validation"
    (cd "$here" && CARGO_TARGET_DIR="$target" SM_PACK_XGB_BENCH_DIR="$d" \
        SM_PACK_FT_BENCH_MODEL="$(ft_model "$FT_BUCKET")" cargo bench --bench xgboost --bench fasttext)
}

# ------------------------------------------------------------------ main

mkdir -p "$cache"
check_tools
echo "sm-pack benchmark suite, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(uname -sr)"
echo "load at start: $(uptime | sed 's/.*load average/load average/')"
echo "tools: $(tar --version | head -1); $(gzip --version | head -1); $(pigz --version 2>&1 | head -1); $(python3 --version)"
echo "cache: $cache"
for p in "${parts[@]}"; do
    case "$p" in
        models) make_ft "$FT_BUCKET" && make_xgb && for b in "${RSS_BUCKETS[@]}"; do make_ft "$b"; done ;;
        compare | rss | threads | load) ;;
        micro) ;;
        *) die "unknown part '$p' (models, compare, rss, threads, load, micro)" ;;
    esac
done
build
echo "sm-pack: $("$bin" --version)"
for p in "${parts[@]}"; do
    case "$p" in
        compare) part_compare ;;
        rss) part_rss ;;
        threads) part_threads ;;
        load) part_load ;;
        micro) part_micro ;;
    esac
done
echo
echo "load at end: $(uptime | sed 's/.*load average/load average/')"
