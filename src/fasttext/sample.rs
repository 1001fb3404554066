//! The fastText sample gate of the packing pipeline (`sm-pack fasttext
//! --sample lines.txt --expect expected`): the model that goes into the
//! archive must predict, on the team's own sample lines, what they expect.
//!
//! The model is built in memory from the same byte stream the archive writer
//! reads ([`ModelPipe`]), so the file is still read once and the gate judges
//! exactly the bytes that are packed.
//!
//! The expected file is sniffed:
//!
//! - text (the layout `sm-pack predict` and `fasttext predict-prob` print):
//!   a classifier's line is `label prob label prob …`; a word-vector model's
//!   line is `word v1 … vd` (`fasttext print-word-vectors`);
//! - JSON (`[` first): the BlazingText endpoint's response,
//!   `[{"label": [...], "prob": [...]}, …]` or `[{"word": w, "vector": [...]}, …]`;
//! - JSON Lines (`{` first): one such object per line, as batch transform
//!   writes.
//!
//! A classifier line passes when the top-k labels (k = the number of expected
//! labels) are the expected labels in the expected order and every
//! probability is within the tolerance; a word vector when every component
//! is.

use super::{Model, Predictor};
use crate::error::{Error, Result};
use crate::manifest::SampleRecord;
use crate::report::Finding;
use crate::xgboost::predict::SampleGate;
use serde_json::Value;
use std::io::{Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Finding code: the sample predicts what was expected (info).
pub const SAMPLE_PASS: &str = "ft.sample.pass";
/// Finding code: the sample predicts something else (error; nothing is written).
pub const SAMPLE_MISMATCH: &str = "ft.sample.mismatch";
/// Finding code: the sample or expected file cannot be evaluated (error).
pub const SAMPLE_UNEVALUABLE: &str = "ft.sample.unevaluable";
/// Default tolerance of the fastText gate. `fasttext predict-prob` prints six
/// significant digits, so a probability near 1 is off by up to 5 × 10⁻⁶.
pub const DEFAULT_TOLERANCE: f64 = 1e-5;
/// Mismatches listed in the finding.
const SHOWN: usize = 10;

/// What the gate found.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOutcome {
    /// The finding for the report (pass, mismatch or unevaluable).
    pub finding: Finding,
    /// What the manifest records (meaningful when [`SampleOutcome::passed`]).
    pub record: SampleRecord,
}

impl SampleOutcome {
    /// True when every sample line predicts what was expected.
    pub fn passed(&self) -> bool {
        self.record.result == "pass"
    }
}

/// One expected answer.
#[derive(Debug, Clone, PartialEq)]
enum Expected {
    /// Classifier: labels best first, with their probabilities.
    Labels(Vec<(String, f64)>),
    /// Word-vector model: the vector of the line's word.
    Vector(Vec<f64>),
}

/// Runs the gate on an in-memory model (the one being packed).
///
/// Errors only when a file cannot be read or the tolerance is not a
/// non-negative number; a sample that does not match, or cannot be
/// evaluated, is a failing [`SampleOutcome`] whose finding says why.
pub fn run_sample_gate(gate: &SampleGate, model: &Model) -> Result<SampleOutcome> {
    let (input, expected, mut record) = gate.read()?;
    record.semantics = "fastText 0.9.2 (BlazingText)".into();
    let finding = match evaluate(model, &input, &expected, gate.tolerance, &mut record) {
        Err(why) => Finding::error(
            SAMPLE_UNEVALUABLE,
            format!("the sample {} cannot be evaluated: {why}", record.input),
        )
        .with_hint("the sample is text, one instance per line; the expected file is `sm-pack predict` output or the BlazingText JSON response"),
        Ok(mismatches) if mismatches.is_empty() => {
            record.result = "pass".into();
            Finding::info(
                SAMPLE_PASS,
                format!(
                    "the sample {} ({} lines) predicts the expected values (largest |Δ| {:.3e}, tolerance {:e})",
                    record.input, record.rows, record.max_abs_diff, gate.tolerance
                ),
            )
        }
        Ok(mismatches) => {
            let mut text = format!(
                "the model to be packed does not predict {} on the sample {}: {} line(s) differ",
                record.expected,
                record.input,
                mismatches.len()
            );
            for m in mismatches.iter().take(SHOWN) {
                text.push_str("; ");
                text.push_str(m);
            }
            Finding::error(SAMPLE_MISMATCH, text).with_hint(
                "check that the expected file comes from this model and the same lines, or raise --tolerance",
            )
        }
    };
    Ok(SampleOutcome { finding, record })
}

