#!/usr/bin/env python3
"""Load model files exactly the way the SageMaker XGBoost container does.

Runs inside a virtualenv holding the xgboost version a container tag pins
(see scripts/xgb-venvs.sh). For each job it copies the file to a fresh
folder as `xgboost-model` (no extension, as in /opt/ml/model), then does what
the container's `serve_utils.get_loaded_booster` does: `pickle.load` first,
and if that raises, `xgb.Booster().load_model(path)`; then
`booster.set_param("nthread", 1)` (which fails for pickled scikit-learn
wrappers). It then predicts the job's input rows, plain and as margins, the way
`serve_utils.predict` does (ntree_limit from `best_ntree_limit`,
`validate_features=False`).

Each load runs in a forked child so that a crash (abort, segfault) of the
real library is observed and reported instead of killing the batch.

    python container_load.py JOBS.json > RESULTS.jsonl

JOBS.json: [{"id": "...", "file": "path", "input": "rows.csv"}, ...]
Output: one JSON object per job:
    {"id", "status": "loaded" | "error" | "crash", "stage": "load"|"predict",
     "error": "...", "pred": [[...]], "margin": [[...]], "xgboost": "1.7.4"}
"""
import json
import os
import pickle
import shutil
import sys
import tempfile


def read_rows(path):
    import numpy as np

    rows = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            rows.append([float(v) if v.strip() not in ("", "nan", "NaN") else float("nan") for v in line.split(",")])
    return np.array(rows, dtype=np.float32)


def as_rows(a):
    import numpy as np

    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    elif a.ndim > 2:
        a = a.reshape(a.shape[0], -1)
    return [[float(x) for x in r] for r in a]


def load_like_container(model_dir):
    import xgboost as xgb

    path = os.path.join(model_dir, "xgboost-model")
    try:
        with open(path, "rb") as f:
            booster = pickle.load(f)
    except Exception as exp_pkl:  # noqa: F841  (the container keeps it for its message)
        booster = xgb.Booster()
        booster.load_model(path)
    booster.set_param("nthread", 1)
    return booster


def predict_like_container(booster, dtest, **kw):
    """serve_utils.predict: every tag passes ntree_limit=best_ntree_limit (or,
    on xgboost >= 2.0 where ntree_limit is gone, iteration_range up to it) and
    validate_features=False."""
    import inspect

    best = getattr(booster, "best_ntree_limit", 0)
    try:
        best = int(best) if best is not None else 0
    except (TypeError, ValueError):
        best = 0
    if "ntree_limit" in inspect.signature(booster.predict).parameters:
        return booster.predict(dtest, ntree_limit=best, validate_features=False, **kw)
    if best > 0:
        return booster.predict(dtest, iteration_range=(0, best), validate_features=False, **kw)
    return booster.predict(dtest, validate_features=False, **kw)


def run_job(job, tmp):
    """Loads and predicts one fixture in `tmp`, a folder of its own (the model dir)."""
    import xgboost as xgb

    out = {"id": job["id"], "xgboost": xgb.__version__}
    shutil.copyfile(job["file"], os.path.join(tmp, "xgboost-model"))
    try:
        booster = load_like_container(tmp)
    except BaseException as e:  # the container turns any failure into a failed health check
        out.update(status="error", stage="load", error=f"{type(e).__name__}: {str(e).strip()[:600]}")
        return out
    try:
        X = read_rows(job["input"])
        d = xgb.DMatrix(X, missing=float("nan"))
        out["best_ntree_limit"] = repr(getattr(booster, "best_ntree_limit", None))
        out["class"] = type(booster).__module__ + "." + type(booster).__name__
        out["pred"] = as_rows(predict_like_container(booster, d))
        out["margin"] = as_rows(predict_like_container(booster, d, output_margin=True))
        out["status"] = "loaded"
    except BaseException as e:
        out.update(status="error", stage="predict", error=f"{type(e).__name__}: {str(e).strip()[:600]}")
    return out


# Address-space cap of each forked load. Old releases misread newer files and
# take absurd sizes from them (xgboost 0.90 on a 3.x model touches gigabytes
# before it fails), which made the oracle spend most of its time in the
# kernel: 0.90 on the 118 xgboost 3.1.3 fixtures took 108 s (73 s system)
# without a cap, 30 s with 2 GiB, 2 s with 1 GiB. A python with xgboost
# imported maps ~0.6 GB; no fixture needs more than a few MB on top. With
# 1 GiB all 10,136 cells of the matrix keep their recorded outcome (a load
# that hits the cap fails or aborts as it would have, only sooner), and the
# whole matrix takes ~2 min instead of ~15.
MEMORY_CAP = 1 << 30


def limit_memory():
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    except (ValueError, OSError):
        pass


def run_forked(job):
    # The parent owns the model folder: a child that crashes inside xgboost
    # (abort, segfault) never reaches its own clean-up.
    tmp = tempfile.mkdtemp(prefix="smpack-oracle-")
    try:
        return run_forked_in(job, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_forked_in(job, tmp):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        limit_memory()
        try:
            res = run_job(job, tmp)
        except BaseException as e:
            res = {"id": job["id"], "status": "error", "stage": "load", "error": repr(e)[:600]}
        data = json.dumps(res).encode()
        with os.fdopen(w, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if data:
        try:
            return json.loads(data)
        except ValueError:
            pass
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    return {"id": job["id"], "status": "crash", "stage": "load",
            "error": f"process died (signal {sig}, status {status})"}


def main():
    import xgboost  # noqa: F401  (import once before forking)

    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    for job in jobs:
        print(json.dumps(run_forked(job)), flush=True)


if __name__ == "__main__":
    main()
