#!/usr/bin/env python3
"""Record what the real XGBoost reports about each committed fixture, beyond index.json.

index.json (generate.py) holds the learner facts (objective, classes, features, trees,
base_score, attributes). This script reloads every model file listed there with the XGBoost
release that wrote it -- the same way generate.py reloads it -- and records:

- feature_types: Booster.feature_types (None when the library has none);
- trees: per tree, from Booster.get_dump(), [split lines, leaf lines, deepest leaf] (the dump indents a node by one tab per level; deleted nodes are not
  dumped); null when the release cannot dump the model (gblinear, vector-leaf trees).

Output: testdata/xgboost/library-facts.json, {"schema", "entries": {file: {...}}}, one
entry per line.
tests/xgboost_fixtures.rs compares sm-pack's IR and tree statistics with it; no Python is
needed to run the tests.

Usage (orchestrator, any python3; the per-version venvs of scripts/xgb-venvs.sh):

    python3 testdata/xgboost/library_facts.py all [--venvs /tmp/sm-pack-venvs]

Worker (inside one venv): library_facts.py one --version V --out PART.json
"""
import argparse
import json
import os
import pickle
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def tree_stats(dump):
    """[splits, leaves, depth] of one tree's text dump."""
    splits = leaves = depth = 0
    for line in dump.splitlines():
        if not line.strip():
            continue
        level = len(line) - len(line.lstrip("\t"))
        if "leaf=" in line:
            leaves += 1
            depth = max(depth, level)
        elif "yes=" in line:
            splits += 1
    return [splits, leaves, depth]


def one(version, out):
    import warnings
    warnings.simplefilter("ignore")
    import xgboost as xgb
    with open(os.path.join(HERE, "index.json")) as f:
        index = json.load(f)
    facts = {}
    for e in index["entries"]:
        if e["producer"] != version:
            continue
        path = os.path.join(HERE, e["file"])
        fmt = e["format"]
        if fmt.startswith("pickle") or fmt == "sklearn-pickle":
            with open(path, "rb") as f:
                obj = pickle.load(f)  # our own committed fixtures
            b = obj.get_booster() if fmt == "sklearn-pickle" else obj
        else:
            b = xgb.Booster(model_file=path)
        ft = getattr(b, "feature_types", None)
        rec = {"feature_types": list(ft) if ft is not None else None, "trees": None}
        if e["booster"] != "gblinear":
            try:
                rec["trees"] = [tree_stats(d) for d in b.get_dump()]
            except Exception as x:  # noqa: BLE001 (multi-target trees cannot be dumped)
                msg = str(x).splitlines()[0] if str(x) else type(x).__name__
                rec["dump_error"] = re.sub(r"^\[[0-9:]+\] ", "", msg)[:200]
        facts[e["file"]] = rec
    with open(out, "w") as f:
        json.dump(facts, f)


def run_all(venvs):
    with open(os.path.join(HERE, "index.json")) as f:
        versions = json.load(f)["producers"]
    if isinstance(versions, dict):
        versions = list(versions)
    entries = {}
    for v in versions:
        v = v if isinstance(v, str) else v["producer"]
        py = os.path.join(venvs, "xgb-" + v, "bin", "python")
        part = os.path.join(venvs, "facts-%s.json" % v)
        subprocess.run([py, os.path.abspath(__file__), "one", "--version", v, "--out", part],
                       check=True)
        with open(part) as f:
            entries.update(json.load(f))
        os.remove(part)
    out = os.path.join(HERE, "library-facts.json")
    lines = ["  %s: %s" % (json.dumps(k), json.dumps(entries[k], sort_keys=True))
             for k in sorted(entries)]
    with open(out, "w") as f:
        f.write('{"schema": "sm-pack.xgb-library-facts/v1", "entries": {\n')
        f.write(",\n".join(lines))
        f.write("\n}}\n")
    print("%d entries -> %s" % (len(entries), out))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("all")
    a.add_argument("--venvs", default=os.environ.get("SM_PACK_VENVS", "/tmp/sm-pack-venvs"))
    o = sub.add_parser("one")
    o.add_argument("--version", required=True)
    o.add_argument("--out", required=True)
    args = p.parse_args()
    if args.cmd == "all":
        run_all(args.venvs)
    else:
        one(args.version, args.out)


if __name__ == "__main__":
    sys.exit(main())
