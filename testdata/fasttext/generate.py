#!/usr/bin/env python3
"""Generate the real-fastText fixture set for sm-pack's fastText reader/validator.

Every model is trained (and, for .ftz, quantized) by the real library,
fasttext-wheel 0.9.2 with numpy<2, from small synthetic corpora that this
script writes itself.  Next to each model `<stem>.bin|.ftz` it writes
`<stem>.expect.json` (schema in README.md) with what the library reports
after loading the saved file: args, dictionary, matrix shapes, sample rows,
subwords, word vectors, and for every line of `lines.txt` the tokenisation,
`predict(k=-1, threshold=0.0)`, `predict(k=3)` and `get_sentence_vector`.

Usage (from the repository root):

    PY="$(scripts/ft-venv.sh)"                  # venv with fasttext-wheel==0.9.2, numpy<2
    "$PY" testdata/fasttext/generate.py --out testdata/fasttext

Options:
    --out DIR     output directory (created; existing fixture files are overwritten)
    --only NAME   regenerate only the models whose name contains NAME (repeatable;
                  corpora, lines and index.json are always rewritten)

Determinism: all randomness comes from fixed `random.Random(seed)` instances,
fastText is run with thread=1 and its default seed 0, and quantization uses
fastText's fixed k-means seed.  Running the script twice gives byte-identical
output (checked when the set was committed; see README.md).

The script reads nothing but what it wrote itself and writes only inside --out
(models, *.expect.json, index.json, lines.txt/json, words.json, corpora/).
Verify the result with check_ft_layout.py (see README.md).
"""
import argparse
import hashlib
import json
import os
import random
import struct
import sys

try:
    import numpy as np
    import fasttext
    from fasttext import FastText as _FT
except ImportError as e:  # pragma: no cover
    sys.exit(f"generate.py: {e}; create the venv with scripts/ft-venv.sh and run this script with its python")

from importlib.metadata import version as _pkg_version

FT_VERSION = _pkg_version("fasttext-wheel")
if FT_VERSION != "0.9.2":
    sys.exit(f"generate.py: need fasttext-wheel==0.9.2, found {FT_VERSION}")
if int(np.__version__.split(".")[0]) >= 2:
    sys.exit(f"generate.py: need numpy<2, found {np.__version__}")

SCHEMA = 1

# ----------------------------------------------------------------------------- corpora

COMMON = "the a of and to in is for on with this that it was at by very new good great".split()
TOPICS = {
    "sports": "goal team match score player coach league season win referee stadium ball "
              "striker keeper tournament final penalty fans pitch trophy".split(),
    "tech": "code software server cloud data network compile bug deploy api database python "
            "rust kernel chip laptop startup algorithm cache latency".split(),
    "food": "recipe cook pasta sauce bake oven flavor spicy salad soup bread cheese garlic "
            "dessert chef kitchen taste butter grill menu".split(),
    "travel": "flight hotel beach passport tour island train museum journey luggage airport "
              "visa cruise map mountain hostel ticket guide city border".split(),
}
# Non-ASCII words (UTF-8): accents, CJK, Cyrillic, emoji incl. a variation selector
# (U+2708 U+FE0F) and a ZWJ sequence (U+1F469 U+200D U+1F4BB).
UTF8_EXTRA = {
    "sports": ["fútbol", "⚽", "équipe", "Torschütze"],
    "tech": ["données", "数据", "💻", "сервер", "👩\u200d💻"],
    "food": ["café", "crème", "brûlée", "寿司", "ラーメン", "🍜", "jalapeño"],
    "travel": ["日本", "東京", "straße", "Zürich", "✈\ufe0f", "São_Paulo"],
}
# label names used by the UTF-8 model (one of them non-ASCII)
UTF8_LABELS = {"sports": "sports", "tech": "tech", "food": "料理", "travel": "voyage"}


def topic_line(rng, topic, extra=None, other_p=0.10, common_p=0.25):
    """One line of topical text (no labels).  Returns (tokens, other_topic_or_None)."""
    n = rng.randint(5, 14)
    other = None
    toks = []
    names = sorted(TOPICS)
    for _ in range(n):
        r = rng.random()
        if r < common_p:
            toks.append(rng.choice(COMMON))
        elif r < common_p + other_p:
            other = other or rng.choice([t for t in names if t != topic])
            toks.append(rng.choice(TOPICS[other]))
        else:
            pool = TOPICS[topic]
            if extra is not None and rng.random() < 0.3:
                pool = extra[topic]
            toks.append(rng.choice(pool))
    return toks, other


