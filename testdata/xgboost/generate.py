#!/usr/bin/env python3
"""Generate the real-library XGBoost fixtures in testdata/xgboost/.

Every model here is trained and saved by a real, pip-installed XGBoost release (0.90 .. 3.2.0),
and every file is loaded back by the same release to record what it reports and predicts.

Usage
-----
1. Build the per-version virtualenvs (one per XGBoost release, a few minutes):

       scripts/xgb-venvs.sh                  # -> ${SM_PACK_VENVS:-/tmp/sm-pack-venvs}/xgb-<version>

2. Orchestrator (any python3 >= 3.8, no third-party packages needed). Wipes and rebuilds the
   version folders, inputs/ and index.json under --out; README.md and this script are kept:

       python3 testdata/xgboost/generate.py all --venvs /tmp/sm-pack-venvs --out testdata/xgboost
       python3 testdata/xgboost/generate.py all --versions 1.7.4 3.2.0 ...   # subset; index is
                                                                             # rebuilt from what is on disk

   It first writes inputs/*.csv (with the first version's venv), then runs one worker per
   version (--jobs, default 2, in parallel); each worker regenerates the inputs and stops if
   they differ from the CSVs on disk. It then merges the workers' part files into index.json
   and exits non-zero if any worker failed. Worker logs (library warnings etc.) go to
   <venvs>/generate-logs/<version>.log.

       python3 testdata/xgboost/generate.py summary    # README tables, from index.json
       python3 testdata/xgboost/generate.py merge      # rebuild index.json only

3. Worker (runs inside one venv; normally called by the orchestrator):

       <venv>/bin/python generate.py produce --version-dir OUT/<version> [--inputs OUT/inputs]

   Trains every model of the catalogue below with that venv's XGBoost, saves each in every
   format the release can write, reloads every file with the same release, and writes
   OUT/<version>/_part.json (its entries and failures; merged and removed by the orchestrator).

Determinism: data come from numpy's legacy RandomState with fixed seeds (its stream is frozen
across numpy versions), training uses seed=0 and nthread=1, so re-running produces the same
file set, and byte-identical files wherever the library writes deterministically.

Layout and index schema: see README.md next to this file.
"""
import argparse
import contextlib
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor

VERSIONS = ["0.90", "1.0.0", "1.2.0", "1.3.3", "1.5.2", "1.6.2", "1.7.4", "2.0.3", "2.1.4",
            "3.0.5", "3.1.3", "3.2.0"]

N_ROWS = 200
FEATS = ["fa", "fb", "fc", "fd", "fe"]
WIDE_N = 50
WIDE_USED = (3, 27, 49)
CAT_LEVELS = ["red", "green", "blue", "black", "white"]
CAT_COLS = ["num", "color", "x2"]

# Output formats: "full" models get every format, "some" models the main ones, sweep models
# (the objective sweep) only json + the extension-less default.
FORMATS = {
    "full": ["binary", "noext", "json", "pretty-json", "ubj", "pickle-p2", "pickle-p4",
             "pickle-p5", "sklearn-pickle"],
    "some": ["binary", "noext", "json", "ubj", "pickle-p4"],
    "sweep": ["json", "noext"],
}
PRETTY_MODELS = ("logistic", "cat")
SKLEARN_MODELS = ("logistic", "softprob")
SUFFIX = {"binary": ".bin", "noext": ".noext", "json": ".json", "pretty-json": ".pretty.json",
          "ubj": ".ubj", "pickle-p2": ".p2.pkl", "pickle-p4": ".p4.pkl", "pickle-p5": ".p5.pkl",
          "sklearn-pickle": ".sklearn.pkl"}

BASE = {"max_depth": 3, "eta": 0.3, "seed": 0, "nthread": 1}


def M(name, data, params, formats="sweep", rounds=5, expect=None, notes=""):
    p = dict(BASE)
    p.update(params)
    if p.get("booster") == "gblinear":
        del p["max_depth"]
    return {"name": name, "data": data, "params": p, "formats": formats, "rounds": rounds,
            "expect": expect or {}, "notes": notes}


