"""Request and response bodies in application/x-recordio-protobuf, written by
the real SageMaker Python SDK (sagemaker 2.x: its RecordIO framing and its
Record protobuf classes), for tests/serve.rs.

    python -m venv /tmp/sdk && /tmp/sdk/bin/pip install 'sagemaker<3' 'numpy<2' scipy
    /tmp/sdk/bin/python testdata/serve/recordio/generate.py

Requests: the rows of testdata/xgboost/inputs/dense5.csv (float32 as %.9g,
an empty field is a missing value), whose predictions every fixture saves
beside it (*.pred.csv):
  dense5.dense-f32.rec         write_numpy_to_dense_tensor(float32 rows): one
                               Record per row, features["values"] a dense
                               Float32Tensor (missing values are NaN)
  dense5.dense-f64-labels.rec  the same as float64 with labels (Float64Tensor;
                               the container ignores labels)
  dense5.sparse-f32.rec        write_spmatrix_to_sparse_tensor(CSR of the
                               present values): keys, values and shape [5]
  dense5-3cols.dense-f32.rec   the first 3 columns only (too narrow for a
                               pickled 5-feature model: 400)
  dense5-6cols.dense-f32.rec   a sixth column of zeros (wider than the
                               model: XGBoost 1.2+ refuses it, 400)
  emptyrow.sparse-f32.rec      dense5's first three rows, the second with
                               no value at all (the SDK writes that row as
                               its shape alone)
  inf.dense-f32.rec            one row holding +inf (XGBoost 1.5+ refuses
                               it while reading: 415)

Response: what the container's selectable output writes for
SAGEMAKER_INFERENCE_OUTPUT="predicted_label,probability" on
testdata/xgboost/1.7.4/logistic.* (binary:logistic) and the first 20 dense5
rows (dense5-first20.dense-f32.rec; 20 because the response grows with the
square of the rows):
one Record per row with label["predicted_label"] = [int(p > 0.5)] and
label["probability"] = [p] as float32 tensors, framed by the SDK's RecordIO
writer. The container never clears the buffer it serialises each record
into, so record k carries records 1..k one after the other; this file does
the same (logistic-1.7.4.selectable.rec). Python's protobuf writes a record's
map entries in an order that changes from run to run (so does each image's),
so this one file differs between runs in that order only; the test compares
records as sets of entries. Every other file is the same on every run.
"""

import io
import math
import os

import numpy as np
import scipy.sparse
from sagemaker.amazon.common import (
    _write_recordio,
    read_records,
    write_numpy_to_dense_tensor,
    write_spmatrix_to_sparse_tensor,
)
from sagemaker.amazon.record_pb2 import Record

HERE = os.path.dirname(os.path.abspath(__file__))
XGB = os.path.join(HERE, "..", "..", "xgboost")


def rows(path):
    with open(path) as f:
        return np.array(
            [[float("nan") if v == "" else float(v) for v in line.rstrip("\n").split(",")]
             for line in f if line.strip()],
            dtype=np.float32,
        )


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    print(f"{name}: {len(data)} bytes")


X = rows(os.path.join(XGB, "inputs", "dense5.csv"))

buf = io.BytesIO()
write_numpy_to_dense_tensor(buf, X)
write("dense5.dense-f32.rec", buf.getvalue())

buf = io.BytesIO()
labels = np.arange(len(X), dtype=np.float64) % 2
write_numpy_to_dense_tensor(buf, X.astype(np.float64), labels)
write("dense5.dense-f64-labels.rec", buf.getvalue())

present = ~np.isnan(X)
r, c = np.nonzero(present)
csr = scipy.sparse.csr_matrix((X[present], (r, c)), shape=X.shape, dtype=np.float32)
buf = io.BytesIO()
write_spmatrix_to_sparse_tensor(buf, csr)
write("dense5.sparse-f32.rec", buf.getvalue())

buf = io.BytesIO()
write_numpy_to_dense_tensor(buf, np.ascontiguousarray(X[:, :3]))
write("dense5-3cols.dense-f32.rec", buf.getvalue())

buf = io.BytesIO()
write_numpy_to_dense_tensor(buf, np.hstack([X, np.zeros((len(X), 1), dtype=np.float32)]))
write("dense5-6cols.dense-f32.rec", buf.getvalue())

E = X[:3].copy()
E[1, :] = np.nan
present = ~np.isnan(E)
r, c = np.nonzero(present)
buf = io.BytesIO()
write_spmatrix_to_sparse_tensor(
    buf, scipy.sparse.csr_matrix((E[present], (r, c)), shape=E.shape, dtype=np.float32)
)
write("emptyrow.sparse-f32.rec", buf.getvalue())

buf = io.BytesIO()
write_numpy_to_dense_tensor(buf, np.array([[np.inf, 1, 2, 3, 4]], dtype=np.float32))
write("inf.dense-f32.rec", buf.getvalue())

# Read back with the SDK's reader: one record per row, every value intact.
for name in ("dense5.dense-f32.rec", "dense5.dense-f64-labels.rec", "dense5.sparse-f32.rec"):
    with open(os.path.join(HERE, name), "rb") as f:
        recs = read_records(f)
    assert len(recs) == len(X), name

buf = io.BytesIO()
write_numpy_to_dense_tensor(buf, X[:20])
write("dense5-first20.dense-f32.rec", buf.getvalue())

with open(os.path.join(XGB, "1.7.4", "logistic.pred.csv")) as f:
    preds = [float(np.float32(line)) for line in f if line.strip()][:20]
record_bytes = io.BytesIO()
out = io.BytesIO()
record = Record()
for p in preds:
    record.label["predicted_label"].float32_tensor.values.extend([int(p > 0.5)])
    record.label["probability"].float32_tensor.values.extend([p])
    record_bytes.write(record.SerializeToString())
    record.Clear()
    _write_recordio(out, record_bytes.getvalue())
write("logistic-1.7.4.selectable.rec", out.getvalue())
