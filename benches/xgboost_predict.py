#!/usr/bin/env python3
"""XGBoost's own prediction throughput, for comparison with sm-pack's
(`benches/xgboost.rs`, one-shot mode SM_PACK_XGB_PREDICT_ONCE).

    python benches/xgboost_predict.py /tmp/xgb-bench/big.ubj [REPS]

Writes next to the model (once) `rows10k.f32`, 10 000 rows of standard
normal noise (raw little-endian float32), which the Rust benchmark reads so
that both sides predict the same rows, and after timing `preds10k.f32`,
XGBoost's predictions, which the Rust one-shot mode compares with its own.
A fresh DMatrix is built for every call (XGBoost caches predictions per
DMatrix); its construction is not timed.
"""
import os
import sys
import time

import numpy as np
import xgboost as xgb

model = sys.argv[1]
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
d = os.path.dirname(os.path.abspath(model))
b = xgb.Booster(model_file=model)
nf = b.num_features()
rows_file = os.path.join(d, "rows10k.f32")
if not os.path.exists(rows_file):
    np.random.RandomState(1).randn(10000, nf).astype(np.float32).tofile(rows_file)
X = np.fromfile(rows_file, dtype=np.float32).reshape(10000, nf)
p = None
for nt in (1, os.cpu_count()):
    b.set_param("nthread", nt)
    times = []
    for _ in range(reps):
        dm = xgb.DMatrix(X, missing=np.nan, nthread=nt)
        t = time.perf_counter()
        p = b.predict(dm)
        times.append(time.perf_counter() - t)
    times.sort()
    print(
        f"xgboost {xgb.__version__} Booster.predict, nthread {nt}: min {times[0]:.3f} s "
        f"({10000 / times[0]:.0f} rows/s), median {times[len(times) // 2]:.3f} s over {reps}"
    )
p.astype(np.float32).tofile(os.path.join(d, "preds10k.f32"))
