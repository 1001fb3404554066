//! The streaming state machine behind every fastText entry point.
//!
//! [`Machine`] is a push parser: it receives the file's bytes in chunks of
//! any size ([`Machine::feed`]) and keeps only what the layout needs between
//! chunks: a 64-byte field buffer, the current word, the dictionary and, when
//! asked to ([`Machine::new`] with `keep`), the matrices. The pull reader,
//! the `Write` sink and the in-memory loader all drive this one machine.
//!
//! Every claimed size is checked against the bytes that remain (when the
//! total length is known) before anything is reserved; with an unknown
//! length, memory grows only with the bytes actually received.

use super::Options;
use super::args::{self, ARGS_BYTES, Args, MAGIC, ModelName, VERSION, VERSION_11};
use super::codes;
use super::dict::{
    DICT_HEADER_BYTES, DictHeader, Dictionary, ENTRY_FIXED_BYTES, EntryType, LABEL_PREFIX,
    PRUNE_PAIR_BYTES,
};
use super::inspect::{
    FloatPos, MatrixKind, MatrixSummary, NonFinite, PqSummary, Truncation, Which,
};
use crate::report::{Finding, Location};

/// How many leading bytes are kept to describe a file that is not fastText.
pub(crate) const SNIFF_BYTES: usize = 512;
/// Centroids per sub-quantizer (8-bit codes).
pub(crate) const KSUB: u64 = 256;
/// Reservation cap when the total length is unknown: larger structures grow
/// with the data actually received.
const BLIND_RESERVE: u64 = 1 << 12;
/// Bit mask of an f32 exponent; all ones means Inf or NaN.
const EXP_MASK: u32 = 0x7f80_0000;

/// Which quantizer of a quantized matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The product quantizer of the rows.
    Main,
    /// The 1-d quantizer of the row norms (qnorm).
    Norm,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Main => "product quantizer",
            Role::Norm => "norm quantizer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Magic,
    Version,
    Args,
    DictHeader,
    Word { index: u64 },
    EntryTail { index: u64 },
    Pruneidx { left: u64 },
    QuantFlag,
    DenseHeader(Which),
    DenseData(Which, u64),
    QuantHeader(Which),
    Codes(Which, u64),
    PqHeader(Which, Role),
    Centroids(Which, Role, u64),
    NormCodes(Which, u64),
    QoutFlag,
    End,
    Stopped,
    Foreign,
}

enum Shape {
    Fixed(usize),
    Word,
    Records(usize, u64),
    Sink,
}

impl Phase {
    fn shape(self) -> Shape {
        match self {
            Phase::Magic | Phase::Version => Shape::Fixed(4),
            Phase::Args => Shape::Fixed(ARGS_BYTES as usize),
            Phase::DictHeader => Shape::Fixed(DICT_HEADER_BYTES as usize),
            Phase::Word { .. } => Shape::Word,
            Phase::EntryTail { .. } => Shape::Fixed(9),
            Phase::Pruneidx { left } => Shape::Records(8, left),
            Phase::QuantFlag | Phase::QoutFlag => Shape::Fixed(1),
            Phase::DenseHeader(_) => Shape::Fixed(16),
            Phase::DenseData(_, left) => Shape::Records(4, left),
            Phase::QuantHeader(_) => Shape::Fixed(21),
            Phase::Codes(_, left) | Phase::NormCodes(_, left) => Shape::Records(1, left),
            Phase::PqHeader(..) => Shape::Fixed(16),
            Phase::Centroids(_, _, left) => Shape::Records(4, left),
            Phase::End | Phase::Stopped | Phase::Foreign => Shape::Sink,
        }
    }
}

/// Per-quantizer parse state.
#[derive(Debug, Clone, Default)]
pub(crate) struct PqParse {
    pub(crate) summary: PqSummary,
    pub(crate) seen: u64,
    pub(crate) centroids: Vec<f32>,
}

/// Per-matrix parse state; the matrices' numbers are kept only when the
/// machine was created with `keep`.
#[derive(Debug, Clone)]
pub(crate) struct MatrixParse {
    pub(crate) summary: MatrixSummary,
    pub(crate) floats_seen: u64,
    codesize_reported: bool,
    pub(crate) data: Vec<f32>,
    pub(crate) codes: Vec<u8>,
    pub(crate) norm_codes: Vec<u8>,
    pub(crate) pq: Option<PqParse>,
    pub(crate) npq: Option<PqParse>,
}

impl MatrixParse {
    fn new(which: Which, flag_offset: u64, quantized: bool) -> Self {
        MatrixParse {
            summary: MatrixSummary {
                which,
                kind: if quantized {
                    MatrixKind::Quantized
                } else {
                    MatrixKind::Dense
                },
                offset: flag_offset,
                rows: None,
                cols: None,
                expected_rows: None,
                expected_cols: None,
                bytes: None,
                qnorm: None,
                codesize: None,
                pq: None,
                norm_pq: None,
                nonfinite: NonFinite::default(),
            },
            floats_seen: 0,
            codesize_reported: false,
            data: Vec::new(),
            codes: Vec::new(),
            norm_codes: Vec::new(),
            pq: None,
            npq: None,
        }
    }

    fn rows(&self) -> u64 {
        self.summary.rows.map_or(0, |r| r.max(0) as u64)
    }

    fn cols(&self) -> u64 {
        self.summary.cols.map_or(0, |c| c.max(0) as u64)
    }
}

/// First anomaly of one kind among dictionary entries, and how many there were.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    n: u64,
    first: Option<(u64, u64)>,
}

impl Tally {
    fn hit(&mut self, index: u64, offset: u64) {
        self.n += 1;
        if self.first.is_none() {
            self.first = Some((index, offset));
        }
    }
}

#[derive(Debug, Clone, Default)]
struct DictTrack {
    entries: u64,
    pairs: u64,
    entry_start: u64,
    words_by_type: u64,
    labels_by_type: u64,
    negative: Tally,
    bad_type: Tally,
    label_before_word: Tally,
    unsorted: Tally,
    unsorted_example: Option<(i64, i64)>,
    seen_label: bool,
    prev: Option<(i8, i64)>,
    whitespace: Tally,
    non_utf8: Tally,
}

/// Everything the machine learned; read by the inspection and model builders.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) version: Option<i32>,
    pub(crate) stored_maxn: Option<i32>,
    pub(crate) args: Option<Args>,
    pub(crate) dict: Option<Dictionary>,
    pub(crate) dict_end: Option<u64>,
    pub(crate) quant_input: Option<bool>,
    pub(crate) qout: Option<bool>,
    pub(crate) input: Option<MatrixParse>,
    pub(crate) output: Option<MatrixParse>,
    pub(crate) findings: Vec<Finding>,
    pub(crate) fatal: bool,
    pub(crate) truncation: Option<Truncation>,
    pub(crate) model_end: Option<u64>,
    pub(crate) trailing: u64,
    pub(crate) foreign: bool,
    pub(crate) prefix: Vec<u8>,
    pub(crate) bytes: u64,
}

impl Parsed {
    pub(crate) fn matrix(&self, which: Which) -> Option<&MatrixParse> {
        match which {
            Which::Input => self.input.as_ref(),
            Which::Output => self.output.as_ref(),
        }
    }
}

/// The push parser. See the module documentation.
pub(crate) struct Machine {
    opts: Options,
    keep: bool,
    total_len: Option<u64>,
    pos: u64,
    phase: Phase,
    region_start: u64,
    buf: [u8; 64],
    buf_len: usize,
    word: Vec<u8>,
    track: DictTrack,
    /// A size claim no stream can satisfy (overflowing u64), seen while the
    /// total length was unknown: reported as a truncation at the end.
    impossible: Option<(String, u64, bool)>,
    st: Parsed,
}

