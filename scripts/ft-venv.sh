#!/usr/bin/env bash
# Create (idempotently) the Python virtualenv that holds the real fastText
# library used to generate and cross-check the fastText test fixtures.
#
#   scripts/ft-venv.sh            # prints the venv's python path on stdout
#   "$(scripts/ft-venv.sh)" testdata/fasttext/generate.py --out testdata/fasttext
#
# Location: ${SM_PACK_VENVS:-/tmp/sm-pack-venvs}/fasttext
# Contents: fasttext-wheel==0.9.2 (a prebuilt manylinux wheel: no compiler needed) and
#   numpy<2 (see shared/README.md: the
#   `fasttext` 0.9.3 source build trains NaNs, and its predict breaks under numpy 2).
# A marker file (.sm-pack-ready) holding the pinned spec is written only after
# a successful install and import check; if it is missing or differs, the venv
# is deleted and rebuilt. Concurrent callers are serialised with flock when available.
# Environment: SM_PACK_VENVS (parent dir), PYTHON (interpreter, default python3).
set -euo pipefail

PYTHON_BIN="${PYTHON:-python3}"
ROOT="${SM_PACK_VENVS:-/tmp/sm-pack-venvs}"
VENV="$ROOT/fasttext"
MARKER="$VENV/.sm-pack-ready"
SPEC='fasttext-wheel==0.9.2 numpy<2'

log() { echo "ft-venv: $*" >&2; }

mkdir -p "$ROOT"

if command -v flock >/dev/null 2>&1; then
    exec 9>"$ROOT/.fasttext.lock"
    flock 9
fi

ready() {
    [[ -f "$MARKER" ]] && [[ "$(cat "$MARKER")" == "$SPEC" ]] && [[ -x "$VENV/bin/python" ]] &&
        "$VENV/bin/python" -c 'import fasttext, numpy' >/dev/null 2>&1
}

if ready; then
    echo "$VENV/bin/python"
    exit 0
fi

log "creating $VENV ($SPEC)"
rm -rf "$VENV"
"$PYTHON_BIN" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    'fasttext-wheel==0.9.2' 'numpy<2' >&2
"$VENV/bin/python" - >&2 <<'EOF'
import fasttext, numpy
from importlib.metadata import version
assert version("fasttext-wheel") == "0.9.2", version("fasttext-wheel")
assert int(numpy.__version__.split(".")[0]) < 2, numpy.__version__
print("fasttext-wheel", version("fasttext-wheel"), "numpy", numpy.__version__)
EOF
printf '%s' "$SPEC" >"$MARKER"
log "ready"
echo "$VENV/bin/python"
