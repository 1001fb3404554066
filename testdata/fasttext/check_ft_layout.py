#!/usr/bin/env python3
"""Cross-check the fixtures against the independent parser/predictor ft_layout.py.

    PY="$(scripts/ft-venv.sh)"
    "$PY" testdata/fasttext/check_ft_layout.py --dir testdata/fasttext \\
          --ft-layout ../shared/reference/ft_layout.py

For every model in index.json: parse it with ft_layout (to exact EOF, its
validator's problem list must be empty), compare header/dictionary/shapes with
`<stem>.expect.json`, and recompute from the parsed bytes every prediction
(k=-1 with threshold 0, and k=3), sentence vector, sampled input row and word
vector recorded there, using the exact line strings from lines.json.  Ties are accepted
in any order (fastText's heap order is unspecified for equal scores).
Prints one JSON summary line per model and a list of disagreements; exit 1 if any.
"""
import argparse
import importlib.util
import json
import math
import os
import re
import sys

import numpy as np

TOL_P = 1e-6    # probability (absolute)
TOL_V = 1e-5    # vector component (absolute)


def load_module(path):
    spec = importlib.util.spec_from_file_location("ft_layout", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def cmp_pred(ref, got, tag, issues, k):
    """ref: {"labels", "probs"} from fastText; got: [(p, label)] from ft_layout (all labels)."""
    rl, rp = ref["labels"], ref["probs"]
    gp = {l: p for p, l in got}
    maxd = 0.0
    # the fastText list must be a prefix of the full sorted list up to ties
    if k == -1 and len(rl) != len(got):
        issues.append(f"{tag}: fastText returned {len(rl)} labels, ft_layout {len(got)}")
    for l, p in zip(rl, rp):
        if l not in gp:
            issues.append(f"{tag}: label {l} missing in ft_layout result")
            continue
        d = abs(gp[l] - p)
        maxd = max(maxd, d)
        if d > TOL_P:
            issues.append(f"{tag}: {l} prob fastText {p!r} ft_layout {gp[l]!r}")
    # ranking: every label fastText put at position i must score >= anything it left out
    if rl:
        cut = min(rp)
        left_out = [p for p, l in got if l not in set(rl)]
        if left_out and max(left_out) > cut + TOL_P:
            issues.append(f"{tag}: ft_layout ranks a left-out label above fastText's last ({max(left_out)} > {cut})")
    return maxd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--ft-layout", required=True)
    args = ap.parse_args()
    ftl = load_module(args.ft_layout)
    d = args.dir
    index = json.load(open(os.path.join(d, "index.json"), encoding="utf-8"))
    lines = json.load(open(os.path.join(d, "lines.json"), encoding="utf-8"))
    all_issues = {}
    for ent in index["models"]:
        path = os.path.join(d, ent["file"])
        exp = json.load(open(os.path.join(d, ent["expect"]), encoding="utf-8"))
        issues = []
        pm = ftl.load(path)
        if pm["problems"]:
            issues.append(f"ft_layout problems: {pm['problems']}")
        a, dic = pm["args"], pm["dict"]
        ea = exp["args"]
        for key in ("dim", "ws", "epoch", "minCount", "neg", "wordNgrams", "bucket", "minn",
                    "maxn", "lrUpdateRate", "t"):
            if a[key] != ea[key]:
                issues.append(f"args.{key}: file {a[key]} fastText {ea[key]}")
        if a["loss"] != ea["loss_id"] or a["model"] != ea["model_id"]:
            issues.append("loss/model id differ")
        if pm["header"]["version"] != exp["header"]["version"]:
            issues.append("version differs")
        words = [w.decode("utf-8") for w in dic["words"]]
        if words[:dic["nwords"]] != exp["words"]:
            issues.append("word list differs")
        if list(dic["counts"][:dic["nwords"]]) != exp["word_counts"]:
            issues.append("word counts differ")
        if words[dic["nwords"]:] != exp["labels"]:
            issues.append("label list differs")
        if exp["labels"] and list(dic["counts"][dic["nwords"]:]) != exp["label_counts"]:
            issues.append("label counts differ")
        if bool(pm["quant"]) != exp["is_quantized"]:
            issues.append("quant flag differs")
        for key in ("input", "output"):
            shp = exp[f"{key}_matrix"]["shape"]
            if shp is not None and [pm[key]["m"], pm[key]["n"]] != shp:
                issues.append(f"{key} shape file {pm[key]['m']}x{pm[key]['n']} fastText {shp}")

        mdl = ftl.Model(pm)
        maxd = 0.0
        for r, vec in exp["input_rows"].items():
            dd = float(np.abs(mdl.in_rows[int(r)] - np.array(vec, np.float32)).max())
            maxd = max(maxd, dd)
            if dd > TOL_V:
                issues.append(f"input row {r} differs by {dd}")
        for wv in exp["word_vectors"]:
            if wv["vector"] is None:
                continue
            got = mdl.word_vector(wv["word"].encode("utf-8"))
            dd = float(np.abs(got - np.array(wv["vector"], np.float32)).max())
            maxd = max(maxd, dd)
            if dd > TOL_V:
                issues.append(f"word vector {wv['word']!r} differs by {dd}")
        sup = exp["args"]["model"] == "sup"
        npred = 0
        for e in exp["predictions"]:
            line = lines[e["i"]]
            assert line == e["text"]
            if not sup:
                # unsupervised get_sentence_vector: split on C isspace (not on NUL), average
                # the L2-normalised word vectors of the tokens whose vector is non-zero
                acc, cnt = np.zeros(exp["dimension"], np.float32), 0
                for tok in re.split(rb"[ \t\n\v\f\r]+", line.encode("utf-8")):
                    if not tok:
                        continue
                    v = mdl.word_vector(tok)
                    nrm = np.float32(np.sqrt(np.sum(v * v, dtype=np.float32)))
                    if nrm > 0:
                        acc += v * (np.float32(1.0) / nrm)
                        cnt += 1
                if cnt:
                    acc *= np.float32(1.0) / np.float32(cnt)
                dd = float(np.abs(acc - np.array(e["sentence_vector"], np.float32)).max())
                maxd = max(maxd, dd)
                if dd > TOL_V:
                    issues.append(f"line {e['i']}: unsupervised sentence vector differs by {dd}")
                continue
            ids, _ = mdl.get_line(line)
            if ids:
                dd = float(np.abs(mdl.hidden(ids) - np.array(e["sentence_vector"], np.float32)).max())
                maxd = max(maxd, dd)
                if dd > TOL_V:
                    issues.append(f"line {e['i']}: sentence vector differs by {dd}")
            full = mdl.predict(line, k=-1)
            maxd = max(maxd, cmp_pred(e["all"], full, f"line {e['i']} k=-1", issues, -1))
            maxd = max(maxd, cmp_pred(e["top3"], full, f"line {e['i']} k=3", issues, 3))
            npred += 1
        print(json.dumps({"model": ent["file"], "lines": npred, "word_vectors": len(exp["word_vectors"]),
                          "max_abs_diff": maxd, "issues": len(issues)}))
        if issues:
            all_issues[ent["file"]] = issues
    for f, iss in all_issues.items():
        print(f"== {f}")
        for i in iss[:40]:
            print("  ", i)
    sys.exit(1 if all_issues else 0)


if __name__ == "__main__":
    main()
