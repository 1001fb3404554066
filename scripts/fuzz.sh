#!/usr/bin/env bash
# Fuzz every parser of sm-pack with cargo-fuzz (libFuzzer), one target after
# the other, and print what each run did.
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]
#
# SECONDS per target (default 60; the acceptance figure is 600). TARGETs
# default to all of them:
#   xgb_binary xgb_json xgb_ubjson xgb_pickle xgb_any xgb_predict
#   fasttext_stream archive_reader manifest_check serve_request
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). It runs on the
# stable toolchain: RUSTC_BOOTSTRAP=1 lets stable rustc accept the nightly
# flags cargo-fuzz passes (-Zsanitizer=..., sanitizer-coverage options).
#
# Environment:
#   SM_PACK_FUZZ_SANITIZER   none (default) or address. The parsers are safe
#                            Rust (no `unsafe`), so ASan adds little there but
#                            halves the speed; xgb_predict reaches the SIMD
#                            tree walks' unchecked gathers, so run it with
#                            address too. Debug assertions (integer overflow
#                            checks included) are always on.
#   SM_PACK_FUZZ_MAX_LEN     largest input libFuzzer makes (default 65536;
#                            manifest_check 16384)
#   SM_PACK_FUZZ_RSS_MB      -rss_limit_mb (default 2048); the targets also
#                            abort on allocations beyond a budget
#                            proportional to the input (fuzz/src/lib.rs)
#   SM_PACK_FUZZ_TIMEOUT     seconds one input may take before it counts as a
#                            hang (default 10)
#   CARGO_TARGET_DIR         where the sm-pack CLI used to make seed archives
#                            is built (default /tmp/target-fuzz)
#   SM_PACK_FUZZ_TARGET_DIR  where the fuzz targets are built (default
#                            fuzz/target)
#
# Corpora persist in fuzz/corpus/<target>/ (grown across runs), seeds are
# regenerated from testdata/ into fuzz/seeds/<target>/ on every run, and
# crashes, hangs and out-of-memory inputs land in fuzz/artifacts/<target>/
# (all three ignored by git). Reproduce one with
#   ${SM_PACK_FUZZ_TARGET_DIR:-fuzz/target}/x86_64-unknown-linux-gnu/release/<target> <artifact>
# and turn it into a test in tests/robustness_regressions.rs.
#
# Exit status: 0 when no target found anything, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

ALL_TARGETS=(xgb_binary xgb_json xgb_ubjson xgb_pickle xgb_any xgb_predict fasttext_stream archive_reader manifest_check serve_request)
seconds=60
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
    [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "unknown target: $t (one of: ${ALL_TARGETS[*]})" >&2; exit 2; }
done

sanitizer=${SM_PACK_FUZZ_SANITIZER:-none}
rss_mb=${SM_PACK_FUZZ_RSS_MB:-2048}
timeout_s=${SM_PACK_FUZZ_TIMEOUT:-10}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/target-fuzz}
export RUSTC_BOOTSTRAP=1

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 2; }

echo "== build sm-pack (for seed archives)"
cargo build --release --quiet --bin sm-pack
smpack="$CARGO_TARGET_DIR/release/sm-pack"

fuzz_target_dir=${SM_PACK_FUZZ_TARGET_DIR:-$root/fuzz/target}
echo "== build fuzz targets (sanitizer: $sanitizer, debug assertions on, in $fuzz_target_dir)"
(cd fuzz && cargo fuzz build -O -a -s "$sanitizer" --target-dir "$fuzz_target_dir")
bindir="$fuzz_target_dir/x86_64-unknown-linux-gnu/release"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/sm-pack-fuzz.XXXXXX")
[[ -d /dev/shm && -w /dev/shm ]] && { rmdir "$scratch"; scratch=$(mktemp -d /dev/shm/sm-pack-fuzz.XXXXXX); }
trap 'rm -rf "$scratch"' EXIT
export SM_PACK_FUZZ_SCRATCH=$scratch

# ------------------------------------------------------------------ seeds
echo "== seed corpora from testdata/"
seeds="$root/fuzz/seeds"
rm -rf "$seeds"
for t in "${ALL_TARGETS[@]}"; do mkdir -p "$seeds/$t" "fuzz/corpus/$t" "fuzz/artifacts/$t"; done

seed() { # seed TARGET FILE [MAXBYTES]
    local size
    size=$(stat -c %s "$2")
    (( size <= ${3:-65536} )) || return 0
    cp "$2" "$seeds/$1/$(echo "${2#"$root"/}" | tr '/' '_')"
}

# XGBoost: every fixture, sorted by what its bytes are (never by name).
while IFS= read -r -d '' f; do
    head2=$(head -c 2 "$f" | od -An -c | tr -d ' \n')
    first=$(head -c 1 "$f" | od -An -tx1 | tr -d ' \n')
    case "$first" in
        80) seed xgb_pickle "$f" ;;
        7b) case "$head2" in
                '{"'|'{\n'|'{}'|'{\r'|'{\t') seed xgb_json "$f" ;;
                *) seed xgb_ubjson "$f" ;;
            esac ;;
        *) seed xgb_binary "$f" ;;
    esac
    seed xgb_any "$f"
    seed xgb_predict "$f"
done < <(find testdata/xgboost testdata/example -type f ! -name '*.csv' ! -name '*.py' ! -name '*.md' \
             ! -name '_env.json' ! -name 'index.json' ! -name 'container-matrix.json' \
             ! -name '.gitattributes' ! -path '*/inputs/*' -print0)
# The headerless binary payload of CONFIG-offset snapshots starts the binary
# parser; the JSON config after it is a JSON seed.

