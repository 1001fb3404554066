//! What the validator reports: [`Inspection`] and its parts, plus the
//! BlazingText hosting rules.

use super::Options;
use super::args::{Args, DICT_OFFSET, HEADER_BYTES, Loss, ModelName};
use super::codes;
use super::dict::EntryType;
use super::stream::Parsed;
use crate::report::{Finding, Findings, Severity};
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt::{self, Write as _};

/// How many labels an inspection lists by name.
pub const LABELS_SHOWN: usize = 10;

/// Which of the two matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Which {
    /// The input matrix: word rows, then bucket rows.
    Input,
    /// The output matrix: label rows (supervised) or context-word rows.
    Output,
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Which::Input => "input",
            Which::Output => "output",
        })
    }
}

/// Storage of a matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatrixKind {
    /// `DenseMatrix`: rows × cols f32.
    Dense,
    /// `QuantMatrix`: 8-bit product-quantizer codes (.ftz).
    Quantized,
}

/// Where a non-finite float sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FloatPos {
    /// Index of the float within its array.
    pub index: u64,
    /// Matrix row (for quantizer centroids: the sub-quantizer).
    pub row: u64,
    /// Matrix column (for quantizer centroids: the centroid 0..256).
    pub col: u64,
    /// Byte offset in the file.
    pub offset: u64,
}

/// NaN and ±Inf counts of one float array, with the first of each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NonFinite {
    /// Number of NaN values.
    pub nan: u64,
    /// Number of ±Inf values.
    pub inf: u64,
    /// The first NaN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_nan: Option<FloatPos>,
    /// The first ±Inf.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_inf: Option<FloatPos>,
}

impl NonFinite {
    /// True when every float was finite.
    pub fn is_clean(&self) -> bool {
        self.nan == 0 && self.inf == 0
    }
}

/// A product quantizer's stored fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PqSummary {
    /// Byte offset of its header.
    pub offset: u64,
    /// Vector dimension it quantizes.
    pub dim: i32,
    /// Number of sub-quantizers.
    pub nsubq: i32,
    /// Dimensions per sub-quantizer.
    pub dsub: i32,
    /// Dimensions of the last sub-quantizer.
    pub lastdsub: i32,
    /// Non-finite centroids.
    #[serde(skip_serializing_if = "NonFinite::is_clean")]
    pub nonfinite: NonFinite,
}

/// One matrix as found in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixSummary {
    /// Input or output.
    pub which: Which,
    /// Dense or quantized.
    pub kind: MatrixKind,
    /// Byte offset of the flag byte that precedes the matrix.
    pub offset: u64,
    /// Stored rows.
    pub rows: Option<i64>,
    /// Stored columns.
    pub cols: Option<i64>,
    /// Rows that args and dictionary imply.
    pub expected_rows: Option<i64>,
    /// Columns that args imply (dim).
    pub expected_cols: Option<i64>,
    /// Bytes from the flag byte to the end of the matrix (when complete).
    pub bytes: Option<u64>,
    /// Quantized: whether row norms are quantized separately.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qnorm: Option<bool>,
    /// Quantized: stored number of code bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codesize: Option<i32>,
    /// Quantized: the product quantizer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pq: Option<PqSummary>,
    /// Quantized with qnorm: the norm quantizer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub norm_pq: Option<PqSummary>,
    /// Non-finite weights (dense matrices).
    #[serde(skip_serializing_if = "NonFinite::is_clean")]
    pub nonfinite: NonFinite,
}

/// Where and how the file ended too early.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Truncation {
    /// Length of the file (the offset where it ends).
    pub file_len: u64,
    /// What was being read.
    pub section: String,
    /// Byte offset where that section starts.
    pub section_offset: u64,
    /// Bytes the section needs from `section_offset` (`u64::MAX`: more than any file).
    pub needed: u64,
    /// Bytes missing past the end of the file.
    pub missing: u64,
    /// True when `needed`/`missing` are lower bounds.
    pub at_least: bool,
}