fn le_i32(b: &[u8], o: usize) -> i32 {
    i32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

fn le_i64(b: &[u8], o: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    i64::from_le_bytes(a)
}

/// True when any 4-byte little-endian f32 in `bytes` is NaN or ±Inf. Written
/// branch-free so the compiler vectorises it; callers rescan on a hit.
fn any_nonfinite(bytes: &[u8]) -> bool {
    let mut acc = 0u32;
    for c in bytes.chunks_exact(4) {
        let b = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        acc |= ((b & EXP_MASK) == EXP_MASK) as u32;
    }
    acc != 0
}

fn clamp_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Byte offset of dictionary entry `index` given the arena bytes before it.
fn entry_offset(arena_before: usize, index: u64) -> u64 {
    args::DICT_OFFSET + DICT_HEADER_BYTES + arena_before as u64 + ENTRY_FIXED_BYTES * index
}

impl Machine {
    /// A machine for a stream of `total_len` bytes (when known). `keep`
    /// retains the matrices for the in-memory model.
    pub(crate) fn new(opts: Options, keep: bool, total_len: Option<u64>) -> Self {
        Machine {
            opts,
            keep,
            total_len,
            pos: 0,
            phase: Phase::Magic,
            region_start: 0,
            buf: [0; 64],
            buf_len: 0,
            word: Vec::new(),
            track: DictTrack::default(),
            impossible: None,
            st: Parsed::default(),
        }
    }

    /// Bytes received so far.
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    /// The declared total length, if any.
    pub(crate) fn total_len(&self) -> Option<u64> {
        self.total_len
    }

    /// True once the rest of the stream can no longer change the outcome
    /// except for trailing-byte accounting: a fatal error was found or the
    /// bytes are not fastText (and enough of them were kept to describe them).
    pub(crate) fn is_settled(&self) -> bool {
        match self.phase {
            Phase::Stopped => true,
            Phase::Foreign => self.st.prefix.len() >= SNIFF_BYTES,
            _ => false,
        }
    }

    /// True when a fatal problem stopped the structural parse.
    pub(crate) fn has_failed(&self) -> bool {
        self.st.fatal || self.phase == Phase::Foreign
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.region_start = self.pos;
    }

    fn push(&mut self, f: Finding) {
        self.st.findings.push(f);
    }

    fn fail(&mut self, f: Finding) {
        self.st.findings.push(f);
        self.st.fatal = true;
        self.phase = Phase::Stopped;
    }

    /// Checks that `needed` bytes can still follow; with a known length,
    /// a claim beyond the end of the file stops parsing with a precise
    /// truncation finding before anything is allocated.
    fn ensure(
        &mut self,
        section: impl FnOnce() -> String,
        needed: Option<u64>,
        at_least: bool,
    ) -> bool {
        let Some(total) = self.total_len else {
            if needed.is_none() {
                // No stream can hold this claim; report it at the end, when
                // the stream's length is known.
                self.impossible = Some((section(), self.pos, at_least));
                self.st.fatal = true;
                self.phase = Phase::Stopped;
                return false;
            }
            return true;
        };
        let remaining = total.saturating_sub(self.pos);
        let needed_v = needed.unwrap_or(u64::MAX);
        if needed_v <= remaining {
            return true;
        }
        let section = section();
        let missing = needed_v - remaining;
        self.truncate(Truncation {
            file_len: total,
            section,
            section_offset: self.pos,
            needed: needed_v,
            missing,
            at_least,
        });
        false
    }

    fn truncate(&mut self, t: Truncation) {
        let needed = if t.needed == u64::MAX {
            "more bytes than any file can hold".to_string()
        } else {
            format!(
                "{}{} bytes",
                if t.at_least { "at least " } else { "" },
                t.needed
            )
        };
        let msg = format!(
            "the file ends at byte {} inside the {}, which starts at byte {} and needs {needed}; {} {} missing",
            t.file_len,
            t.section,
            t.section_offset,
            if t.missing == u64::MAX {
                "an impossible number of".to_string()
            } else {
                t.missing.to_string()
            },
            if t.missing == 1 {
                "byte is"
            } else {
                "bytes are"
            },
        );
        let f = Finding::error(codes::TRUNCATED, msg)
            .with_hint("the file was cut short (interrupted download, copy or upload) or a size field is corrupt; copy the model again from its source")
            .at(Location::Offset(t.file_len));
        self.st.truncation = Some(t);
        self.fail(f);
    }

    /// Feeds the next chunk of the stream.
    pub(crate) fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let used = self.step(data);
            data = &data[used..];
        }
    }

    fn step(&mut self, data: &[u8]) -> usize {
        match self.phase.shape() {
            Shape::Sink => {
                match self.phase {
                    Phase::End => self.st.trailing += data.len() as u64,
                    Phase::Foreign => {
                        let room = SNIFF_BYTES.saturating_sub(self.st.prefix.len());
                        let take = room.min(data.len());
                        self.st.prefix.extend_from_slice(&data[..take]);
                    }
                    _ => {}
                }
                self.pos += data.len() as u64;
                data.len()
            }
            Shape::Fixed(need) => {
                let take = (need - self.buf_len).min(data.len());
                self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
                self.buf_len += take;
                self.pos += take as u64;
                if self.phase == Phase::Magic
                    && !MAGIC.to_le_bytes().starts_with(&self.buf[..self.buf_len])
                {
                    // Not fastText: known from the first differing byte.
                    self.st.prefix.extend_from_slice(&self.buf[..self.buf_len]);
                    self.buf_len = 0;
                    self.enter(Phase::Foreign);
                } else if self.buf_len == need {
                    self.buf_len = 0;
                    let field = self.buf;
                    self.on_fixed(&field[..need]);
                }
                take
            }
            Shape::Word => self.feed_word(data),
            Shape::Records(size, left) => self.feed_records(data, size, left),
        }
    }

    fn feed_word(&mut self, data: &[u8]) -> usize {
        let (chunk, used, done) = match data.iter().position(|&b| b == 0) {
            Some(i) => (&data[..i], i + 1, true),
            None => (data, data.len(), false),
        };
        if self.word.len() + chunk.len() > self.opts.max_word_len {
            let index = match self.phase {
                Phase::Word { index } => index,
                _ => 0,
            };
            let start = self.region_start;
            self.pos += used as u64;
            self.fail(
                Finding::error(
                    codes::DICT_UNTERMINATED,
                    format!(
                        "dictionary entry {index} has no NUL terminator within {} bytes (the word-length limit)",
                        self.opts.max_word_len
                    ),
                )
                .with_hint("the dictionary is corrupt or this is not a fastText model; raise the limit only for models with very long words")
                .at(Location::Offset(start)),
            );
            return used;
        }
        self.word.extend_from_slice(chunk);
        self.pos += used as u64;
        if done && let Phase::Word { index } = self.phase {
            self.phase = Phase::EntryTail { index };
        }
        used
    }

    fn feed_records(&mut self, data: &[u8], size: usize, left: u64) -> usize {
        if self.buf_len > 0 {
            let take = (size - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            self.pos += take as u64;
            if self.buf_len == size {
                self.buf_len = 0;
                let rec = self.buf;
                self.on_records(&rec[..size], 1);
            }
            return take;
        }
        let whole = ((data.len() / size) as u64).min(left);
        if whole == 0 {
            // A partial record: keep it until the rest arrives.
            let take = data.len().min(size - 1);
            self.buf[..take].copy_from_slice(&data[..take]);
            self.buf_len = take;
            self.pos += take as u64;
            return take;
        }
        let n = whole as usize * size;
        self.pos += n as u64;
        self.on_records(&data[..n], whole);
        n
    }

    // ------------------------------------------------------------------ fixed fields

    fn on_fixed(&mut self, b: &[u8]) {
        let field_start = self.pos - b.len() as u64;
        match self.phase {
            Phase::Magic => {
                if le_i32(b, 0) == MAGIC {
                    self.enter(Phase::Version);
                } else {
                    self.st.prefix.extend_from_slice(b);
                    self.enter(Phase::Foreign);
                }
            }
            Phase::Version => self.on_version(le_i32(b, 0)),
            Phase::Args => {
                let mut block = [0u8; ARGS_BYTES as usize];
                block.copy_from_slice(b);
                self.on_args(Args::decode(&block));
            }
            Phase::DictHeader => {
                let mut block = [0u8; DICT_HEADER_BYTES as usize];
                block.copy_from_slice(b);
                self.on_dict_header(DictHeader::decode(&block));
            }
            Phase::EntryTail { index } => {
                let count = le_i64(b, 0);
                let ty = b[8] as i8;
                self.on_entry(index, count, ty);
            }
            Phase::QuantFlag => {
                let q = self.flag(b[0], "quant_input", field_start);
                self.on_quant_flag(q, field_start);
            }
            Phase::QoutFlag => {
                let q = self.flag(b[0], "qout", field_start);
                self.on_qout_flag(q, field_start);
            }
            Phase::DenseHeader(w) => {
                self.on_dense_header(w, le_i64(b, 0), le_i64(b, 8), field_start)
            }
            Phase::QuantHeader(w) => {
                let qnorm = self.flag(b[0], "qnorm", field_start);
                self.on_quant_header(
                    w,
                    qnorm,
                    le_i64(b, 1),
                    le_i64(b, 9),
                    le_i32(b, 17),
                    field_start,
                );
            }
            Phase::PqHeader(w, role) => self.on_pq_header(
                w,
                role,
                [le_i32(b, 0), le_i32(b, 4), le_i32(b, 8), le_i32(b, 12)],
                field_start,
            ),
            _ => {}
        }
    }

    fn flag(&mut self, byte: u8, name: &str, offset: u64) -> bool {
        if byte > 1 {
            self.push(
                Finding::error(
                    codes::FLAG,
                    format!("the {name} flag is {byte}; fastText writes a bool as 0 or 1 (reading it as true)"),
                )
                .with_hint("the file is corrupt at this byte")
                .at(Location::Offset(offset)),
            );
        }
        byte != 0
    }

    fn on_version(&mut self, v: i32) {
        self.st.version = Some(v);
        if v > VERSION {
            self.fail(
                Finding::error(
                    codes::VERSION,
                    format!("file-format version {v} is newer than {VERSION}, the newest fastText writes; fastText refuses it (\"wrong file format\")"),
                )
                .with_hint("save the model with fastText 0.9.x (format version 12)")
                .at(Location::Offset(4)),
            );
            return;
        }
        if v < VERSION_11 {
            self.push(
                Finding::error(
                    codes::VERSION,
                    format!("file-format version {v} predates version {VERSION_11}, the first fastText ever wrote; the header is corrupt"),
                )
                .with_hint("re-save the model with fastText 0.9.x (format version 12)")
                .at(Location::Offset(4)),
            );
        }
        self.enter(Phase::Args);
    }

    fn on_args(&mut self, mut a: Args) {
        use args::offset as off;
        if self.st.version == Some(VERSION_11) {
            let mut msg = "file-format version 11 (fastText from 2017-05 to 2017-10)".to_string();
            if a.is_supervised() {
                self.st.stored_maxn = Some(a.maxn);
                msg.push_str(&format!(
                    "; fastText forces maxn to 0 for supervised models of this version (stored maxn: {})",
                    a.maxn
                ));
                a.maxn = 0;
            }
            self.push(
                Finding::info(codes::VERSION_11, msg)
                    .with_hint(
                        "re-saving with fastText 0.9.x writes version 12 with the same predictions",
                    )
                    .at(Location::Offset(4)),
            );
        }
        if let args::Loss::Unknown(v) = a.loss {
            self.push(
                Finding::error(
                    codes::ARGS_LOSS,
                    format!("loss {v} is not one of 1 (hs), 2 (ns), 3 (softmax), 4 (ova); fastText fails with \"Unknown loss\""),
                )
                .at(Location::Offset(off::LOSS)),
            );
        }
        if let ModelName::Unknown(v) = a.model {
            self.push(
                Finding::error(
                    codes::ARGS_MODEL,
                    format!("model {v} is not one of 1 (cbow), 2 (skipgram), 3 (supervised)"),
                )
                .at(Location::Offset(off::MODEL)),
            );
        }
        if a.dim <= 0 {
            self.push(
                Finding::error(
                    codes::ARGS_DIM,
                    format!("dim is {}; vectors need dim ≥ 1", a.dim),
                )
                .at(Location::Offset(off::DIM)),
            );
        }
        if a.maxn > 0 && a.minn > a.maxn {
            self.push(
                Finding::error(
                    codes::ARGS_MINN_MAXN,
                    format!("minn {} is larger than maxn {}: no char n-gram length fits, so subwords never fire", a.minn, a.maxn),
                )
                .at(Location::Offset(off::MINN)),
            );
        }
        if a.bucket < 0 {
            self.push(
                Finding::error(
                    codes::ARGS_BUCKET,
                    format!("bucket is {}; it must be ≥ 0", a.bucket),
                )
                .at(Location::Offset(off::BUCKET)),
            );
        } else if a.bucket == 0 && (a.maxn > 0 || a.word_ngrams > 1) {
            let what = if a.maxn > 0 {
                format!("char n-grams (maxn {})", a.maxn)
            } else {
                format!("word n-grams (wordNgrams {})", a.word_ngrams)
            };
            self.push(
                Finding::error(
                    codes::ARGS_BUCKET,
                    format!("bucket is 0 but {what} are enabled: fastText computes hash % bucket and dies with a division by zero (SIGFPE)"),
                )
                .at(Location::Offset(off::BUCKET)),
            );
        } else if a.bucket > 0 && a.maxn <= 0 && (a.word_ngrams <= 1 || !a.is_supervised()) {
            self.push(
                Finding::info(
                    codes::ARGS_UNUSED_BUCKETS,
                    format!(
                        "bucket is {} but no feature hashes into a bucket (maxn {}, wordNgrams {}): those input rows are never used",
                        a.bucket, a.maxn, a.word_ngrams
                    ),
                )
                .at(Location::Offset(off::BUCKET)),
            );
        }
        self.st.args = Some(a);
        self.enter(Phase::DictHeader);
    }

    fn on_dict_header(&mut self, h: DictHeader) {
        let at = Location::Offset(args::DICT_OFFSET);
        if h.size < 0 || h.nwords < 0 || h.nlabels < 0 {
            self.push(
                Finding::error(
                    codes::DICT_SIZE,
                    format!(
                        "dictionary header has negative counts: size {}, nwords {}, nlabels {}",
                        h.size, h.nwords, h.nlabels
                    ),
                )
                .at(at.clone()),
            );
        } else if i64::from(h.size) != i64::from(h.nwords) + i64::from(h.nlabels) {
            self.push(
                Finding::error(
                    codes::DICT_SIZE,
                    format!(
                        "dictionary size {} is not nwords {} + nlabels {} (= {})",
                        h.size,
                        h.nwords,
                        h.nlabels,
                        i64::from(h.nwords) + i64::from(h.nlabels)
                    ),
                )
                .at(at.clone()),
            );
        }
        if h.size == 0 {
            self.push(
                Finding::error(codes::DICT_EMPTY, "the dictionary has no entries; fastText divides by zero on the first word lookup (SIGFPE)")
                    .at(at.clone()),
            );
        }
        if h.ntokens < 0 {
            self.push(
                Finding::warning(
                    codes::DICT_NTOKENS,
                    format!("ntokens is negative ({})", h.ntokens),
                )
                .at(Location::Offset(args::DICT_OFFSET + 12)),
            );
        }
        if h.pruneidx_size < -1 {
            self.push(
                Finding::error(
                    codes::PRUNEIDX_SIZE,
                    format!("pruneidx_size is {}; fastText writes -1 (not pruned) or the number of pairs", h.pruneidx_size),
                )
                .at(Location::Offset(args::DICT_OFFSET + 20)),
            );
        }
        let entries = h.size.max(0) as u64;
        let pairs = h.pruneidx_size.max(0) as u64;
        let needed = entries.checked_mul(ENTRY_FIXED_BYTES).and_then(|e| {
            pairs
                .checked_mul(PRUNE_PAIR_BYTES)
                .and_then(|p| e.checked_add(p))
        });
        if !self.ensure(
            || format!("dictionary ({entries} entries of at least {ENTRY_FIXED_BYTES} bytes and {pairs} prune-index pairs of 8 bytes)"),
            needed,
            true,
        ) {
            self.st.dict = Some(Dictionary::with_header(h, 0, 0));
            return;
        }
        let (re, rp) = if self.total_len.is_some() {
            (entries, pairs)
        } else {
            (entries.min(BLIND_RESERVE), pairs.min(BLIND_RESERVE))
        };
        self.st.dict = Some(Dictionary::with_header(h, clamp_usize(re), clamp_usize(rp)));
        self.track.entries = entries;
        self.track.pairs = pairs;
        self.track.entry_start = self.pos;
        self.after_entry_or_start(0);
    }

    fn after_entry_or_start(&mut self, next: u64) {
        if next < self.track.entries {
            self.word.clear();
            self.track.entry_start = self.pos;
            self.enter(Phase::Word { index: next });
        } else if self.track.pairs > 0 {
            self.enter(Phase::Pruneidx {
                left: self.track.pairs,
            });
        } else {
            self.dict_done();
        }
    }

    fn on_entry(&mut self, index: u64, count: i64, ty: i8) {
        let start = self.track.entry_start;
        let word = std::mem::take(&mut self.word);
        let t = &mut self.track;
        if count < 0 {
            t.negative.hit(index, start + word.len() as u64 + 1);
        }
        match EntryType::from_byte(ty) {
            EntryType::Word => {
                t.words_by_type += 1;
                if t.seen_label {
                    t.label_before_word.hit(index, start);
                }
            }
            EntryType::Label => {
                t.labels_by_type += 1;
                t.seen_label = true;
            }
            EntryType::Invalid(_) => t.bad_type.hit(index, start + word.len() as u64 + 9),
        }
        if let Some((pty, pcount)) = t.prev
            && pty == ty
            && count > pcount
        {
            t.unsorted.hit(index, start);
            if t.unsorted_example.is_none() {
                t.unsorted_example = Some((pcount, count));
            }
        }
        t.prev = Some((ty, count));
        if word.is_empty()
            || word
                .iter()
                .any(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c))
        {
            t.whitespace.hit(index, start);
        }
        if std::str::from_utf8(&word).is_err() {
            t.non_utf8.hit(index, start);
        }
        if let Some(d) = self.st.dict.as_mut() {
            d.push(&word, count, ty);
        }
        self.word = word;
        self.word.clear();
        self.after_entry_or_start(index + 1);
    }

    // ------------------------------------------------------------------ records

    fn on_records(&mut self, bytes: &[u8], n: u64) {
        let start = self.pos - bytes.len() as u64;
        match self.phase {
            Phase::Pruneidx { left } => {
                if let Some(d) = self.st.dict.as_mut() {
                    for c in bytes.chunks_exact(8) {
                        d.push_pair(le_i32(c, 0), le_i32(c, 4));
                    }
                }
                let left = left - n;
                if left == 0 {
                    self.dict_done();
                } else {
                    self.phase = Phase::Pruneidx { left };
                }
            }
            Phase::DenseData(w, left) => {
                let keep = self.keep;
                if let Some(m) = self.matrix_mut(w) {
                    let cols = m.cols();
                    let first = m.floats_seen;
                    if any_nonfinite(bytes) {
                        record_nonfinite(&mut m.summary.nonfinite, bytes, start, first, |i| {
                            i.checked_div(cols)
                                .map_or((0, i), |row| (row, i - row * cols))
                        });
                    }
                    if keep {
                        m.data.extend(
                            bytes
                                .chunks_exact(4)
                                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                        );
                    }
                    m.floats_seen += n;
                }
                let left = left - n;
                if left == 0 {
                    self.matrix_done(w);
                } else {
                    self.phase = Phase::DenseData(w, left);
                }
            }
            Phase::Codes(w, left) => {
                if self.keep
                    && let Some(m) = self.matrix_mut(w)
                {
                    m.codes.extend_from_slice(bytes);
                }
                let left = left - n;
                if left == 0 {
                    self.enter(Phase::PqHeader(w, Role::Main));
                } else {
                    self.phase = Phase::Codes(w, left);
                }
            }
            Phase::NormCodes(w, left) => {
                if self.keep
                    && let Some(m) = self.matrix_mut(w)
                {
                    m.norm_codes.extend_from_slice(bytes);
                }
                let left = left - n;
                if left == 0 {
                    self.enter(Phase::PqHeader(w, Role::Norm));
                } else {
                    self.phase = Phase::NormCodes(w, left);
                }
            }
            Phase::Centroids(w, role, left) => {
                let keep = self.keep;
                if let Some(pq) = self.matrix_mut(w).and_then(|m| match role {
                    Role::Main => m.pq.as_mut(),
                    Role::Norm => m.npq.as_mut(),
                }) {
                    let s = &pq.summary;
                    let (dsub, lastdsub, nsubq) = (
                        s.dsub.max(1) as u64,
                        s.lastdsub.max(1) as u64,
                        s.nsubq.max(1) as u64,
                    );
                    if any_nonfinite(bytes) {
                        record_nonfinite(&mut pq.summary.nonfinite, bytes, start, pq.seen, |i| {
                            let sq = (i / (KSUB * dsub)).min(nsubq - 1);
                            let within = i - sq * KSUB * dsub;
                            let d = if sq == nsubq - 1 { lastdsub } else { dsub };
                            (sq, within / d)
                        });
                    }
                    if keep {
                        pq.centroids.extend(
                            bytes
                                .chunks_exact(4)
                                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                        );
                    }
                    pq.seen += n;
                }
                let left = left - n;
                if left == 0 {
                    self.pq_done(w, role);
                } else {
                    self.phase = Phase::Centroids(w, role, left);
                }
            }
            _ => {}
        }
    }

    fn matrix_mut(&mut self, w: Which) -> Option<&mut MatrixParse> {
        match w {
            Which::Input => self.st.input.as_mut(),
            Which::Output => self.st.output.as_mut(),
        }
    }

    // ------------------------------------------------------------------ dictionary checks

    fn dict_done(&mut self) {
        self.st.dict_end = Some(self.pos);
        self.check_dictionary();
        self.enter(Phase::QuantFlag);
    }

    fn check_dictionary(&mut self) {
        let Some(dict) = self.st.dict.take() else {
            return;
        };
        let Some(h) = dict.header().copied() else {
            self.st.dict = Some(dict);
            return;
        };
        let t = self.track.clone();
        let mut out = Vec::new();
        let loc = |o: u64| Location::Offset(o);
        if let Some((i, o)) = t.negative.first {
            out.push(
                Finding::error(
                    codes::DICT_COUNT,
                    format!(
                        "{} a negative count (first: entry {i})",
                        plural(t.negative.n, "entry has", "entries have")
                    ),
                )
                .at(loc(o)),
            );
        }
        if let Some((i, o)) = t.bad_type.first {
            out.push(
                Finding::error(
                    codes::DICT_TYPE,
                    format!(
                        "{} a type byte other than 0 (word) or 1 (label) (first: entry {i})",
                        plural(t.bad_type.n, "entry has", "entries have")
                    ),
                )
                .at(loc(o)),
            );
        }
        if let Some((i, o)) = t.label_before_word.first {
            out.push(
                Finding::error(
                    codes::DICT_LABEL_BEFORE_WORD,
                    format!("a word follows a label (first: entry {i}); fastText stores all words first, and label ids are entry index − nwords"),
                )
                .at(loc(o)),
            );
        }
        if h.nwords >= 0
            && h.nlabels >= 0
            && (t.words_by_type != h.nwords as u64 || t.labels_by_type != h.nlabels as u64)
        {
            out.push(
                Finding::error(
                    codes::DICT_TYPE_TOTALS,
                    format!(
                        "the entries hold {} and {} by their type bytes, but the header says nwords {} and nlabels {}",
                        plural(t.words_by_type, "word", "words"),
                        plural(t.labels_by_type, "label", "labels"),
                        h.nwords,
                        h.nlabels
                    ),
                )
                .at(loc(args::DICT_OFFSET)),
            );
        }
        if let (Some((i, o)), Some((prev, cur))) = (t.unsorted.first, t.unsorted_example) {
            out.push(
                Finding::warning(
                    codes::DICT_UNSORTED,
                    format!(
                        "dictionary counts are not in descending order as fastText writes them ({} out of order; first: entry {i} has count {cur} after {prev})",
                        plural(t.unsorted.n, "entry", "entries")
                    ),
                )
                .with_hint("the file was not written by fastText's own save, or was edited")
                .at(loc(o)),
            );
        }
        if let Some((i, o)) = t.whitespace.first {
            out.push(
                Finding::warning(
                    codes::DICT_WHITESPACE,
                    format!(
                        "{} empty or contain a token separator (space, tab, newline, VT, FF, CR), so no request token can ever match them (first: entry {i})",
                        plural(t.whitespace.n, "entry is", "entries are")
                    ),
                )
                .at(loc(o)),
            );
        }
        if let Some((i, o)) = t.non_utf8.first {
            out.push(
                Finding::warning(
                    codes::DICT_UTF8,
                    format!(
                        "{} not valid UTF-8, so no JSON request string can match them (first: entry {i})",
                        plural(t.non_utf8.n, "entry is", "entries are")
                    ),
                )
                .at(loc(o)),
            );
        }
        // Duplicates: sort entry indices by their bytes (4 bytes per entry).
        let n = dict.len();
        if n > 1 && n <= u32::MAX as usize {
            let mut idx: Vec<u32> = (0..n as u32).collect();
            idx.sort_unstable_by(|&a, &b| {
                dict.word(a as usize)
                    .cmp(&dict.word(b as usize))
                    .then(a.cmp(&b))
            });
            let mut dups = 0u64;
            let mut first: Option<(u32, u32)> = None;
            for w in idx.windows(2) {
                if dict.word(w[0] as usize) == dict.word(w[1] as usize) {
                    dups += 1;
                    if first.is_none_or(|(_, b)| w[1] < b) {
                        first = Some((w[0], w[1]));
                    }
                }
            }
            if let Some((a, b)) = first {
                let word =
                    String::from_utf8_lossy(dict.word(b as usize).unwrap_or_default()).into_owned();
                let arena_before = (0..b as usize)
                    .map(|i| dict.word(i).map_or(0, <[u8]>::len))
                    .sum::<usize>();
                out.push(
                    Finding::warning(
                        codes::DICT_DUPLICATE,
                        format!(
                            "{} an earlier entry (first: {word:?} at entries {a} and {b}); fastText's lookup finds only the last copy",
                            plural(dups, "entry repeats", "entries repeat")
                        ),
                    )
                    .at(loc(entry_offset(arena_before, b as u64))),
                );
            }
        }
        // Labels and model kind.
        let args = self.st.args.clone();
        if let Some(a) = &args {
            if a.model == ModelName::Supervised && h.nlabels == 0 {
                out.push(
                    Finding::error(codes::LABELS_MISSING, "supervised model without labels: it cannot predict anything")
                        .with_hint("train with labelled lines (`__label__x text`), or save word vectors with skipgram/cbow")
                        .at(loc(args::DICT_OFFSET + 8)),
                );
            }
            if matches!(a.model, ModelName::Cbow | ModelName::Skipgram) && h.nlabels > 0 {
                out.push(
                    Finding::error(
                        codes::LABELS_UNEXPECTED,
                        format!("{} model with {} labels; fastText's unsupervised training never stores labels", a.model, h.nlabels),
                    )
                    .at(loc(args::DICT_OFFSET + 8)),
                );
            }
        }
        let (mut with, mut without) = (0u64, 0u64);
        let mut example: Option<(usize, Vec<u8>)> = None;
        for (i, e) in dict.entries().enumerate() {
            if e.entry_type != EntryType::Label {
                continue;
            }
            if e.word.starts_with(LABEL_PREFIX) {
                with += 1;
            } else {
                without += 1;
                if example.is_none() {
                    example = Some((i, e.word.to_vec()));
                }
            }
        }
        if let Some((i, w)) = example {
            let w = String::from_utf8_lossy(&w).into_owned();
            let arena_before = (0..i)
                .map(|k| dict.word(k).map_or(0, <[u8]>::len))
                .sum::<usize>();
            let f = if with == 0 {
                Finding::info(
                    codes::LABELS_PREFIX,
                    format!("labels do not use the default `__label__` prefix (e.g. {w:?}); BlazingText returns them verbatim"),
                )
                .with_hint("clients must expect these label strings; request tokens that start with `__label__` are still dropped as labels")
            } else {
                Finding::warning(
                    codes::LABELS_PREFIX,
                    format!(
                        "{without} of {} labels lack the `__label__` prefix the others use (e.g. {w:?})",
                        with + without
                    ),
                )
            };
            out.push(f.at(loc(entry_offset(arena_before, i as u64))));
        }
        // Prune index.
        if !dict.pruneidx().is_empty() {
            let pairs_off = self
                .st
                .dict_end
                .unwrap_or(0)
                .saturating_sub(PRUNE_PAIR_BYTES * dict.pruneidx().len() as u64);
            let bucket = args.as_ref().map_or(i32::MAX, |a| a.bucket);
            let rows = h.pruneidx_size;
            let bad_key = dict
                .pruneidx()
                .iter()
                .position(|&(k, _)| k < 0 || k >= bucket);
            let bad_row = dict
                .pruneidx()
                .iter()
                .position(|&(_, v)| v < 0 || i64::from(v) >= rows);
            if let Some(i) = bad_key {
                let (k, _) = dict.pruneidx()[i];
                out.push(
                    Finding::error(
                        codes::PRUNEIDX_RANGE,
                        format!(
                            "prune-index pair {i} maps bucket {k}, outside [0, bucket {bucket})"
                        ),
                    )
                    .at(loc(pairs_off + 8 * i as u64)),
                );
            }
            if let Some(i) = bad_row {
                let (_, v) = dict.pruneidx()[i];
                out.push(
                    Finding::error(
                        codes::PRUNEIDX_RANGE,
                        format!("prune-index pair {i} maps to row {v}, outside [0, pruneidx_size {rows}); prediction would read past the input matrix"),
                    )
                    .at(loc(pairs_off + 8 * i as u64 + 4)),
                );
            }
            let mut keys: Vec<i32> = dict.pruneidx().iter().map(|p| p.0).collect();
            keys.sort_unstable();
            let dup_keys = keys.windows(2).filter(|w| w[0] == w[1]).count();
            if dup_keys > 0 {
                out.push(
                    Finding::error(
                        codes::PRUNEIDX_DUPLICATE,
                        format!("{dup_keys} prune-index buckets are listed more than once; fastText keeps the last mapping"),
                    )
                    .at(loc(pairs_off)),
                );
            }
            keys.clear();
            keys.extend(dict.pruneidx().iter().map(|p| p.1));
            keys.sort_unstable();
            let dup_rows = keys.windows(2).filter(|w| w[0] == w[1]).count();
            if dup_rows > 0 {
                out.push(
                    Finding::warning(
                        codes::PRUNEIDX_DUPLICATE,
                        format!("{dup_rows} input rows are shared by several prune-index buckets; fastText's pruning gives each kept bucket its own row"),
                    )
                    .at(loc(pairs_off)),
                );
            }
        }
        self.st.findings.extend(out);
        self.st.dict = Some(dict);
    }

    // ------------------------------------------------------------------ matrices

    fn header(&self) -> Option<DictHeader> {
        self.st.dict.as_ref().and_then(|d| d.header().copied())
    }

    fn on_quant_flag(&mut self, quant: bool, offset: u64) {
        self.st.quant_input = Some(quant);
        let h = self.header();
        if let Some(h) = h
            && h.pruneidx_size >= 0
            && !quant
        {
            self.push(
                Finding::error(
                    codes::PRUNEIDX_UNQUANTIZED,
                    format!("the dictionary is pruned (pruneidx_size {}) but the input matrix is not quantized; fastText refuses it (\"Invalid model file\", issue #332)", h.pruneidx_size),
                )
                .at(Location::Offset(args::DICT_OFFSET + 20)),
            );
        }
        if quant
            && let Some(a) = &self.st.args
            && matches!(a.model, ModelName::Cbow | ModelName::Skipgram)
        {
            let m = a.model;
            self.push(
                Finding::error(
                    codes::QUANT_UNSUPERVISED,
                    format!("quantized {m} model: fastText only quantizes supervised models, so this file was not made by fastText"),
                )
                .at(Location::Offset(offset)),
            );
        }
        self.st.input = Some(MatrixParse::new(Which::Input, offset, quant));
        self.enter(if quant {
            Phase::QuantHeader(Which::Input)
        } else {
            Phase::DenseHeader(Which::Input)
        });
    }

    fn on_qout_flag(&mut self, qout: bool, offset: u64) {
        self.st.qout = Some(qout);
        let quant = self.st.quant_input == Some(true);
        if qout && !quant {
            self.push(
                Finding::warning(
                    codes::FLAG_QOUT_IGNORED,
                    "qout is set but the input matrix is not quantized; fastText ignores it and reads a dense output matrix",
                )
                .at(Location::Offset(offset)),
            );
        }
        let q = quant && qout;
        self.st.output = Some(MatrixParse::new(Which::Output, offset, q));
        self.enter(if q {
            Phase::QuantHeader(Which::Output)
        } else {
            Phase::DenseHeader(Which::Output)
        });
    }

    fn expected_shape(&self, w: Which) -> (Option<i64>, Option<i64>) {
        let a = self.st.args.as_ref();
        let h = self.header();
        let cols = a.map(|a| i64::from(a.dim));
        let rows = match (w, a, h) {
            (Which::Input, Some(a), Some(h))
                if h.nwords >= 0 && a.bucket >= 0 && h.pruneidx_size >= -1 =>
            {
                let extra = if h.pruneidx_size >= 0 {
                    h.pruneidx_size
                } else {
                    i64::from(a.bucket)
                };
                i64::from(h.nwords).checked_add(extra)
            }
            (Which::Output, Some(a), Some(h)) => match a.model {
                ModelName::Supervised if h.nlabels >= 0 => Some(i64::from(h.nlabels)),
                ModelName::Cbow | ModelName::Skipgram if h.nwords >= 0 => Some(i64::from(h.nwords)),
                _ => None,
            },
            _ => None,
        };
        (rows, cols)
    }

    /// Records and checks a matrix's shape; false when parsing must stop.
    fn set_shape(&mut self, w: Which, m: i64, n: i64, header_offset: u64) -> bool {
        let (er, ec) = self.expected_shape(w);
        let why_rows = match w {
            Which::Input => {
                let pruned = self.header().is_some_and(|h| h.pruneidx_size >= 0);
                if pruned {
                    "nwords + pruneidx_size"
                } else {
                    "nwords + bucket"
                }
            }
            Which::Output => {
                if self.st.args.as_ref().is_some_and(Args::is_supervised) {
                    "nlabels"
                } else {
                    "nwords"
                }
            }
        };
        if let Some(mp) = self.matrix_mut(w) {
            mp.summary.rows = Some(m);
            mp.summary.cols = Some(n);
            mp.summary.expected_rows = er;
            mp.summary.expected_cols = ec;
        }
        if m < 0 || n < 0 {
            self.fail(
                Finding::error(
                    codes::MATRIX_NEGATIVE,
                    format!("the {w} matrix claims a negative shape {m} × {n}"),
                )
                .with_hint("the file is corrupt")
                .at(Location::Offset(header_offset)),
            );
            return false;
        }
        if let Some(er) = er
            && er != m
        {
            self.push(
                Finding::error(
                    codes::MATRIX_ROWS,
                    format!("the {w} matrix has {m} rows, but args and dictionary imply {why_rows} = {er}"),
                )
                .at(Location::Offset(header_offset)),
            );
        }
        if let Some(ec) = ec
            && ec != n
        {
            self.push(
                Finding::error(
                    codes::MATRIX_COLS,
                    format!("the {w} matrix has {n} columns, but dim is {ec}"),
                )
                .at(Location::Offset(header_offset + 8)),
            );
        }
        true
    }

    fn reserve_for(&self, claimed: u64) -> usize {
        if !self.keep {
            return 0;
        }
        // With a known length the claim was already checked against the bytes left.
        clamp_usize(if self.total_len.is_some() {
            claimed
        } else {
            claimed.min(BLIND_RESERVE)
        })
    }

    fn on_dense_header(&mut self, w: Which, m: i64, n: i64, offset: u64) {
        if !self.set_shape(w, m, n, offset) {
            return;
        }
        let count = (m as u64).checked_mul(n as u64);
        let bytes = count.and_then(|c| c.checked_mul(4));
        if !self.ensure(|| format!("{w} matrix data ({m} × {n} f32)"), bytes, false) {
            return;
        }
        let count = count.unwrap_or(0);
        let reserve = self.reserve_for(count);
        if let Some(mp) = self.matrix_mut(w) {
            mp.data.reserve_exact(reserve);
        }
        if count == 0 {
            self.matrix_done(w);
        } else {
            self.enter(Phase::DenseData(w, count));
        }
    }

    fn on_quant_header(
        &mut self,
        w: Which,
        qnorm: bool,
        m: i64,
        n: i64,
        codesize: i32,
        offset: u64,
    ) {
        if let Some(mp) = self.matrix_mut(w) {
            mp.summary.qnorm = Some(qnorm);
            mp.summary.codesize = Some(codesize);
        }
        if !self.set_shape(w, m, n, offset + 1) {
            return;
        }
        if codesize < 0 {
            self.fail(
                Finding::error(
                    codes::QUANT_CODESIZE,
                    format!("the {w} matrix claims a negative codesize {codesize}"),
                )
                .at(Location::Offset(offset + 17)),
            );
            return;
        }
        let cs = codesize as u64;
        let (mu, nu) = (m as u64, n as u64);
        let nsubq_range = if nu == 0 { 0..=0 } else { 1..=nu };
        let plausible = if mu == 0 {
            cs == 0
        } else {
            cs.is_multiple_of(mu) && nsubq_range.contains(&(cs / mu))
        };
        if !plausible {
            if let Some(mp) = self.matrix_mut(w) {
                mp.codesize_reported = true;
            }
            self.push(
                Finding::error(
                    codes::QUANT_CODESIZE,
                    format!(
                        "the {w} matrix codesize {cs} is not rows {m} × nsubq for any nsubq from 1 to dim {n}"
                    ),
                )
                .at(Location::Offset(offset + 17)),
            );
        }
        if !self.ensure(|| format!("{w} matrix codes ({cs} bytes)"), Some(cs), false) {
            return;
        }
        let reserve = self.reserve_for(cs);
        if let Some(mp) = self.matrix_mut(w) {
            mp.codes.reserve_exact(reserve);
        }
        if cs == 0 {
            self.enter(Phase::PqHeader(w, Role::Main));
        } else {
            self.enter(Phase::Codes(w, cs));
        }
    }

    fn on_pq_header(&mut self, w: Which, role: Role, f: [i32; 4], offset: u64) {
        let [dim, nsubq, dsub, lastdsub] = f;
        let Some(mp) = self.matrix_mut(w) else { return };
        let (rows, cols, codesize, codesize_reported) = (
            mp.summary.rows.unwrap_or(0),
            mp.summary.cols.unwrap_or(0),
            mp.summary.codesize,
            mp.codesize_reported,
        );
        let summary = PqSummary {
            offset,
            dim,
            nsubq,
            dsub,
            lastdsub,
            nonfinite: NonFinite::default(),
        };
        let parse = PqParse {
            summary: summary.clone(),
            seen: 0,
            centroids: Vec::new(),
        };
        match role {
            Role::Main => {
                mp.summary.pq = Some(summary);
                mp.pq = Some(parse);
            }
            Role::Norm => {
                mp.summary.norm_pq = Some(summary);
                mp.npq = Some(parse);
            }
        }
        if dim < 0 {
            self.fail(
                Finding::error(
                    codes::PQ_FIELDS,
                    format!(
                        "the {w} matrix's {} claims a negative dim {dim}",
                        role.name()
                    ),
                )
                .at(Location::Offset(offset)),
            );
            return;
        }
        let at = Location::Offset(offset);
        match role {
            Role::Main => {
                let mut problems = Vec::new();
                if i64::from(dim) != cols {
                    problems.push(format!("dim {dim} ≠ matrix columns {cols}"));
                }
                if dsub <= 0 {
                    problems.push(format!("dsub {dsub} ≤ 0"));
                } else {
                    let (d, ds) = (i64::from(dim), i64::from(dsub));
                    let exp_nsubq = (d + ds - 1) / ds;
                    let exp_last = if d % ds == 0 { ds } else { d % ds };
                    if i64::from(nsubq) != exp_nsubq {
                        problems.push(format!("nsubq {nsubq} ≠ ceil(dim/dsub) = {exp_nsubq}"));
                    }
                    if i64::from(lastdsub) != exp_last {
                        problems.push(format!("lastdsub {lastdsub} ≠ {exp_last}"));
                    }
                }
                if !problems.is_empty() {
                    self.push(
                        Finding::error(
                            codes::PQ_FIELDS,
                            format!(
                                "the {w} matrix's product quantizer is inconsistent: {}",
                                problems.join(", ")
                            ),
                        )
                        .at(at.clone()),
                    );
                }
                if let Some(cs) = codesize
                    && !codesize_reported
                    && i64::from(cs) != rows.saturating_mul(i64::from(nsubq))
                {
                    self.push(
                        Finding::error(
                            codes::QUANT_CODESIZE,
                            format!("the {w} matrix codesize {cs} ≠ rows {rows} × nsubq {nsubq}"),
                        )
                        .at(at.clone()),
                    );
                }
            }
            Role::Norm => {
                if f != [1, 1, 1, 1] {
                    self.push(
                        Finding::error(
                            codes::PQ_NORM,
                            format!("the {w} matrix's norm quantizer has dim/nsubq/dsub/lastdsub {dim}/{nsubq}/{dsub}/{lastdsub}; fastText always writes 1/1/1/1"),
                        )
                        .at(at.clone()),
                    );
                }
            }
        }
        let count = dim as u64 * KSUB;
        if !self.ensure(
            || format!("{w} matrix {} centroids ({dim} × 256 f32)", role.name()),
            Some(count * 4),
            false,
        ) {
            return;
        }
        let reserve = self.reserve_for(count);
        if let Some(pq) = self.matrix_mut(w).and_then(|m| match role {
            Role::Main => m.pq.as_mut(),
            Role::Norm => m.npq.as_mut(),
        }) {
            pq.centroids.reserve_exact(reserve);
        }
        if count == 0 {
            self.pq_done(w, role);
        } else {
            self.enter(Phase::Centroids(w, role, count));
        }
    }

    fn pq_done(&mut self, w: Which, role: Role) {
        let Some(mp) = self.matrix_mut(w) else { return };
        if let (Some(s), Some(p)) = (mp.summary.pq.as_mut(), mp.pq.as_ref()) {
            s.nonfinite = p.summary.nonfinite.clone();
        }
        if let (Some(s), Some(p)) = (mp.summary.norm_pq.as_mut(), mp.npq.as_ref()) {
            s.nonfinite = p.summary.nonfinite.clone();
        }
        let rows = mp.rows();
        let qnorm = mp.summary.qnorm == Some(true);
        match role {
            Role::Main if qnorm => {
                if !self.ensure(
                    || format!("{w} matrix norm codes ({rows} bytes)"),
                    Some(rows),
                    false,
                ) {
                    return;
                }
                let reserve = self.reserve_for(rows);
                if let Some(mp) = self.matrix_mut(w) {
                    mp.norm_codes.reserve_exact(reserve);
                }
                if rows == 0 {
                    self.enter(Phase::PqHeader(w, Role::Norm));
                } else {
                    self.enter(Phase::NormCodes(w, rows));
                }
            }
            _ => self.matrix_done(w),
        }
    }

    fn matrix_done(&mut self, w: Which) {
        let pos = self.pos;
        if let Some(mp) = self.matrix_mut(w) {
            mp.summary.bytes = Some(pos - mp.summary.offset);
        }
        match w {
            Which::Input => self.enter(Phase::QoutFlag),
            Which::Output => {
                self.st.model_end = Some(pos);
                self.enter(Phase::End);
            }
        }
    }

    // ------------------------------------------------------------------ end of stream

    fn describe_phase(&self) -> (String, bool) {
        let rows_of = |w: Which| self.st.matrix(w).map_or(0, MatrixParse::rows);
        let cols_of = |w: Which| self.st.matrix(w).map_or(0, MatrixParse::cols);
        match self.phase {
            Phase::Magic => ("magic number".into(), false),
            Phase::Version => ("version field".into(), false),
            Phase::Args => ("args block".into(), false),
            Phase::DictHeader => ("dictionary header".into(), false),
            Phase::Word { index } => (
                format!(
                    "word of dictionary entry {index} of {} (no NUL terminator yet)",
                    self.track.entries
                ),
                true,
            ),
            Phase::EntryTail { index } => (
                format!(
                    "count and type of dictionary entry {index} of {}",
                    self.track.entries
                ),
                false,
            ),
            Phase::Pruneidx { .. } => (format!("prune index ({} pairs)", self.track.pairs), false),
            Phase::QuantFlag => ("quant_input flag".into(), false),
            Phase::QoutFlag => ("qout flag".into(), false),
            Phase::DenseHeader(w) => (format!("{w} matrix header"), false),
            Phase::DenseData(w, _) => {
                let (rows, cols) = (rows_of(w), cols_of(w));
                let seen = self.st.matrix(w).map_or(0, |m| m.floats_seen);
                let row = seen.checked_div(cols).unwrap_or(0);
                (
                    format!("{w} matrix data ({rows} × {cols} f32; cut in row {row})"),
                    false,
                )
            }
            Phase::QuantHeader(w) => (format!("quantized {w} matrix header"), false),
            Phase::Codes(w, _) => (format!("{w} matrix codes"), false),
            Phase::PqHeader(w, r) => (format!("{w} matrix {} header", r.name()), false),
            Phase::Centroids(w, r, _) => (format!("{w} matrix {} centroids", r.name()), false),
            Phase::NormCodes(w, _) => (format!("{w} matrix norm codes"), false),
            Phase::End | Phase::Stopped | Phase::Foreign => (String::new(), false),
        }
    }

    fn missing_in_phase(&self) -> u64 {
        match self.phase.shape() {
            Shape::Fixed(n) => (n - self.buf_len) as u64,
            Shape::Records(size, left) => left
                .saturating_mul(size as u64)
                .saturating_sub(self.buf_len as u64),
            Shape::Word => ENTRY_FIXED_BYTES,
            Shape::Sink => 0,
        }
    }

    /// Ends the stream and returns everything learned. Findings are sorted by
    /// byte offset.
    pub(crate) fn finish(mut self) -> Parsed {
        // A pull reader stops early once the verdict is settled; the file's
        // size is still the declared length.
        self.st.bytes = match self.total_len {
            Some(len) if self.is_settled() => len.max(self.pos),
            _ => self.pos,
        };
        match self.phase {
            Phase::Magic => {
                let have = &self.buf[..self.buf_len];
                if !have.is_empty() && MAGIC.to_le_bytes().starts_with(have) {
                    self.truncate(Truncation {
                        file_len: self.pos,
                        section: "magic number".into(),
                        section_offset: 0,
                        needed: 4,
                        missing: 4 - have.len() as u64,
                        at_least: false,
                    });
                } else {
                    self.st.prefix = have.to_vec();
                    self.st.foreign = true;
                }
            }
            Phase::Foreign => self.st.foreign = true,
            Phase::End => {
                if self.st.trailing > 0
                    && let Some(end) = self.st.model_end
                {
                    let n = self.st.trailing;
                    self.push(
                        Finding::error(
                            codes::TRAILING,
                            format!("{} after the end of the output matrix at byte {end} (fastText ignores them, so the file may be two files glued together or a wrong copy)", plural(n, "byte follows", "bytes follow")),
                        )
                        .with_hint("re-export the model with fastText's save_model; a correct file ends exactly at the output matrix")
                        .at(Location::Offset(end)),
                    );
                }
            }
            Phase::Stopped => {
                if let Some((section, section_offset, at_least)) = self.impossible.take() {
                    self.truncate(Truncation {
                        file_len: self.pos,
                        section,
                        section_offset,
                        needed: u64::MAX,
                        missing: u64::MAX,
                        at_least,
                    });
                }
            }
            _ => {
                let (section, at_least) = self.describe_phase();
                let missing = self.missing_in_phase();
                self.truncate(Truncation {
                    file_len: self.pos,
                    section,
                    section_offset: self.region_start,
                    needed: missing + (self.pos - self.region_start),
                    missing,
                    at_least,
                });
            }
        }
        for w in [Which::Input, Which::Output] {
            let Some(mp) = self.st.matrix(w) else {
                continue;
            };
            let mut fs = Vec::new();
            nonfinite_findings(
                &mut fs,
                &mp.summary.nonfinite,
                &format!("{w} matrix"),
                "row",
                "column",
            );
            for (pq, name) in [
                (mp.pq.as_ref(), "product quantizer"),
                (mp.npq.as_ref(), "norm quantizer"),
            ] {
                if let Some(pq) = pq {
                    nonfinite_findings(
                        &mut fs,
                        &pq.summary.nonfinite,
                        &format!("{w} matrix {name} centroids"),
                        "sub-quantizer",
                        "centroid",
                    );
                }
            }
            self.st.findings.extend(fs);
        }
        // Keep the summaries' PQ statistics in step with the parse state.
        for mp in [self.st.input.as_mut(), self.st.output.as_mut()]
            .into_iter()
            .flatten()
        {
            if let (Some(s), Some(p)) = (mp.summary.pq.as_mut(), mp.pq.as_ref()) {
                s.nonfinite = p.summary.nonfinite.clone();
            }
            if let (Some(s), Some(p)) = (mp.summary.norm_pq.as_mut(), mp.npq.as_ref()) {
                s.nonfinite = p.summary.nonfinite.clone();
            }
        }
        self.st.findings.sort_by_key(|f| match f.location {
            Some(Location::Offset(o)) => o,
            _ => u64::MAX,
        });
        self.st
    }
}

