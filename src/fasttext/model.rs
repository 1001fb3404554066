//! An in-memory fastText model that keeps its matrices, for prediction.
//!
//! Loaded by the same state machine as the validator, so it accepts exactly
//! the files the validator accepts structurally; a model that would make
//! prediction unsafe (inconsistent shapes, impossible args, truncation) is
//! refused with [`Error::InvalidModel`]. Non-finite weights and trailing
//! bytes do not block loading; they stay in [`Model::findings`].

use super::args::Args;
use super::dict::{Dictionary, EntryType, hash};
use super::inspect::{MatrixKind, Which};
use super::stream::{KSUB, Machine, MatrixParse};
use super::{FORMAT_NAME, Options, codes, drive, run_file, sniff};
use crate::error::{Error, Result};
use crate::report::{Finding, Location, Severity};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// A row-major matrix of f32 (`DenseMatrix`).
#[derive(Debug, Clone, PartialEq)]
pub struct DenseMatrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl DenseMatrix {
    /// A matrix from its rows × cols values; `None` when the length disagrees.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Option<Self> {
        (rows.checked_mul(cols)? == data.len()).then_some(DenseMatrix { rows, cols, data })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> Option<&[f32]> {
        let start = i.checked_mul(self.cols)?;
        self.data.get(start..start + self.cols)
    }

    /// All values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }
}

/// A product quantizer: `dim × 256` centroids split into `nsubq`
/// sub-quantizers of `dsub` dimensions (the last one `lastdsub`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProductQuantizer {
    dim: usize,
    nsubq: usize,
    dsub: usize,
    lastdsub: usize,
    centroids: Vec<f32>,
}

impl ProductQuantizer {
    /// A quantizer from its stored fields; `None` when they are inconsistent
    /// (`nsubq ≠ ceil(dim/dsub)`, wrong `lastdsub`, or not `dim × 256` centroids).
    pub fn new(
        dim: usize,
        nsubq: usize,
        dsub: usize,
        lastdsub: usize,
        centroids: Vec<f32>,
    ) -> Option<Self> {
        if dsub == 0 || nsubq != dim.div_ceil(dsub) {
            return None;
        }
        let exp_last = if dim.is_multiple_of(dsub) {
            dsub
        } else {
            dim % dsub
        };
        if lastdsub != exp_last || centroids.len() != dim.checked_mul(KSUB as usize)? {
            return None;
        }
        Some(ProductQuantizer {
            dim,
            nsubq,
            dsub,
            lastdsub,
            centroids,
        })
    }

    /// Dimension quantized.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of sub-quantizers.
    pub fn nsubq(&self) -> usize {
        self.nsubq
    }

    /// Dimensions per sub-quantizer.
    pub fn dsub(&self) -> usize {
        self.dsub
    }

    /// Dimensions of the last sub-quantizer.
    pub fn lastdsub(&self) -> usize {
        self.lastdsub
    }

    /// Centroid `code` of sub-quantizer `s` (`ProductQuantizer::get_centroids`).
    pub fn centroid(&self, s: usize, code: u8) -> Option<&[f32]> {
        let code = code as usize;
        let ksub = KSUB as usize;
        let (start, len) = if s + 1 == self.nsubq {
            (s * ksub * self.dsub + code * self.lastdsub, self.lastdsub)
        } else if s < self.nsubq {
            ((s * ksub + code) * self.dsub, self.dsub)
        } else {
            return None;
        };
        self.centroids.get(start..start + len)
    }

    /// All centroids as stored.
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }
}

/// A quantized matrix (`QuantMatrix`): one code byte per row and
/// sub-quantizer, optionally with quantized row norms.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantMatrix {
    rows: usize,
    cols: usize,
    codes: Vec<u8>,
    pq: ProductQuantizer,
    norm: Option<(Vec<u8>, ProductQuantizer)>,
}