/// What the model is, for BlazingText.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A supervised text classifier.
    Supervised,
    /// Skipgram word vectors.
    Skipgram,
    /// CBOW word vectors.
    Cbow,
    /// The model field is invalid.
    Unknown,
}

impl ModelKind {
    fn from_model(m: ModelName) -> Self {
        match m {
            ModelName::Supervised => ModelKind::Supervised,
            ModelName::Skipgram => ModelKind::Skipgram,
            ModelName::Cbow => ModelKind::Cbow,
            ModelName::Unknown(_) => ModelKind::Unknown,
        }
    }
}

/// Dictionary counts and the first labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DictionarySummary {
    /// Entries claimed by the header.
    pub size: i32,
    /// Words claimed.
    pub nwords: i32,
    /// Labels claimed.
    pub nlabels: i32,
    /// Training tokens.
    pub ntokens: i64,
    /// −1 unpruned, otherwise the number of prune-index pairs.
    pub pruneidx_size: i64,
    /// Entries actually read.
    pub entries_read: u64,
    /// Label entries read.
    pub labels_count: u64,
    /// The first labels, in label-id order (lossy UTF-8).
    pub labels_first: Vec<String>,
}

/// Feature-hashing settings that shape predictions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NgramSettings {
    /// Word n-gram length (1 = unigrams only).
    #[serde(rename = "wordNgrams")]
    pub word_ngrams: i32,
    /// Minimal char n-gram length.
    pub minn: i32,
    /// Maximal char n-gram length (0 = no subwords).
    pub maxn: i32,
    /// Hash buckets.
    pub bucket: i32,
    /// True when words get char n-gram features.
    pub subwords: bool,
}

/// Quantization (.ftz) settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quantization {
    /// The input matrix is quantized.
    pub quantized: bool,
    /// The stored qout flag.
    pub qout: Option<bool>,
    /// The input matrix's qnorm.
    pub qnorm: Option<bool>,
    /// The input product quantizer's dsub.
    pub dsub: Option<i32>,
    /// The input product quantizer's nsubq.
    pub nsubq: Option<i32>,
    /// The dictionary was pruned (`quantize -cutoff`).
    pub pruned: bool,
}

/// A byte range of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// `header`, `args`, `dictionary`, `input_matrix`, `output_matrix`, `trailing`.
    pub name: &'static str,
    /// Byte offset.
    pub offset: u64,
    /// Length in bytes (None: the section is incomplete).
    pub bytes: Option<u64>,
}

/// How a BlazingText endpoint hosting this model is called.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlazingText {
    /// `classifier` (supervised) or `word2vec` (skipgram/cbow).
    pub mode: &'static str,
    /// The archive member BlazingText loads.
    pub member: &'static str,
    /// Request and response content type (they must be equal).
    pub content_type: &'static str,
    /// An example request body.
    pub request: Value,
    /// The shape of the response.
    pub response: Value,
    /// Batch transform (classifier only): one JSON object per line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<Value>,
}

/// Everything the validator found out about a fastText file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inspection {
    /// Always `fasttext`.
    pub format: &'static str,
    /// Bytes read.
    pub file_size: u64,
    /// True when the file parsed to the end of the output matrix.
    pub complete: bool,
    /// File-format version.
    pub version: Option<i32>,
    /// Classifier or word vectors.
    pub kind: Option<ModelKind>,
    /// Loss function.
    pub loss: Option<Loss>,
    /// Vector dimension.
    pub dim: Option<i32>,
    /// The stored args.
    pub args: Option<Args>,
    /// Dictionary counts and first labels.
    pub dictionary: Option<DictionarySummary>,
    /// N-gram settings.
    pub ngrams: Option<NgramSettings>,
    /// Quantization settings (once the quant flag was read).
    pub quantization: Option<Quantization>,
    /// The input matrix.
    pub input_matrix: Option<MatrixSummary>,
    /// The output matrix.
    pub output_matrix: Option<MatrixSummary>,
    /// Byte ranges of the sections.
    pub sections: Vec<Section>,
    /// Set when the file ends early.
    pub truncation: Option<Truncation>,
    /// Bytes after the end of the model.
    pub trailing_bytes: u64,
    /// How the BlazingText endpoint is called.
    pub blazingtext: Option<BlazingText>,
    /// Everything the checks noticed, by byte offset.
    pub findings: Vec<Finding>,
}

