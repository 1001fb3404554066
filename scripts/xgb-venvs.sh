#!/usr/bin/env bash
# Create one Python virtualenv per real XGBoost release, for the XGBoost fixture generator
# (testdata/xgboost/generate.py) and for tests that compare against the real library.
#
# Usage: scripts/xgb-venvs.sh [VERSION ...]        (default: every version below)
#
#   SM_PACK_VENVS      where the venvs go (default /tmp/sm-pack-venvs); each is xgb-<version>
#   SM_PACK_PYTHON     interpreter to build them from (default python3; the pins assume 3.11)
#   SM_PACK_VENV_JOBS  how many venvs to install at once (default 2)
#
# Idempotent: a venv whose marker file (.sm-pack-venv-ok) matches the wanted package spec is
# kept; one without a marker (interrupted install) or with another spec is rebuilt from
# scratch. Prints one line per venv; pip's output goes to <venv>.log next to it. Exits
# non-zero if any requested venv could not be built.
set -u -o pipefail

ALL_VERSIONS="0.90 1.0.0 1.2.0 1.3.3 1.5.2 1.6.2 1.7.4 2.0.3 2.1.4 3.0.5 3.1.3 3.2.0"
VENVS="${SM_PACK_VENVS:-/tmp/sm-pack-venvs}"
PY="${SM_PACK_PYTHON:-python3}"
JOBS="${SM_PACK_VENV_JOBS:-2}"
MARKER=".sm-pack-venv-ok"

# Pins per version (measured on Python 3.11; old xgboost needs numpy<1.24 for the removed
# numpy aliases; 2.1+ is installed with --no-deps to skip the GPU-only NCCL wheel).
# Prints: "<required pins>|<optional pins>|<xgboost install flags>"
spec_for() {
  case "$1" in
    0.90|1.0.0|1.2.0|1.3.3)
      echo "numpy==1.23.5 scipy==1.13.1|pandas==1.5.3 scikit-learn==1.3.2|" ;;
    1.5.2|1.6.2|1.7.4|2.0.3)
      echo "numpy==1.26.4 scipy==1.13.1 pandas==1.5.3 scikit-learn==1.3.2||" ;;
    2.1.4|3.0.5|3.1.3|3.2.0)
      echo "numpy==1.26.4 scipy==1.13.1 pandas==2.2.3 scikit-learn==1.3.2||--no-deps" ;;
    *) return 1 ;;
  esac
}

# Build one venv. Runs in a subshell (background job); prints exactly one status line.
build_one() {
  local ver="$1" dir="$VENVS/xgb-$1" log="$VENVS/xgb-$1.log"
  local spec req opt xflags want start note=""
  spec="$(spec_for "$ver")" || { echo "xgb-$ver: FAILED (unknown version; known: $ALL_VERSIONS)"; return 1; }
  IFS='|' read -r req opt xflags <<<"$spec"
  want="xgboost==$ver $xflags; $req; optional: $opt; python $("$PY" -c 'import sys;print("%d.%d"%sys.version_info[:2])')"
  if [ -f "$dir/$MARKER" ] && [ "$(head -n1 "$dir/$MARKER")" = "$want" ]; then
    echo "xgb-$ver: ok (cached) $(sed -n 2p "$dir/$MARKER")"
    return 0
  fi
  start=$(date +%s)
  rm -rf "$dir"
  local pip=("$dir/bin/python" -m pip --disable-pip-version-check --no-input -q)
  {
    "$PY" -m venv "$dir" &&
      if [ -z "$xflags" ]; then
        # let pip resolve xgboost's own dependencies against the pins in one go
        "${pip[@]}" install "xgboost==$ver" $req
      else
        "${pip[@]}" install $req && "${pip[@]}" install $xflags "xgboost==$ver"
      fi
  } >"$log" 2>&1 || { echo "xgb-$ver: FAILED (pip; see $log)"; tail -n 5 "$log" | sed 's/^/    /'; return 1; }
  if [ -n "$opt" ]; then
    # optional extras: all at once, else one by one, and note what did not install
    if ! "${pip[@]}" install $req $opt >>"$log" 2>&1; then
      local p
      for p in $opt; do
        "${pip[@]}" install $req "$p" >>"$log" 2>&1 \
          || note="$note without ${p%%==*};"
      done
    fi
  fi
  local got
  got="$("$dir/bin/python" -c 'import xgboost; print(xgboost.__version__)' 2>>"$log" | tail -n1)"
  if [ "$got" != "$ver" ]; then
    echo "xgb-$ver: FAILED (import xgboost gave '${got:-error}'; see $log)"
    tail -n 5 "$log" | sed 's/^/    /'
    return 1
  fi
  printf '%s\n%s\n' "$want" "${note:-complete}" >"$dir/$MARKER"
  echo "xgb-$ver: ok (built in $(( $(date +%s) - start ))s)${note:+ NOTE:$note}"
}

main() {
  local versions=("$@") v
  [ ${#versions[@]} -eq 0 ] && read -r -a versions <<<"$ALL_VERSIONS"
  command -v "$PY" >/dev/null || { echo "xgb-venvs: no interpreter '$PY'" >&2; exit 2; }
  if [ "$("$PY" -c 'import sys;print("%d.%d"%sys.version_info[:2])')" != "3.11" ]; then
    echo "xgb-venvs: warning: $PY is not Python 3.11; the pins were measured on 3.11" >&2
  fi
  mkdir -p "$VENVS"
  local st fail=0
  st="$(mktemp -d)"
  trap 'rm -rf "$st"' EXIT
  for v in "${versions[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    ( build_one "$v"; echo $? >"$st/$v" ) &
  done
  wait
  for v in "${versions[@]}"; do
    [ "$(cat "$st/$v" 2>/dev/null)" = 0 ] || fail=1
  done
  exit "$fail"
}

main "$@"