impl QuantMatrix {
    /// A quantized matrix; `None` when codes, quantizers and shape disagree.
    pub fn new(
        rows: usize,
        cols: usize,
        codes: Vec<u8>,
        pq: ProductQuantizer,
        norm: Option<(Vec<u8>, ProductQuantizer)>,
    ) -> Option<Self> {
        if pq.dim != cols || codes.len() != rows.checked_mul(pq.nsubq)? {
            return None;
        }
        if let Some((nc, npq)) = &norm
            && (nc.len() != rows || npq.dim != 1 || npq.nsubq != 1)
        {
            return None;
        }
        Some(QuantMatrix {
            rows,
            cols,
            codes,
            pq,
            norm,
        })
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (dim).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The code bytes, `rows × nsubq`.
    pub fn codes(&self) -> &[u8] {
        &self.codes
    }

    /// The product quantizer.
    pub fn pq(&self) -> &ProductQuantizer {
        &self.pq
    }

    /// Norm codes and the norm quantizer, when qnorm.
    pub fn norm(&self) -> Option<(&[u8], &ProductQuantizer)> {
        self.norm.as_ref().map(|(c, q)| (c.as_slice(), q))
    }

    /// The row's norm factor (1 without qnorm).
    fn norm_of(&self, i: usize) -> Option<f32> {
        match &self.norm {
            None => Some(1.0),
            Some((codes, npq)) => npq.centroid(0, *codes.get(i)?)?.first().copied(),
        }
    }

    /// Adds `alpha ×` decoded row `i` to `out` (`QuantMatrix::addVectorToRow`
    /// order of operations). False when `i` or `out` is out of range.
    pub fn add_row_to(&self, i: usize, out: &mut [f32], alpha: f32) -> bool {
        if i >= self.rows || out.len() != self.cols {
            return false;
        }
        let Some(norm) = self.norm_of(i) else {
            return false;
        };
        let alpha = alpha * norm;
        let code = &self.codes[i * self.pq.nsubq..(i + 1) * self.pq.nsubq];
        for (s, &c) in code.iter().enumerate() {
            let Some(cent) = self.pq.centroid(s, c) else {
                return false;
            };
            let base = s * self.pq.dsub;
            for (k, v) in cent.iter().enumerate() {
                if let Some(o) = out.get_mut(base + k) {
                    *o += alpha * v;
                }
            }
        }
        true
    }
}

/// A matrix as stored: dense or quantized.
#[derive(Debug, Clone, PartialEq)]
pub enum Matrix {
    /// f32 rows.
    Dense(DenseMatrix),
    /// Product-quantized rows.
    Quantized(QuantMatrix),
}

impl Matrix {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        match self {
            Matrix::Dense(m) => m.rows,
            Matrix::Quantized(m) => m.rows,
        }
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        match self {
            Matrix::Dense(m) => m.cols,
            Matrix::Quantized(m) => m.cols,
        }
    }

    /// True for a quantized matrix.
    pub fn is_quantized(&self) -> bool {
        matches!(self, Matrix::Quantized(_))
    }

    /// Adds `alpha ×` row `i` to `out`. False when out of range.
    pub fn add_row_to(&self, i: usize, out: &mut [f32], alpha: f32) -> bool {
        match self {
            Matrix::Dense(m) => match m.row(i) {
                Some(r) if out.len() == r.len() => {
                    for (o, v) in out.iter_mut().zip(r) {
                        *o += alpha * v;
                    }
                    true
                }
                _ => false,
            },
            Matrix::Quantized(m) => m.add_row_to(i, out, alpha),
        }
    }

    /// Row `i`, decoded for a quantized matrix.
    pub fn row(&self, i: usize) -> Option<Vec<f32>> {
        let mut out = vec![0.0; self.cols()];
        self.add_row_to(i, &mut out, 1.0).then_some(out)
    }
}

/// A fastText model held in memory: args, dictionary (with fastText's
/// `word2int` lookup and the prune map) and both matrices.
#[derive(Debug, Clone)]
pub struct Model {
    version: i32,
    args: Args,
    dict: Dictionary,
    qout: bool,
    input: Matrix,
    output: Matrix,
    findings: Vec<Finding>,
    word2int: Vec<i32>,
    prune: HashMap<i32, i32>,
}