impl Inspection {
    pub(crate) fn build(p: Parsed, opts: &Options) -> Inspection {
        let args = p.args.clone();
        let header = p.dict.as_ref().and_then(|d| d.header().copied());
        let dictionary = p.dict.as_ref().zip(header).map(|(d, h)| {
            let labels: Vec<_> = d.labels().collect();
            DictionarySummary {
                size: h.size,
                nwords: h.nwords,
                nlabels: h.nlabels,
                ntokens: h.ntokens,
                pruneidx_size: h.pruneidx_size,
                entries_read: d.len() as u64,
                labels_count: labels.len() as u64,
                labels_first: labels
                    .iter()
                    .take(LABELS_SHOWN)
                    .map(|e| String::from_utf8_lossy(e.word).into_owned())
                    .collect(),
            }
        });
        let input_matrix = p.input.as_ref().map(|m| m.summary.clone());
        let output_matrix = p.output.as_ref().map(|m| m.summary.clone());
        let quantization = p.quant_input.map(|q| Quantization {
            quantized: q,
            qout: p.qout,
            qnorm: input_matrix.as_ref().and_then(|m| m.qnorm),
            dsub: input_matrix
                .as_ref()
                .and_then(|m| m.pq.as_ref())
                .map(|pq| pq.dsub),
            nsubq: input_matrix
                .as_ref()
                .and_then(|m| m.pq.as_ref())
                .map(|pq| pq.nsubq),
            pruned: header.is_some_and(|h| h.pruneidx_size >= 0),
        });
        let mut sections = Vec::new();
        if p.version.is_some() {
            sections.push(Section {
                name: "header",
                offset: 0,
                bytes: Some(HEADER_BYTES),
            });
        }
        if args.is_some() {
            sections.push(Section {
                name: "args",
                offset: HEADER_BYTES,
                bytes: Some(DICT_OFFSET - HEADER_BYTES),
            });
        }
        if header.is_some() {
            sections.push(Section {
                name: "dictionary",
                offset: DICT_OFFSET,
                bytes: p.dict_end.map(|e| e - DICT_OFFSET),
            });
        }
        for (name, m) in [
            ("input_matrix", &input_matrix),
            ("output_matrix", &output_matrix),
        ] {
            if let Some(m) = m {
                sections.push(Section {
                    name,
                    offset: m.offset,
                    bytes: m
                        .bytes
                        .filter(|_| m.offset + m.bytes.unwrap_or(0) <= p.bytes),
                });
            }
        }
        if p.trailing > 0
            && let Some(end) = p.model_end
        {
            sections.push(Section {
                name: "trailing",
                offset: end,
                bytes: Some(p.trailing),
            });
        }
        let kind = args.as_ref().map(|a| ModelKind::from_model(a.model));
        let mut findings = p.findings;
        let first_label = p.dict.as_ref().and_then(|d| {
            d.entries()
                .find(|e| e.entry_type == EntryType::Label)
                .map(|e| String::from_utf8_lossy(e.word).into_owned())
        });
        let blazingtext = kind.and_then(|k| blazingtext(k, first_label.as_deref()));
        if p.quant_input == Some(true) {
            let msg = "quantized model (.ftz): no AWS documentation or example shows BlazingText hosting a quantized model, so whether the endpoint loads it is unverified";
            findings.push(if opts.allow_quantized {
                Finding::warning(codes::BT_QUANTIZED, msg)
                    .with_hint("test the endpoint with a few requests before relying on it, or host the unquantized .bin")
            } else {
                Finding::error(codes::BT_QUANTIZED, msg)
                    .with_hint("pack the unquantized .bin instead, or pass --allow-quantized to pack it anyway (then test the endpoint)")
            });
        }
        if matches!(kind, Some(ModelKind::Skipgram | ModelKind::Cbow)) {
            findings.push(Finding::info(
                codes::BT_WORD2VEC,
                "word-vector model: the BlazingText endpoint answers {\"instances\": [\"word\", ...]} with one vector per word (zeros for unknown words without subwords); it cannot classify",
            ));
        }
        Inspection {
            format: "fasttext",
            file_size: p.bytes,
            complete: p.model_end.is_some(),
            version: p.version,
            kind,
            loss: args.as_ref().map(|a| a.loss),
            dim: args.as_ref().map(|a| a.dim),
            ngrams: args.as_ref().map(|a| NgramSettings {
                word_ngrams: a.word_ngrams,
                minn: a.minn,
                maxn: a.maxn,
                bucket: a.bucket,
                subwords: a.maxn > 0,
            }),
            args,
            dictionary,
            quantization,
            input_matrix,
            output_matrix,
            sections,
            truncation: p.truncation,
            trailing_bytes: p.trailing,
            blazingtext,
            findings,
        }
    }

