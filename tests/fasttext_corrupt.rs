//! Corrupt, truncated, absurd and foreign inputs: every one gives a precise
//! finding or error (with byte offsets) and none panics. Synthetic models
//! come from a small writer below; real ones from testdata/fasttext.

use sm_pack::fasttext::{
    Inspection, Model, Options, Validator, examine_file, inspect_file, read_from,
};
use sm_pack::{Error, Location, Severity};
use std::io::Write;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------- synthetic models

#[derive(Clone, Debug)]
enum Mat {
    Dense {
        m: i64,
        n: i64,
        data: Vec<f32>,
    },
    Quant {
        qnorm: u8,
        m: i64,
        n: i64,
        codesize: i32,
        codes: Vec<u8>,
        pq: [i32; 4],
        centroids: Vec<f32>,
        norm: Option<(Vec<u8>, [i32; 4], Vec<f32>)>,
    },
}

impl Mat {
    fn dense(m: i64, n: i64) -> Mat {
        let data = (0..m * n).map(|k| (k % 97) as f32 / 97.0 - 0.5).collect();
        Mat::Dense { m, n, data }
    }

    fn quant(m: i64, n: i64, dsub: i32, qnorm: bool) -> Mat {
        let dim = n as i32;
        let nsubq = (dim + dsub - 1) / dsub;
        let last = if dim % dsub == 0 { dsub } else { dim % dsub };
        Mat::Quant {
            qnorm: u8::from(qnorm),
            m,
            n,
            codesize: (m as i32) * nsubq,
            codes: (0..m * i64::from(nsubq))
                .map(|k| (k * 7 % 256) as u8)
                .collect(),
            pq: [dim, nsubq, dsub, last],
            centroids: (0..dim * 256).map(|k| k as f32 / 1000.0).collect(),
            norm: qnorm.then(|| {
                (
                    (0..m).map(|k| (k % 256) as u8).collect(),
                    [1, 1, 1, 1],
                    (0..256).map(|k| 1.0 + k as f32 / 256.0).collect(),
                )
            }),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Mat::Dense { m, n, data } => {
                out.extend(m.to_le_bytes());
                out.extend(n.to_le_bytes());
                data.iter().for_each(|v| out.extend(v.to_le_bytes()));
            }
            Mat::Quant {
                qnorm,
                m,
                n,
                codesize,
                codes,
                pq,
                centroids,
                norm,
            } => {
                out.push(*qnorm);
                out.extend(m.to_le_bytes());
                out.extend(n.to_le_bytes());
                out.extend(codesize.to_le_bytes());
                out.extend(codes);
                pq.iter().for_each(|v| out.extend(v.to_le_bytes()));
                centroids.iter().for_each(|v| out.extend(v.to_le_bytes()));
                if let Some((nc, npq, nce)) = norm {
                    out.extend(nc);
                    npq.iter().for_each(|v| out.extend(v.to_le_bytes()));
                    nce.iter().for_each(|v| out.extend(v.to_le_bytes()));
                }
            }
        }
    }
}

/// Args indices.
const DIM: usize = 0;
const WNG: usize = 5;
const LOSS: usize = 6;
const MODEL: usize = 7;
const BUCKET: usize = 8;
const MINN: usize = 9;
const MAXN: usize = 10;

#[derive(Clone, Debug)]
struct Synth {
    magic: i32,
    version: i32,
    args: [i32; 12],
    t: f64,
    size: i32,
    nwords: i32,
    nlabels: i32,
    ntokens: i64,
    pruneidx_size: i64,
    entries: Vec<(Vec<u8>, i64, i8)>,
    pairs: Vec<(i32, i32)>,
    quant: u8,
    input: Mat,
    qout: u8,
    output: Mat,
}

impl Synth {
    /// A consistent supervised model: `nwords` words (counts descending), `nlabels` labels.
    fn sup(nwords: usize, nlabels: usize, dim: i32, bucket: i32) -> Synth {
        let mut entries: Vec<(Vec<u8>, i64, i8)> = vec![(b"</s>".to_vec(), 1000, 0)];
        for k in 1..nwords {
            entries.push((format!("w{k}").into_bytes(), 900 - k as i64, 0));
        }
        for k in 0..nlabels {
            entries.push((format!("__label__l{k}").into_bytes(), 500 - k as i64, 1));
        }
        let word_ngrams = if bucket > 0 { 2 } else { 1 };
        Synth {
            magic: 793_712_314,
            version: 12,
            args: [dim, 5, 5, 1, 5, word_ngrams, 3, 3, bucket, 0, 0, 100],
            t: 1e-4,
            size: (nwords + nlabels) as i32,
            nwords: nwords as i32,
            nlabels: nlabels as i32,
            ntokens: 12345,
            pruneidx_size: -1,
            entries,
            pairs: vec![],
            quant: 0,
            input: Mat::dense(nwords as i64 + i64::from(bucket), i64::from(dim)),
            qout: 0,
            output: Mat::dense(nlabels as i64, i64::from(dim)),
        }
    }

    /// A consistent skipgram model with subwords.
    fn sg(nwords: usize, dim: i32, bucket: i32) -> Synth {
        let mut s = Synth::sup(nwords, 0, dim, bucket);
        s.args[LOSS] = 2;
        s.args[MODEL] = 2;
        s.args[WNG] = 1;
        s.args[MINN] = 3;
        s.args[MAXN] = 6;
        s.output = Mat::dense(nwords as i64, i64::from(dim));
        s
    }

