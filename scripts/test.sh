#!/usr/bin/env bash
# The whole test suite: sets up what the tests need, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test "$@"
