//! fastText `.bin`/`.ftz` models: streaming reader, validation, BlazingText
//! hosting rules, and an in-memory model for prediction.
//!
//! One state machine parses the format (`formats/fasttext.md`); it is driven
//! three ways:
//!
//! - **pull**: [`read_from`] reads any [`Read`]; [`inspect_file`] and
//!   [`examine_file`] read a file whose length is known, so absurd size
//!   claims fail before anything is allocated;
//! - **push**: [`Validator`] implements [`Write`], so the archive writer can
//!   tee the member bytes it is already streaming into it and collect the
//!   [`Inspection`] at the end: each input byte is read once;
//! - **in memory**: [`Model::load`] keeps the matrices for prediction.
//!
//! Memory is bounded by the dictionary (and, for the in-memory model, by the
//! matrices); the validator streams the floats, checking each is finite, and
//! keeps none of them.
//!
//! ```no_run
//! use sm_pack::fasttext::{inspect_file, Options, examine_file_with};
//! let inspection = inspect_file("model.bin".as_ref())?;
//! println!("{}", inspection.human_summary());
//! for f in &inspection.findings {
//!     println!("{f}");
//! }
//! let mut opts = Options::default();
//! opts.allow_quantized = true;
//! let exam = examine_file_with("model.ftz".as_ref(), &opts)?;
//! # Ok::<(), sm_pack::Error>(())
//! ```

mod args;
pub mod codes;
mod dict;
mod inspect;
mod model;
mod predict;
pub mod sample;
mod sniff;
mod stream;

pub use args::{Args, DICT_OFFSET, Loss, MAGIC, ModelName, VERSION};
pub use dict::{DictHeader, Dictionary, EOS, Entry, EntryType, LABEL_PREFIX, hash};
pub use inspect::{
    BlazingText, DictionarySummary, FloatPos, Inspection, LABELS_SHOWN, MatrixKind, MatrixSummary,
    ModelKind, NgramSettings, NonFinite, PqSummary, Quantization, Section, Truncation, Which,
};
pub use model::{DenseMatrix, Matrix, Model, ProductQuantizer, QuantMatrix};
pub use predict::{
    ALL_LABELS, BLAZINGTEXT_DEFAULT_K, BlazingTextRequest, LineFeatures, PREDICT_ROW, Prediction,
    Predictor, SIGMOID_TABLE_SIZE, char_ngram_buckets, word_ngram_buckets,
};

use crate::error::{Error, Result};
use crate::pack::Examination;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use stream::Machine;

/// Name used in [`Error::InvalidModel`] and [`Error::UnrecognizedFormat`].
pub const FORMAT_NAME: &str = "fastText";
/// Default [`Options::max_word_len`]: 1 MiB.
pub const DEFAULT_MAX_WORD_LEN: usize = 1 << 20;
/// Read buffer of the pull reader.
const READ_CHUNK: usize = 1 << 18;
/// Path shown in errors from readers without a file name.
const STREAM_NAME: &str = "(stream)";

/// Validation options.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Accept a quantized (.ftz) model for BlazingText with a warning; without
    /// it, a quantized model gets an error finding (`bt.quantized`).
    pub allow_quantized: bool,
    /// Longest dictionary word accepted before the entry counts as
    /// unterminated (`ft.dict.unterminated`). Bounds memory when the stream
    /// length is unknown.
    pub max_word_len: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow_quantized: false,
            max_word_len: DEFAULT_MAX_WORD_LEN,
        }
    }
}

impl Options {
    /// Options with quantized models allowed (or not).
    pub fn allow_quantized(mut self, allow: bool) -> Self {
        self.allow_quantized = allow;
        self
    }
}

/// The push validator: feed it the model's bytes in chunks of any size
/// (directly, or as a [`Write`] sink), then call [`Validator::finish`].
///
/// `write` always accepts every byte, even after a fatal problem (the rest is
/// only counted), so it can sit in a tee without disturbing the writer.
///
/// ```
/// use sm_pack::fasttext::{Options, Validator};
/// use std::io::Write;
/// let mut v = Validator::new(&Options::default());
/// v.write_all(b"\x1f\x8b\x08\x00")?; // gzip bytes
/// assert!(v.finish().is_err()); // not a fastText model: Error::UnrecognizedFormat
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Validator {
    machine: Machine,
    opts: Options,
    source: Option<PathBuf>,
}

impl Validator {
    /// A validator for a stream of unknown length: memory grows only with the
    /// bytes received; size claims are checked as the data arrives.
    pub fn new(options: &Options) -> Self {
        Validator {
            machine: Machine::new(options.clone(), false, None),
            opts: options.clone(),
            source: None,
        }
    }

    /// A validator for a stream of exactly `len` bytes (a file, a tar member):
    /// size claims beyond `len` fail immediately with a precise finding.
    pub fn with_len(options: &Options, len: u64) -> Self {
        Validator {
            machine: Machine::new(options.clone(), false, Some(len)),
            opts: options.clone(),
            source: None,
        }
    }