    fn quantized(mut self, dsub: i32, qnorm: bool) -> Synth {
        let (m, n) = match &self.input {
            Mat::Dense { m, n, .. } | Mat::Quant { m, n, .. } => (*m, *n),
        };
        self.quant = 1;
        self.input = Mat::quant(m, n, dsub, qnorm);
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut o = Vec::new();
        o.extend(self.magic.to_le_bytes());
        o.extend(self.version.to_le_bytes());
        self.args.iter().for_each(|v| o.extend(v.to_le_bytes()));
        o.extend(self.t.to_le_bytes());
        o.extend(self.size.to_le_bytes());
        o.extend(self.nwords.to_le_bytes());
        o.extend(self.nlabels.to_le_bytes());
        o.extend(self.ntokens.to_le_bytes());
        o.extend(self.pruneidx_size.to_le_bytes());
        for (w, c, t) in &self.entries {
            o.extend(w);
            o.push(0);
            o.extend(c.to_le_bytes());
            o.push(*t as u8);
        }
        for (k, v) in &self.pairs {
            o.extend(k.to_le_bytes());
            o.extend(v.to_le_bytes());
        }
        o.push(self.quant);
        self.input.write(&mut o);
        o.push(self.qout);
        self.output.write(&mut o);
        o
    }

    /// Byte offset of entry `i`.
    fn entry_offset(&self, i: usize) -> u64 {
        92 + self.entries[..i]
            .iter()
            .map(|(w, _, _)| w.len() as u64 + 10)
            .sum::<u64>()
    }
}

// ---------------------------------------------------------------------------- helpers

fn allow() -> Options {
    Options::default().allow_quantized(true)
}

/// Inspects `bytes` three ways (known length, unknown length, push in odd
/// chunks) and checks they agree on the findings; returns the known-length one.
fn inspect(bytes: &[u8]) -> Inspection {
    let known =
        read_from(bytes, Some(bytes.len() as u64), &allow()).unwrap_or_else(|e| panic!("{e}"));
    let unknown = read_from(bytes, None, &allow()).unwrap_or_else(|e| panic!("{e}"));
    let mut v = Validator::new(&allow());
    for c in bytes.chunks(13) {
        v.write_all(c).unwrap();
    }
    let pushed = v.finish().unwrap();
    assert_eq!(unknown, pushed);
    let codes = |i: &Inspection| {
        i.findings
            .iter()
            .map(|f| f.code.clone())
            .collect::<Vec<_>>()
    };
    if known.truncation.is_none() {
        assert_eq!(known, unknown);
    } else {
        // With a known length the claim fails up front; without, at EOF.
        assert_eq!(codes(&known), codes(&unknown));
        assert_eq!(
            known.truncation.as_ref().map(|t| t.file_len),
            unknown.truncation.as_ref().map(|t| t.file_len)
        );
    }
    known
}

fn find<'a>(i: &'a Inspection, code: &str) -> &'a sm_pack::Finding {
    i.findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} finding in {:#?}", i.findings))
}

fn has(i: &Inspection, code: &str) -> bool {
    i.findings.iter().any(|f| f.code == code)
}

fn offset_of(f: &sm_pack::Finding) -> u64 {
    match f.location {
        Some(Location::Offset(o)) => o,
        ref other => panic!("expected a byte offset, got {other:?}"),
    }
}

fn errors(i: &Inspection) -> Vec<&str> {
    i.findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.code.as_str())
        .collect()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/fasttext")
            .join(name),
    )
    .unwrap()
}