# fastText: the committed models (the large ones are skipped by size).
for f in testdata/fasttext/*.bin testdata/fasttext/*.ftz; do seed fasttext_stream "$f"; done

# Archives: the hostile fixtures, and archives sm-pack makes.
for f in testdata/archives/*.gz testdata/archives/*.tar testdata/archives/*.bz2; do seed archive_reader "$f"; done
made="$scratch/made"
mkdir -p "$made"
pack_seed() { # pack_seed FAMILY MODEL NAME
    mkdir -p "$made/$3"
    "$smpack" -q "$1" "$2" -o "$made/$3/model.tar.gz" --force --allow-quantized >/dev/null 2>&1 ||
        "$smpack" -q "$1" "$2" -o "$made/$3/model.tar.gz" --force >/dev/null 2>&1 || return 0
    cp "$made/$3/model.tar.gz" "$seeds/archive_reader/made-$3.tar.gz"
    { cat "$made/$3/model.tar.gz.manifest.json"; printf '\n\0--SHA256SUMS--\0\n'; cat "$made/$3/SHA256SUMS"; } \
        >"$seeds/manifest_check/made-$3"
    cp "$made/$3/model.tar.gz.manifest.json" "$seeds/manifest_check/made-$3-manifest-only"
}
pack_seed xgboost testdata/example/churn-xgboost.json example
pack_seed xgboost testdata/xgboost/1.7.4/dart.ubj dart-ubj
pack_seed xgboost testdata/xgboost/1.0.0/logistic.bin logistic-bin
pack_seed xgboost testdata/xgboost/1.5.2/logistic.p4.pkl logistic-pkl
pack_seed fasttext testdata/fasttext/sup_hs.bin sup-hs
pack_seed fasttext testdata/fasttext/sup_ngrams_qcut.ftz qcut
# Serve requests: a selector byte (endpoint, Content-Type, Accept; see
# fuzz/src/lib.rs serve_request) before real bodies: the fixture rows as CSV
# and libsvm, and the RecordIO-protobuf bodies the SageMaker SDK wrote.
serve_seed() { # serve_seed SELECTOR_HEX NAME FILE
    { printf "\\x$1"; head -c 16384 "$3"; } >"$seeds/serve_request/$2"
}
serve_seed 05 csv-1.7 testdata/xgboost/inputs/dense5.csv
serve_seed 25 csv-json-selectable testdata/xgboost/inputs/dense5.csv
serve_seed 06 csv-3.0-batch testdata/xgboost/inputs/dense5.csv
serve_seed 07 csv-0.90 testdata/xgboost/inputs/dense5.csv
sed 's/^/0 /; s/,/ 1:/; s/,/ 2:/; s/,/ 3:/; s/,/ 4:/' testdata/xgboost/inputs/dense5.csv | head -c 16384 >"$scratch/libsvm.txt"
serve_seed 08 libsvm testdata/xgboost/inputs/wide50.csv
serve_seed 08 libsvm-dense5 "$scratch/libsvm.txt"
for f in testdata/serve/recordio/*.rec; do
    n=$(basename "$f" .rec)
    serve_seed 0c "rec-$n" "$f"
    serve_seed 51 "rec-selectable-$n" "$f"
done
for t in "${ALL_TARGETS[@]}"; do
    printf '  %-16s %5d seeds\n' "$t" "$(find "$seeds/$t" -type f | wc -l)"
done

# ------------------------------------------------------------------ runs
declare -A R_EXEC R_RATE R_COV R_FT R_CORP R_CRASH R_SECS R_RSS
found=0
for t in "${targets[@]}"; do
    max_len=${SM_PACK_FUZZ_MAX_LEN:-65536}
    [[ $t == manifest_check && -z ${SM_PACK_FUZZ_MAX_LEN:-} ]] && max_len=16384
    log="$root/fuzz/artifacts/$t/last-run.log"
    before=$(find "fuzz/artifacts/$t" -type f ! -name '*.log' | wc -l)
    echo "== $t: ${seconds}s (max_len $max_len, log fuzz/artifacts/$t/last-run.log)"
    start=$(date +%s)
    set +e
    "$bindir/$t" "fuzz/corpus/$t" "$seeds/$t" \
        -max_total_time="$seconds" -max_len="$max_len" -timeout="$timeout_s" \
        -rss_limit_mb="$rss_mb" -print_final_stats=1 -close_fd_mask=1 \
        -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1
    status=$?
    set -e
    end=$(date +%s)
    after=$(find "fuzz/artifacts/$t" -type f ! -name '*.log' | wc -l)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    R_SECS[$t]=$((end - start))
    R_EXEC[$t]=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    R_RATE[$t]=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    R_RSS[$t]=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
    R_COV[$t]=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    R_FT[$t]=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    R_CORP[$t]=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
    R_CRASH[$t]=$((after - before))
    if [[ $status -ne 0 || ${R_CRASH[$t]} -ne 0 ]]; then
        found=1
        echo "   FOUND something (exit $status):"
        grep -E 'ERROR|panicked|SUMMARY|Test unit written|sm-pack-fuzz:' "$log" | head -n 8 | sed 's/^/     /'
    fi
done

echo
echo "== summary (${seconds}s per target requested)"
printf '%-16s %8s %12s %9s %7s %7s %7s %8s %8s\n' target seconds executions exec/s cov features corpus rss_mb crashes
for t in "${targets[@]}"; do
    printf '%-16s %8s %12s %9s %7s %7s %7s %8s %8s\n' "$t" "${R_SECS[$t]}" "${R_EXEC[$t]:-?}" "${R_RATE[$t]:-?}" \
        "${R_COV[$t]:-?}" "${R_FT[$t]:-?}" "${R_CORP[$t]:-?}" "${R_RSS[$t]:-?}" "${R_CRASH[$t]}"
done
exit $found