def labeled_corpus(seed, nlines, prefix="__label__", extra=None, label_names=None):
    rng = random.Random(seed)
    names = sorted(TOPICS)
    out = []
    for _ in range(nlines):
        topic = rng.choice(names)
        toks, other = topic_line(rng, topic, extra)
        labs = [topic]
        if other is not None and rng.random() < 0.4:  # some multi-label lines
            labs.append(other)
        labs = [prefix + (label_names[x] if label_names else x) for x in labs]
        if rng.random() < 0.1:  # labels are allowed anywhere; usually first
            out.append(" ".join(toks + labs))
        else:
            out.append(" ".join(labs + toks))
    return out


def unlabeled_corpus(seed, nlines):
    rng = random.Random(seed)
    names = sorted(TOPICS)
    return [" ".join(topic_line(rng, rng.choice(names), UTF8_EXTRA)[0]) for _ in range(nlines)]


NMANY = 300


def many_keywords(lab):
    return [f"k{lab:03d}{c}" for c in "abc"]


def many_group_words(lab):
    g = lab // 30
    return [f"grp{g}x{j}" for j in range(5)]


def many_line(rng, lab):
    toks = rng.sample(many_keywords(lab), rng.randint(1, 3))
    toks += [rng.choice(many_group_words(lab)) for _ in range(rng.randint(1, 2))]
    toks += [rng.choice(COMMON) for _ in range(rng.randint(1, 4))]
    rng.shuffle(toks)
    return toks