    /// Names the source in errors (e.g. the model's path).
    pub fn source(mut self, path: impl Into<PathBuf>) -> Self {
        self.source = Some(path.into());
        self
    }

    /// Feeds the next chunk.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.machine.feed(bytes);
    }

    /// Bytes fed so far.
    pub fn bytes_seen(&self) -> u64 {
        self.machine.position()
    }

    /// True once a fatal problem (truncation, impossible size, not fastText)
    /// was found: the outcome is an error whatever follows, so a caller may
    /// stop streaming.
    pub fn has_failed(&self) -> bool {
        self.machine.has_failed()
    }

    /// Ends the stream. `Err(UnrecognizedFormat)` when the bytes are not a
    /// fastText model; `Err(InputChanged)` when a length was declared and a
    /// different number of bytes arrived; otherwise the inspection, whose
    /// findings say whether the model is valid.
    pub fn finish(self) -> Result<Inspection> {
        let declared = self.machine.total_len();
        let seen = self.machine.position();
        if let Some(len) = declared
            && seen != len
            && !self.machine.has_failed()
        {
            return Err(Error::InputChanged {
                path: self.source.unwrap_or_else(|| PathBuf::from(STREAM_NAME)),
                expected: len,
            });
        }
        finish_machine(self.machine, &self.opts)
    }
}

impl Write for Validator {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.machine.feed(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn finish_machine(m: Machine, opts: &Options) -> Result<Inspection> {
    let parsed = m.finish();
    if parsed.foreign {
        let (what, hint) = sniff::describe(&parsed.prefix, parsed.bytes);
        return Err(Error::UnrecognizedFormat {
            expected: "a fastText model",
            what,
            hint,
        });
    }
    Ok(Inspection::build(parsed, opts))
}

/// Drives a machine from a reader. With a known `len`, stops reading as soon
/// as the outcome is settled (fatal error or foreign bytes); otherwise reads
/// to EOF.
pub(crate) fn drive<R: Read>(
    machine: &mut Machine,
    mut reader: R,
    stop_early: bool,
) -> io::Result<()> {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        machine.feed(&buf[..n]);
        if stop_early && machine.is_settled() {
            return Ok(());
        }
    }
}

/// Pull API: validates a model read from `reader`. Pass `len` when the total
/// length is known (it bounds every allocation and lets absurd size claims
/// fail without reading further); `None` reads to EOF.
pub fn read_from<R: Read>(reader: R, len: Option<u64>, options: &Options) -> Result<Inspection> {
    let mut m = Machine::new(options.clone(), false, len);
    drive(&mut m, reader, len.is_some()).map_err(|e| Error::io("read", STREAM_NAME, e))?;
    if let Some(l) = len
        && !m.is_settled()
        && m.position() != l
    {
        return Err(Error::InputChanged {
            path: PathBuf::from(STREAM_NAME),
            expected: l,
        });
    }
    finish_machine(m, options)
}

/// Opens a file and runs a machine over it, detecting a size change while it
/// is read.
pub(crate) fn run_file(path: &Path, options: &Options, keep: bool) -> Result<Machine> {
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let meta = file.metadata().map_err(|e| Error::io("read", path, e))?;
    if meta.is_dir() {
        return Err(Error::Input {
            path: path.to_path_buf(),
            message: "is a directory, not a fastText model file".into(),
            hint: Some("pass the model.bin (or .ftz) file itself".into()),
        });
    }
    let len = meta.len();
    let mut m = Machine::new(options.clone(), keep, Some(len));
    drive(&mut m, file, true).map_err(|e| Error::io("read", path, e))?;
    if !m.is_settled() && m.position() != len {
        return Err(Error::InputChanged {
            path: path.to_path_buf(),
            expected: len,
        });
    }
    Ok(m)
}

/// Validates a model file with default [`Options`] and returns the full
/// inspection (summary + findings). `Err` only when the file cannot be read
/// or is not a fastText model at all.
pub fn inspect_file(path: &Path) -> Result<Inspection> {
    inspect_file_with(path, &Options::default())
}

/// [`inspect_file`] with explicit options.
pub fn inspect_file_with(path: &Path, options: &Options) -> Result<Inspection> {
    let m = run_file(path, options, false)?;
    finish_machine(m, options)
}

/// Reads and validates a fastText model file for packing (quantized models
/// not allowed): the summary for the manifest and the findings.
pub fn examine_file(path: &Path) -> Result<Examination> {
    examine_file_with(path, &Options::default())
}

/// [`examine_file`] with explicit options (e.g. `allow_quantized`).
pub fn examine_file_with(path: &Path, options: &Options) -> Result<Examination> {
    let i = inspect_file_with(path, options)?;
    Ok(Examination {
        summary: Some(i.summary_json()),
        findings: i.findings,
    })
}
