//! Prediction parity with fastText 0.9.2: for every fixture in
//! testdata/fasttext and every line of lines.json, `Predictor` gives the
//! labels and probabilities fastText gave (k = −1 and k = 3), the same
//! sentence vectors and word vectors, and the same tokenisation. Plus the
//! hash / n-gram test vectors of the reference note, the BlazingText JSON
//! helpers, and hostile synthetic models (errors, never panics or hangs).

use serde_json::{Value, json};
use sm_pack::Error;
use sm_pack::fasttext::{
    BlazingTextRequest, Model, PREDICT_ROW, Prediction, Predictor, char_ngram_buckets, hash,
    word_ngram_buckets,
};
use std::path::{Path, PathBuf};

const PROB_TOL: f64 = 1e-5;
const VEC_TOL: f64 = 1e-5;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fasttext")
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// (model file name, model path, expectations) for every fixture in index.json.
fn fixtures() -> Vec<(String, PathBuf, Value)> {
    let index = read_json(&dir().join("index.json"));
    let models = index["models"].as_array().expect("index.json lists models");
    assert_eq!(models.len(), 19, "the full fixture set");
    models
        .iter()
        .map(|m| {
            let name = m["file"].as_str().expect("file").to_string();
            let expect = read_json(&dir().join(m["expect"].as_str().expect("expect")));
            (name.clone(), dir().join(name), expect)
        })
        .collect()
}

fn lines() -> Vec<String> {
    let v = read_json(&dir().join("lines.json"));
    let lines: Vec<String> = v
        .as_array()
        .expect("lines.json is an array")
        .iter()
        .map(|l| l.as_str().expect("string").to_string())
        .collect();
    assert_eq!(lines.len(), 62);
    lines
}

/// Expected f32 values (stored as shortest round-trip doubles).
fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array of numbers")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("array of strings")
        .iter()
        .map(|x| x.as_str().expect("string").to_string())
        .collect()
}

#[derive(Default, Debug)]
struct Stats {
    lists: usize,
    entries: usize,
    max_prob_diff: f64,
    tie_reordered: usize,
    vectors: usize,
    max_vec_diff: f64,
}

/// Compares one prediction list with fastText's. Probabilities are compared
/// position by position (both lists are sorted by score). Labels must be
/// equal, except among labels whose fastText probabilities are equal (a
/// tie): there any order is accepted. `full` is fastText's k = −1 list, used
/// to see a tie group that k = 3 cut.
fn compare(
    ctx: &str,
    ours: &[Prediction<'_>],
    labels: &[String],
    probs: &[f32],
    full: (&[String], &[f32]),
    stats: &mut Stats,
) {
    assert_eq!(
        ours.len(),
        labels.len(),
        "{ctx}: {} labels, fastText gave {}: ours {:?} vs {labels:?}",
        ours.len(),
        labels.len(),
        ours.iter().map(|p| p.label_lossy()).collect::<Vec<_>>()
    );
    stats.lists += 1;
    let mut reordered = false;
    for (i, p) in ours.iter().enumerate() {
        stats.entries += 1;
        let d = (f64::from(p.prob) - f64::from(probs[i])).abs();
        stats.max_prob_diff = stats.max_prob_diff.max(d);
        assert!(
            d <= PROB_TOL,
            "{ctx}: position {i}: prob {} vs fastText {} ({})",
            p.prob,
            probs[i],
            labels[i]
        );
        let label = p.label_lossy();
        if label == labels[i].as_str() {
            continue;
        }
        // A tie: fastText's probability for our label equals the one at i.
        let theirs = full
            .0
            .iter()
            .position(|l| l.as_str() == label)
            .map(|j| full.1[j]);
        assert_eq!(
            theirs,
            Some(probs[i]),
            "{ctx}: position {i}: {label} instead of {} (not a tie)",
            labels[i]
        );
        reordered = true;
    }
    let mut seen: Vec<_> = ours.iter().map(|p| p.label_id).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), ours.len(), "{ctx}: a label listed twice");
    stats.tie_reordered += usize::from(reordered);
}

