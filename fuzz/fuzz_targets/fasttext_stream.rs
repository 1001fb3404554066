//! The fastText reader, driven every way the library drives it: the push
//! validator fed in one piece and in arbitrary chunks (1 byte to 128 KiB,
//! chosen from the input's hash so the model bytes stay as seeded), with
//! and without a declared length, the pull reader, and the in-memory model
//! with a few predictions (what `sm-pack predict` does with a hostile file).
//!
//! Beyond "no panic": every chunking gives exactly the same inspection;
//! with a known length the same one too unless the model is truncated, when
//! the known-length findings are a subset of the streamed ones.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sm_pack::fasttext::{Inspection, Model, Options, Predictor, Validator, read_from};
use sm_pack_fuzz::Choices;

fn feed_chunked(v: &mut Validator, data: &[u8], ch: &mut Choices) {
    let mut at = 0;
    let mut failed = false;
    while at < data.len() {
        let n = match ch.below(4) {
            0 => 1,
            1 => 1 + ch.below(16),
            2 => 1 + ch.below(4096),
            _ => 1 + ch.below(128 << 10),
        } as usize;
        let end = at.saturating_add(n).min(data.len());
        v.feed(&data[at..end]);
        at = end;
        // A fatal problem stays fatal.
        assert!(!failed || v.has_failed(), "has_failed went back to false");
        failed = v.has_failed();
    }
    assert_eq!(v.bytes_seen(), data.len() as u64);
}

fn outcome(r: sm_pack::Result<Inspection>) -> Result<Inspection, String> {
    r.map_err(|e| e.to_string())
}

/// Inspections compared through their debug text: a NaN field (the `t`
/// argument of a corrupt header) is never `==` itself.
fn same(a: &Result<Inspection, String>, b: &Result<Inspection, String>) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn codes(i: &Inspection) -> Vec<String> {
    i.findings.iter().map(|f| f.code.clone()).collect()
}

fuzz_target!(|data: &[u8]| {
    sm_pack_fuzz::budget(data.len(), || {
        let opts = Options::default().allow_quantized(true);
        let len = data.len() as u64;
        let mut ch = Choices::from(data);

        let mut one = Validator::new(&opts);
        one.feed(data);
        let one = outcome(one.finish());

        let mut chunked = Validator::new(&opts);
        feed_chunked(&mut chunked, data, &mut ch);
        let chunked = outcome(chunked.finish());
        assert!(
            same(&one, &chunked),
            "chunking changed the outcome: {one:?} vs {chunked:?}"
        );

        let mut known = Validator::with_len(&opts, len);
        feed_chunked(&mut known, data, &mut ch);
        let known = outcome(known.finish());
        let pulled = outcome(read_from(data, Some(len), &opts));
        match (&one, &known) {
            (Ok(u), Ok(k)) => {
                if k.truncation.is_none() {
                    assert!(
                        same(&one, &known),
                        "a known length changed the inspection: {u:?} vs {k:?}"
                    );
                } else {
                    // With a known length an impossible claim fails up front;
                    // without, parsing goes on to EOF and may find more on the
                    // way (NaNs before the end, ...), never less.
                    assert!(u.truncation.is_some(), "truncated only with a known length");
                    let uc = codes(u);
                    for c in codes(k) {
                        assert!(
                            uc.contains(&c),
                            "{c} found only with a known length: {uc:?}"
                        );
                    }
                    assert!(u.has_errors() && k.has_errors());
                }
                let _ = k.human_summary();
                let _ = serde_json::to_string(&k.summary_json());
            }
            (Err(a), Err(b)) => assert_eq!(a, b),
            (a, b) => panic!("unknown length gave {a:?}, known length {b:?}"),
        }
        assert_eq!(pulled.is_ok(), known.is_ok());

        // Default options: quantized models refused with a finding, same parse.
        if let Ok(i) = read_from(data, Some(len), &Options::default()) {
            let _ = i.human_summary();
        }

        // The in-memory model and prediction.
        if let Ok(model) = Model::read_from(data, Some(len))
            && let Ok(p) = Predictor::new(&model)
        {
            let _ = p.predict(b"the quick brown fox __label__a jumps", 3, 0.0);
            let _ = p.predict(b"", -1, 0.5);
            let _ = p.sentence_vector(b"hello world\n");
            let _ = p.word_vector(b"hello");
            let _ = p.blazingtext_classify(&["a b c", ""], Some(2));
        }
    })
});