fn record_nonfinite(
    nf: &mut NonFinite,
    bytes: &[u8],
    start: u64,
    first_index: u64,
    pos: impl Fn(u64) -> (u64, u64),
) {
    for (k, c) in bytes.chunks_exact(4).enumerate() {
        let b = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        if b & EXP_MASK != EXP_MASK {
            continue;
        }
        let index = first_index + k as u64;
        let (row, col) = pos(index);
        let at = FloatPos {
            index,
            row,
            col,
            offset: start + 4 * k as u64,
        };
        if b & 0x007f_ffff != 0 {
            nf.nan += 1;
            nf.first_nan.get_or_insert(at);
        } else {
            nf.inf += 1;
            nf.first_inf.get_or_insert(at);
        }
    }
}

fn nonfinite_findings(out: &mut Vec<Finding>, nf: &NonFinite, what: &str, row: &str, col: &str) {
    if let Some(p) = nf.first_nan {
        out.push(
            Finding::error(
                codes::WEIGHTS_NAN,
                format!(
                    "the {what} holds {} NaN (first: {row} {}, {col} {}); fastText raises \"Encountered NaN.\" on every prediction that touches it",
                    nf.nan, p.row, p.col
                ),
            )
            .with_hint("training diverged (learning rate too high?); retrain or fix the weights before hosting")
            .at(Location::Offset(p.offset)),
        );
    }
    if let Some(p) = nf.first_inf {
        out.push(
            Finding::error(
                codes::WEIGHTS_INF,
                format!(
                    "the {what} holds {} infinite value{} (first: {row} {}, {col} {}); predictions that touch it return NaN probabilities",
                    nf.inf,
                    if nf.inf == 1 { "" } else { "s" },
                    p.row,
                    p.col
                ),
            )
            .with_hint("training diverged (learning rate too high?); retrain or fix the weights before hosting")
            .at(Location::Offset(p.offset)),
        );
    }
}
