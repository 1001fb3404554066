#!/usr/bin/env python3
"""Python `repr` cases for sm-pack's float formatting (the container's CSV and
JSON responses print predictions with Python's repr).

    python testdata/python/repr_cases.py            # writes repr-ties.txt here
    python testdata/python/repr_cases.py BULK_DIR   # also BULK_DIR/vals.f64 and
                                                    # BULK_DIR/reprs.txt (1.6 M values)

repr-ties.txt holds float32 values (as Python prints them after widening to
float64) whose exact decimal value lies exactly halfway between the two
shortest round-tripping candidates: Python picks the even one. The bulk files
feed the ignored test `python_repr_matches_python_in_bulk`
(SM_PACK_REPR_CHECK=BULK_DIR cargo test --lib -- --ignored python_repr).
Needs numpy.
"""
import decimal
import os
import sys

import numpy as np

rng = np.random.default_rng(7)
f32 = rng.integers(0, 2**32, size=1_000_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
f32 = f32[np.isfinite(f32)].astype(np.float64)
f64 = rng.integers(0, 2**64 - 1, size=300_000, dtype=np.uint64).view(np.float64)
f64 = f64[np.isfinite(f64)]
# Probabilities as a binary:logistic model returns them (float32).
p = (1 / (1 + np.exp(-rng.standard_normal(300_000)))).astype(np.float32).astype(np.float64)


def is_tie(v):
    r = repr(float(v))
    digits = r.split("e")[0].replace("-", "").replace(".", "").lstrip("0")
    exact = format(decimal.Decimal(float(v)), "f").replace("-", "").replace(".", "")
    exact = exact.lstrip("0").rstrip("0")
    return len(exact) == len(digits) + 1 and exact.endswith("5")


ties = [float(v) for v in np.concatenate([f32[:300_000], p]) if is_tie(v)]
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "repr-ties.txt"), "w") as f:
    f.write("".join(repr(t) + "\n" for t in ties))
print(len(ties), "ties")

if len(sys.argv) > 1:
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    vals = np.concatenate([f32, f64, p])
    vals.astype("<f8").tofile(os.path.join(out, "vals.f64"))
    with open(os.path.join(out, "reprs.txt"), "w") as f:
        f.write("".join(repr(float(v)) + "\n" for v in vals))
    print(len(vals), "values in", out)