fn compare_vec(ctx: &str, ours: &[f32], want: &[f32], stats: &mut Stats) {
    assert_eq!(ours.len(), want.len(), "{ctx}: dimension");
    for (j, (a, b)) in ours.iter().zip(want).enumerate() {
        let d = (f64::from(*a) - f64::from(*b)).abs();
        stats.max_vec_diff = stats.max_vec_diff.max(d);
        assert!(d <= VEC_TOL, "{ctx}: [{j}] {a} vs fastText {b}");
    }
    stats.vectors += 1;
}

#[test]
fn every_fixture_predicts_like_fasttext() {
    let lines = lines();
    let mut total = Stats::default();
    let mut supervised = 0;
    for (name, path, expect) in fixtures() {
        let model = Model::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let predictor = Predictor::new(&model).unwrap_or_else(|e| panic!("{name}: {e}"));
        let is_sup = expect["args"]["model"] == "sup";
        assert_eq!(predictor.is_supervised(), is_sup, "{name}");
        supervised += usize::from(is_sup);
        let mut stats = Stats::default();
        let preds = expect["predictions"].as_array().expect("predictions");
        assert_eq!(preds.len(), lines.len(), "{name}");
        for (i, (line, p)) in lines.iter().zip(preds).enumerate() {
            assert_eq!(p["text"].as_str(), Some(line.as_str()), "{name} line {i}");
            let ctx = format!("{name} line {i} {line:?}");
            let text = line.as_bytes();

            // Tokenisation (getLine).
            let f = predictor.line_features(text);
            let words: Vec<String> = f
                .words
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            assert_eq!(words, strings(&p["get_line"]["words"]), "{ctx}: words");
            let labels: Vec<String> = f
                .labels
                .iter()
                .map(|&l| String::from_utf8_lossy(model.label(l).expect("label")).into_owned())
                .collect();
            assert_eq!(labels, strings(&p["get_line"]["labels"]), "{ctx}: labels");

            let sv = predictor.sentence_vector(text).expect("sentence vector");
            compare_vec(
                &format!("{ctx} sentence vector"),
                &sv,
                &floats(&p["sentence_vector"]),
                &mut stats,
            );

            if !is_sup {
                let err = predictor.predict(text, 1, 0.0).expect_err("unsupervised");
                assert!(matches!(err, Error::Usage { .. }), "{ctx}: {err}");
                continue;
            }
            let all_labels = strings(&p["all"]["labels"]);
            let all_probs = floats(&p["all"]["probs"]);
            let full = (all_labels.as_slice(), all_probs.as_slice());
            let all = predictor.predict(text, -1, 0.0).expect("predict k=-1");
            compare(
                &format!("{ctx} k=-1"),
                &all,
                &all_labels,
                &all_probs,
                full,
                &mut stats,
            );
            let top3 = predictor.predict(text, 3, 0.0).expect("predict k=3");
            compare(
                &format!("{ctx} k=3"),
                &top3,
                &strings(&p["top3"]["labels"]),
                &floats(&p["top3"]["probs"]),
                full,
                &mut stats,
            );
            // The hidden vector is the supervised sentence vector.
            let again = predictor.predict_hidden(&sv, -1, 0.0).expect("hidden");
            assert_eq!(again, all, "{ctx}: predict_hidden");
        }

        for wv in expect["word_vectors"].as_array().expect("word_vectors") {
            let word = wv["word"].as_str().expect("word");
            if wv["vector"].is_null() {
                continue; // a label: fastText reads an unrelated row
            }
            let v = predictor.word_vector(word.as_bytes()).expect("word vector");
            compare_vec(
                &format!("{name} word vector {word:?}"),
                &v,
                &floats(&wv["vector"]),
                &mut stats,
            );
        }
        eprintln!(
            "{name}: {} lists ({} entries), max |Δp| {:.2e}, {} tie reorderings; {} vectors, max |Δ| {:.2e}",
            stats.lists,
            stats.entries,
            stats.max_prob_diff,
            stats.tie_reordered,
            stats.vectors,
            stats.max_vec_diff
        );
        total.lists += stats.lists;
        total.entries += stats.entries;
        total.max_prob_diff = total.max_prob_diff.max(stats.max_prob_diff);
        total.tie_reordered += stats.tie_reordered;
        total.vectors += stats.vectors;
        total.max_vec_diff = total.max_vec_diff.max(stats.max_vec_diff);
    }
    eprintln!("total: {total:?}");
    assert_eq!(supervised, 17);
    assert_eq!(total.lists, 17 * 62 * 2);
    // Stricter than required: the libstdc++ heap is replayed, so even tied
    // labels (23 lines of sup_ova, 1 of many_hs) come in fastText's order.
    assert_eq!(total.tie_reordered, 0, "tie order differs from fastText's");
}