# The catalogue. Every model is attempted in every version; what the library refuses is
# recorded as a failure. `expect` lists properties checked after training, so that a release
# that silently ignores a parameter (e.g. multi_strategy before 2.0) is reported, not stored.
MODELS = [
    # --- objective sweep (json + noext only) ---
    M("squarederror", "reg", {"objective": "reg:squarederror"}),
    M("reg-linear", "reg", {"objective": "reg:linear"},
      notes="deprecated alias of reg:squarederror"),
    M("squaredlogerror", "pos", {"objective": "reg:squaredlogerror"}),
    M("reg-logistic", "prob", {"objective": "reg:logistic"}),
    M("pseudohuber", "reg", {"objective": "reg:pseudohubererror"}),
    M("absoluteerror", "reg", {"objective": "reg:absoluteerror"}),
    M("quantile", "reg", {"objective": "reg:quantileerror", "quantile_alpha": 0.5}),
    M("quantile-multi", "reg", {"objective": "reg:quantileerror",
                                "quantile_alpha": [0.1, 0.5, 0.9]},
      expect={"num_target": 3}),
    M("gamma", "pos", {"objective": "reg:gamma"}),
    M("tweedie", "tweedie", {"objective": "reg:tweedie", "tweedie_variance_power": 1.5}),
    M("poisson", "count", {"objective": "count:poisson"}),
    M("cox", "cox", {"objective": "survival:cox"}),
    M("aft", "aft", {"objective": "survival:aft", "aft_loss_distribution": "normal",
                     "aft_loss_distribution_scale": 1.0}),
    M("logitraw", "binary", {"objective": "binary:logitraw"}),
    M("hinge", "binary", {"objective": "binary:hinge"}),
    M("softmax", "multi", {"objective": "multi:softmax", "num_class": 3}),
    M("rank-pairwise", "rank", {"objective": "rank:pairwise"}),
    M("rank-ndcg", "rank", {"objective": "rank:ndcg"}),
    M("rank-map", "rank01", {"objective": "rank:map"}),
    # --- booster / model features (every format) ---
    M("logistic", "binary", {"objective": "binary:logistic"}, formats="full"),
    M("softprob", "multi", {"objective": "multi:softprob", "num_class": 3}, formats="full"),
    M("dart", "binary", {"booster": "dart", "objective": "binary:logistic", "rate_drop": 0.5,
                         "skip_drop": 0.0}, formats="full", expect={"weights_vary": True}),
    M("gblinear", "reg", {"booster": "gblinear", "objective": "reg:squarederror", "eta": 0.5},
      formats="full"),
    M("gblinear-multi", "multi", {"booster": "gblinear", "objective": "multi:softprob",
                                  "num_class": 3, "eta": 0.5}, formats="some"),
    M("rf", "binary", {"objective": "binary:logistic", "num_parallel_tree": 4, "eta": 1.0,
                       "subsample": 0.8, "colsample_bynode": 0.8}, rounds=2, formats="full",
      expect={"num_trees": 8}),
    M("rf-multi", "multi", {"objective": "multi:softprob", "num_class": 3,
                            "num_parallel_tree": 2, "subsample": 0.8,
                            "colsample_bynode": 0.8}, rounds=2, formats="some",
      expect={"num_trees": 12}),
    M("multi-target", "mt", {"objective": "reg:squarederror", "tree_method": "hist"},
      formats="full",
      expect={"num_target": 2}, notes="2-column label, one_output_per_tree (the default)"),
    M("mtree", "mt", {"objective": "reg:squarederror", "tree_method": "hist",
                      "multi_strategy": "multi_output_tree"}, formats="full",
      expect={"num_target": 2, "vector_leaf": True},
      notes="multi_strategy=multi_output_tree: vector leaves"),
    M("cat", "cat", {"objective": "binary:logistic", "tree_method": "hist",
                     "max_cat_to_onehot": 1}, formats="full", expect={"categorical": True},
      notes="pandas categorical column 'color' (5 levels), partition splits"),
    M("cat-onehot", "cat", {"objective": "binary:logistic", "tree_method": "hist",
                            "max_cat_to_onehot": 16}, formats="some",
      expect={"categorical": True},
      notes="pandas categorical column 'color' (5 levels), one-hot splits"),
    M("early-stop", "early", {"objective": "binary:logistic", "eta": 0.8,
                              "eval_metric": "logloss"}, rounds=30, formats="some",
      notes="trained on rows 0-139 with rows 140-199 as eval set, early_stopping_rounds=3; "
            "then set_attr(owner='sm-pack', purpose='fixture'); predictions use all trees"),
    M("base-score", "binary", {"objective": "binary:logistic", "base_score": 0.2},
      formats="some"),
    M("wide", "wide", {"objective": "reg:squarederror"}, formats="some",
      notes="50 features, only w03, w27, w49 vary (the rest are constant 0)"),
    M("empty", "reg", {"objective": "reg:squarederror"}, rounds=0, formats="some",
      notes="num_boost_round=0"),
]


# ----------------------------------------------------------------------------- helpers
def vtuple(v):
    out = []
    for p in str(v).split(".")[:3]:
        digits = "".join(ch for ch in p if ch.isdigit())
        out.append(int(digits) if digits else 0)
    while len(out) < 3:
        out.append(0)
    return tuple(out)


_TS = re.compile(r"\[\d\d:\d\d:\d\d\] ")


def clean_msg(text, vdir=None):
    """Library message without timestamps, stack traces or our temp paths."""
    text = str(text)
    if vdir:
        text = text.replace(os.path.abspath(vdir), "<dir>")
    text = _TS.sub("", text)
    keep, cands = [], []
    for ln in text.splitlines():
        ln = ln.strip()
        if ln.startswith("Stack trace") or ln.startswith("[bt]"):
            break
        if ln.startswith("Objective candidate:"):  # list of what this version knows
            cands.append(ln.split(":", 1)[1].strip())
        elif ln:
            keep.append(ln)
    if cands:
        keep.append("Objective candidate: " + ", ".join(cands))
    return " | ".join(keep)[:1200]


def err_text(e, vdir=None):
    """Exception text; for non-library exceptions also where (in the package) it was raised."""
    txt = type(e).__name__ + ": " + clean_msg(e, vdir)
    if type(e).__name__ != "XGBoostError":
        tb = traceback.extract_tb(e.__traceback__)
        if tb:
            fr = tb[-1]
            fn = fr.filename
            fn = fn[fn.find("site-packages") + 14:] if "site-packages" in fn else \
                os.path.basename(fn)
            txt += " (raised at %s:%d)" % (fn, fr.lineno)
    return txt


# Library chatter that says nothing about the model file (kept out of the notes).
NOISE = ("default evaluation metric", "might not be used", "This may not be accurate",
         "passed down to XGBoost core", "Or some parameters are not used",
         "verification. Please open an issue", "are not used.")
_WLOC = re.compile(r"^WARNING: \S+:\d+: ?")


# Boilerplate lines around a library warning that is still worth keeping in a failure text.
BOILER = ("default evaluation metric", "Int64Index", "This could be a false alarm",
          "then being mistakenly passed", "but getting flagged wrongly", "This may not be accurate",
          "passed down to XGBoost core", "verification. Please open an issue")


def trim_log(msgs):
    out = []
    for m in msgs:
        m = _WLOC.sub("", m).strip()
        if m and not any(n in m for n in BOILER):
            out.append(m)
    return out


def quiet(msgs):
    out = []
    for m in msgs:
        m = _WLOC.sub("", m).strip()
        if m and not any(n in m for n in NOISE):
            out.append(m)
    return out