/// Findings that do not make a loaded model unsafe to predict with.
fn tolerated(f: &Finding) -> bool {
    f.severity != Severity::Error
        || matches!(
            f.code.as_str(),
            codes::WEIGHTS_NAN | codes::WEIGHTS_INF | codes::TRAILING
        )
}

fn invalid(finding: Finding) -> Error {
    Error::InvalidModel {
        format: FORMAT_NAME.into(),
        finding: Box::new(finding),
    }
}

fn internal(msg: &str, at: u64) -> Error {
    invalid(Finding::error(codes::MATRIX_ROWS, msg.to_string()).at(Location::Offset(at)))
}

fn load_options() -> Options {
    Options::default().allow_quantized(true)
}

impl Model {
    /// Loads a `.bin`/`.ftz` file. Memory: the file's size plus the dictionary
    /// index; every allocation is checked against the file length first.
    pub fn load(path: &Path) -> Result<Model> {
        let m = run_file(path, &load_options(), true)?;
        Model::from_machine(m)
    }

    /// Loads a model from a reader; `len` (when known) bounds allocations.
    pub fn read_from<R: Read>(reader: R, len: Option<u64>) -> Result<Model> {
        let mut m = Machine::new(load_options(), true, len);
        drive(&mut m, reader, len.is_some()).map_err(|e| Error::io("read", "(stream)", e))?;
        Model::from_machine(m)
    }

    fn from_machine(m: Machine) -> Result<Model> {
        let p = m.finish();
        if p.foreign {
            let (what, hint) = sniff::describe(&p.prefix, p.bytes);
            return Err(Error::UnrecognizedFormat {
                expected: "a fastText model",
                what,
                hint,
            });
        }
        if let Some(f) = p.findings.iter().find(|f| !tolerated(f)) {
            return Err(invalid(f.clone()));
        }
        let end = p.bytes;
        let (Some(version), Some(args), Some(dict), Some(input), Some(output), Some(qout)) =
            (p.version, p.args, p.dict, p.input, p.output, p.qout)
        else {
            return Err(internal("the model is incomplete", end));
        };
        let input = build_matrix(input)?;
        let output = build_matrix(output)?;
        let prune = dict.pruneidx().iter().copied().collect();
        let word2int = build_word2int(&dict);
        Ok(Model {
            version,
            args,
            dict,
            qout,
            input,
            output,
            findings: p.findings,
            word2int,
            prune,
        })
    }

    /// File-format version (11 or 12).
    pub fn version(&self) -> i32 {
        self.version
    }

    /// The args (with fastText's version-11 `maxn` rule applied).
    pub fn args(&self) -> &Args {
        &self.args
    }

    /// The dictionary.
    pub fn dictionary(&self) -> &Dictionary {
        &self.dict
    }

    /// Number of words (`nwords`).
    pub fn nwords(&self) -> usize {
        self.dict.header().map_or(0, |h| h.nwords.max(0) as usize)
    }

    /// Number of labels (`nlabels`).
    pub fn nlabels(&self) -> usize {
        self.dict.header().map_or(0, |h| h.nlabels.max(0) as usize)
    }

    /// The bytes of label `id` (entry `nwords + id`).
    pub fn label(&self, id: usize) -> Option<&[u8]> {
        self.dict.word(self.nwords().checked_add(id)?)
    }

    /// The input matrix.
    pub fn input(&self) -> &Matrix {
        &self.input
    }

    /// The output matrix.
    pub fn output(&self) -> &Matrix {
        &self.output
    }

    /// True for a quantized (.ftz) model.
    pub fn is_quantized(&self) -> bool {
        self.input.is_quantized()
    }

    /// The stored qout flag.
    pub fn qout(&self) -> bool {
        self.qout
    }

