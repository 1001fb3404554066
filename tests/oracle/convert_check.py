#!/usr/bin/env python3
"""Ground truth for the converter: load every file `sm-pack convert` wrote
for a container tag in that tag's pinned xgboost, the way the container
loads it (tests/oracle/container_load.py: the file as an extension-less
`xgboost-model`, pickle first, then Booster().load_model, predict with the
container's ntree_limit rule and validate_features=False), and compare the
predictions with the original producer's (the fixture's pred CSV).

    python3 tests/oracle/convert_check.py JOBS.json --venvs /tmp/sm-pack-venvs > RESULTS.json

JOBS.json: [{"id": "...", "version": "1.7.4", "file": "converted file",
             "input": "rows.csv", "pred": "producer's predictions.csv"}, ...]

RESULTS.json: {"results": [{"id", "version", "outcome": "loads" | "mispredicts" |
               "fails" | "crash", "max_rel_diff", "error"}], "seconds": ...}

"loads" means: loaded and every prediction within 1e-6 relative
(|a - b| / max(1, |b|), NaN == NaN) of the producer's. One Python process per
version (loads are forked inside it, see container_load.py), two versions at a
time, OMP_NUM_THREADS=1.
"""
import argparse
import concurrent.futures
import json
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_matrix import max_rel_diff, read_csv  # noqa: E402


def run_version(venvs, version, jobs):
    py = os.path.join(venvs, f"xgb-{version}", "bin", "python")
    payload = [{"id": j["id"], "file": j["file"], "input": j["input"]} for j in jobs]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(payload, f)
        path = f.name
    try:
        p = subprocess.run([py, os.path.join(HERE, "container_load.py"), path],
                           capture_output=True, text=True, check=False, env=env)
    finally:
        os.unlink(path)
    out = {}
    for line in p.stdout.splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        out[r["id"]] = r
    return version, out, p.returncode, p.stderr[-2000:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("jobs")
    ap.add_argument("--venvs", default=os.environ.get("SM_PACK_VENVS", "/tmp/sm-pack-venvs"))
    ap.add_argument("--parallel", type=int, default=2)
    a = ap.parse_args()
    start = time.time()
    jobs = json.load(open(a.jobs))
    by_version = {}
    for j in jobs:
        by_version.setdefault(j["version"], []).append(j)
    results = []
    errors = []
    with concurrent.futures.ThreadPoolExecutor(a.parallel) as ex:
        futs = [ex.submit(run_version, a.venvs, v, js) for v, js in sorted(by_version.items())]
        for fut in concurrent.futures.as_completed(futs):
            version, out, rc, err = fut.result()
            if rc != 0:
                errors.append(f"{version}: exit {rc}: {err}")
            for j in by_version[version]:
                r = out.get(j["id"])
                cell = {"id": j["id"], "version": version}
                if r is None:
                    cell.update(outcome="crash", error="no result (batch died)")
                elif r["status"] == "loaded":
                    want = read_csv(j["pred"])
                    d = max_rel_diff(r["pred"], want)
                    cell["outcome"] = "loads" if d <= 1e-6 else "mispredicts"
                    cell["max_rel_diff"] = d if math.isfinite(d) else "shape"
                    if cell["outcome"] != "loads":
                        cell["got"] = r["pred"][:3]
                        cell["want"] = want[:3]
                elif r["status"] == "crash":
                    cell.update(outcome="crash", error=r.get("error", ""))
                else:
                    cell.update(outcome="fails", stage=r.get("stage"),
                                error=(r.get("error") or "").splitlines()[0][:400] if r.get("error") else "")
                results.append(cell)
    json.dump({"results": results, "errors": errors, "seconds": round(time.time() - start, 1)},
              sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