/// Compares the model's answers with the expected ones; `Ok` holds one
/// description per differing line (empty: pass).
fn evaluate(
    model: &Model,
    input: &[u8],
    expected: &[u8],
    tol: f64,
    record: &mut SampleRecord,
) -> std::result::Result<Vec<String>, String> {
    let predictor = Predictor::new(model).map_err(|e| e.to_string())?;
    let lines = split_lines(input);
    let (want, content_type) = parse_expected(expected, predictor.is_supervised())?;
    record.content_type = content_type.into();
    record.rows = lines.len() as u64;
    if want.len() != lines.len() {
        return Err(format!(
            "{} sample lines but {} expected answers",
            lines.len(),
            want.len()
        ));
    }
    let mut out = Vec::new();
    let mut columns = 0usize;
    for (i, (line, want)) in lines.iter().zip(&want).enumerate() {
        let n = i + 1;
        match want {
            Expected::Labels(pairs) => {
                if !predictor.is_supervised() {
                    return Err("labels expected, but the model is a word-vector model".into());
                }
                columns = columns.max(pairs.len());
                let k = i32::try_from(pairs.len().max(1)).map_err(|_| "too many labels")?;
                let got = predictor.predict(line, k, 0.0).map_err(|e| e.to_string())?;
                let got: Vec<(String, f64)> = got
                    .iter()
                    .map(|p| (p.label_lossy().into_owned(), f64::from(p.prob)))
                    .collect();
                // An empty expected line means "no label": any prediction differs.
                let labels_got: Vec<&str> = got.iter().map(|(l, _)| l.as_str()).collect();
                let labels_want: Vec<&str> = pairs.iter().map(|(l, _)| l.as_str()).collect();
                if labels_got != labels_want {
                    out.push(format!(
                        "line {n}: labels {labels_got:?}, expected {labels_want:?}"
                    ));
                    continue;
                }
                let diffs: Vec<(f64, f64)> =
                    got.iter().zip(pairs).map(|(g, w)| (g.1, w.1)).collect();
                if let Some(d) = compare(&diffs, tol, record) {
                    out.push(format!("line {n}: {d}"));
                }
            }
            Expected::Vector(v) => {
                if predictor.is_supervised() {
                    return Err("a word vector expected, but the model is a classifier".into());
                }
                columns = columns.max(v.len());
                let word = std::str::from_utf8(line).unwrap_or_default().trim();
                let got = predictor
                    .word_vector(word.as_bytes())
                    .map_err(|e| e.to_string())?;
                if got.len() != v.len() {
                    out.push(format!(
                        "line {n}: a vector of {} values, expected {}",
                        got.len(),
                        v.len()
                    ));
                    continue;
                }
                let diffs: Vec<(f64, f64)> = got
                    .iter()
                    .zip(v)
                    .map(|(g, w)| (f64::from(*g), *w))
                    .collect();
                if let Some(d) = compare(&diffs, tol, record) {
                    out.push(format!("line {n}: {d}"));
                }
            }
        }
    }
    record.columns = columns as u64;
    Ok(out)
}

/// Folds `(got, expected)` pairs into the record's largest differences and
/// describes the first one beyond the tolerance.
fn compare(pairs: &[(f64, f64)], tol: f64, record: &mut SampleRecord) -> Option<String> {
    let mut first = None;
    for (j, &(got, want)) in pairs.iter().enumerate() {
        let abs = (got - want).abs();
        let rel = abs / want.abs().max(1.0);
        // NaN is never within the tolerance.
        let bad = !matches!(
            rel.partial_cmp(&tol),
            Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
        );
        if abs.is_finite() {
            record.max_abs_diff = record.max_abs_diff.max(abs);
            record.max_rel_diff = record.max_rel_diff.max(rel);
        }
        if bad && first.is_none() {
            first = Some(format!("value {} is {got}, expected {want}", j + 1));
        }
    }
    first
}

