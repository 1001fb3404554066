#!/usr/bin/env python3
"""Ground truth: what each SageMaker XGBoost container's pinned xgboost does
with every fixture in testdata/xgboost, loaded the container's way.

    python3 tests/oracle/run_matrix.py --venvs /tmp/sm-pack-venvs \
        --out testdata/xgboost/container-matrix.json [--versions 1.7.4 3.2.0] [--files GLOB]

For every (fixture, xgboost version pinned by a tag) it records one outcome:
  loads        loaded and predicted what the producer predicted (|d| <= 1e-6 rel, NaN == NaN)
  mispredicts  loaded, but predictions differ from the producer's (max diff recorded)
  fails        the load (or the first predict) raised; error text recorded
  crash        the process died (abort / segfault)
Cells that load also record what the container predicted, compactly: for the
plain and the margin predictions, the shape, the exact sum and sum of absolute
values of the finite values (math.fsum), the count of NaNs and the first row
("pred" and "margin" objects; non-finite numbers are written as strings).
Runs one batch per version (forked loads, see container_load.py), versions in parallel.
"""
import argparse
import concurrent.futures
import fnmatch
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# Tag -> pinned xgboost (formats/containers.toml holds the same facts).
TAGS = {
    "0.90-1": "0.90", "0.90-2": "0.90", "1.0-1": "1.0.0", "1.2-1": "1.2.0", "1.2-2": "1.2.0",
    "1.3-1": "1.3.3", "1.5-1": "1.5.2", "1.7-1": "1.7.4", "3.0-5": "3.0.5", "3.2-0": "3.2.0",
}


def read_csv(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append([float(v) if v not in ("", "nan") else float("nan") for v in line.split(",")])
    return rows


def max_rel_diff(a, b):
    if len(a) != len(b):
        return math.inf
    worst = 0.0
    for ra, rb in zip(a, b):
        if len(ra) != len(rb):
            return math.inf
        for x, y in zip(ra, rb):
            if math.isnan(x) and math.isnan(y):
                continue
            if math.isnan(x) or math.isnan(y):
                return math.inf
            d = abs(x - y) / max(1.0, abs(y))
            worst = max(worst, d)
    return worst


def finite_or_text(x):
    return x if math.isfinite(x) else repr(x)


def digest(rows):
    """A compact, tolerance-friendly summary of a prediction matrix."""
    flat = [x for r in rows for x in r]
    fin = [x for x in flat if math.isfinite(x)]
    return {
        "shape": [len(rows), len(rows[0]) if rows else 0],
        "sum": finite_or_text(math.fsum(fin)),
        "l1": finite_or_text(math.fsum(abs(x) for x in fin)),
        "nan": sum(1 for x in flat if math.isnan(x)),
        "inf": sum(1 for x in flat if math.isinf(x)),
        "row0": [finite_or_text(x) for x in rows[0]] if rows else [],
    }


def run_version(venvs, version, entries, tdir):
    py = os.path.join(venvs, f"xgb-{version}", "bin", "python")
    jobs = [{"id": e["file"], "file": os.path.join(tdir, e["file"]), "input": os.path.join(tdir, e["input"])}
            for e in entries]
    env = dict(os.environ, OMP_NUM_THREADS="1")  # forked children must not spin OpenMP pools
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(jobs, f)
        jpath = f.name
    try:
        p = subprocess.run([py, os.path.join(HERE, "container_load.py"), jpath],
                           capture_output=True, text=True, check=False, env=env)
    finally:
        os.unlink(jpath)
    results = {}
    for line in p.stdout.splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        results[r["id"]] = r
    return version, results, p.returncode, p.stderr[-2000:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--venvs", default=os.environ.get("SM_PACK_VENVS", "/tmp/sm-pack-venvs"))
    ap.add_argument("--out", default=os.path.join(REPO, "testdata/xgboost/container-matrix.json"))
    ap.add_argument("--versions", nargs="*", default=sorted(set(TAGS.values())))
    ap.add_argument("--files", default="*")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    tdir = os.path.join(REPO, "testdata/xgboost")
    index = json.load(open(os.path.join(tdir, "index.json")))
    entries = [e for e in index["entries"] if fnmatch.fnmatch(e["file"], a.files)]
    out = {"schema": 1, "generator": "tests/oracle/run_matrix.py", "tags": TAGS,
           "rule": "outcome of loading each fixture as /opt/ml/model/xgboost-model with the container's "
                   "serve_utils logic under the tag's pinned xgboost; predictions compared with the producer's",
           "results": {}}
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as ex:
        futs = [ex.submit(run_version, a.venvs, v, entries, tdir) for v in a.versions]
        for fut in concurrent.futures.as_completed(futs):
            version, results, rc, err = fut.result()
            print(f"{version}: {len(results)}/{len(entries)} results (rc {rc})", file=sys.stderr)
            if rc != 0:
                print(err, file=sys.stderr)
            for e in entries:
                r = results.get(e["file"])
                cell = {}
                if r is None:
                    cell = {"outcome": "crash", "error": "no result (batch died)"}
                elif r["status"] == "loaded":
                    want = read_csv(os.path.join(tdir, e["pred"]))
                    d = max_rel_diff(r["pred"], want)
                    cell = {"outcome": "loads" if d <= 1e-6 else "mispredicts"}
                    if d > 0:
                        cell["max_rel_diff"] = d if math.isfinite(d) else "shape"
                    if r.get("best_ntree_limit") not in (None, "None", "0"):
                        cell["best_ntree_limit"] = r["best_ntree_limit"]
                    cell["pred"] = digest(r["pred"])
                    cell["margin"] = digest(r["margin"])
                elif r["status"] == "crash":
                    cell = {"outcome": "crash", "error": r.get("error", "")}
                else:
                    first = r.get("error", "").splitlines()[0] if r.get("error") else ""
                    cell = {"outcome": "fails", "stage": r.get("stage"), "error": first[:300]}
                out["results"].setdefault(e["file"], {})[version] = cell
    out["results"] = dict(sorted(out["results"].items()))
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1, sort_keys=False)
        f.write("\n")
    counts = {}
    for cells in out["results"].values():
        for v, c in cells.items():
            counts.setdefault(v, {}).setdefault(c["outcome"], 0)
            counts[v][c["outcome"]] += 1
    for v in sorted(counts):
        print(v, counts[v], file=sys.stderr)


if __name__ == "__main__":
    main()