@contextlib.contextmanager
def capture(sink):
    """Collect what the library prints (its log callback prints / warns from Python)."""
    buf = io.StringIO()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stdout(buf):
                yield
        finally:
            msgs = [clean_msg(x) for x in buf.getvalue().splitlines()]
            msgs += [clean_msg(str(x.message)) for x in w
                     if not issubclass(x.category, (DeprecationWarning, FutureWarning))
                     or "xgboost" in str(x.filename)]
            for m in msgs:
                if m and m not in sink:
                    sink.append(m)


def fmt_rows(arr):
    import numpy as np
    a = np.asarray(arr)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    a = a.reshape(a.shape[0], -1)
    lines = []
    for row in a:
        lines.append(",".join("%.9g" % float(v) for v in row))
    return "\n".join(lines) + "\n"


def write_text(path, text):
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "w", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- data
def make_data():
    """All inputs and labels, from numpy's frozen legacy RandomState stream."""
    import numpy as np

    rng = np.random.RandomState(20240601)
    n = N_ROWS
    X = np.empty((n, 5), dtype=np.float64)
    X[:, 0] = rng.randn(n)
    X[:, 1] = rng.randn(n) * 2.0
    X[:, 2] = rng.uniform(-1.0, 1.0, n)
    X[:, 3] = rng.randint(0, 6, n)            # small integers: ties, thresholds at data values
    X[:, 4] = rng.randn(n) * 100.0
    X = X.astype(np.float32)
    X[rng.rand(n, 5) < 0.1] = np.nan
    z = np.nan_to_num(X).astype(np.float64)
    s = z[:, 0] + 0.4 * z[:, 1] - 1.5 * z[:, 2] ** 2 + 0.3 * z[:, 3] + 0.004 * z[:, 4]
    noise = rng.randn(n)
    d = {"X": X}
    d["reg"] = (s + 0.3 * noise).astype(np.float32)
    d["pos"] = np.exp(0.5 * s + 0.1 * noise).astype(np.float32)                # > 0
    d["tweedie"] = np.where(s < -0.5, 0.0, np.exp(0.5 * s)).astype(np.float32)  # >= 0, zeros
    d["count"] = rng.poisson(np.exp(0.4 * s)).astype(np.float32)
    d["prob"] = (1.0 / (1.0 + np.exp(-s))).astype(np.float32)                   # in (0, 1)
    d["binary"] = (s + 0.3 * noise > 0.2).astype(np.float32)
    d["multi"] = np.digitize(s, [-0.5, 0.8]).astype(np.float32)
    d["rank"] = np.digitize(s, [-1.0, 0.0, 1.0]).astype(np.float32)            # 0..3
    d["rank01"] = (s > 0.3).astype(np.float32)
    d["group"] = [8, 12] * (n // 20)                                          # 20 queries
    t = np.exp(-0.5 * s) * (0.5 + rng.rand(n))
    cens = rng.rand(n) < 0.3
    d["cox"] = np.where(cens, -t, t).astype(np.float32)
    d["aft_lo"] = t.astype(np.float32)
    d["aft_hi"] = np.where(cens, np.inf, t).astype(np.float32)
    d["mt"] = np.stack([s, z[:, 3] - 0.5 * s], axis=1).astype(np.float32)

    W = np.zeros((n, WIDE_N), dtype=np.float32)
    W[:, WIDE_USED[0]] = rng.randn(n)
    W[:, WIDE_USED[1]] = rng.uniform(0.0, 10.0, n)
    W[:, WIDE_USED[2]] = rng.randn(n)
    for c in WIDE_USED:
        W[rng.rand(n) < 0.1, c] = np.nan
    wz = np.nan_to_num(W).astype(np.float64)
    d["W"] = W
    d["wide"] = (wz[:, 3] + 0.2 * wz[:, 27] - wz[:, 49] ** 2).astype(np.float32)

    num = rng.randn(n).astype(np.float32)
    codes = rng.randint(0, len(CAT_LEVELS), n).astype(np.float32)
    x2 = rng.uniform(0.0, 1.0, n).astype(np.float32)
    num[rng.rand(n) < 0.1] = np.nan
    codes[rng.rand(n) < 0.1] = np.nan
    x2[rng.rand(n) < 0.1] = np.nan
    C = np.stack([num, codes, x2], axis=1).astype(np.float32)
    cz = np.nan_to_num(C, nan=-1.0)
    ycat = ((cz[:, 1] == 1) | (cz[:, 1] == 3)).astype(np.float64) + (cz[:, 0] > 0.5) \
        - 0.8 * (cz[:, 2] > 0.7)
    d["C"] = C
    d["cat"] = (ycat > 0.5).astype(np.float32)
    return d


def write_inputs(d, inputs_dir):
    """Write inputs/*.csv, or check that the ones on disk hold exactly these values."""
    import numpy as np
    os.makedirs(inputs_dir, exist_ok=True)
    for name, arr in (("dense5", d["X"]), ("wide50", d["W"]), ("cat", d["C"])):
        text = fmt_rows(arr).replace("nan", "")
        path = os.path.join(inputs_dir, name + ".csv")
        if os.path.exists(path):
            with open(path) as f:
                if f.read() != text:
                    raise SystemExit("input %s differs from the one on disk" % path)
        else:
            write_text(path, text)
        with open(path) as f:  # the CSV must hold exactly the float32 values we use
            back = [[float(x) if x else float("nan") for x in ln.split(",")]
                    for ln in f.read().splitlines()]
        if not np.array_equal(np.asarray(back, dtype=np.float32), arr, equal_nan=True):
            raise SystemExit("input %s does not round-trip" % path)


INPUT_OF = {"cat": "cat", "wide": "wide50"}


def input_name(kind):
    return INPUT_OF.get(kind, "dense5")


def cat_frame(C):
    import numpy as np
    import pandas as pd
    codes = np.where(np.isnan(C[:, 1]), -1, C[:, 1]).astype(np.int64)
    col = pd.Categorical.from_codes(codes, categories=CAT_LEVELS)
    return pd.DataFrame({"num": C[:, 0], "color": col, "x2": C[:, 2]})


# ----------------------------------------------------------------------------- worker
class Worker:
    def __init__(self, vdir, inputs_dir):
        import xgboost as xgb
        self.xgb = xgb
        self.ver = xgb.__version__
        self.V = vtuple(self.ver)
        self.vdir = vdir
        self.inputs_dir = inputs_dir
        self.entries = []
        self.failures = []
        self.d = make_data()
        self.tmp = os.path.join(vdir, "_tmp")
        os.makedirs(self.tmp, exist_ok=True)

    # --- inputs
    def write_inputs(self):
        write_inputs(self.d, self.inputs_dir)

    # --- DMatrix construction
    def dmatrix(self, kind, rows=None, label=True):
        xgb = self.xgb
        d = self.d
        sl = slice(None) if rows is None else rows
        if kind == "cat":
            df = cat_frame(d["C"][sl])
            dm = xgb.DMatrix(df, label=d["cat"][sl] if label else None, enable_categorical=True)
            return dm
        if kind == "wide":
            names = ["w%02d" % i for i in range(WIDE_N)]
            return xgb.DMatrix(d["W"][sl], label=d["wide"][sl] if label else None,
                               missing=float("nan"), feature_names=names)
        X = d["X"][sl]
        dm = xgb.DMatrix(X, missing=float("nan"), feature_names=list(FEATS))
        if not label:
            return dm
        if kind == "aft":
            dm.set_float_info("label_lower_bound", d["aft_lo"][sl])
            dm.set_float_info("label_upper_bound", d["aft_hi"][sl])
        elif kind == "early":
            dm.set_label(d["binary"][sl])
        elif kind == "mt":
            dm = xgb.DMatrix(X, label=d["mt"][sl], missing=float("nan"),
                             feature_names=list(FEATS))
        else:
            dm.set_label(d[kind][sl])
        if kind in ("rank", "rank01"):
            dm.set_group(d["group"])
        return dm

    def pred_dmatrix(self, kind):
        return self.dmatrix(kind, label=False)

    # --- prediction
    def predict(self, bst, dm, spec, rounds, margin):
        import inspect
        kw = {"output_margin": margin}
        if spec["params"].get("booster") == "dart" and rounds:
            params = inspect.signature(bst.predict).parameters
            if "iteration_range" in params:
                kw["iteration_range"] = (0, rounds)
            else:
                kw["ntree_limit"] = rounds
        import numpy as np
        return np.asarray(bst.predict(dm, **kw))

    # --- introspection of a (re)loaded booster
    def legacy_header(self, raw):
        import struct
        off = 4 if raw[:4] == b"binf" else 0
        base, nfeat, ncls = struct.unpack_from("<fIi", raw, off)
        off += 136
        (ln,) = struct.unpack_from("<Q", raw, off)
        obj = raw[off + 8:off + 8 + ln].decode()
        off += 8 + ln
        (ln,) = struct.unpack_from("<Q", raw, off)
        booster = raw[off + 8:off + 8 + ln].decode()
        return {"base_score_margin": base, "num_feature": nfeat, "num_class": ncls,
                "objective": obj, "booster": booster}

    def describe(self, bst):
        info = {}
        if hasattr(bst, "save_config"):
            cfg = json.loads(bst.save_config())
            lrn = cfg["learner"]
            lmp = lrn["learner_model_param"]
            info["objective"] = lrn["objective"]["name"]
            gb = lrn["gradient_booster"]
            info["booster"] = gb["name"]
            info["num_feature"] = int(lmp["num_feature"])
            info["num_class"] = int(lmp["num_class"])
            info["num_target"] = int(lmp.get("num_target", "1"))
            bs = lmp["base_score"]
            info["base_score"] = bs if bs.startswith("[") else float(bs)
            tp = gb.get("gbtree_train_param") or gb.get("gbtree", {}).get("gbtree_train_param")
            if tp and "num_parallel_tree" in tp:
                info["num_parallel_tree"] = int(tp["num_parallel_tree"])
        else:  # 0.90: no config API; read the header of what save_raw() returns
            h = self.legacy_header(bytes(bst.save_raw()))
            info.update(objective=h["objective"], booster=h["booster"],
                        num_feature=h["num_feature"], num_class=h["num_class"], num_target=1,
                        base_score=None, base_score_margin=h["base_score_margin"])
        if info["booster"] == "gblinear":
            info["num_trees"] = 0
        else:
            try:
                info["num_trees"] = len(bst.get_dump())
            except Exception as e:  # noqa: BLE001
                info["_dump_error"] = err_text(e, self.vdir)
                doc = self.model_json(bst)
                gb = doc["learner"]["gradient_booster"] if doc else {}
                gb = gb.get("gbtree", gb)
                info["num_trees"] = int(gb["model"]["gbtree_model_param"]["num_trees"]) \
                    if gb else None
        try:
            info["num_boosted_rounds"] = int(bst.num_boosted_rounds())
        except AttributeError:
            info["num_boosted_rounds"] = None
        fn = getattr(bst, "feature_names", None)
        info["feature_names"] = list(fn) if fn else None
        info["attributes"] = dict(sorted(bst.attributes().items()))
        return info

    def model_json(self, bst):
        """The model document, where the version can produce JSON (1.0+)."""
        if self.V < (1, 0, 0):
            return None
        p = os.path.join(self.tmp, "probe.json")
        bst.save_model(p)
        with open(p) as f:
            doc = json.load(f)
        os.remove(p)
        return doc

    # --- training
    def train(self, spec):
        xgb = self.xgb
        params = dict(spec["params"])
        kind = spec["data"]
        rounds = spec["rounds"]
        extra = {}
        if kind == "early":
            dtr = self.dmatrix("early", rows=slice(0, 140))
            dva = self.dmatrix("early", rows=slice(140, N_ROWS))
            bst = xgb.train(params, dtr, num_boost_round=rounds, evals=[(dva, "eval")],
                            early_stopping_rounds=3, verbose_eval=False)
            bst.set_attr(owner="sm-pack", purpose="fixture")
            extra["early_stopping_rounds"] = 3
            extra["train_rows"] = "0-139"
            extra["eval_rows"] = "140-199"
        else:
            bst = xgb.train(params, self.dmatrix(kind), num_boost_round=rounds)
        return bst, extra

    def check_expect(self, spec, bst, info, margin):
        exp = spec["expect"]
        problems = []
        if "num_target" in exp:
            outs = margin.shape[1] if margin.ndim == 2 else 1
            if outs != exp["num_target"] or info.get("num_target") not in (1, exp["num_target"]):
                problems.append("the model predicts %d output(s) per row, expected %d" % (
                    outs, exp["num_target"]))
        if "num_trees" in exp and info.get("num_trees") != exp["num_trees"]:
            problems.append("num_trees is %s, expected %s" % (info.get("num_trees"),
                                                              exp["num_trees"]))
        if exp.get("weights_vary"):
            doc = self.model_json(bst)
            if doc and all(w == 1.0 for w in doc["learner"]["gradient_booster"]["weight_drop"]):
                problems.append("every dart weight_drop is 1 (no tree was dropped)")
        if exp.get("vector_leaf") or exp.get("categorical"):
            doc = self.model_json(bst)
            trees = doc["learner"]["gradient_booster"]["model"]["trees"] if doc else []
            if exp.get("vector_leaf") and not any(
                    int(t["tree_param"].get("size_leaf_vector", "0")) > 1 for t in trees):
                problems.append("trees have scalar leaves (multi_output_tree not applied)")
            if exp.get("categorical") and not any(1 in t.get("split_type", []) for t in trees):
                problems.append("no categorical split in the trees (column treated as numeric)")
        return problems

    # --- saving
    def save(self, fmt, name, bst, sk=None):
        path = os.path.join(self.vdir, name + SUFFIX[fmt])
        V = self.V
        if fmt == "binary":
            if V >= (1, 6, 0):
                raw = bst.save_raw(raw_format="deprecated")
                with open(path, "wb") as f:
                    f.write(bytes(raw))
            else:
                bst.save_model(path)
        elif fmt == "noext":
            p = os.path.join(self.tmp, "xgboost-model")
            bst.save_model(p)
            os.replace(p, path)
        elif fmt in ("json", "ubj"):
            bst.save_model(path)
            with open(path, "rb") as f:
                head = f.read(2)
            ok = head[:1] == b"{" and ((fmt == "json" and head[1:2] == b'"')
                                        or (fmt == "ubj" and head[1:2].isalpha()))
            if not ok:
                os.remove(path)
                raise FormatNotWritten(
                    "save_model('%s%s') wrote no %s: the file starts with %r (legacy binary); "
                    "this version picks the format by extension and does not know '.%s'"
                    % (name, SUFFIX[fmt], fmt.upper(), head, fmt))
        elif fmt == "pretty-json":
            src = os.path.join(self.vdir, name + ".json")
            if not os.path.exists(src):
                raise FormatNotWritten("no .json written by this version to re-indent")
            with open(src) as f:
                doc = json.load(f)
            # no trailing newline: 1.6.x rejects a JSON model whose last byte is not '}'
            write_text(path, json.dumps(doc, indent=2))
        elif fmt.startswith("pickle-p"):
            with open(path, "wb") as f:
                pickle.dump(bst, f, protocol=int(fmt[-1]))
        elif fmt == "sklearn-pickle":
            with open(path, "wb") as f:
                pickle.dump(sk, f, protocol=4)
        return path

    def fit_sklearn(self, spec):
        """The sklearn wrapper trained like the Booster model (same data and params)."""
        import pandas as pd
        xgb = self.xgb
        p = spec["params"]
        kind = spec["data"]
        kw = dict(n_estimators=spec["rounds"], max_depth=p["max_depth"], learning_rate=p["eta"],
                  random_state=0, n_jobs=1)
        X = pd.DataFrame(self.d["X"], columns=list(FEATS))
        y = self.d[kind].astype("int64")
        clf = xgb.XGBClassifier(**kw)
        clf.fit(X, y)
        return clf, kw

    # --- one model
    def run_model(self, spec):
        name = spec["name"]
        kind = spec["data"]
        log = []
        try:
            with capture(log):
                bst, extra = self.train(spec)
        except Exception as e:  # noqa: BLE001
            self.fail(name, "train", err_text(e, self.vdir))
            return
        info = self.describe(bst)
        rounds = info["num_boosted_rounds"] or spec["rounds"]
        dm = self.pred_dmatrix(kind)
        margin = self.predict(bst, dm, spec, rounds, True)
        pred = self.predict(bst, dm, spec, rounds, False)
        problems = self.check_expect(spec, bst, info, margin)
        if problems:
            self.fail(name, "train", "trained without error, but not the requested model: " +
                      "; ".join(problems) + (" (library said: %s)" % " / ".join(trim_log(log))
                                             if trim_log(log) else ""))
            return
        base = os.path.join(self.vdir, name)
        write_text(base + ".margin.csv", fmt_rows(margin))
        write_text(base + ".pred.csv", fmt_rows(pred))
        model_notes = []
        if spec["notes"]:
            model_notes.append(spec["notes"])
        if spec["params"].get("booster") == "dart":
            model_notes.append("predictions over all %d rounds (%s), training=False" % (
                rounds, "iteration_range" if self.V >= (1, 4, 0) else "ntree_limit"))
        if quiet(log):
            model_notes.append("training log: " + " / ".join(quiet(log)))
        if kind == "cat":
            model_notes.append(self.check_cat_codes(bst, spec, rounds, margin))

        sk = None
        sk_kw = None
        formats = FORMATS[spec["formats"]]
        for fmt in formats:
            if fmt == "pretty-json" and name not in PRETTY_MODELS:
                continue
            if fmt == "sklearn-pickle":
                if name not in SKLEARN_MODELS:
                    continue
                slog = []
                try:
                    with capture(slog):
                        sk, sk_kw = self.fit_sklearn(spec)
                except Exception as e:  # noqa: BLE001
                    self.fail(name, fmt, err_text(e, self.vdir))
                    continue
            slog = []
            try:
                with capture(slog):
                    path = self.save(fmt, name, bst, sk)
            except FormatNotWritten as e:
                self.fail(name, fmt, str(e))
                continue
            except Exception as e:  # noqa: BLE001
                self.fail(name, fmt, err_text(e, self.vdir))
                continue
            self.add_entry(spec, fmt, path, info, margin, pred, rounds, extra,
                           model_notes, slog, sk_kw)

    def check_cat_codes(self, bst, spec, rounds, margin):
        """Does a DMatrix of the CSV's category codes predict like the DataFrame did?"""
        import numpy as np
        xgb = self.xgb
        try:
            dm = xgb.DMatrix(self.d["C"], missing=float("nan"), feature_names=list(CAT_COLS),
                             feature_types=["q", "c", "q"], enable_categorical=True)
            m2 = self.predict(bst, dm, spec, rounds, True)
        except Exception as e:  # noqa: BLE001
            return "predicting from the CSV codes (numpy + feature_types q,c,q) failed: " + \
                err_text(e, self.vdir)
        if np.array_equal(m2, margin):
            return "predictions come from the pandas frame; a numpy DMatrix of the CSV codes " \
                   "with feature_types [q,c,q] predicts identically"
        return "numpy DMatrix of the CSV codes predicts differently from the frame (max diff " \
               "%.3g)" % float(np.nanmax(np.abs(m2 - margin)))

    def reload(self, fmt, path):
        xgb = self.xgb
        if fmt.startswith("pickle") or fmt == "sklearn-pickle":
            with open(path, "rb") as f:
                obj = pickle.load(f)
            return obj.get_booster() if fmt == "sklearn-pickle" else obj
        return xgb.Booster(model_file=path)

    def add_entry(self, spec, fmt, path, info, margin, pred, rounds, extra, model_notes,
                  save_log, sk_kw):
        import numpy as np
        name = spec["name"]
        rel = lambda p: os.path.relpath(p, os.path.dirname(self.vdir)).replace(os.sep, "/")
        notes = list(model_notes)
        if fmt == "pretty-json":
            notes.append("NOT written by XGBoost: json.dumps(json.load(%s.json), indent=2) by "
                         "Python (floats re-printed as Python doubles)" % name)
        if quiet(save_log):
            notes.append("save log: " + " / ".join(quiet(save_log)))
        pm_file = os.path.join(self.vdir, name + ".margin.csv")
        pp_file = os.path.join(self.vdir, name + ".pred.csv")
        params = dict(spec["params"])
        desc = info
        reload_ok = False
        rlog = []
        try:
            with capture(rlog):
                b2 = self.reload(fmt, path)
                desc = self.describe(b2)
                dm = self.pred_dmatrix(spec["data"])
                m2 = self.predict(b2, dm, spec, rounds, True)
                p2 = self.predict(b2, dm, spec, rounds, False)
            if fmt == "sklearn-pickle":
                params = {"XGBClassifier": sk_kw}
                if not (np.array_equal(m2, margin) and np.array_equal(p2, pred)):
                    # a differently trained model: give it its own prediction files
                    pm_file = os.path.join(self.vdir, name + ".sklearn.margin.csv")
                    pp_file = os.path.join(self.vdir, name + ".sklearn.pred.csv")
                    write_text(pm_file, fmt_rows(m2))
                    write_text(pp_file, fmt_rows(p2))
                    notes.append("the wrapper's booster predicts differently from the "
                                 "xgb.train model; predictions are its own")
                margin_ref, pred_ref = m2, p2
                notes.append("XGBClassifier fitted on a pandas frame of the same rows; "
                             "predictions via get_booster().predict(DMatrix)")
            else:
                margin_ref, pred_ref = margin, pred
            same_m = m2.shape == margin_ref.shape and np.array_equal(m2, margin_ref)
            same_p = p2.shape == pred_ref.shape and np.array_equal(p2, pred_ref)
            if same_m and same_p:
                reload_ok = True
            else:
                diff = ("shape %s vs %s" % (m2.shape, margin_ref.shape)
                        if m2.shape != margin_ref.shape
                        else "max |margin diff| %.3g" % float(np.nanmax(np.abs(m2 - margin_ref))))
                notes.append("RELOAD MISMATCH: this version reloads the file and predicts "
                             "differently (%s)" % diff)
            if quiet(rlog):
                notes.append("reload log: " + " / ".join(quiet(rlog)))
        except Exception as e:  # noqa: BLE001
            notes.append("RELOAD FAILED with the same version: " + err_text(e, self.vdir))
        for k in ("attributes", "base_score", "num_feature", "base_score_margin"):
            if desc is not info and desc.get(k) != info.get(k):
                notes.append("%s after reload (%r) differs from the trained booster's (%r)" % (
                    k, desc.get(k), info.get(k)))
        if "base_score_margin" in desc:
            desc = dict(desc, base_score=float(spec["params"].get("base_score", 0.5)))
            notes.append("0.90 has no config API: base_score is the training parameter; "
                         "base_score_margin is the float in the saved header (margin space)")
        if desc.get("_dump_error"):
            notes.append("num_trees from gbtree_model_param because get_dump failed: " +
                         desc["_dump_error"])
        with open(path, "rb") as f:
            blob = f.read()
        if extra:
            params = dict(params, **{"_" + k: v for k, v in extra.items()})
        e = {
            "file": rel(path), "producer": self.ver, "model": name, "format": fmt,
            "objective": desc.get("objective"), "booster": desc.get("booster"),
            "num_feature": desc.get("num_feature"), "num_class": desc.get("num_class"),
            "num_target": desc.get("num_target"), "num_trees": desc.get("num_trees"),
            "num_boosted_rounds": desc.get("num_boosted_rounds"),
            "base_score": desc.get("base_score"),
        }
        for k in ("base_score_margin", "num_parallel_tree"):
            if k in desc:
                e[k] = desc[k]
        e.update({
            "feature_names": desc.get("feature_names"),
            "attributes": desc.get("attributes"), "params": params,
            "num_boost_round": spec["rounds"] if fmt != "sklearn-pickle" else None,
            "input": "inputs/%s.csv" % input_name(spec["data"]),
            "pred_margin": rel(pm_file), "pred": rel(pp_file),
            "reload_ok": reload_ok, "size": len(blob),
            "sha256": hashlib.sha256(blob).hexdigest(),
            "head": blob[:8].hex(),
            "notes": "; ".join(n for n in notes if n),
        })
        self.entries.append(e)

    def fail(self, model, fmt, error):
        self.failures.append({"producer": self.ver, "model": model, "format": fmt,
                              "error": error})

    def run(self):
        self.write_inputs()
        for spec in MODELS:
            try:
                self.run_model(spec)
            except Exception:  # noqa: BLE001  (a generator bug, not a library refusal)
                self.fail(spec["name"], "generator-error", traceback.format_exc()[-800:])
        shutil.rmtree(self.tmp, ignore_errors=True)
        part = {"producer": self.ver, "python": sys.version.split()[0],
                "numpy": __import__("numpy").__version__,
                "entries": self.entries, "failures": self.failures}
        for mod in ("pandas", "sklearn"):
            try:
                part[mod] = __import__(mod).__version__
            except Exception:  # noqa: BLE001
                part[mod] = None
        write_text(os.path.join(self.vdir, "_part.json"), json.dumps(part, indent=1) + "\n")


class FormatNotWritten(Exception):
    pass


def produce(vdir, inputs_dir):
    os.makedirs(vdir, exist_ok=True)
    w = Worker(vdir, inputs_dir)
    if os.path.basename(os.path.normpath(vdir)) != w.ver:
        raise SystemExit("version dir %s does not match xgboost %s" % (vdir, w.ver))
    w.run()
    print("%s: %d files, %d failures" % (w.ver, len(w.entries), len(w.failures)))


# ----------------------------------------------------------------------------- orchestrator
def run_all(venvs, out, versions, jobs):
    me = os.path.abspath(__file__)
    out = os.path.abspath(out)
    logdir = os.path.join(venvs, "generate-logs")
    os.makedirs(logdir, exist_ok=True)
    for v in versions:
        py = os.path.join(venvs, "xgb-" + v, "bin", "python")
        if not os.path.exists(py):
            raise SystemExit("no venv for %s (%s): run scripts/xgb-venvs.sh %s" % (v, py, v))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    inputs = os.path.join(out, "inputs")
    if set(versions) == set(VERSIONS):
        shutil.rmtree(inputs, ignore_errors=True)
    first = os.path.join(venvs, "xgb-" + versions[0], "bin", "python")
    r = subprocess.run([first, me, "inputs", "--inputs", inputs], env=env)
    if r.returncode != 0:
        print("writing the inputs failed")
        return 1

    def one(v):
        vdir = os.path.join(out, v)
        shutil.rmtree(vdir, ignore_errors=True)
        py = os.path.join(venvs, "xgb-" + v, "bin", "python")
        with open(os.path.join(logdir, v + ".log"), "w") as lf:
            r = subprocess.run([py, me, "produce", "--version-dir", vdir,
                                "--inputs", os.path.join(out, "inputs")],
                               stdout=lf, stderr=subprocess.STDOUT, env=env)
        tail = open(os.path.join(logdir, v + ".log")).read().strip().splitlines()[-1:]
        return v, r.returncode, (tail[0] if tail else "")

    bad = []
    with ThreadPoolExecutor(jobs) as ex:
        for v, rc, tail in ex.map(one, versions):
            print("%-6s rc=%d  %s" % (v, rc, tail))
            if rc != 0 or not os.path.exists(os.path.join(out, v, "_part.json")):
                bad.append(v)
    merge(out)
    if bad:
        print("FAILED versions: %s (logs in %s)" % (", ".join(bad), logdir))
        return 1
    return 0


def merge(out):
    """Build index.json from the part files of every version folder present."""
    entries, failures, producers = [], [], []
    for v in sorted((d for d in os.listdir(out) if os.path.isdir(os.path.join(out, d))
                     and d[0].isdigit()), key=vtuple):
        part_path = os.path.join(out, v, "_part.json")
        if os.path.exists(part_path):
            with open(part_path) as f:
                part = json.load(f)
            os.remove(part_path)
            with open(os.path.join(out, v, "_env.json"), "w") as f:
                json.dump({k: part[k] for k in ("producer", "python", "numpy", "pandas",
                                                "sklearn")}, f, indent=1)
                f.write("\n")
        else:
            prev = os.path.join(out, "index.json")
            if not os.path.exists(prev):
                continue
            with open(prev) as f:
                old = json.load(f)
            part = {"entries": [e for e in old["entries"] if e["producer"] == v],
                    "failures": [e for e in old["failures"] if e["producer"] == v]}
        entries += part["entries"]
        failures += part["failures"]
        with open(os.path.join(out, v, "_env.json")) as f:
            producers.append(json.load(f))
    index = {
        "schema": 1,
        "generator": "testdata/xgboost/generate.py",
        "producers": producers,
        "inputs": {
            "inputs/dense5.csv": "200 rows x 5 float32 features (fa..fe), ~10% empty = NaN",
            "inputs/wide50.csv": "200 rows x 50 features (w00..w49); only w03, w27, w49 vary",
            "inputs/cat.csv": "200 rows x 3: num (float), color (category code 0..4 of "
                              "red,green,blue,black,white), x2 (float); empty = NaN/missing",
        },
        "entries": entries,
        "failures": failures,
    }
    # one entry / failure per line: readable, greppable, small diffs
    lines = ["{"]
    keys = list(index)
    for i, k in enumerate(keys):
        end = "," if i < len(keys) - 1 else ""
        v = index[k]
        if isinstance(v, list):
            lines.append("  %s: [" % json.dumps(k))
            lines += ["    " + json.dumps(x) + ("," if j < len(v) - 1 else "")
                      for j, x in enumerate(v)]
            lines.append("  ]" + end)
        else:
            lines.append("  %s: %s%s" % (json.dumps(k), json.dumps(v), end))
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == index
    with open(os.path.join(out, "index.json"), "w") as f:
        f.write(text)
    print("index.json: %d entries, %d failures" % (len(entries), len(failures)))


FMT_CODE = {"binary": "B", "noext": "N", "json": "J", "pretty-json": "P", "ubj": "U",
            "pickle-p2": "2", "pickle-p4": "4", "pickle-p5": "5", "sklearn-pickle": "S"}


def summary(out):
    """Markdown tables (for README.md) from index.json."""
    with open(os.path.join(out, "index.json")) as f:
        ix = json.load(f)
    vers = [p["producer"] for p in ix["producers"]]
    have = {}
    for e in ix["entries"]:
        have.setdefault((e["model"], e["producer"]), set()).add(e["format"])
    trained_fail = {(f["model"], f["producer"]) for f in ix["failures"] if f["format"] == "train"}
    order = "".join(FMT_CODE.values())
    print("| model | " + " | ".join(vers) + " |")
    print("|---|" + "---|" * len(vers))
    for spec in MODELS:
        row = []
        for v in vers:
            fm = have.get((spec["name"], v))
            if fm:
                row.append("".join(sorted((FMT_CODE[x] for x in fm), key=order.index)))
            else:
                row.append("—" if (spec["name"], v) in trained_fail else "?")
        print("| %s | %s |" % (spec["name"], " | ".join(row)))
    print()
    counts = {}
    for e in ix["entries"]:
        counts.setdefault(e["producer"], {}).setdefault(e["format"], 0)
        counts[e["producer"]][e["format"]] += 1
    fmts = list(FMT_CODE)
    print("| version | " + " | ".join(fmts) + " | total |")
    print("|---|" + "---|" * (len(fmts) + 1))
    for v in vers:
        c = counts.get(v, {})
        print("| %s | %s | %d |" % (v, " | ".join(str(c.get(f, 0)) for f in fmts),
                                    sum(c.values())))
    tot = [sum(counts.get(v, {}).get(f, 0) for v in vers) for f in fmts]
    print("| all | %s | %d |" % (" | ".join(map(str, tot)), sum(tot)))
    print()
    groups = {}
    for f in ix["failures"]:
        err = re.sub(r"[^\s(]+\.(cc|cu|h|py):\d+", "<src>", f["error"])
        err = re.sub(r"'[^'.][^']*\.(json|ubj)'", "'<model>.<ext>'", err)
        err = re.sub(r"b'[^']*'", "b'..'", err)
        err = re.sub(r" \| Objective candidate: .*", " (followed by the list of known objectives)",
                     err)
        err = err.strip()
        key = (f["model"] if f["format"] == "train" else "*", f["format"], err)
        groups.setdefault(key, []).append((f["producer"], f["model"]))
    print("| model | format | versions | library says |")
    print("|---|---|---|---|")
    for (model, fmt, err), pm in sorted(groups.items(), key=lambda kv: (
            kv[0][1] != "train", kv[0][0], kv[0][1], vtuple(kv[1][0][0]))):
        models = sorted({m for _, m in pm})
        vlist = sorted({v for v, _ in pm}, key=vtuple)
        label = ", ".join(models) if len(models) < 5 else "(%d models)" % len(models)
        print("| %s | %s | %s | %s |" % (label, fmt, ", ".join(vlist), err.replace("|", "/")))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("produce", help="worker: run inside one venv")
    p.add_argument("--version-dir", required=True)
    p.add_argument("--inputs", help="default: <version-dir>/../inputs")
    i = sub.add_parser("inputs", help="write (or check) inputs/*.csv; needs numpy")
    i.add_argument("--inputs", required=True)
    a = sub.add_parser("all", help="orchestrator: every version")
    a.add_argument("--venvs", default=os.environ.get("SM_PACK_VENVS", "/tmp/sm-pack-venvs"))
    a.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    a.add_argument("--versions", nargs="*", default=VERSIONS)
    a.add_argument("--jobs", type=int, default=2)
    m = sub.add_parser("merge", help="rebuild index.json from the version folders")
    m.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    m = sub.add_parser("summary", help="print the README tables from index.json")
    m.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    if args.cmd == "produce":
        vdir = os.path.abspath(args.version_dir)
        produce(vdir, os.path.abspath(args.inputs or os.path.join(vdir, "..", "inputs")))
    elif args.cmd == "all":
        sys.exit(run_all(os.path.abspath(args.venvs), args.out, args.versions, args.jobs))
    elif args.cmd == "inputs":
        write_inputs(make_data(), os.path.abspath(args.inputs))
    elif args.cmd == "summary":
        summary(os.path.abspath(args.out))
    else:
        merge(os.path.abspath(args.out))


if __name__ == "__main__":
    main()