/// The sample's instances: one per line (`\n`, a trailing `\r` kept as
/// fastText keeps it); a final newline does not start another instance.
fn split_lines(input: &[u8]) -> Vec<&[u8]> {
    let body = input.strip_suffix(b"\n").unwrap_or(input);
    if input.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == b'\n').collect()
}

/// Parses the expected file (sniffed: JSON array, JSON Lines, or text).
fn parse_expected(
    bytes: &[u8],
    supervised: bool,
) -> std::result::Result<(Vec<Expected>, &'static str), String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("the expected file is not UTF-8 (byte {})", e.valid_up_to()))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| format!("the expected file is not valid JSON: {e}"))?;
        let items = v.as_array().ok_or("the expected JSON is not an array")?;
        let parsed = items
            .iter()
            .enumerate()
            .map(|(i, o)| json_answer(o).map_err(|e| format!("expected answer {}: {e}", i + 1)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        return Ok((parsed, "application/json"));
    }
    if trimmed.starts_with('{') {
        let mut parsed = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line)
                .map_err(|e| format!("expected line {}: not valid JSON: {e}", i + 1))?;
            parsed.push(json_answer(&v).map_err(|e| format!("expected line {}: {e}", i + 1))?);
        }
        return Ok((parsed, "application/jsonlines"));
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return Ok((Vec::new(), "text/plain"));
    }
    let parsed = body
        .split('\n')
        .enumerate()
        .map(|(i, line)| {
            text_answer(line.trim_end_matches('\r'), supervised)
                .map_err(|e| format!("expected line {}: {e}", i + 1))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((parsed, "text/plain"))
}

fn number(s: &str) -> std::result::Result<f64, String> {
    s.parse::<f64>()
        .map_err(|_| format!("{s:?} is not a number"))
}

/// `label prob label prob …` or `word v1 … vd`.
fn text_answer(line: &str, supervised: bool) -> std::result::Result<Expected, String> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    if supervised {
        if !tokens.len().is_multiple_of(2) {
            return Err("expected `label prob` pairs".into());
        }
        let pairs = tokens
            .chunks(2)
            .map(|p| Ok((p[0].to_string(), number(p[1])?)))
            .collect::<std::result::Result<Vec<_>, String>>()?;
        Ok(Expected::Labels(pairs))
    } else {
        let values = tokens
            .iter()
            .skip(1)
            .map(|t| number(t))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Expected::Vector(values))
    }
}