    /// True when any finding has error severity (packing refuses the model).
    pub fn has_errors(&self) -> bool {
        self.findings.has_errors()
    }

    /// True for a quantized (.ftz) model.
    pub fn is_quantized(&self) -> bool {
        self.quantization.as_ref().is_some_and(|q| q.quantized)
    }

    /// The summary as JSON, without the findings (which are reported beside
    /// it): what the manifest records as the model description.
    pub fn summary_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.remove("findings");
        }
        v
    }

    /// A multi-line description for a terminal (`sm-pack inspect MODEL`).
    /// Findings are not included: render [`Inspection::findings`] beside it.
    pub fn human_summary(&self) -> String {
        let mut s = String::new();
        let thousands = |n: u64| {
            let d = n.to_string();
            let mut out = String::new();
            for (i, c) in d.chars().enumerate() {
                if i > 0 && (d.len() - i).is_multiple_of(3) {
                    out.push(',');
                }
                out.push(c);
            }
            out
        };
        let version = self.version.map_or("?".into(), |v| v.to_string());
        let _ = writeln!(
            s,
            "fastText model, format version {version}, {} bytes{}",
            thousands(self.file_size),
            if self.complete { "" } else { " (incomplete)" }
        );
        if let (Some(kind), Some(a)) = (self.kind, &self.args) {
            let k = match kind {
                ModelKind::Supervised => "supervised classifier",
                ModelKind::Skipgram => "word vectors (skipgram)",
                ModelKind::Cbow => "word vectors (cbow)",
                ModelKind::Unknown => "unknown model type",
            };
            let _ = writeln!(s, "  kind           {k}, loss {}", a.loss);
            let _ = writeln!(s, "  dim            {}", a.dim);
        }
        if let Some(d) = &self.dictionary {
            let _ = writeln!(
                s,
                "  vocabulary     {} entries: {} words, {} labels ({} training tokens)",
                d.size, d.nwords, d.nlabels, d.ntokens
            );
            if d.labels_count > 0 {
                let more = d.labels_count.saturating_sub(d.labels_first.len() as u64);
                let _ = writeln!(
                    s,
                    "  labels         {}{}",
                    d.labels_first.join(", "),
                    if more > 0 {
                        format!(", … ({more} more)")
                    } else {
                        String::new()
                    }
                );
            }
        }
        if let Some(n) = &self.ngrams {
            let sub = if n.subwords {
                format!("char n-grams {}..{}", n.minn, n.maxn)
            } else {
                "no char n-grams".into()
            };
            let _ = writeln!(
                s,
                "  n-grams        wordNgrams {}, {sub}, bucket {}",
                n.word_ngrams, n.bucket
            );
        }
        if let Some(q) = &self.quantization {
            if q.quantized {
                let _ = writeln!(
                    s,
                    "  quantization   quantized (.ftz): dsub {}, nsubq {}, qnorm {}, qout {}{}",
                    q.dsub.map_or("?".into(), |v| v.to_string()),
                    q.nsubq.map_or("?".into(), |v| v.to_string()),
                    q.qnorm.unwrap_or(false),
                    q.qout.unwrap_or(false),
                    if q.pruned { ", pruned dictionary" } else { "" }
                );
            } else {
                let _ = writeln!(s, "  quantization   none");
            }
        }
        for m in [&self.input_matrix, &self.output_matrix]
            .into_iter()
            .flatten()
        {
            let shape = match (m.rows, m.cols) {
                (Some(r), Some(c)) => format!("{r} × {c}"),
                _ => "?".into(),
            };
            let kind = match m.kind {
                MatrixKind::Dense => "dense",
                MatrixKind::Quantized => "quantized",
            };
            let bytes = m
                .bytes
                .map_or("incomplete".into(), |b| format!("{} bytes", thousands(b)));
            let _ = writeln!(
                s,
                "  {:<14} {kind} {shape} at byte {} ({bytes})",
                format!("{} matrix", m.which),
                m.offset
            );
        }
        if !self.sections.is_empty() {
            let parts: Vec<String> = self
                .sections
                .iter()
                .map(|sec| {
                    format!(
                        "{} {}",
                        sec.name,
                        sec.bytes.map_or("incomplete".into(), thousands)
                    )
                })
                .collect();
            let _ = writeln!(s, "  sections       {}", parts.join(", "));
        }
        if let Some(bt) = &self.blazingtext {
            let req = serde_json::to_string(&bt.request).unwrap_or_default();
            let resp = serde_json::to_string(&bt.response).unwrap_or_default();
            let _ = writeln!(
                s,
                "  blazingtext    {} hosted as {}; {}",
                bt.mode, bt.member, bt.content_type
            );
            let _ = writeln!(s, "  request        {req}");
            let _ = writeln!(s, "  response       {resp}");
        }
        let (e, w, i) = self
            .findings
            .iter()
            .fold((0, 0, 0), |(e, w, i), f| match f.severity {
                Severity::Error => (e + 1, w, i),
                Severity::Warning => (e, w + 1, i),
                Severity::Info => (e, w, i + 1),
            });
        let count = |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
        let _ = writeln!(
            s,
            "  findings       {}, {}, {}",
            count(e, "error"),
            count(w, "warning"),
            count(i, "note")
        );
        s
    }
}

fn blazingtext(kind: ModelKind, first_label: Option<&str>) -> Option<BlazingText> {
    match kind {
        ModelKind::Supervised => {
            let label = first_label.unwrap_or("__label__x");
            Some(BlazingText {
                mode: "classifier",
                member: "model.bin",
                content_type: "application/json",
                request: json!({"instances": ["first sentence to classify", "second sentence"], "configuration": {"k": 1}}),
                response: json!([{"label": [label], "prob": [0.9]}, {"label": [label], "prob": [0.8]}]),
                batch: Some(json!({
                    "content_type": "application/jsonlines",
                    "line": {"source": "sentence to classify", "k": 1},
                    "output_line": {"label": [label], "prob": [0.9]},
                })),
            })
        }
        ModelKind::Skipgram | ModelKind::Cbow => Some(BlazingText {
            mode: "word2vec",
            member: "model.bin",
            content_type: "application/json",
            request: json!({"instances": ["word1", "word2"]}),
            response: json!([{"word": "word1", "vector": [0.1, 0.2]}, {"word": "word2", "vector": [0.3, 0.4]}]),
            batch: None,
        }),
        ModelKind::Unknown => None,
    }
}
