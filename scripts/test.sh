#!/usr/bin/env bash
# The whole test suite. Sets up what the tests need, runs them, cleans up:
#   - one virtualenv per xgboost version a SageMaker container pins
#     (scripts/xgb-venvs.sh; cached under $SM_PACK_VENVS, default /tmp/sm-pack-venvs),
#     for the tests that compare sm-pack with the real libraries;
#   - a local S3-compatible server on 127.0.0.1 (scripts/s3-server.sh, ministack)
#     for the upload tests; stopped again on exit.
# Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

PINNED="0.90 1.0.0 1.2.0 1.3.3 1.5.2 1.7.4 3.0.5 3.2.0"
echo "== virtualenvs for the real xgboost versions ($PINNED)"
scripts/xgb-venvs.sh $PINNED

echo "== local S3 server"
export SM_PACK_S3_PORT="${SM_PACK_S3_PORT:-4566}"
eval "$(scripts/s3-server.sh start)"
trap 'scripts/s3-server.sh stop >/dev/null 2>&1 || true' EXIT

echo "== cargo test"
cargo test "$@"