/// `{"label": [...], "prob": [...]}` or `{"word": w, "vector": [...]}`.
fn json_answer(v: &Value) -> std::result::Result<Expected, String> {
    let num = |x: &Value| x.as_f64().ok_or_else(|| format!("{x} is not a number"));
    if let (Some(labels), Some(probs)) = (v.get("label"), v.get("prob")) {
        // BlazingText returns a lone string/number when k = 1 in some
        // versions; accept both shapes.
        let labels: Vec<&Value> = match labels {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let probs: Vec<&Value> = match probs {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        if labels.len() != probs.len() {
            return Err("\"label\" and \"prob\" differ in length".into());
        }
        let pairs = labels
            .iter()
            .zip(&probs)
            .map(|(l, p)| {
                let l = l.as_str().ok_or_else(|| format!("{l} is not a label"))?;
                Ok((l.to_string(), num(p)?))
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        return Ok(Expected::Labels(pairs));
    }
    if let Some(Value::Array(vector)) = v.get("vector") {
        let values = vector
            .iter()
            .map(num)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        return Ok(Expected::Vector(values));
    }
    Err("expected {\"label\", \"prob\"} or {\"word\", \"vector\"}".into())
}

/// Builds a [`Model`] on another thread from bytes written to it, so a
/// stream that is being packed (and validated) can also be predicted from
/// without a second read. Memory: the model (as with [`Model::load`]) plus
/// at most a few chunks in flight.
///
/// A model that fails to load stops taking bytes (writes still succeed, so
/// the packing stream is never disturbed); [`ModelPipe::finish`] returns
/// the load error.
pub struct ModelPipe {
    tx: Option<SyncSender<Vec<u8>>>,
    handle: Option<JoinHandle<Result<Model>>>,
}

impl ModelPipe {
    /// Starts the loader; `len` is the stream's length (bounds allocations).
    pub fn new(len: u64) -> Result<Self> {
        let (tx, rx) = sync_channel::<Vec<u8>>(8);
        let handle = std::thread::Builder::new()
            .name("sm-pack-ft-model".into())
            .spawn(move || {
                Model::read_from(
                    ChannelReader {
                        rx,
                        buf: Vec::new(),
                        pos: 0,
                    },
                    Some(len),
                )
            })
            .map_err(|e| Error::io("start a thread for", "the fastText model", e))?;
        Ok(ModelPipe {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Ends the stream and returns the model.
    pub fn finish(mut self) -> Result<Model> {
        self.tx = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => Err(Error::Usage {
                message: "the fastText model loader stopped unexpectedly".into(),
            }),
        }
    }
}

impl Drop for ModelPipe {
    fn drop(&mut self) {
        // Close the channel so the loader thread ends; it is not joined
        // here (an error path drops the pipe and moves on).
        self.tx = None;
    }
}

impl Write for ModelPipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(tx) = &self.tx
            && tx.send(buf.to_vec()).is_err()
        {
            // The loader ended early (a broken model): stop feeding it.
            self.tx = None;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The loader's end of the pipe.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Writes every byte to two writers (the validator and a [`ModelPipe`]).
pub(crate) struct Tee<'a> {
    pub(crate) a: &'a mut (dyn Write + Send),
    pub(crate) b: &'a mut (dyn Write + Send),
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.a.write_all(buf)?;
        self.b.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.a.flush()?;
        self.b.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_answers_parse() {
        let (v, ct) = parse_expected(b"__label__a 0.5 __label__b 0.25\n\n", true).unwrap();
        assert_eq!(ct, "text/plain");
        assert_eq!(
            v,
            vec![
                Expected::Labels(vec![
                    ("__label__a".into(), 0.5),
                    ("__label__b".into(), 0.25)
                ]),
                Expected::Labels(vec![])
            ]
        );
        assert!(parse_expected(b"__label__a\n", true).is_err());
        let (v, _) = parse_expected(b"king 0.5 -1\n", false).unwrap();
        assert_eq!(v, vec![Expected::Vector(vec![0.5, -1.0])]);
    }

    #[test]
    fn json_answers_parse() {
        let (v, ct) =
            parse_expected(br#"[{"label": ["__label__a"], "prob": [0.9]}]"#, true).unwrap();
        assert_eq!(ct, "application/json");
        assert_eq!(v, vec![Expected::Labels(vec![("__label__a".into(), 0.9)])]);
        let (v, ct) = parse_expected(
            b"{\"word\": \"x\", \"vector\": [1, 2]}\n{\"label\": \"__label__b\", \"prob\": 0.5}\n",
            true,
        )
        .unwrap();
        assert_eq!(ct, "application/jsonlines");
        assert_eq!(
            v,
            vec![
                Expected::Vector(vec![1.0, 2.0]),
                Expected::Labels(vec![("__label__b".into(), 0.5)])
            ]
        );
        assert!(parse_expected(b"[{\"label\": [\"a\"], \"prob\": []}]", true).is_err());
    }

    #[test]
    fn lines_split_like_the_cli() {
        assert_eq!(split_lines(b""), Vec::<&[u8]>::new());
        assert_eq!(split_lines(b"a\nb\n"), vec![&b"a"[..], b"b"]);
        assert_eq!(split_lines(b"a\n\nb"), vec![&b"a"[..], b"", b"b"]);
    }

    #[test]
    fn tolerance_is_relative_above_one() {
        let mut r = SampleRecord {
            input: String::new(),
            input_sha256: String::new(),
            content_type: String::new(),
            expected: String::new(),
            expected_sha256: String::new(),
            rows: 0,
            columns: 0,
            semantics: String::new(),
            tolerance: 0.0,
            max_abs_diff: 0.0,
            max_rel_diff: 0.0,
            result: String::new(),
        };
        assert!(compare(&[(1.000_016, 1.000_02)], 1e-5, &mut r).is_none());
        assert!(compare(&[(0.5, 0.5001)], 1e-5, &mut r).is_some());
        assert!(compare(&[(f64::NAN, 0.5)], 1e-5, &mut r).is_some());
    }
}