    /// Non-blocking findings of the load (non-finite weights, trailing bytes,
    /// warnings, notes).
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The entry id of `word` as fastText's `Dictionary::getId` finds it:
    /// open addressing over `ceil(size / 0.7)` slots keyed by [`hash`]; with
    /// duplicate entries the last one wins, as in fastText.
    pub fn word_id(&self, word: &[u8]) -> Option<usize> {
        let slot = find_slot(&self.word2int, &self.dict, word)?;
        usize::try_from(*self.word2int.get(slot)?).ok()
    }

    /// The entry type of entry `id`.
    pub fn entry_type(&self, id: usize) -> Option<EntryType> {
        self.dict.entry(id).map(|e| e.entry_type)
    }

    /// Maps a hash bucket to its input-row offset past `nwords`, as
    /// `Dictionary::pushHash` does: unpruned → the bucket itself; pruned → the
    /// prune index's row, or `None` when the bucket was dropped.
    pub fn bucket_row(&self, bucket: i32) -> Option<i32> {
        let ps = self.dict.header().map_or(-1, |h| h.pruneidx_size);
        match ps {
            i64::MIN..=-1 => Some(bucket),
            0 => None,
            _ => self.prune.get(&bucket).copied(),
        }
    }
}

fn find_slot(table: &[i32], dict: &Dictionary, word: &[u8]) -> Option<usize> {
    let n = table.len();
    if n == 0 {
        return None;
    }
    let mut id = hash(word) as usize % n;
    for _ in 0..n {
        let e = *table.get(id)?;
        if e == -1 || dict.word(e as usize) == Some(word) {
            return Some(id);
        }
        id = (id + 1) % n;
    }
    None
}

fn build_word2int(dict: &Dictionary) -> Vec<i32> {
    let size = dict.len();
    let slots = ((size as f64) / 0.7).ceil() as usize;
    let mut table = vec![-1i32; slots];
    for i in 0..size {
        if let Some(w) = dict.word(i)
            && let Some(slot) = find_slot(&table, dict, w)
            && let Some(t) = table.get_mut(slot)
        {
            *t = i as i32;
        }
    }
    table
}

fn build_pq(p: Option<super::stream::PqParse>, at: u64) -> Result<ProductQuantizer> {
    let p = p.ok_or_else(|| internal("missing product quantizer", at))?;
    let s = &p.summary;
    let as_usize = |v: i32| usize::try_from(v).ok();
    match (
        as_usize(s.dim),
        as_usize(s.nsubq),
        as_usize(s.dsub),
        as_usize(s.lastdsub),
    ) {
        (Some(d), Some(n), Some(ds), Some(l)) => ProductQuantizer::new(d, n, ds, l, p.centroids),
        _ => None,
    }
    .ok_or_else(|| internal("inconsistent product quantizer", s.offset))
}

fn build_matrix(mp: MatrixParse) -> Result<Matrix> {
    let s = &mp.summary;
    let at = s.offset;
    let rows = s.rows.and_then(|r| usize::try_from(r).ok());
    let cols = s.cols.and_then(|c| usize::try_from(c).ok());
    let (Some(rows), Some(cols)) = (rows, cols) else {
        return Err(internal("matrix shape missing", at));
    };
    let which = s.which;
    if s.kind == MatrixKind::Dense {
        return DenseMatrix::new(rows, cols, mp.data)
            .map(Matrix::Dense)
            .ok_or_else(|| internal(&format!("{which} matrix data does not match its shape"), at));
    }
    let qnorm = s.qnorm == Some(true);
    let pq = build_pq(mp.pq, at)?;
    let norm = if qnorm {
        Some((mp.norm_codes, build_pq(mp.npq, at)?))
    } else {
        None
    };
    QuantMatrix::new(rows, cols, mp.codes, pq, norm)
        .map(Matrix::Quantized)
        .ok_or_else(|| internal(&format!("{which} quantized matrix is inconsistent"), at))
}

impl Which {
    /// The matrix of `model` this names.
    pub fn of(self, model: &Model) -> &Matrix {
        match self {
            Which::Input => &model.input,
            Which::Output => &model.output,
        }
    }
}
