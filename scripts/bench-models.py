#!/usr/bin/env python3
"""Make the large models scripts/bench.sh packs, with the real libraries.

    bench-models.py fasttext OUT.bin --bucket N     # run with the fasttext venv's python
    bench-models.py xgboost OUT_DIR                 # run with an xgboost venv's python

fasttext: a supervised classifier trained by fasttext-wheel 0.9.2 on a synthetic
corpus (20 labels, a Zipf-distributed vocabulary of 20,000 words, 200,000 lines),
dim 100, word bigrams, `bucket` hash rows. The file is (nwords + bucket) x 100
float32 input rows plus a 20 x 100 output matrix: bucket 2,000,000 gives ~808 MB,
the shape of a BlazingText/fastText production classifier. Training runs with
thread=10 on purpose: fastText 0.9.2 initialises the input matrix in ten slices,
one per training thread, so fewer threads leave the rest zero (and trivially
compressible) -- unlike any model trained with the default 12 threads.

xgboost: 2000 trees of depth 8 on 20,000 x 50 rows (binary:logistic, hist), saved
as big.json and big.ubj (XGBoost >= 1.6) and, with an XGBoost that still writes
it (< 2.1), as big.bin in the legacy binary format.

Everything is seeded; the corpus and the XGBoost data are deterministic. fastText's
multi-threaded training is not bit-reproducible, which does not matter for timing.
"""
import os
import random
import sys


def fasttext_model(out, bucket):
    import fasttext

    rng = random.Random(20240901)
    labels = [f"__label__c{i:02d}" for i in range(20)]
    vocab = [f"w{i}" for i in range(20000)]
    # Zipf-like weights: word i has weight 1/(i+1).
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    corpus = out + ".corpus.txt"
    with open(corpus, "w") as f:
        for _ in range(200_000):
            lab = rng.randrange(len(labels))
            # Each label prefers its own slice of the vocabulary.
            topical = vocab[lab * 500:(lab + 1) * 500]
            words = rng.choices(vocab, weights, k=8) + rng.choices(topical, k=4)
            rng.shuffle(words)
            f.write(labels[lab] + " " + " ".join(words) + "\n")
    m = fasttext.train_supervised(input=corpus, dim=100, wordNgrams=2, bucket=bucket,
                                  epoch=2, lr=0.5, minCount=1, thread=10, verbose=0)
    tmp = out + ".tmp"
    m.save_model(tmp)
    os.replace(tmp, out)
    os.remove(corpus)


def xgboost_models(out_dir):
    import numpy as np
    import xgboost as xgb

    rng = np.random.RandomState(0)
    X = rng.randn(20000, 50).astype(np.float32)
    y = (X[:, :10].sum(1) + np.sin(X[:, 10:20]).sum(1) + rng.randn(20000) > 0)
    b = xgb.train({"objective": "binary:logistic", "max_depth": 8, "eta": 0.05,
                   "tree_method": "hist", "min_child_weight": 0, "nthread": 2, "seed": 0},
                  xgb.DMatrix(X, label=y), 2000)
    major, minor = (int(p) for p in xgb.__version__.split(".")[:2])
    names = ["big.json", "big.ubj"] if (major, minor) >= (1, 6) else []
    if (major, minor) < (2, 1):
        names.append("big.bin")
    for name in names:
        # The extension picks the format; write beside and rename, so a cut run leaves no half file.
        tmp = os.path.join(out_dir, ".tmp-" + name)
        b.save_model(tmp)
        os.replace(tmp, os.path.join(out_dir, name))
    print(" ".join(names))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "fasttext":
        bucket = 2_000_000
        if len(sys.argv) == 5 and sys.argv[3] == "--bucket":
            bucket = int(sys.argv[4])
        fasttext_model(sys.argv[2], bucket)
    elif len(sys.argv) == 3 and sys.argv[1] == "xgboost":
        xgboost_models(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
