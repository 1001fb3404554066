#!/usr/bin/env bash
# Benchmark: pack + streamed S3 upload vs pack alone vs `tar czf` + `aws s3 cp`,
# against a local ministack, in the same run. Not run in CI.
#
#   scripts/bench-upload.sh [MODEL] [ROUNDS]
#
# MODEL   a fastText .bin (default: /tmp/ftbig/big_sup.bin if present, else an
#         ~800 MB synthetic supervised model with pseudo-random weights is generated
#         in the scratch folder).
# ROUNDS  how many times each variant runs, interleaved (default 3).
#
# Needs: cargo, python3, the aws CLI (for the `tar czf` + `aws s3 cp` baseline and
# bucket setup), and scripts/s3-server.sh (creates the ministack venv). Starts its
# own ministack on a free port and stops it at the end. Environment:
#   CARGO_TARGET_DIR  where the release binary is built (default: target)
#   BENCH_DIR         scratch folder (default: a new folder under /tmp)
#   PART_SIZE         --part-size for sm-pack (default: sm-pack's own default)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
rounds="${2:-3}"
bench_dir="${BENCH_DIR:-$(mktemp -d /tmp/sm-pack-bench.XXXXXX)}"
target="${CARGO_TARGET_DIR:-$here/target}"
mkdir -p "$bench_dir"

log() { echo "bench: $*" >&2; }

model="${1:-}"
if [[ -z "$model" ]]; then
    if [[ -f /tmp/ftbig/big_sup.bin ]]; then
        model=/tmp/ftbig/big_sup.bin
    else
        model="$bench_dir/synthetic.bin"
        log "generating an ~800 MB synthetic fastText model at $model"
        python3 - "$model" <<'EOF'
import os, struct, sys
# Supervised fastText v12: dim 100, 2,000,000 hash buckets + 26 words (BlazingText's
# default shape), weights pseudo-random finite floats (they compress like trained ones: hardly).
out = sys.argv[1]
dim, nwords, nlabels, bucket = 100, 26, 4, 2_000_000
words = [b"</s>"] + [b"w%d" % i for i in range(1, nwords)]
labels = [b"__label__%d" % i for i in range(nlabels)]
with open(out, "wb") as f:
    f.write(struct.pack("<iiiiiiiiiiiiiid", 793712314, 12, dim, 5, 5, 1, 5, 2, 3, 3, bucket, 0, 0, 100, 1e-4))
    f.write(struct.pack("<iiiqq", nwords + nlabels, nwords, nlabels, 30000, -1))
    for i, w in enumerate(words):
        f.write(w + b"\0" + struct.pack("<qb", 1000 - i, 0))
    for i, l in enumerate(labels):
        f.write(l + b"\0" + struct.pack("<qb", 100 - i, 1))
    # Byte 3 of each little-endian float holds the sign and the top exponent bits:
    # map it into 0x3c..0x3e (|x| between 2^-7 and 1), keeping the sign: always finite.
    table = bytes((b & 0x80) | (0x3C + (b % 3)) for b in range(256))
    def matrix(rows):
        f.write(b"\0" + struct.pack("<qq", rows, dim))
        left = rows * dim * 4
        while left:
            n = min(left, 1 << 24)
            chunk = bytearray(os.urandom(n))
            chunk[3::4] = bytes(chunk[3::4]).translate(table)
            f.write(chunk)
            left -= n
    matrix(nwords + bucket)
    matrix(nlabels)
EOF
    fi
fi
model_size=$(stat -c %s "$model")
log "model $model ($model_size bytes), $rounds rounds, scratch $bench_dir"

log "building sm-pack (release, --features s3)"
(cd "$here" && CARGO_TARGET_DIR="$target" cargo build --release --features s3 --bin sm-pack >&2)
bin="$target/release/sm-pack"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export SM_PACK_S3_PORT="$port" SM_PACK_S3_STATE="$bench_dir/ministack"
eval "$("$here/scripts/s3-server.sh" start)"
trap '"$here/scripts/s3-server.sh" stop || true' EXIT
endpoint="$SM_PACK_TEST_S3_ENDPOINT"

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
: >"$bench_dir/aws-config"
export AWS_CONFIG_FILE="$bench_dir/aws-config" AWS_SHARED_CREDENTIALS_FILE="$bench_dir/aws-config"
aws() { command aws --endpoint-url "$endpoint" "$@"; }
aws s3api create-bucket --bucket bench >/dev/null