fn put_i32(b: &mut [u8], at: usize, v: i32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_i64(b: &mut [u8], at: usize, v: i64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn unrecognized(bytes: &[u8]) -> String {
    match read_from(bytes, Some(bytes.len() as u64), &allow()) {
        Err(Error::UnrecognizedFormat { what, .. }) => what,
        other => panic!("expected UnrecognizedFormat, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------- synthetic: valid

#[test]
fn synthetic_models_are_clean() {
    for s in [
        Synth::sup(20, 3, 8, 0),
        Synth::sup(20, 3, 8, 50),
        Synth::sg(30, 4, 40),
    ] {
        let i = inspect(&s.bytes());
        let serious: Vec<_> = i
            .findings
            .iter()
            .filter(|f| f.severity > Severity::Info)
            .collect();
        assert!(serious.is_empty(), "{serious:#?}");
        assert!(i.complete);
    }
    let q = Synth::sup(20, 3, 8, 250).quantized(2, true);
    let i = inspect(&q.bytes());
    assert_eq!(
        i.findings
            .iter()
            .map(|f| f.code.as_str())
            .collect::<Vec<_>>(),
        ["bt.quantized"]
    );
    assert_eq!(i.findings[0].severity, Severity::Warning);
    let m = Model::read_from(q.bytes().as_slice(), None).unwrap();
    assert!(m.is_quantized());
    assert_eq!(m.input().rows(), 270);
    // decoded row 1: codes (k*7 % 256) for k = 4..8, centroids k/1000, norm 1 + 1/256
    let row = m.input().row(1).unwrap();
    let norm = 1.0 + 1.0 / 256.0_f32;
    for s in 0..4usize {
        let code = ((4 + s) * 7 % 256) as f32;
        for d in 0..2usize {
            let c = ((s * 256) as f32 + code) * 2.0 + d as f32;
            let want = norm * (c / 1000.0);
            assert!(
                (row[s * 2 + d] - want).abs() < 1e-6,
                "row[{}] {} vs {want}",
                s * 2 + d,
                row[s * 2 + d]
            );
        }
    }
}

// ---------------------------------------------------------------------------- header and args

#[test]
fn version_rules() {
    let mut s = Synth::sup(10, 2, 4, 0);
    s.version = 13;
    let i = inspect(&s.bytes());
    assert_eq!(offset_of(find(&i, "ft.header.version")), 4);
    assert!(!i.complete, "parsing stops at a newer version");
    assert!(i.args.is_none());

    s.version = 3;
    let i = inspect(&s.bytes());
    assert!(errors(&i).contains(&"ft.header.version"));
    assert!(i.complete, "an older version is parsed with the v12 layout");

    // version 11 supervised: maxn forced to 0 (subwords off), noted
    let mut s = Synth::sup(10, 2, 4, 30);
    s.version = 11;
    s.args[MINN] = 2;
    s.args[MAXN] = 4;
    let i = inspect(&s.bytes());
    let f = find(&i, "ft.header.version11");
    assert_eq!(f.severity, Severity::Info);
    assert!(f.message.contains("stored maxn: 4"), "{}", f.message);
    assert_eq!(i.args.as_ref().unwrap().maxn, 0);
    assert!(errors(&i).is_empty(), "{:?}", errors(&i));
}

#[test]
fn impossible_args() {
    let base = Synth::sup(10, 2, 4, 0);
    let case = |idx: usize, v: i32| {
        let mut s = base.clone();
        s.args[idx] = v;
        inspect(&s.bytes())
    };
    assert_eq!(offset_of(find(&case(LOSS, 9), "ft.args.loss")), 32);
    assert_eq!(offset_of(find(&case(LOSS, 0), "ft.args.loss")), 32);
    let i = case(MODEL, 7);
    assert_eq!(offset_of(find(&i, "ft.args.model")), 36);
    assert_eq!(i.blazingtext, None);
    let i = case(DIM, 0);
    assert_eq!(offset_of(find(&i, "ft.args.dim")), 8);
    assert!(
        has(&i, "ft.matrix.cols"),
        "matrices of width 4 against dim 0"
    );
    assert!(has(&case(DIM, -5), "ft.args.dim"));
    assert!(has(&case(BUCKET, -1), "ft.args.bucket"));

    // minn > maxn with maxn > 0 is an error; minn 3 with maxn 0 (fastText's cbow default) is fine
    let mut s = base.clone();
    s.args[MINN] = 5;
    s.args[MAXN] = 3;
    s.args[BUCKET] = 0;
    let i = inspect(&s.bytes());
    assert_eq!(offset_of(find(&i, "ft.args.minn_maxn")), 44);
    let mut s = base.clone();
    s.args[MINN] = 3;
    s.args[MAXN] = 0;
    assert!(!has(&inspect(&s.bytes()), "ft.args.minn_maxn"));

    // bucket 0 with subwords or word n-grams: fastText would divide by zero
    let mut s = base.clone();
    s.args[MAXN] = 4;
    let f = find(&inspect(&s.bytes()), "ft.args.bucket").clone();
    assert!(f.message.contains("maxn 4"), "{}", f.message);
    let mut s = base.clone();
    s.args[WNG] = 3;
    assert!(
        find(&inspect(&s.bytes()), "ft.args.bucket")
            .message
            .contains("wordNgrams 3")
    );

    // bucket rows present but never used
    let mut s = Synth::sup(10, 2, 4, 20);
    s.args[WNG] = 1;
    let f = find(&inspect(&s.bytes()), "ft.args.unused_buckets").clone();
    assert_eq!(f.severity, Severity::Info);
}

// ---------------------------------------------------------------------------- dictionary

#[test]
fn dictionary_problems() {
    let base = Synth::sup(12, 3, 4, 0);

    let mut s = base.clone();
    s.size = 14;
    let i = inspect(&s.bytes());
    assert_eq!(offset_of(find(&i, "ft.dict.size")), 64);

    let mut s = base.clone();
    s.nwords = -1;
    s.size = 2;
    assert!(has(&inspect(&s.bytes()), "ft.dict.size"));

    let mut s = base.clone();
    s.entries[4].1 = -7;
    let i = inspect(&s.bytes());
    let f = find(&i, "ft.dict.count");
    assert_eq!(
        offset_of(f),
        s.entry_offset(4) + 3,
        "points at the count (word w4 + NUL)"
    );
    assert!(f.message.contains("entry 4"));

    let mut s = base.clone();
    s.entries[5].2 = 2;
    let i = inspect(&s.bytes());
    assert_eq!(
        offset_of(find(&i, "ft.dict.type")),
        s.entry_offset(5) + 3 + 8
    );
    assert!(has(&i, "ft.dict.type_totals"));

    // a label among the words
    let mut s = base.clone();
    s.entries[6].2 = 1;
    let i = inspect(&s.bytes());
    assert_eq!(
        offset_of(find(&i, "ft.dict.label_before_word")),
        s.entry_offset(7)
    );
    assert!(has(&i, "ft.dict.type_totals"));

    // counts out of order: warning
    let mut s = base.clone();
    s.entries[3].1 = 5000;
    let i = inspect(&s.bytes());
    let f = find(&i, "ft.dict.unsorted");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(offset_of(f), s.entry_offset(3));
    assert!(errors(&i).is_empty());

    // duplicates: warning at the later copy
    let mut s = base.clone();
    s.entries[9].0 = b"w2".to_vec();
    let i = inspect(&s.bytes());
    let f = find(&i, "ft.dict.duplicate");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("entries 2 and 9"), "{}", f.message);
    assert_eq!(offset_of(f), s.entry_offset(9));
    // fastText's lookup finds the last copy; the model reproduces that
    let m = Model::read_from(s.bytes().as_slice(), None).unwrap();
    assert_eq!(m.word_id(b"w2"), Some(9));

    let mut s = base.clone();
    s.entries[2].0 = b"two words".to_vec();
    s.entries[3].0 = vec![0xff, 0xfe];
    let i = inspect(&s.bytes());
    assert_eq!(offset_of(find(&i, "ft.dict.whitespace")), s.entry_offset(2));
    assert_eq!(offset_of(find(&i, "ft.dict.utf8")), s.entry_offset(3));

    // an empty dictionary: fastText divides by zero
    let mut s = base.clone();
    s.entries.clear();
    s.size = 0;
    s.nwords = 0;
    s.nlabels = 0;
    s.input = Mat::dense(0, 4);
    s.output = Mat::dense(0, 4);
    let i = inspect(&s.bytes());
    assert!(has(&i, "ft.dict.empty"));
    assert!(has(&i, "ft.labels.missing"));

    let mut s = base.clone();
    s.ntokens = -1;
    assert_eq!(
        find(&inspect(&s.bytes()), "ft.dict.ntokens").severity,
        Severity::Warning
    );
}

#[test]
fn labels_and_model_kind() {
    // supervised without labels
    let s = Synth::sup(10, 0, 4, 0);
    let i = inspect(&s.bytes());
    assert_eq!(find(&i, "ft.labels.missing").severity, Severity::Error);

    // skipgram with labels
    let mut s = Synth::sg(10, 4, 20);
    s.entries.push((b"__label__x".to_vec(), 3, 1));
    s.nlabels = 1;
    s.size = 11;
    assert!(has(&inspect(&s.bytes()), "ft.labels.unexpected"));

    // mixed label prefixes: warning; a consistent custom prefix: info
    let mut s = Synth::sup(10, 3, 4, 0);
    s.entries[11].0 = b"#other".to_vec();
    let i = inspect(&s.bytes());
    let f = find(&i, "ft.labels.prefix");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(offset_of(f), s.entry_offset(11));
    for k in 10..13 {
        s.entries[k].0 = format!("#l{k}").into_bytes();
    }
    assert_eq!(
        find(&inspect(&s.bytes()), "ft.labels.prefix").severity,
        Severity::Info
    );

    // BlazingText request shapes
    let i = inspect(&Synth::sup(10, 3, 4, 0).bytes());
    let bt = i.blazingtext.unwrap();
    assert_eq!(bt.request["configuration"]["k"], 1);
    assert_eq!(bt.response[0]["label"][0], "__label__l0");
    let i = inspect(&Synth::sg(10, 4, 20).bytes());
    let bt = i.blazingtext.clone().unwrap();
    assert_eq!(bt.mode, "word2vec");
    assert!(bt.response[0]["vector"].is_array());
    assert_eq!(find(&i, "bt.word2vec").severity, Severity::Info);
}

#[test]
fn prune_index_rules() {
    // pruned dictionary on a dense model: fastText refuses it
    let mut s = Synth::sup(10, 2, 4, 0);
    s.pruneidx_size = 0;
    let i = inspect(&s.bytes());
    assert_eq!(offset_of(find(&i, "ft.pruneidx.unquantized")), 84);

    let mut s = Synth::sup(10, 2, 4, 0);
    s.pruneidx_size = -2;
    assert!(has(&inspect(&s.bytes()), "ft.pruneidx.size"));

    // a pruned quantized model: 3 kept buckets → rows nwords + 3
    let pruned = |pairs: Vec<(i32, i32)>| {
        let mut s = Synth::sup(10, 2, 4, 100);
        s.pruneidx_size = pairs.len() as i64;
        s.pairs = pairs;
        s.input = Mat::dense(10 + s.pairs.len() as i64, 4);
        s.quantized(2, false)
    };
    let s = pruned(vec![(5, 0), (77, 2), (31, 1)]);
    let i = inspect(&s.bytes());
    assert_eq!(errors(&i), Vec::<&str>::new());
    let m = Model::read_from(s.bytes().as_slice(), None).unwrap();
    assert_eq!(m.bucket_row(77), Some(2));
    assert_eq!(m.bucket_row(78), None);

    let s = pruned(vec![(5, 0), (100, 2), (31, 1)]);
    let i = inspect(&s.bytes());
    let f = find(&i, "ft.pruneidx.range");
    assert!(f.message.contains("bucket 100"), "{}", f.message);
    let dict_end = s.entry_offset(s.entries.len());
    assert_eq!(offset_of(f), dict_end + 8);

    let s = pruned(vec![(5, 0), (6, 3), (31, 1)]);
    let f = find(&inspect(&s.bytes()), "ft.pruneidx.range").clone();
    assert!(f.message.contains("row 3"), "{}", f.message);

    let s = pruned(vec![(5, 0), (5, 2), (31, 1)]);
    let i = inspect(&s.bytes());
    assert!(
        i.findings
            .iter()
            .any(|f| f.code == "ft.pruneidx.duplicate" && f.severity == Severity::Error)
    );
    let s = pruned(vec![(5, 0), (6, 0), (31, 1)]);
    let i = inspect(&s.bytes());
    assert!(
        i.findings
            .iter()
            .any(|f| f.code == "ft.pruneidx.duplicate" && f.severity == Severity::Warning)
    );
}

// ---------------------------------------------------------------------------- flags and matrices

#[test]
fn flags_and_shapes() {
    let s = Synth::sup(10, 2, 4, 0);
    let bytes = s.bytes();
    let qflag = s.entry_offset(s.entries.len()) as usize;

    let mut b = bytes.clone();
    b[qflag] = 2;
    let i = inspect(&b);
    assert_eq!(offset_of(find(&i, "ft.flag.invalid")), qflag as u64);

    let mut s2 = s.clone();
    s2.qout = 1;
    let i = inspect(&s2.bytes());
    assert_eq!(find(&i, "ft.flag.qout_ignored").severity, Severity::Warning);
    assert!(
        i.complete,
        "qout on a dense model is read as a dense output"
    );

    let mut s2 = s.clone();
    s2.input = Mat::dense(11, 4);
    let i = inspect(&s2.bytes());
    let f = find(&i, "ft.matrix.rows");
    assert_eq!(offset_of(f), qflag as u64 + 1);
    assert!(f.message.contains("nwords + bucket = 10"), "{}", f.message);

    let mut s2 = s.clone();
    s2.output = Mat::dense(2, 5);
    let i = inspect(&s2.bytes());
    assert!(has(&i, "ft.matrix.cols"));
    assert!(i.complete);

    let mut s2 = s.clone();
    s2.output = Mat::dense(3, 4);
    assert!(
        find(&inspect(&s2.bytes()), "ft.matrix.rows")
            .message
            .contains("nlabels = 2")
    );

    let mut s2 = s.clone();
    s2.input = Mat::Dense {
        m: -1,
        n: 4,
        data: vec![],
    };
    let i = inspect(&s2.bytes());
    assert!(has(&i, "ft.matrix.negative"));
    assert!(!i.complete);

    // quantized skipgram: never written by fastText
    let q = Synth::sg(300, 4, 0).quantized(2, false);
    assert!(has(&inspect(&q.bytes()), "ft.quant.unsupervised"));
}

#[test]
fn product_quantizer_consistency() {
    let base = Synth::sup(10, 2, 6, 250).quantized(4, true);
    let with = |f: &dyn Fn(&mut Mat)| {
        let mut s = base.clone();
        f(&mut s.input);
        inspect(&s.bytes())
    };
    let i = inspect(&base.bytes());
    assert_eq!(errors(&i), Vec::<&str>::new());
    assert_eq!(i.quantization.as_ref().unwrap().nsubq, Some(2));
    assert_eq!(
        i.input_matrix
            .as_ref()
            .unwrap()
            .pq
            .as_ref()
            .unwrap()
            .lastdsub,
        2
    );

    let i = with(&|m| {
        if let Mat::Quant { pq, .. } = m {
            pq[3] = 4; // lastdsub should be 6 % 4 = 2
        }
    });
    assert!(find(&i, "ft.pq.fields").message.contains("lastdsub 4"));
    let i = with(&|m| {
        if let Mat::Quant { pq, .. } = m {
            pq[2] = 0;
        }
    });
    assert!(find(&i, "ft.pq.fields").message.contains("dsub 0"));
    let i = with(&|m| {
        if let Mat::Quant {
            codesize, codes, ..
        } = m
        {
            *codesize -= 2;
            codes.truncate(codes.len() - 2);
        }
    });
    let f = find(&i, "ft.quant.codesize");
    assert!(
        f.message.contains("codesize 518 is not rows 260 × nsubq"),
        "{}",
        f.message
    );
    assert_eq!(
        i.findings
            .iter()
            .filter(|f| f.code == "ft.quant.codesize")
            .count(),
        1
    );
    // a codesize that is a plausible multiple but not rows × nsubq is caught at the quantizer
    let i = with(&|m| {
        if let Mat::Quant {
            codesize, codes, ..
        } = m
        {
            *codesize = 260;
            codes.truncate(260);
        }
    });
    assert!(
        find(&i, "ft.quant.codesize")
            .message
            .contains("≠ rows 260 × nsubq 2")
    );
    let i = with(&|m| {
        if let Mat::Quant {
            norm: Some((_, npq, _)),
            ..
        } = m
        {
            npq[0] = 2;
            npq[2] = 2;
        }
    });
    // dim 2 makes the norm centroids 512 floats: the writer keeps 256, so the file ends early
    assert!(has(&i, "ft.pq.norm"));
    assert!(has(&i, "ft.truncated"));
    let i = with(&|m| {
        if let Mat::Quant { qnorm, .. } = m {
            *qnorm = 7;
        }
    });
    assert!(has(&i, "ft.flag.invalid"));
}

// ---------------------------------------------------------------------------- NaN / Inf

#[test]
fn non_finite_weights_are_located() {
    let orig = fixture("sup_softmax.bin");
    let base = read_from(orig.as_slice(), None, &allow()).unwrap();
    let im = base.input_matrix.clone().unwrap();
    let om = base.output_matrix.clone().unwrap();
    let cols = im.cols.unwrap() as u64;
    let in_data = im.offset + 17;
    let out_data = om.offset + 17;

    let mut b = orig.clone();
    let at = in_data + (7 * cols + 3) * 4;
    b[at as usize..at as usize + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let at2 = in_data + (50 * cols + 1) * 4;
    b[at2 as usize..at2 as usize + 4].copy_from_slice(&(-f32::NAN).to_le_bytes());
    let at3 = out_data + (2 * cols) * 4;
    b[at3 as usize..at3 as usize + 4].copy_from_slice(&f32::NEG_INFINITY.to_le_bytes());
    let i = inspect(&b);
    let f = find(&i, "ft.weights.nan");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(offset_of(f), at);
    assert!(
        f.message
            .contains("input matrix holds 2 NaN (first: row 7, column 3)"),
        "{}",
        f.message
    );
    let nf = &i.input_matrix.as_ref().unwrap().nonfinite;
    assert_eq!((nf.nan, nf.inf), (2, 0));
    assert_eq!(
        nf.first_nan.map(|p| (p.row, p.col, p.offset)),
        Some((7, 3, at))
    );
    let f = find(&i, "ft.weights.inf");
    assert_eq!(offset_of(f), at3);
    assert!(
        f.message
            .contains("output matrix holds 1 infinite value (first: row 2, column 0)"),
        "{}",
        f.message
    );
    // the in-memory model loads (the evaluator decides what to do with it)
    let m = Model::read_from(b.as_slice(), Some(b.len() as u64)).unwrap();
    assert!(m.findings().iter().any(|f| f.code == "ft.weights.nan"));
    assert!(m.input().row(7).unwrap()[3].is_nan());

    // NaN in a product quantizer's centroids
    let q = fixture("sup_ngrams_q.ftz");
    let qi = read_from(q.as_slice(), None, &allow()).unwrap();
    let pq = qi.input_matrix.as_ref().unwrap().pq.clone().unwrap();
    let mut b = q.clone();
    // sub-quantizer 1, centroid 5, first float: (1*256 + 5) * dsub
    let at = pq.offset + 16 + ((256 + 5) * 2) * 4;
    b[at as usize..at as usize + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let i = inspect(&b);
    let f = find(&i, "ft.weights.nan");
    assert_eq!(offset_of(f), at);
    assert!(
        f.message.contains(
            "product quantizer centroids holds 1 NaN (first: sub-quantizer 1, centroid 5)"
        ),
        "{}",
        f.message
    );
}

// ---------------------------------------------------------------------------- truncation

/// Cuts `orig` at `cut` and checks the truncation report (both length modes).
fn check_cut(orig: &[u8], cut: usize) -> Option<sm_pack::fasttext::Truncation> {
    let b = &orig[..cut];
    if cut == 0 {
        assert!(unrecognized(b).contains("empty"));
        return None;
    }
    let mut out = None;
    for len in [Some(cut as u64), None] {
        let i = read_from(b, len, &allow()).unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        let t = i
            .truncation
            .clone()
            .unwrap_or_else(|| panic!("cut {cut}: no truncation: {:#?}", i.findings));
        assert_eq!(t.file_len, cut as u64, "cut {cut}");
        assert!(
            t.missing > 0 && t.section_offset <= cut as u64 + 1,
            "cut {cut}: {t:?}"
        );
        let f = find(&i, "ft.truncated");
        assert_eq!(offset_of(f), cut as u64);
        assert_eq!(
            i.findings
                .iter()
                .filter(|f| f.code == "ft.truncated")
                .count(),
            1
        );
        assert!(!i.complete);
        if len.is_some() {
            out = Some(t);
        }
    }
    out
}

#[test]
fn truncation_at_every_offset_of_a_small_model() {
    let orig = fixture("sup_softmax.bin");
    let i = read_from(orig.as_slice(), None, &allow()).unwrap();
    let im = i.input_matrix.unwrap();
    let om = i.output_matrix.unwrap();
    let (in_data, in_end) = (im.offset + 17, im.offset + im.bytes.unwrap());
    let (out_data, end) = (om.offset + 17, orig.len() as u64);
    for cut in 0..orig.len() {
        let Some(t) = check_cut(&orig, cut) else {
            continue;
        };
        let c = cut as u64;
        if (in_data..in_end).contains(&c) {
            assert_eq!(t.missing, in_end - c, "cut {cut}: {t:?}");
            assert!(t.section.contains("input matrix data"), "{t:?}");
        }
        if (out_data..end).contains(&c) {
            assert_eq!(t.missing, end - c, "cut {cut}: {t:?}");
            assert!(t.section.contains("output matrix data"), "{t:?}");
        }
    }
    // inside a word, without a length: the section names the entry
    let cut = 64 + 28 + 2;
    let i = read_from(&orig[..cut], None, &allow()).unwrap();
    let t = i.truncation.unwrap();
    assert!(t.section.contains("word of dictionary entry 0"), "{t:?}");
    assert!(t.at_least);
    // one byte short: exactly one byte missing
    let t = check_cut(&orig, orig.len() - 1).unwrap();
    assert_eq!(t.missing, 1);
}

#[test]
fn truncation_inside_quantized_structures() {
    for name in [
        "sup_ngrams_qnorm.ftz",
        "many_hs_qout.ftz",
        "sup_ngrams_qcut.ftz",
    ] {
        let orig = fixture(name);
        let i = read_from(orig.as_slice(), None, &allow()).unwrap();
        // every boundary of every section and quantizer, ±10 bytes, plus a stride
        let mut marks = vec![
            0u64,
            4,
            8,
            64,
            92,
            i.sections[2].offset + i.sections[2].bytes.unwrap(),
        ];
        for m in [
            i.input_matrix.as_ref().unwrap(),
            i.output_matrix.as_ref().unwrap(),
        ] {
            marks.extend([
                m.offset,
                m.offset + 1,
                m.offset + 18,
                m.offset + 22,
                m.offset + m.bytes.unwrap(),
            ]);
            for pq in [&m.pq, &m.norm_pq].into_iter().flatten() {
                marks.extend([pq.offset, pq.offset + 16]);
            }
        }
        let mut cuts: Vec<u64> = marks
            .iter()
            .flat_map(|&m| m.saturating_sub(10)..m + 10)
            .collect();
        cuts.extend((0..orig.len() as u64).step_by(211));
        cuts.sort_unstable();
        cuts.dedup();
        let mut sections = std::collections::BTreeSet::new();
        for cut in cuts.into_iter().filter(|&c| c < orig.len() as u64) {
            if let Some(t) = check_cut(&orig, cut as usize) {
                sections.insert(t.section.split(" (").next().unwrap().to_string());
            }
        }
        for want in [
            "codes",
            "product quantizer header",
            "product quantizer centroids",
        ] {
            assert!(
                sections.iter().any(|s| s.contains(want)),
                "{name}: no cut reported in {want}: {sections:?}"
            );
        }
        if name != "sup_ngrams_qcut.ftz" {
            assert!(
                sections.iter().any(|s| s.contains("norm")),
                "{name}: {sections:?}"
            );
        } else {
            assert!(
                sections.iter().any(|s| s.contains("prune index")),
                "{name}: {sections:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------- flips, absurd counts, trailing

#[test]
fn single_byte_flips_never_panic() {
    let orig = fixture("sup_softmax.bin");
    for pos in 0..orig.len() {
        for mask in [0xffu8, 0x80, 0x01] {
            let mut b = orig.clone();
            b[pos] ^= mask;
            match read_from(b.as_slice(), Some(b.len() as u64), &allow()) {
                Err(Error::UnrecognizedFormat { .. }) => {
                    assert!(pos < 4, "flip at {pos} made the file unrecognizable")
                }
                Err(e) => panic!("flip at {pos}: {e}"),
                Ok(i) => {
                    assert!(pos >= 4);
                    if i.complete {
                        let total: u64 = i.sections.iter().filter_map(|s| s.bytes).sum();
                        assert_eq!(
                            total,
                            b.len() as u64,
                            "flip at {pos}: sections must tile the file"
                        );
                    } else {
                        assert!(i.has_errors(), "flip at {pos}: incomplete without an error");
                    }
                    // a flip in the structure before the matrices is noticed, or harmless
                    if pos == 4 || ((32..40).contains(&pos) && mask != 0x01) {
                        assert!(
                            i.has_errors(),
                            "flip at {pos} (version/loss/model) must be an error"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn absurd_counts_fail_fast_and_precisely() {
    let orig = fixture("sup_softmax.bin");
    let info = read_from(orig.as_slice(), None, &allow()).unwrap();
    let im = info.input_matrix.clone().unwrap();
    let om = info.output_matrix.clone().unwrap();
    let check = |b: Vec<u8>, code: &str, section: &str| {
        let i = read_from(b.as_slice(), Some(b.len() as u64), &allow()).unwrap();
        assert!(has(&i, code), "expected {code}: {:#?}", i.findings);
        let t = i
            .truncation
            .clone()
            .unwrap_or_else(|| panic!("no truncation: {:#?}", i.findings));
        assert!(t.section.contains(section), "{t:?}");
        assert_eq!(t.file_len, b.len() as u64);
        assert_eq!(
            i.file_size,
            b.len() as u64,
            "the declared size, even when reading stopped early"
        );
        // the unknown-length stream reaches the same verdict at EOF
        let j = read_from(b.as_slice(), None, &allow()).unwrap();
        assert!(has(&j, "ft.truncated"));
        t
    };
    let mut b = orig.clone();
    put_i32(&mut b, 64, i32::MAX);
    let t = check(b, "ft.dict.size", "dictionary");
    assert!(t.needed >= 10 * i32::MAX as u64 && t.at_least, "{t:?}");

    let mut b = orig.clone();
    put_i64(&mut b, 84, i64::MAX);
    let t = check(b, "ft.truncated", "dictionary");
    assert_eq!(t.needed, u64::MAX, "overflowing claim");

    let mut b = orig.clone();
    put_i64(&mut b, im.offset as usize + 1, 1 << 40);
    let t = check(b, "ft.matrix.rows", "input matrix data");
    assert_eq!(t.needed, (1u64 << 40) * 16 * 4);
    assert_eq!(t.section_offset, im.offset + 17);

    let mut b = orig.clone();
    put_i64(&mut b, om.offset as usize + 1, i64::MAX);
    put_i64(&mut b, om.offset as usize + 9, i64::MAX);
    check(b, "ft.matrix.cols", "output matrix data");

    let q = fixture("sup_ngrams_q.ftz");
    let qi = read_from(q.as_slice(), None, &allow()).unwrap();
    let qm = qi.input_matrix.clone().unwrap();
    let mut b = q.clone();
    put_i32(&mut b, qm.offset as usize + 18, i32::MAX);
    check(b, "ft.quant.codesize", "codes");
    let mut b = q.clone();
    put_i32(&mut b, qm.pq.as_ref().unwrap().offset as usize, i32::MAX);
    check(b, "ft.pq.fields", "centroids");
}

#[test]
fn trailing_bytes_are_counted() {
    let orig = fixture("sup_hs.bin");
    for extra in [1usize, 1000] {
        let mut b = orig.clone();
        b.extend(std::iter::repeat_n(0x5a, extra));
        let i = inspect(&b);
        let f = find(&i, "ft.trailing");
        assert_eq!(f.severity, Severity::Error);
        assert_eq!(offset_of(f), orig.len() as u64);
        assert!(
            f.message.starts_with(&format!("{extra} byte")),
            "{}",
            f.message
        );
        assert_eq!(i.trailing_bytes, extra as u64);
        assert_eq!(i.sections.last().unwrap().name, "trailing");
        assert!(i.complete);
        Model::read_from(b.as_slice(), None).unwrap();
    }
}

#[test]
fn unterminated_words() {
    let mut s = Synth::sup(5, 1, 4, 0);
    s.entries[2].0 = vec![b'x'; 100];
    let mut opts = allow();
    opts.max_word_len = 16;
    let b = s.bytes();
    let i = read_from(b.as_slice(), None, &opts).unwrap();
    let f = find(&i, "ft.dict.unterminated");
    assert_eq!(offset_of(f), s.entry_offset(2));
    assert!(!i.complete);
    // a file that ends inside a word is a truncation, not a hang
    let b = [&s.bytes()[..s.entry_offset(2) as usize + 50]].concat();
    let i = read_from(b.as_slice(), None, &allow()).unwrap();
    assert!(
        i.truncation
            .unwrap()
            .section
            .contains("word of dictionary entry 2")
    );
}

// ---------------------------------------------------------------------------- not fastText

#[test]
fn foreign_files_are_named() {
    assert!(unrecognized(b"").contains("empty"));
    assert!(unrecognized(b"\x1f\x8b\x08\x00\x00\x00\x00\x00").contains("gzip"));
    assert!(unrecognized(b"BZh91AY&SY").contains("bzip2"));
    assert!(unrecognized(b"PK\x03\x04rest").contains("zip"));
    assert!(unrecognized(b"\x28\xb5\x2f\xfd....").contains("zstd"));
    let mut be = 793_712_314i32.to_be_bytes().to_vec();
    be.extend(12i32.to_be_bytes());
    assert!(unrecognized(&be).contains("big-endian"));
    assert!(unrecognized(b"2 3\nfoo 0.1 0.2 0.3\nbar 0.4 0.5 0.6\n").contains(".vec"));
    assert!(unrecognized(b"__label__a hello world\n").contains("text"));
    assert!(unrecognized(br#"{"learner": {"attributes": {}}}"#).contains("XGBoost"));
    assert!(unrecognized(b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner").contains("UBJSON"));
    assert!(unrecognized(b"version https://git-lfs.github.com/spec/v1\n").contains("LFS"));
    assert!(unrecognized(b"\x80\x04\x95\x00").contains("pickle"));
    // a pre-2017 model starts with the args: dim 100, ws 5, epoch 5, minCount 5, neg 5, wordNgrams 1, loss 2, model 2
    let mut old = Vec::new();
    for v in [100i32, 5, 5, 5, 5, 1, 2, 2, 2_000_000, 3, 6, 100] {
        old.extend(v.to_le_bytes());
    }
    old.extend(1e-4f64.to_le_bytes());
    assert!(unrecognized(&old).contains("before 2017"));
    assert!(unrecognized(&[0u8, 1, 2, 3, 4, 5, 250, 251]).contains("unknown binary"));
    // a 3-byte prefix of the magic is a truncated fastText file, not a foreign one
    let i = read_from(&[0xba, 0x16, 0x4f][..], Some(3), &allow()).unwrap();
    assert_eq!(i.truncation.unwrap().section, "magic number");
    // the push API agrees
    let mut v = Validator::new(&allow());
    v.write_all(b"\x1f\x8b\x08").unwrap();
    assert!(v.has_failed());
    match v.finish() {
        Err(e @ Error::UnrecognizedFormat { .. }) => {
            assert!(e.is_validation_failure());
            assert!(e.hint().unwrap().contains("gunzip"));
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------- file entry points

fn temp_file(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.bin");
    std::fs::write(&p, bytes).unwrap();
    (dir, p)
}

#[test]
fn file_entry_points_and_errors() {
    let orig = fixture("sup_ova.bin");
    let (_d, p) = temp_file(&orig[..orig.len() / 2]);
    // examine: findings (packing refuses), not an error
    let ex = examine_file(&p).unwrap();
    assert!(
        ex.findings
            .iter()
            .any(|f| f.code == "ft.truncated" && f.severity == Severity::Error)
    );
    assert_eq!(ex.summary.as_ref().unwrap()["complete"], false);
    // the in-memory model refuses it with the precise finding
    match Model::load(&p) {
        Err(Error::InvalidModel { format, finding }) => {
            assert_eq!(format, "fastText");
            assert_eq!(finding.code, "ft.truncated");
            assert_eq!(
                finding.location,
                Some(Location::Offset(orig.len() as u64 / 2))
            );
        }
        other => panic!("{other:?}"),
    }
    let (_d2, p2) = temp_file(b"\x1f\x8b\x08\x00");
    assert!(matches!(
        inspect_file(&p2),
        Err(Error::UnrecognizedFormat { .. })
    ));
    assert!(matches!(
        Model::load(&p2),
        Err(Error::UnrecognizedFormat { .. })
    ));
    assert!(matches!(
        inspect_file(Path::new("/nonexistent/model.bin")),
        Err(Error::Io { .. })
    ));
    assert!(matches!(inspect_file(_d.path()), Err(Error::Input { .. })));
    // a declared length that the stream does not honour
    let mut v = Validator::with_len(&allow(), orig.len() as u64 + 5).source("x.bin");
    v.write_all(&orig).unwrap();
    assert!(
        matches!(v.finish(), Err(Error::InputChanged { expected, .. }) if expected == orig.len() as u64 + 5)
    );
    // a model with an impossible loss loads as an error (prediction would fail)
    let mut b = orig.clone();
    put_i32(&mut b, 32, 9);
    assert!(
        matches!(Model::read_from(b.as_slice(), None), Err(Error::InvalidModel { finding, .. }) if finding.code == "ft.args.loss")
    );
}