#[test]
fn predictor_is_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Predictor<'static>>();
    assert_send_sync::<Prediction<'static>>();
}

// ---------------------------------------------------------------------------- test vectors

#[test]
fn hash_test_vectors() {
    assert_eq!(hash(b"</s>"), 3_617_362_777);
    assert_eq!(hash(b"hello"), 1_335_831_723);
    assert_eq!(hash("café".as_bytes()), 1_970_454_601);
    assert_eq!(hash("日本".as_bytes()), 4_164_387_409);
    assert_eq!(hash(b"__label__en"), 3_409_607_150);
}

#[test]
fn char_ngram_test_vector() {
    let mut b = char_ngram_buckets("Daniël".as_bytes(), 3, 6, 2_000_000);
    b.sort_unstable();
    assert_eq!(
        b,
        [
            69886, 84537, 338340, 441697, 448390, 468430, 504093, 573175, 749365, 804851, 811506,
            991985, 1022467, 1105725, 1249224, 1418443, 1493412, 1880616
        ]
    );
    // minn = 1: no 1-character n-gram at either boundary.
    let one = char_ngram_buckets(b"ab", 1, 1, 1000);
    assert_eq!(one, [hash(b"a") % 1000, hash(b"b") % 1000]);
    // The whole bracketed word when short enough.
    assert!(char_ngram_buckets(b"ab", 4, 4, 1000).contains(&(hash(b"<ab>") % 1000)));
    // No subwords at all.
    assert!(char_ngram_buckets(b"abc", 3, 0, 1000).is_empty());
    assert!(char_ngram_buckets(b"abc", 3, 6, 0).is_empty());
}

#[test]
fn word_ngram_test_vector() {
    let tokens: [&[u8]; 2] = [b"hello", b"</s>"];
    assert_eq!(word_ngram_buckets(&tokens, 2, 2_000_000), [391_714]);
    // Without the sign extension it would be 1359010.
    let three: [&[u8]; 3] = [b"a", b"b", b"c"];
    assert_eq!(word_ngram_buckets(&three, 3, 1000).len(), 3); // ab, abc, bc
    assert!(word_ngram_buckets(&three, 1, 1000).is_empty());
}

// ---------------------------------------------------------------------------- API details