def many_label_corpus(seed):
    """300 labels; label L gets 4 + (300-L)//25 lines, so counts are unsorted-by-name
    and heavily tied (exercises fastText's Huffman tie rule)."""
    rng = random.Random(seed)
    rows = []
    for lab in range(NMANY):
        for _ in range(4 + (NMANY - lab) // 25):
            rows.append(f"__label__c{lab:03d} " + " ".join(many_line(rng, lab)))
    rng.shuffle(rows)
    return rows


def test_lines():
    """The shared prediction inputs: corpus-like lines with labels stripped, then edge cases.
    No line contains '\\n' (the python binding refuses it)."""
    rng = random.Random(4242)
    names = sorted(TOPICS)
    lines = []
    for i in range(22):
        lines.append(" ".join(topic_line(rng, names[i % 4])[0]))
    for i in range(8):
        lines.append(" ".join(topic_line(rng, names[i % 4], UTF8_EXTRA)[0]))
    for lab in (0, 1, 17, 150, 299, 42):
        lines.append(" ".join(many_line(rng, lab)))
    long_tok = "supercalifragilisticexpialidocious_goal_0123456789"
    assert len(long_tok) == 50
    edge = [
        "",                                   # empty: only EOS is a feature
        "   ",                                # spaces only
        " \t \t ",                            # tabs and spaces only
        "zzqx blorf quuxle",                  # all OOV
        "café",
        "日本 東京 寿司",                      # CJK
        "🍜 ⚽ 💻 ✈\ufe0f 👩\u200d💻",          # emoji, variation selector, ZWJ
        "Zürich straße данные São_Paulo",
        "cafe\u0301 crème",                   # decomposed é (different bytes from café)
        "the match __label__sports goal team",  # a known label inside the text
        "the match __label__x goal team",     # an unknown __label__ token
        "__label__sports",                    # nothing but a known label
        "#sports #zz pasta",                  # custom-prefix label tokens
        "goal\tteam\vscore\rplayer\fcoach",   # tab, VT, CR, FF separators
        "goal\x00team",                       # NUL is a separator for fastText
        "goal\u00a0team",                     # NBSP is NOT a separator (one token)
        "  goal   team  ",                    # leading/trailing/multiple spaces
        "goal team\r",                        # trailing CR (CRLF input)
        "goal team </s> recipe pasta sauce",  # a literal </s> ends the line early
        "goal goal goal goal goal",
        "GOAL Team Recipe",                   # case-sensitive
        long_tok,                             # 50-char token
        long_tok + " pasta",
        "< > <goal> goal>",                   # BOW/EOW characters inside tokens
        "k017a k017b grp0x1 the",             # keywords of the 300-label corpus
        " ".join(["recipe", "pasta", "flight", "hotel", "code"] * 40),  # 200 tokens
    ]
    lines += edge
    assert not any("\n" in l for l in lines)
    return lines


def test_words():
    """Words for get_word_vector: in-vocab (of some model) and OOV, ASCII and not."""
    return [
        "</s>", "the", "a", "goal", "team", "code", "recipe", "flight", "pasta", "hotel",
        "café", "crème", "日本", "東京", "寿司", "ラーメン", "🍜", "⚽", "✈\ufe0f", "👩\u200d💻",
        "straße", "Zürich", "données", "сервер", "São_Paulo", "k017a", "grp0x1",
        "", "goals", "coding", "cafés", "日本語", "東京都", "zzqx", "é", "🍣", "ab", "GOAL",
        "<goal>", "cafe\u0301", "__label__sports",
        "supercalifragilisticexpialidocious_goal_0123456789",
    ]


# ----------------------------------------------------------------------------- model plan

D = dict(thread=1, verbose=0)  # every training call: single thread (reproducible), quiet

SUP = dict(D, lr=0.5, epoch=15, dim=16)
PLAN = [
    # name, kind, corpus, params  (kind: sup / unsup)
    ("sup_softmax.bin", "sup", "sup.txt", dict(SUP, loss="softmax")),
    ("sup_hs.bin", "sup", "sup.txt", dict(SUP, loss="hs")),
    # ns with several non-default args, so a reader that swaps header fields is caught
    ("sup_ns.bin", "sup", "sup.txt", dict(SUP, loss="ns", neg=3, ws=4, minCount=2,
                                          lrUpdateRate=50, t=5e-4, epoch=12)),
    ("sup_ova.bin", "sup", "sup.txt", dict(SUP, loss="ova")),
    ("sup_ngrams.bin", "sup", "sup.txt", dict(SUP, loss="softmax", wordNgrams=2, minn=2,
                                              maxn=4, bucket=3000)),
    # every other loss with word bigrams and subwords too (hs, ns and ova each hash n-grams
    # into the same bucket rows but predict through a different output layer)
    ("sup_hs_ngrams.bin", "sup", "sup.txt", dict(SUP, loss="hs", wordNgrams=2, minn=2,
                                                 maxn=4, bucket=3000)),
    ("sup_ns_ngrams.bin", "sup", "sup.txt", dict(SUP, loss="ns", neg=4, wordNgrams=2,
                                                 minn=3, maxn=5, bucket=2500)),
    ("sup_ova_ngrams.bin", "sup", "sup.txt", dict(SUP, loss="ova", wordNgrams=3, minn=2,
                                                  maxn=3, bucket=2000)),
    ("sup_label_prefix.bin", "sup", "sup_hash.txt", dict(SUP, loss="softmax", dim=8, label="#")),
    ("sup_utf8.bin", "sup", "sup_utf8.txt", dict(SUP, loss="softmax", dim=12, wordNgrams=2,
                                                 minn=1, maxn=3, bucket=2000)),
    ("many_hs.bin", "sup", "many.txt", dict(D, loss="hs", lr=0.5, epoch=10, dim=10,
                                            wordNgrams=2, bucket=2000)),
    ("sg.bin", "unsup", "unsup.txt", dict(D, model="skipgram", dim=16, epoch=5, minCount=3,
                                          minn=3, maxn=5, bucket=4000)),
    ("cbow_nosub.bin", "unsup", "unsup.txt", dict(D, model="cbow", dim=12, epoch=5, minCount=3,
                                                  maxn=0)),
]
# name, source model, quantize() kwargs
QUANT = [
    ("sup_ngrams_q.ftz", "sup_ngrams.bin", dict()),
    ("sup_ngrams_qcut.ftz", "sup_ngrams.bin", dict(cutoff=400)),
    ("sup_ngrams_qnorm.ftz", "sup_ngrams.bin", dict(qnorm=True)),
    ("many_hs_qout.ftz", "many_hs.bin", dict(qout=True, dsub=3, qnorm=True)),
]
# a quantized model saved under a .bin name (BlazingText hosts `model.bin`)
RENAMED = [("sup_ngrams_qcut_renamed.bin", "sup_ngrams_qcut.ftz")]
# load_model + save_model of a pruned .ftz: the pruneidx pairs come out of an
# std::unordered_map, so the re-saved file lists them in another order (same model)
RESAVED = [("sup_ngrams_qcut_resaved.ftz", "sup_ngrams_qcut.ftz")]


def corpora():
    return {
        "sup.txt": labeled_corpus(1, 1500),
        "sup_hash.txt": labeled_corpus(1, 1500, prefix="#"),
        "sup_utf8.txt": labeled_corpus(3, 1500, extra=UTF8_EXTRA, label_names=UTF8_LABELS),
        "many.txt": many_label_corpus(5),
        "unsup.txt": unlabeled_corpus(7, 2500),
    }


# ----------------------------------------------------------------------------- helpers

def fl(a):
    """float32 array -> list of Python floats (exact: every f32 is a double)."""
    return [float(x) for x in np.asarray(a, dtype=np.float32).reshape(-1)]


def load(path):
    # _FastText directly: fasttext.load_model only adds a deprecation warning on stderr
    return _FT._FastText(model_path=path)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def header(path):
    with open(path, "rb") as f:
        magic, ver = struct.unpack("<ii", f.read(8))
    return {"magic": magic, "version": ver}


def call(fn):
    """Run fn; return ("ok", value) or ("error", "<ExcType>: message")."""
    try:
        return True, fn()
    except Exception as e:  # noqa: BLE001 - we record what the library raises
        return False, f"{type(e).__name__}: {e}"


def args_of(m):
    a = m.f.getArgs()
    return {
        "dim": a.dim, "ws": a.ws, "epoch": a.epoch, "minCount": a.minCount, "neg": a.neg,
        "wordNgrams": a.wordNgrams, "loss": a.loss.name, "loss_id": int(a.loss),
        "model": {"skipgram": "sg", "supervised": "sup"}.get(a.model.name, a.model.name),
        "model_id": int(a.model), "bucket": a.bucket, "minn": a.minn, "maxn": a.maxn,
        "lrUpdateRate": a.lrUpdateRate, "t": a.t,
        # not stored in the file: what getArgs() reports after a load (defaults)
        "label_after_load": a.label,
    }


def matrix_info(m, which):
    """Shape (and a digest of the f32 little-endian bytes) when the library exports it."""
    if which == "input":
        ok, v = call(m.get_input_matrix)
        via = "get_input_matrix()"
        if not ok:
            ok2, v2 = call(lambda: np.array(m.f.getInputMatrix()))
            if ok2:
                ok, v, via = ok2, v2, "f.getInputMatrix()"
            else:
                return {"shape": None, "available": False, "error": v, "error_low_level": v2}
    else:
        ok, v = call(m.get_output_matrix)
        via = "get_output_matrix()"
        if not ok:
            err = v
            ok, v = call(lambda: np.array(m.f.getOutputMatrix()))
            via = "f.getOutputMatrix() (get_output_matrix() refuses quantized models)"
            if not ok:
                return {"shape": None, "available": False, "error": err, "error_low_level": v}
    v = np.ascontiguousarray(v, dtype="<f4")
    return {"shape": list(v.shape), "available": True, "via": via,
            "sha256_f32le": hashlib.sha256(v.tobytes()).hexdigest(),
            "first_row": fl(v[0]), "last_row": fl(v[-1])}


def expectations(path, made_by, lines, words, pruned):
    name = os.path.basename(path)
    m = load(path)
    a = args_of(m)
    sup = a["model"] == "sup"
    wl, wc = m.get_words(include_freq=True)
    exp = {
        "schema": SCHEMA,
        "file": name,
        "file_size": os.path.getsize(path),
        "sha256": sha256(path),
        "header": header(path),
        "library": {"fasttext-wheel": FT_VERSION, "numpy": np.__version__},
        "made_by": made_by,
        "args": a,
        "is_quantized": bool(m.is_quantized()),
        "dimension": m.get_dimension(),
        "nwords": len(wl),
        "words": list(wl),
        "word_counts": [int(x) for x in wc],
    }
    if sup:
        ll, lc = m.get_labels(include_freq=True)
        exp.update(nlabels=len(ll), labels=list(ll), label_counts=[int(x) for x in lc])
    else:
        # get_labels() returns get_words() for unsupervised models; the file holds 0 labels
        exp.update(nlabels=0, labels=[], label_counts=[])
    exp["input_matrix"] = matrix_info(m, "input")
    exp["output_matrix"] = matrix_info(m, "output")

    # sample input rows through get_input_vector (decoded rows for .ftz): EOS, first and
    # last word, the rows of some words' subwords and, unless pruned, some bucket rows
    rows = {0, 1, len(wl) - 1}
    if a["bucket"] > 0 and not pruned:
        rows.update(len(wl) + b for b in (0, a["bucket"] // 2, a["bucket"] - 1))
    subwords = {}
    for w in ["goal", "café", "日本", "k017a", "zzqx", "</s>", "pasta"]:
        sw, ids = m.get_subwords(w)
        subwords[w] = {"subwords": list(sw), "ids": [int(i) for i in ids]}
        rows.update(int(i) for i in ids[:4])
    exp["subwords"] = subwords
    exp["input_rows"] = {str(r): fl(m.get_input_vector(r)) for r in sorted(rows)}

    # get_word_vector on a token that is a *label* of this model averages input row
    # <entry index> (>= nwords) plus its char n-grams: a bucket row when bucket > 0, and
    # an out-of-bounds read (garbage, differs per run) when bucket == 0.  Not recorded.
    label_set = set(exp["labels"])
    exp["word_vectors"] = [
        {"word": w, "vector": None, "skipped": "label entry of this model"} if w in label_set
        else {"word": w, "vector": fl(m.get_word_vector(w))}
        for w in words]

    preds = []
    for i, line in enumerate(lines):
        e = {"i": i, "text": line}
        tw, tl = m.get_line(line)
        e["get_line"] = {"words": list(tw), "labels": list(tl)}
        if sup:
            for key, kw in (("all", dict(k=-1, threshold=0.0)), ("top3", dict(k=3))):
                labs, probs = m.predict(line, **kw)
                e[key] = {"labels": list(labs), "probs": fl(probs)}
        e["sentence_vector"] = fl(m.get_sentence_vector(line))
        preds.append(e)
    if not sup:
        ok, err = call(lambda: m.predict("goal team"))
        exp["predict_error"] = None if ok else err
    exp["lines_file"] = "lines.txt"
    exp["predictions"] = preds
    return exp


def write_json(path, obj):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", action="append", default=[])
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    cdir = os.path.join(out, "corpora")
    os.makedirs(cdir, exist_ok=True)
    want = (lambda n: any(s in n for s in args.only)) if args.only else (lambda n: True)

    for fname, rows in corpora().items():
        with open(os.path.join(cdir, fname), "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(r + "\n" for r in rows))
    lines, words = test_lines(), test_words()
    with open(os.path.join(out, "lines.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(l + "\n" for l in lines))
    write_json(os.path.join(out, "lines.json"), lines)
    write_json(os.path.join(out, "words.json"), words)

    made = {}
    for name, kind, corpus, params in PLAN:
        made[name] = {"how": "train_supervised" if kind == "sup" else "train_unsupervised",
                      "corpus": f"corpora/{corpus}", "params": params}
        if not (want(name) or any(want(q) and src == name for q, src, _ in QUANT)):
            continue
        print(f"train {name}", file=sys.stderr)
        train = fasttext.train_supervised if kind == "sup" else fasttext.train_unsupervised
        m = train(input=os.path.join(cdir, corpus), **params)
        m.save_model(os.path.join(out, name))
    for name, src, q in QUANT:
        made[name] = {"how": "quantize", "from": src, "params": dict(q, retrain=False)}
        if not want(name) and not any(want(r) and s == name for r, s in RENAMED):
            continue
        print(f"quantize {name}", file=sys.stderr)
        m = load(os.path.join(out, src))
        m.quantize(retrain=False, **q)
        m.save_model(os.path.join(out, name))
    for name, src in RENAMED:
        made[name] = {"how": "quantize, saved under a .bin name (same bytes as the .ftz)",
                      "from": made[src]["from"], "same_bytes_as": src,
                      "params": made[src]["params"]}
        if not want(name):
            continue
        m = load(os.path.join(out, made[src]["from"]))
        m.quantize(**made[src]["params"])
        m.save_model(os.path.join(out, name))
        if sha256(os.path.join(out, name)) != sha256(os.path.join(out, src)):
            sys.exit(f"{name} differs from {src}")

    for name, src in RESAVED:
        made[name] = {"how": "load_model + save_model of another fixture", "from": src}
        if not want(name):
            continue
        load(os.path.join(out, src)).save_model(os.path.join(out, name))

    index = []
    for name in [p[0] for p in PLAN] + [q[0] for q in QUANT] + [r[0] for r in RENAMED + RESAVED]:
        path = os.path.join(out, name)
        stem = name.rsplit(".", 1)[0]
        if want(name):
            print(f"expect {name}", file=sys.stderr)
            src = name
            while "from" in made[src] and "cutoff" not in made[src].get("params", {}):
                src = made[src]["from"]
            pruned = "cutoff" in made[src].get("params", {})
            write_json(os.path.join(out, f"{stem}.expect.json"),
                       expectations(path, made[name], lines, words, pruned))
        index.append({"file": name, "expect": f"{stem}.expect.json",
                      "size": os.path.getsize(path), "sha256": sha256(path)})
    write_json(os.path.join(out, "index.json"),
               {"schema": SCHEMA, "library": {"fasttext-wheel": FT_VERSION}, "models": index})


if __name__ == "__main__":
    main()