# `tar czf` needs the member named model.bin.
mkdir -p "$bench_dir/tarsrc"
ln -sf "$(readlink -f "$model")" "$bench_dir/tarsrc/model.bin"
cat "$model" >/dev/null # warm the page cache

part_args=()
[[ -n "${PART_SIZE:-}" ]] && part_args=(--part-size "$PART_SIZE")

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }

results="$bench_dir/results.tsv"
printf 'round\tpack\tpack+upload\ttar_czf\taws_s3_cp\ttar+cp\tarchive_bytes\n' >"$results"
for r in $(seq 1 "$rounds"); do
    rm -rf "$bench_dir/a" "$bench_dir/b" "$bench_dir/c"
    mkdir -p "$bench_dir/a" "$bench_dir/b" "$bench_dir/c"

    t0=$(now)
    "$bin" fasttext "$model" -o "$bench_dir/a/model.tar.gz" -q
    t1=$(now)
    pack=$(elapsed "$t0" "$t1")

    t0=$(now)
    "$bin" fasttext "$model" -o "$bench_dir/b/model.tar.gz" -q \
        --upload "s3://bench/round-$r/" --endpoint-url "$endpoint" --path-style "${part_args[@]}"
    t1=$(now)
    packup=$(elapsed "$t0" "$t1")
    cmp -s "$bench_dir/a/model.tar.gz" "$bench_dir/b/model.tar.gz" || {
        log "archives differ between the runs"
        exit 1
    }

    t0=$(now)
    tar czhf "$bench_dir/c/model.tar.gz" -C "$bench_dir/tarsrc" model.bin
    t1=$(now)
    aws s3 cp --quiet "$bench_dir/c/model.tar.gz" "s3://bench/cli-$r/model.tar.gz"
    t2=$(now)
    tarz=$(elapsed "$t0" "$t1")
    cp=$(elapsed "$t1" "$t2")
    tarcp=$(elapsed "$t0" "$t2")

    bytes=$(stat -c %s "$bench_dir/a/model.tar.gz")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$pack" "$packup" "$tarz" "$cp" "$tarcp" "$bytes" >>"$results"
    log "round $r: pack ${pack}s, pack+upload ${packup}s, tar czf ${tarz}s + aws s3 cp ${cp}s"
    # ministack keeps objects in memory: free them between rounds.
    aws s3 rm --quiet --recursive s3://bench/ >/dev/null
done

python3 - "$results" "$model_size" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
size = int(sys.argv[2])
f = lambda k: [float(r[k]) for r in rows]
print(f"model {size/1e6:.0f} MB -> archive {int(rows[0]['archive_bytes'])/1e6:.0f} MB, {len(rows)} rounds (wall seconds)")
print(f"{'round':>5} {'pack':>8} {'pack+upload':>12} {'ratio':>6} {'tar czf':>8} {'aws s3 cp':>10} {'tar+cp':>8} {'ratio':>6}")
for r in rows:
    p, pu, t, c, tc = (float(r[k]) for k in ("pack", "pack+upload", "tar_czf", "aws_s3_cp", "tar+cp"))
    print(f"{r['round']:>5} {p:8.2f} {pu:12.2f} {pu/p:6.2f} {t:8.2f} {c:10.2f} {tc:8.2f} {tc/p:6.2f}")
med = {k: statistics.median(f(k)) for k in ("pack", "pack+upload", "tar+cp", "aws_s3_cp", "tar_czf")}
print(f"{'median':>5} {med['pack']:8.2f} {med['pack+upload']:12.2f} {med['pack+upload']/med['pack']:6.2f} "
      f"{med['tar_czf']:8.2f} {med['aws_s3_cp']:10.2f} {med['tar+cp']:8.2f} {med['tar+cp']/med['pack']:6.2f}")
print("ratio = time / pack alone (same round); goal: pack+upload <= 1.15")
EOF