fn load(name: &str) -> Model {
    Model::load(&dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn k_threshold_and_errors() {
    let model = load("sup_softmax.bin");
    let p = Predictor::new(&model).expect("predictor");
    for k in [0, -2, i32::MIN] {
        let err = p.predict(b"goal team", k, 0.0).expect_err("bad k");
        assert!(
            err.to_string().contains("k needs to be 1 or higher"),
            "{err}"
        );
    }
    let all = p.predict(b"goal team", -1, 0.0).expect("all");
    assert_eq!(all.len(), 4);
    assert_eq!(p.predict(b"goal team", 100, 0.0).expect("k>n"), all);
    assert_eq!(p.predict(b"goal team", 1, 0.0).expect("k=1")[..], all[..1]);
    // The threshold applies to the raw probability.
    let top = all[0].prob;
    assert_eq!(p.predict(b"goal team", -1, top - 2e-5).expect("t").len(), 1);
    assert!(p.predict(b"goal team", -1, 1.5).expect("t>1").is_empty());
    let nan = p
        .predict(b"goal team", -1, f32::NAN)
        .expect("NaN threshold");
    assert_eq!(nan.len(), 4);
    // Only the first line is read; the rest is ignored.
    assert_eq!(
        p.predict(b"goal team\nrecipe pasta", -1, 0.0).expect("nl"),
        all
    );
    // The word vector of a label is that of an unknown word (zeros here).
    let v = p.word_vector(b"__label__sports").expect("label vector");
    assert!(v.iter().all(|&x| x == 0.0));

    let sg = load("sg.bin");
    let p = Predictor::new(&sg).expect("predictor");
    let err = p.predict(b"goal", 1, 0.0).expect_err("unsupervised");
    assert!(err.to_string().contains("supervised"), "{err}");
    assert!(p.predict_hidden(&[0.0; 16], 1, 0.0).is_err());
    assert!(
        p.sentence_vector(b"")
            .expect("empty")
            .iter()
            .all(|&x| x == 0.0)
    );
}

#[test]
fn blazingtext_json() {
    let model = load("sup_ova.bin");
    let p = Predictor::new(&model).expect("predictor");
    let lines = ["great bread hostel by good kitchen", ""];
    let r = p.blazingtext_response(&lines, None).expect("response");
    let arr = r.as_array().expect("array");
    assert_eq!(arr.len(), 2);
    for (o, line) in arr.iter().zip(lines) {
        let keys: Vec<&String> = o.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["label", "prob"]);
        let want = p.predict(line.as_bytes(), 1, 0.0).expect("predict");
        assert_eq!(o["label"], json!([want[0].label_lossy()]));
        // The f32 probability, written as a double (like the endpoint).
        assert_eq!(o["prob"], json!([f64::from(want[0].prob)]));
    }
    let r = p.blazingtext_classify(&lines[..1], Some(3)).expect("k=3");
    assert_eq!(r[0]["label"].as_array().map(Vec::len), Some(3));
    assert!(p.blazingtext_classify(&lines, Some(0)).is_err());

    let sg = load("sg.bin");
    let p = Predictor::new(&sg).expect("predictor");
    let r = p
        .blazingtext_response(&["goal", "zzqx", "</s>"], Some(5))
        .expect("word2vec");
    assert_eq!(r[0]["word"], "goal");
    assert_eq!(r[0]["vector"].as_array().map(Vec::len), Some(16));
    let cb = load("cbow_nosub.bin");
    let p = Predictor::new(&cb).expect("predictor");
    let r = p.blazingtext_word2vec(&["zzqx-unknown"]).expect("oov");
    assert_eq!(
        r[0]["vector"],
        json!(vec![0.0; 12]),
        "OOV without subwords: zeros"
    );

    let req =
        BlazingTextRequest::from_json(br#"{"instances": ["a b", "c"], "configuration": {"k": 2}}"#)
            .expect("request");
    assert_eq!(req.instances, ["a b", "c"]);
    assert_eq!(req.k, Some(2));
    let req = BlazingTextRequest::from_json(br#"{"instances": []}"#).expect("no k");
    assert_eq!(req.k, None);
    for bad in [
        &b"not json"[..],
        br#"{"instances": "x"}"#,
        br#"{"instances": [1]}"#,
        br#"{"instances": [], "configuration": {"k": 1.5}}"#,
        br#"{"instances": [], "configuration": {"k": 99999999999}}"#,
    ] {
        let err = BlazingTextRequest::from_json(bad).expect_err("bad request");
        assert!(matches!(err, Error::Usage { .. }), "{err}");
    }
}

// ---------------------------------------------------------------------------- hostile models

/// A minimal consistent v12 model. `labels` are (name, count); `input` and
/// `output` give every weight (row-major); both matrices are dense.
struct Synth {
    model: i32,
    loss: i32,
    dim: i32,
    word_ngrams: i32,
    bucket: i32,
    minn: i32,
    maxn: i32,
    words: Vec<(Vec<u8>, i64)>,
    labels: Vec<(Vec<u8>, i64)>,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl Synth {
    fn sup(loss: i32, words: &[&str], labels: &[(&str, i64)], dim: i32) -> Synth {
        let words: Vec<(Vec<u8>, i64)> = words.iter().map(|w| (w.as_bytes().to_vec(), 5)).collect();
        let labels: Vec<(Vec<u8>, i64)> = labels
            .iter()
            .map(|(l, c)| (l.as_bytes().to_vec(), *c))
            .collect();
        let d = dim as usize;
        Synth {
            model: 3,
            loss,
            dim,
            word_ngrams: 1,
            bucket: 0,
            minn: 0,
            maxn: 0,
            input: (0..words.len() * d)
                .map(|k| (k % 13) as f32 / 13.0 - 0.4)
                .collect(),
            output: (0..labels.len() * d)
                .map(|k| (k % 7) as f32 / 7.0 - 0.5)
                .collect(),
            words,
            labels,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(793_712_314i32.to_le_bytes());
        b.extend(12i32.to_le_bytes());
        let args = [
            self.dim,
            5,
            5,
            1,
            5,
            self.word_ngrams,
            self.loss,
            self.model,
            self.bucket,
            self.minn,
            self.maxn,
            100,
        ];
        args.iter().for_each(|v| b.extend(v.to_le_bytes()));
        b.extend(1e-4f64.to_le_bytes());
        let (nw, nl) = (self.words.len() as i32, self.labels.len() as i32);
        for v in [nw + nl, nw, nl] {
            b.extend(v.to_le_bytes());
        }
        b.extend(100i64.to_le_bytes());
        b.extend((-1i64).to_le_bytes());
        for (w, c, t) in self
            .words
            .iter()
            .map(|(w, c)| (w, c, 0u8))
            .chain(self.labels.iter().map(|(w, c)| (w, c, 1u8)))
        {
            b.extend(w);
            b.push(0);
            b.extend(c.to_le_bytes());
            b.push(t);
        }
        let dim = i64::from(self.dim);
        b.push(0);
        b.extend(((self.input.len() as i64) / dim).to_le_bytes());
        b.extend(dim.to_le_bytes());
        self.input.iter().for_each(|v| b.extend(v.to_le_bytes()));
        b.push(0);
        b.extend(((self.output.len() as i64) / dim).to_le_bytes());
        b.extend(dim.to_le_bytes());
        self.output.iter().for_each(|v| b.extend(v.to_le_bytes()));
        b
    }

    fn load(&self) -> Model {
        let bytes = self.bytes();
        Model::read_from(bytes.as_slice(), Some(bytes.len() as u64)).expect("synthetic model loads")
    }
}

const LABELS4: [(&str, i64); 4] = [
    ("__label__a", 40),
    ("__label__b", 30),
    ("__label__c", 20),
    ("__label__d", 10),
];

#[test]
fn synthetic_models_predict() {
    for loss in 1..=4 {
        let m = Synth::sup(loss, &["</s>", "goal", "team"], &LABELS4, 4).load();
        let p = Predictor::new(&m).expect("predictor");
        let all = p.predict(b"goal team", -1, 0.0).expect("predict");
        assert!(!all.is_empty() && all.len() <= 4, "loss {loss}");
        assert!(all.windows(2).all(|w| w[0].score >= w[1].score));
        // Label-only line: EOS alone.
        let eos = p
            .predict(b"__label__a __label__zz", -1, 0.0)
            .expect("labels only");
        assert_eq!(eos, p.predict(b"", -1, 0.0).expect("empty"));
    }
    // One label with hierarchical softmax: a tree of one leaf.
    let m = Synth::sup(1, &["</s>", "goal"], &[("__label__only", 3)], 4).load();
    let p = Predictor::new(&m).expect("predictor");
    let r = p.predict(b"goal", -1, 0.0).expect("predict");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].score, 0.0);
    // No `</s>` in the dictionary and nothing known: no features, no labels.
    let m = Synth::sup(3, &["goal"], &LABELS4, 4).load();
    let p = Predictor::new(&m).expect("predictor");
    assert!(p.predict(b"zzz", -1, 0.0).expect("empty").is_empty());
    assert_eq!(p.sentence_vector(b"zzz").expect("zeros"), [0.0; 4]);
}

#[test]
fn hostile_models_fail_cleanly() {
    // NaN in the output matrix: fastText throws "Encountered NaN."; so do we.
    let mut s = Synth::sup(3, &["</s>", "goal"], &LABELS4, 4);
    s.output[5] = f32::NAN;
    let m = s.load();
    let p = Predictor::new(&m).expect("predictor");
    let err = p.predict(b"goal", -1, 0.0).expect_err("NaN");
    assert!(
        matches!(&err, Error::InvalidModel { finding, .. } if finding.code == "ft.weights.nan"),
        "{err}"
    );
    assert!(p.sentence_vector(b"goal").is_ok());

    // Infinite input weights: no panic, whatever comes out.
    for loss in 1..=4 {
        let mut s = Synth::sup(loss, &["</s>", "goal"], &LABELS4, 4);
        s.input[0] = f32::INFINITY;
        s.input[1] = f32::NEG_INFINITY;
        let m = s.load();
        let p = Predictor::new(&m).expect("predictor");
        let _ = p.predict(b"goal", -1, 0.0);
        let _ = p.blazingtext_classify(&["goal"], None);
    }

    // Label counts of 1e15 or more make fastText's Huffman construction build
    // a cycle (it then recurses forever): refused up front.
    let big = [
        ("__label__a", 2_000_000_000_000_000i64),
        ("__label__b", i64::MAX),
    ];
    let m = Synth::sup(1, &["</s>"], &big, 4).load();
    let err = Predictor::new(&m).expect_err("cyclic tree");
    assert!(
        matches!(&err, Error::InvalidModel { finding, .. } if finding.code == PREDICT_ROW),
        "{err}"
    );
    // Softmax does not use the counts.
    let m = Synth::sup(3, &["</s>"], &big, 4).load();
    assert_eq!(
        Predictor::new(&m)
            .expect("softmax")
            .predict(b"", -1, 0.0)
            .expect("p")
            .len(),
        2
    );

    // Many labels whose count sums overflow i64 (fastText wraps), with
    // non-UTF-8 names: a valid tree, and no panic.
    let n = 12_000;
    let labels: Vec<(Vec<u8>, i64)> = (0..n)
        .map(|i| {
            let mut name = format!("__label__{i}").into_bytes();
            name.push(0xFF);
            (name, 999_999_999_999_999 - i as i64)
        })
        .collect();
    let mut s = Synth::sup(1, &["</s>", "goal"], &[], 1);
    s.output = (0..n).map(|k| (k % 5) as f32 - 2.0).collect();
    s.labels = labels;
    let m = s.load();
    let p = Predictor::new(&m).expect("predictor");
    let r = p.predict(b"goal", -1, 0.0).expect("predict");
    assert!(r.len() <= n);
    let j = p.blazingtext_classify(&["goal"], Some(2)).expect("json");
    assert!(
        j[0]["label"][0]
            .as_str()
            .is_some_and(|l| l.ends_with('\u{FFFD}'))
    );

    // Hostile text: a long token, many separators, invalid UTF-8, lone
    // continuation bytes, with char and word n-grams.
    let mut s = Synth::sup(2, &["</s>", "goal"], &LABELS4, 4);
    s.word_ngrams = 3;
    s.bucket = 50;
    s.minn = 1;
    s.maxn = 6;
    s.input = (0..(2 + 50) * 4).map(|k| (k % 11) as f32 / 11.0).collect();
    let m = s.load();
    let p = Predictor::new(&m).expect("predictor");
    let mut text = vec![b'x'; 100_000];
    text.extend(b" \x80\x80\xff\xfe \0\0 goal \xc3");
    assert!(!p.predict(&text, 2, 0.0).expect("long").is_empty());
    assert_eq!(p.word_vector(b"\x80").expect("lone continuation").len(), 4);
    let _ = p.sentence_vector(&text).expect("sentence");
}
