#!/usr/bin/env bash
# Quick start: build sm-pack and pack the example XGBoost model shipped in
# testdata/example/ into target/demo/model.tar.gz, then check the sums.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-target}/release/sm-pack"
out=target/demo
mkdir -p "$out"
"$bin" xgboost testdata/example/churn-xgboost.json -o "$out/model.tar.gz" --force
echo
(cd "$out" && sha256sum -c SHA256SUMS)
echo
tar -tvzf "$out/model.tar.gz"
