//! Prediction with a loaded [`Model`], reproducing fastText 0.9.2.
//!
//! [`Predictor`] turns a line of text into the input-matrix rows fastText
//! would average (`Dictionary::getLine`: tokens, word ids, char n-grams,
//! word n-grams, the end-of-sentence token), averages them in f32 like
//! `Model::computeHidden`, and scores the labels with the model's loss
//! (`src/loss.cc`): softmax; one-vs-all and negative sampling through the
//! 512-bin sigmoid table; hierarchical softmax over the Huffman tree rebuilt
//! from the label counts. The top k are chosen with `findKBest`'s heap,
//! replayed step by step, so even labels with equal scores come out in the
//! order fastText (built with libstdc++) gives them. Each step follows
//! fastText's float/double conversions, so probabilities agree to the last
//! bits.
//!
//! ```no_run
//! use sm_pack::fasttext::{Model, Predictor};
//! let model = Model::load("model.bin".as_ref())?;
//! let predictor = Predictor::new(&model)?;
//! for p in predictor.predict(b"which team won the match", 3, 0.0)? {
//!     println!("{} {}", p.label_lossy(), p.prob);
//! }
//! # Ok::<(), sm_pack::Error>(())
//! ```
//!
//! A model that passed [`Model::load`] is structurally consistent, but
//! every row index is still checked: a feature or output row that the
//! matrices lack is an [`Error::InvalidModel`] (code [`PREDICT_ROW`]), never a
//! panic or an out-of-bounds read.

use super::FORMAT_NAME;
use super::args::{Loss, ModelName};
use super::codes;
use super::dict::{EOS, EntryType, LABEL_PREFIX, hash};
use super::model::{Matrix, Model, QuantMatrix};
use crate::error::{Error, Result};
use crate::report::Finding;
use serde_json::{Map, Value, json};
use std::borrow::Cow;

/// `k` meaning "every label" (`Model::kUnlimitedPredictions` in fastText).
pub const ALL_LABELS: i32 = -1;
/// The `k` the BlazingText classifier endpoint uses when a request has no
/// `configuration.k`.
pub const BLAZINGTEXT_DEFAULT_K: i32 = 1;
/// Bins of fastText's sigmoid table (`SIGMOID_TABLE_SIZE`); the table has
/// one entry more.
pub const SIGMOID_TABLE_SIZE: usize = 512;
/// Finding code of [`Error::InvalidModel`] when prediction needs a row the
/// model's matrices do not have, or the label counts cannot form fastText's
/// Huffman tree.
pub const PREDICT_ROW: &str = "ft.predict.row";

/// `MAX_SIGMOID`: the table covers [−8, 8].
const MAX_SIGMOID: f32 = 8.0;
/// Multiplier of the word n-gram hash (`Dictionary::addWordNgrams`).
const NGRAM_MUL: u64 = 116_049_371;
/// Initial count of internal Huffman nodes (`buildTree`).
const HS_INF_COUNT: i64 = 1_000_000_000_000_000;

/// One predicted label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction<'m> {
    /// Label id (dictionary entry − nwords; row of the output matrix for
    /// softmax/ova/ns).
    pub label_id: usize,
    /// The label as stored in the model (with its prefix, e.g.
    /// `__label__sports`).
    pub label: &'m [u8],
    /// The probability fastText reports: `exp(ln(p + 1e-5))` in f32, so
    /// about p + 1e−5 (it can exceed 1).
    pub prob: f32,
    /// The ranking key: `ln(p + 1e-5)` rounded to f32 (for hierarchical
    /// softmax, the sum of such terms along the label's path).
    pub score: f32,
}

impl Prediction<'_> {
    /// The label as text (invalid UTF-8 replaced by U+FFFD).
    pub fn label_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.label)
    }
}

/// A `(score, id)` pair of fastText's prediction heap.
type Pair = (f32, usize);

/// The Huffman tree of hierarchical softmax: children of nodes
/// `osz..2·osz−1` (leaves are the labels `0..osz`).
#[derive(Debug, Clone)]
struct Tree {
    osz: usize,
    /// `(left, right)` of internal node `osz + i`.
    children: Vec<(usize, usize)>,
}

impl Tree {
    /// `HierarchicalSoftmaxLoss::buildTree`: leaves taken from `osz−1` down,
    /// internal nodes from `osz` up; a leaf is taken only when its count is
    /// strictly smaller; the second pick is the right ("1") child. Sums wrap
    /// like fastText's int64 arithmetic does in practice.
    fn build(counts: &[i64]) -> Result<Tree> {
        let osz = counts.len();
        let nodes = (2 * osz).saturating_sub(1);
        let mut count = vec![HS_INF_COUNT; nodes];
        count[..osz].copy_from_slice(counts);
        let mut children = Vec::with_capacity(osz.saturating_sub(1));
        let mut leaf = osz as isize - 1;
        let mut node = osz;
        for i in osz..nodes {
            let mut mini = [0usize; 2];
            for m in &mut mini {
                let node_count = *count.get(node).ok_or_else(tree_error)?;
                let take_leaf =
                    leaf >= 0 && count.get(leaf as usize).is_some_and(|&c| c < node_count);
                if take_leaf {
                    *m = leaf as usize;
                    leaf -= 1;
                } else {
                    *m = node;
                    node += 1;
                }
            }
            // A child must exist before its parent; fastText builds a cycle
            // (and recurses forever) when a label count reaches 1e15.
            if mini[0] >= i || mini[1] >= i {
                return Err(tree_error());
            }
            count[i] = count[mini[0]].wrapping_add(count[mini[1]]);
            children.push((mini[0], mini[1]));
        }
        Ok(Tree { osz, children })
    }

    fn root(&self) -> Option<usize> {
        (2 * self.osz).checked_sub(2)
    }

    /// Children of `node`, `None` for a leaf.
    fn children(&self, node: usize) -> Option<(usize, usize)> {
        node.checked_sub(self.osz)
            .and_then(|i| self.children.get(i).copied())
    }
}

fn tree_error() -> Error {
    Error::InvalidModel {
        format: FORMAT_NAME.into(),
        finding: Box::new(Finding::error(
            PREDICT_ROW,
            "the label counts cannot form fastText's hierarchical-softmax tree \
             (a count of 1e15 or more makes fastText build a cycle)",
        )),
    }
}

fn row_error(which: &str, row: usize, rows: usize) -> Error {
    Error::InvalidModel {
        format: FORMAT_NAME.into(),
        finding: Box::new(Finding::error(
            PREDICT_ROW,
            format!(
                "prediction needs {which} row {row}, but the {which} matrix has {rows} rows \
                 of the expected width"
            ),
        )),
    }
}

fn nan_error() -> Error {
    Error::InvalidModel {
        format: FORMAT_NAME.into(),
        finding: Box::new(
            Finding::error(
                codes::WEIGHTS_NAN,
                "encountered NaN while scoring the labels (fastText: \"Encountered NaN.\")",
            )
            .with_hint("the model holds NaN weights; retrain or re-export it"),
        ),
    }
}

fn usage(message: &str) -> Error {
    Error::Usage {
        message: message.to_string(),
    }
}

/// fastText's `std_log`: `log(x + 1e-5)` computed in double, returned as f32.
fn std_log(x: f32) -> f32 {
    (f64::from(x) + 1e-5).ln() as f32
}

/// Token separators of `Dictionary::readWord`.
fn is_ft_sep(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c | 0)
}

/// C `isspace` in the "C" locale (`std::istream >> std::string`).
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c)
}

/// The part of `text` fastText reads as one line: up to the first `\n`.
fn first_line(text: &[u8]) -> &[u8] {
    match text.iter().position(|&b| b == b'\n') {
        Some(p) => &text[..p],
        None => text,
    }
}

/// Calls `emit(bucket)` for each char n-gram of `word` wrapped in `<`…`>`
/// (`Dictionary::computeSubwords`): characters are UTF-8 lead bytes with
/// their continuation bytes, lengths `minn..=maxn`, no 1-character n-gram at
/// either boundary. Hashes are continued byte by byte, which gives the same
/// values as hashing each n-gram.
fn for_each_char_ngram(word: &[u8], minn: i32, maxn: i32, bucket: u32, mut emit: impl FnMut(u32)) {
    if bucket == 0 || maxn <= 0 {
        return;
    }
    let is_cont = |b: u8| b & 0xC0 == 0x80;
    // Byte at position p of "<" + word + ">".
    let len = word.len() + 2;
    let at = |p: usize| -> u8 {
        if p == 0 {
            b'<'
        } else if p == len - 1 {
            b'>'
        } else {
            word.get(p - 1).copied().unwrap_or(b'>')
        }
    };
    for i in 0..len {
        if is_cont(at(i)) {
            continue;
        }
        let mut h: u32 = 2_166_136_261;
        let mut j = i;
        let mut n: i32 = 1;
        while j < len && n <= maxn {
            h = fnv_step(h, at(j));
            j += 1;
            while j < len && is_cont(at(j)) {
                h = fnv_step(h, at(j));
                j += 1;
            }
            if n >= minn && !(n == 1 && (i == 0 || j == len)) {
                emit(h % bucket);
            }
            n += 1;
        }
    }
}

fn fnv_step(h: u32, b: u8) -> u32 {
    (h ^ (b as i8) as u32).wrapping_mul(16_777_619)
}

/// Calls `emit(bucket)` for each word n-gram (`Dictionary::addWordNgrams`):
/// the 32-bit token hashes are sign-extended to 64 bits before being
/// combined, as fastText's `int32_t` → `uint64_t` conversions do.
fn for_each_word_ngram(hashes: &[i32], n: i32, bucket: u32, mut emit: impl FnMut(u32)) {
    if bucket == 0 || n <= 1 {
        return;
    }
    let n = n as usize;
    for i in 0..hashes.len() {
        let mut h = hashes[i] as i64 as u64;
        let end = hashes.len().min(i.saturating_add(n));
        for &next in &hashes[i + 1..end] {
            h = h.wrapping_mul(NGRAM_MUL).wrapping_add(next as i64 as u64);
            emit((h % u64::from(bucket)) as u32);
        }
    }
}

/// The hash buckets (before any prune-index remapping) of the char n-grams
/// of `word`, in fastText's order: the word is wrapped in `<` `>` and scanned
/// as UTF-8 bytes.
///
/// ```
/// use sm_pack::fasttext::char_ngram_buckets;
/// let mut b = char_ngram_buckets("Daniël".as_bytes(), 3, 6, 2_000_000);
/// b.sort();
/// assert_eq!(b[..3], [69886, 84537, 338340]);
/// ```
pub fn char_ngram_buckets(word: &[u8], minn: i32, maxn: i32, bucket: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for_each_char_ngram(word, minn, maxn, bucket, |b| out.push(b));
    out
}

/// The hash buckets (before any prune-index remapping) of the word n-grams
/// of a token sequence, for n-grams of 2..=`n` tokens, in fastText's order.
/// Every word token counts, out-of-vocabulary ones and the final `</s>`
/// included.
///
/// ```
/// use sm_pack::fasttext::word_ngram_buckets;
/// let tokens: [&[u8]; 2] = [b"hello", b"</s>"];
/// assert_eq!(word_ngram_buckets(&tokens, 2, 2_000_000), [391714]);
/// ```
pub fn word_ngram_buckets(tokens: &[&[u8]], n: i32, bucket: u32) -> Vec<u32> {
    let hashes: Vec<i32> = tokens.iter().map(|t| hash(t) as i32).collect();
    let mut out = Vec::new();
    for_each_word_ngram(&hashes, n, bucket, |b| out.push(b));
    out
}

/// The feature rows of one line and the labels it names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineFeatures {
    /// Input-matrix rows, duplicates included, in fastText's order: per word
    /// token its id (when in vocabulary) and its char n-gram rows, then the
    /// word n-gram rows.
    pub rows: Vec<usize>,
    /// Ids of the in-vocabulary labels found in the line.
    pub labels: Vec<usize>,
    /// The word tokens (in vocabulary or not), ending with `</s>`.
    pub words: Vec<Vec<u8>>,
}

/// Predicts with a [`Model`] exactly as fastText 0.9.2 does: the features
/// of `Dictionary::getLine`, the f32 average of their input rows, the loss's
/// scores and `findKBest`'s heap order (`formats/fasttext.md`, *Prediction*).
///
/// Construction precomputes the sigmoid table and, for hierarchical softmax,
/// the Huffman tree. A `Predictor` is immutable and can be shared between
/// threads.
#[derive(Debug, Clone)]
pub struct Predictor<'m> {
    model: &'m Model,
    nwords: usize,
    dim: usize,
    minn: i32,
    maxn: i32,
    word_ngrams: i32,
    /// `args.bucket` when positive, else 0 (no hashed features).
    bucket: u32,
    sigmoid: Vec<f32>,
    tree: Option<Tree>,
}

impl<'m> Predictor<'m> {
    /// A predictor for `model`. Fails ([`Error::InvalidModel`]) only for a
    /// hierarchical-softmax model whose label counts make fastText's tree
    /// construction go wrong (counts ≥ 1e15).
    pub fn new(model: &'m Model) -> Result<Self> {
        let args = model.args();
        let sigmoid = (0..=SIGMOID_TABLE_SIZE)
            .map(|i| {
                let x =
                    (i * 2 * MAX_SIGMOID as usize) as f32 / SIGMOID_TABLE_SIZE as f32 - MAX_SIGMOID;
                (1.0 / (1.0 + f64::from((-x).exp()))) as f32
            })
            .collect();
        let tree = if args.is_supervised() && args.loss == Loss::Hs {
            let counts: Vec<i64> = model.dictionary().labels().map(|e| e.count).collect();
            Some(Tree::build(&counts)?)
        } else {
            None
        };
        Ok(Predictor {
            model,
            nwords: model.nwords(),
            dim: model.input().cols(),
            minn: args.minn,
            maxn: args.maxn,
            word_ngrams: args.word_ngrams,
            bucket: u32::try_from(args.bucket).unwrap_or(0),
            sigmoid,
            tree,
        })
    }

    /// The model predicted with.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// True for a classifier (`predict` works); false for cbow/skipgram.
    pub fn is_supervised(&self) -> bool {
        self.model.args().model == ModelName::Supervised
    }

    /// The vector size.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The table sigmoid of one-vs-all and negative sampling
    /// (`Loss::sigmoid`): 0 below −8, 1 above 8, otherwise the entry of
    /// the 1/32-wide bin `x` falls in.
    pub fn table_sigmoid(&self, x: f32) -> f32 {
        if x < -MAX_SIGMOID {
            0.0
        } else if x > MAX_SIGMOID {
            1.0
        } else {
            let i = ((x + MAX_SIGMOID) * SIGMOID_TABLE_SIZE as f32 / MAX_SIGMOID / 2.0) as usize;
            self.sigmoid.get(i).copied().unwrap_or(f32::NAN)
        }
    }

    fn push_bucket(&self, bucket: u32, out: &mut Vec<usize>) {
        let Ok(id) = i32::try_from(bucket) else {
            return;
        };
        if let Some(row) = self.model.bucket_row(id)
            && let Ok(row) = usize::try_from(row)
        {
            out.push(self.nwords.saturating_add(row));
        }
    }

    /// Char n-gram rows of a token (unwrapped), after prune remapping.
    fn push_char_ngrams(&self, token: &[u8], out: &mut Vec<usize>) {
        if token == EOS {
            return;
        }
        for_each_char_ngram(token, self.minn, self.maxn, self.bucket, |b| {
            self.push_bucket(b, out)
        });
    }

    /// `Dictionary::getLine` on one line (with the newline Python's
    /// `predict` appends), collecting the feature rows.
    fn line(
        &self,
        text: &[u8],
        rows: &mut Vec<usize>,
        mut on_token: impl FnMut(&[u8], Option<usize>, EntryType),
    ) {
        let mut hashes: Vec<i32> = Vec::new();
        let tokens = first_line(text)
            .split(|&b| is_ft_sep(b))
            .filter(|t| !t.is_empty())
            .chain(std::iter::once(EOS));
        for token in tokens {
            let h = hash(token);
            let wid = self.model.word_id(token);
            let kind = match wid {
                Some(id) => self.model.entry_type(id).unwrap_or(EntryType::Invalid(-1)),
                None if token.starts_with(LABEL_PREFIX) => EntryType::Label,
                None => EntryType::Word,
            };
            if kind == EntryType::Word {
                match wid {
                    None => self.push_char_ngrams(token, rows),
                    Some(id) => {
                        rows.push(id);
                        if self.maxn > 0 {
                            self.push_char_ngrams(token, rows);
                        }
                    }
                }
                hashes.push(h as i32);
            }
            on_token(token, wid, kind);
            if token == EOS {
                break;
            }
        }
        for_each_word_ngram(&hashes, self.word_ngrams, self.bucket, |b| {
            self.push_bucket(b, rows)
        });
    }

    /// fastText's tokenisation and features of one line (`getLine`), for
    /// inspection: the text up to its first `\n`, split on space, `\n`,
    /// `\r`, `\t`, `\v`, `\f` and NUL, then `</s>`; a literal `</s>` token
    /// ends the line. Label tokens (in the dictionary as labels, or unknown
    /// and starting with `__label__`) are not features.
    pub fn line_features(&self, text: &[u8]) -> LineFeatures {
        let mut f = LineFeatures::default();
        let nwords = self.nwords;
        let (mut labels, mut words) = (Vec::new(), Vec::new());
        self.line(text, &mut f.rows, |tok, wid, kind| match kind {
            EntryType::Word => words.push(tok.to_vec()),
            EntryType::Label => {
                if let Some(id) = wid {
                    labels.push(id.saturating_sub(nwords));
                }
            }
            EntryType::Invalid(_) => {}
        });
        f.labels = labels;
        f.words = words;
        f
    }

    /// The average of the input rows `rows` (`Model::computeHidden`):
    /// summed in order in f32, then multiplied by `1/n` rounded to f32.
    /// Empty `rows` give the zero vector.
    fn average(&self, rows: &[usize]) -> Result<Vec<f32>> {
        let mut h = vec![0.0f32; self.dim];
        let input = self.model.input();
        match input {
            Matrix::Dense(m) => {
                for &r in rows {
                    let row = m
                        .row(r)
                        .filter(|x| x.len() == h.len())
                        .ok_or_else(|| row_error("input", r, m.rows()))?;
                    for (o, v) in h.iter_mut().zip(row) {
                        *o += *v;
                    }
                }
            }
            Matrix::Quantized(q) => {
                for &r in rows {
                    quant_add(q, r, &mut h).ok_or_else(|| row_error("input", r, q.rows()))?;
                }
            }
        }
        if !rows.is_empty() {
            let s = (1.0 / rows.len() as f64) as f32;
            h.iter_mut().for_each(|v| *v *= s);
        }
        Ok(h)
    }

    /// `Matrix::dotRow` of the output matrix: an f32 sum in order; NaN is
    /// an error for a dense matrix, as in fastText.
    fn dot(&self, row: usize, hidden: &[f32]) -> Result<f32> {
        let out = self.model.output();
        let d = match out {
            Matrix::Dense(m) => {
                let r = m
                    .row(row)
                    .filter(|x| x.len() == hidden.len())
                    .ok_or_else(|| row_error("output", row, m.rows()))?;
                let mut d = 0.0f32;
                for (a, b) in r.iter().zip(hidden) {
                    d += a * b;
                }
                d
            }
            Matrix::Quantized(q) => {
                quant_dot(q, row, hidden).ok_or_else(|| row_error("output", row, q.rows()))?
            }
        };
        if d.is_nan() {
            return Err(nan_error());
        }
        Ok(d)
    }

    /// Predicts the labels of one line like fastText's
    /// `predict(text, k, threshold)`: up to `k` labels (`k` = −1: all),
    /// skipping those whose probability is below `threshold`, best first.
    ///
    /// Only the text up to its first `\n` is read (Python's binding refuses
    /// a `\n`; the CLI predicts line by line). An empty line still predicts,
    /// from `</s>` alone. Errors: [`Error::Usage`] for a cbow/skipgram model
    /// ("Model needs to be supervised for prediction!") or `k` = 0 or
    /// < −1 ("k needs to be 1 or higher!"); [`Error::InvalidModel`] for NaN
    /// weights or rows the model lacks.
    pub fn predict(&self, text: &[u8], k: i32, threshold: f32) -> Result<Vec<Prediction<'m>>> {
        if !self.is_supervised() {
            return Err(usage("Model needs to be supervised for prediction!"));
        }
        if k == 0 || k < ALL_LABELS {
            return Err(usage("k needs to be 1 or higher!"));
        }
        let mut rows = Vec::new();
        self.line(text, &mut rows, |_, _, _| {});
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let hidden = self.average(&rows)?;
        self.predict_hidden(&hidden, k, threshold)
    }

    /// Scores a hidden vector (see [`Predictor::sentence_vector`]) like
    /// fastText's `Model::predict`; `k` and `threshold` as in
    /// [`Predictor::predict`].
    pub fn predict_hidden(
        &self,
        hidden: &[f32],
        k: i32,
        threshold: f32,
    ) -> Result<Vec<Prediction<'m>>> {
        if !self.is_supervised() {
            return Err(usage("Model needs to be supervised for prediction!"));
        }
        if hidden.len() != self.dim {
            return Err(usage(&format!(
                "the hidden vector has {} values, the model's dimension is {}",
                hidden.len(),
                self.dim
            )));
        }
        let k = match k {
            ALL_LABELS => self.model.output().rows(),
            k if k > 0 => k as usize,
            _ => return Err(usage("k needs to be 1 or higher!")),
        };
        let mut heap: Vec<Pair> = Vec::with_capacity(k.min(self.model.nlabels()) + 1);
        match &self.tree {
            Some(tree) => self.hs_dfs(tree, k, threshold, hidden, &mut heap)?,
            None => {
                let output = self.output(hidden)?;
                find_k_best(k, threshold, &output, &mut heap);
            }
        }
        sort_heap(&mut heap);
        heap.into_iter()
            .map(|(score, id)| {
                let label = self
                    .model
                    .label(id)
                    .ok_or_else(|| row_error("label", id, self.model.nlabels()))?;
                Ok(Prediction {
                    label_id: id,
                    label,
                    prob: score.exp(),
                    score,
                })
            })
            .collect()
    }

    /// Label probabilities for softmax, ova and ns (`computeOutput`).
    fn output(&self, hidden: &[f32]) -> Result<Vec<f32>> {
        let n = self.model.nlabels();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(self.dot(i, hidden)?);
        }
        match self.model.args().loss {
            Loss::Softmax => {
                let max = out
                    .iter()
                    .fold(out.first().copied().unwrap_or(0.0), |m, &x| {
                        if m < x { x } else { m }
                    });
                let mut z = 0.0f32;
                for v in out.iter_mut() {
                    *v = f64::from(*v - max).exp() as f32;
                    z += *v;
                }
                out.iter_mut().for_each(|v| *v /= z);
            }
            _ => out.iter_mut().for_each(|v| *v = self.table_sigmoid(*v)),
        }
        Ok(out)
    }

    /// `HierarchicalSoftmaxLoss::dfs`, iteratively (depth-first, left
    /// branch first) so that a deep tree cannot overflow the stack.
    fn hs_dfs(
        &self,
        tree: &Tree,
        k: usize,
        threshold: f32,
        hidden: &[f32],
        heap: &mut Vec<Pair>,
    ) -> Result<()> {
        let Some(root) = tree.root() else {
            return Ok(());
        };
        let cut = std_log(threshold);
        let mut stack: Vec<(usize, f32)> = vec![(root, 0.0)];
        while let Some((node, score)) = stack.pop() {
            if score < cut {
                continue;
            }
            if heap.len() == k && heap.first().is_some_and(|top| score < top.0) {
                continue;
            }
            let Some((left, right)) = tree.children(node) else {
                heap.push((score, node));
                push_heap(heap);
                if heap.len() > k {
                    pop_heap(heap);
                    heap.pop();
                }
                continue;
            };
            let f = self.dot(node - tree.osz, hidden)?;
            let f = (1.0 / f64::from(1.0 + (-f).exp())) as f32;
            stack.push((right, score + std_log(f)));
            stack.push((left, score + std_log((1.0 - f64::from(f)) as f32)));
        }
        Ok(())
    }

    /// The sentence vector of fastText's `get_sentence_vector(text)`.
    ///
    /// - Supervised: the average of the line's feature rows (the hidden
    ///   vector [`Predictor::predict`] scores), `</s>` and word n-grams
    ///   included.
    /// - cbow/skipgram: the text up to its first `\n` is split on C
    ///   whitespace (space, `\t`, `\n`, `\v`, `\f`, `\r`; NUL is not a
    ///   separator, and there is no `</s>`); each token's
    ///   [word vector](Predictor::word_vector) is L2-normalised, zero
    ///   vectors are skipped, and the rest averaged.
    pub fn sentence_vector(&self, text: &[u8]) -> Result<Vec<f32>> {
        if self.is_supervised() {
            let mut rows = Vec::new();
            self.line(text, &mut rows, |_, _, _| {});
            return self.average(&rows);
        }
        let mut svec = vec![0.0f32; self.dim];
        let mut count: u64 = 0;
        for token in first_line(text)
            .split(|&b| is_c_space(b))
            .filter(|t| !t.is_empty())
        {
            let mut v = self.word_vector(token)?;
            let norm = v.iter().fold(0.0f32, |s, x| s + x * x).sqrt();
            if norm > 0.0 {
                let s = (1.0 / f64::from(norm)) as f32;
                for (o, x) in svec.iter_mut().zip(v.iter_mut()) {
                    *x *= s;
                    *o += *x;
                }
                count += 1;
            }
        }
        if count > 0 {
            let s = (1.0 / count as f64) as f32;
            svec.iter_mut().for_each(|v| *v *= s);
        }
        Ok(svec)
    }

    /// The word vector of fastText's `get_word_vector(word)`: the average of
    /// the word's own row (when it is a word of the dictionary) and its char
    /// n-gram rows; the zero vector when there is none (an unknown word
    /// without subwords, or `</s>` when not in the dictionary).
    ///
    /// A *label* of the model is treated as an unknown word: fastText reads
    /// the row at the label's entry index, which is an unrelated bucket row
    /// or past the end of the matrix.
    pub fn word_vector(&self, word: &[u8]) -> Result<Vec<f32>> {
        let mut rows = Vec::new();
        if let Some(id) = self.model.word_id(word)
            && self.model.entry_type(id) == Some(EntryType::Word)
        {
            rows.push(id);
        }
        self.push_char_ngrams(word, &mut rows);
        self.average(&rows)
    }

    /// The BlazingText classifier response for `instances`:
    /// `[{"label": [...], "prob": [...]}, ...]`, one object per instance,
    /// with the top `k` labels (`None`: [`BLAZINGTEXT_DEFAULT_K`]) at
    /// threshold 0. Probabilities are fastText's f32 values written as
    /// doubles (the endpoint prints e.g. `1.000016450881958`); labels keep
    /// their prefix.
    pub fn blazingtext_classify<S: AsRef<str>>(
        &self,
        instances: &[S],
        k: Option<i32>,
    ) -> Result<Value> {
        let k = k.unwrap_or(BLAZINGTEXT_DEFAULT_K);
        let mut out = Vec::with_capacity(instances.len());
        for text in instances {
            let preds = self.predict(text.as_ref().as_bytes(), k, 0.0)?;
            let labels: Vec<Value> = preds
                .iter()
                .map(|p| Value::String(p.label_lossy().into_owned()))
                .collect();
            let probs: Vec<Value> = preds.iter().map(|p| json_f32(p.prob)).collect();
            let mut o = Map::new();
            o.insert("label".into(), Value::Array(labels));
            o.insert("prob".into(), Value::Array(probs));
            out.push(Value::Object(o));
        }
        Ok(Value::Array(out))
    }

    /// The BlazingText word2vec response for `instances`:
    /// `[{"word": w, "vector": [...]}, ...]` with fastText's
    /// [word vector](Predictor::word_vector) (zeros for an unknown word
    /// without subwords).
    pub fn blazingtext_word2vec<S: AsRef<str>>(&self, instances: &[S]) -> Result<Value> {
        let mut out = Vec::with_capacity(instances.len());
        for w in instances {
            let w = w.as_ref();
            let v = self.word_vector(w.as_bytes())?;
            out.push(json!({
                "word": w,
                "vector": v.into_iter().map(json_f32).collect::<Vec<_>>(),
            }));
        }
        Ok(Value::Array(out))
    }

    /// The BlazingText response for the model's kind: classifier
    /// ([`Predictor::blazingtext_classify`]) for a supervised model,
    /// word2vec ([`Predictor::blazingtext_word2vec`], `k` ignored) otherwise.
    pub fn blazingtext_response<S: AsRef<str>>(
        &self,
        instances: &[S],
        k: Option<i32>,
    ) -> Result<Value> {
        if self.is_supervised() {
            self.blazingtext_classify(instances, k)
        } else {
            self.blazingtext_word2vec(instances)
        }
    }
}

/// An f32 as a JSON number (its exact value as a double); non-finite
/// values, which JSON cannot carry, become `null`.
fn json_f32(v: f32) -> Value {
    serde_json::Number::from_f64(f64::from(v)).map_or(Value::Null, Value::Number)
}

/// `QuantMatrix::dotRow` (`ProductQuantizer::mulcode`): the sum over the
/// row's centroids, then times the row's norm.
fn quant_dot(q: &QuantMatrix, row: usize, x: &[f32]) -> Option<f32> {
    let pq = q.pq();
    let nsubq = pq.nsubq();
    if row >= q.rows() || x.len() != q.cols() {
        return None;
    }
    let start = row.checked_mul(nsubq)?;
    let code = q.codes().get(start..start.checked_add(nsubq)?)?;
    let mut res = 0.0f32;
    for (m, &c) in code.iter().enumerate() {
        let cent = pq.centroid(m, c)?;
        let base = m * pq.dsub();
        let xs = x.get(base..base + cent.len())?;
        for (a, b) in xs.iter().zip(cent) {
            res += a * b;
        }
    }
    let norm = match q.norm() {
        None => 1.0,
        Some((codes, npq)) => *npq.centroid(0, *codes.get(row)?)?.first()?,
    };
    Some(res * norm)
}

/// `QuantMatrix::addRowToVector` (`ProductQuantizer::addcode` with
/// `alpha = norm`): adds `norm × centroid` slice by slice. `None` when the
/// row or a centroid is missing.
fn quant_add(q: &QuantMatrix, row: usize, x: &mut [f32]) -> Option<()> {
    let pq = q.pq();
    let nsubq = pq.nsubq();
    if row >= q.rows() || x.len() != q.cols() {
        return None;
    }
    let start = row.checked_mul(nsubq)?;
    let code = q.codes().get(start..start.checked_add(nsubq)?)?;
    let alpha = match q.norm() {
        None => 1.0,
        Some((codes, npq)) => *npq.centroid(0, *codes.get(row)?)?.first()?,
    };
    let dsub = pq.dsub();
    for (m, &c) in code.iter().enumerate() {
        let cent = pq.centroid(m, c)?;
        let base = m * dsub;
        let xs = x.get_mut(base..base + cent.len())?;
        for (o, v) in xs.iter_mut().zip(cent) {
            *o += alpha * v;
        }
    }
    Some(())
}

/// A BlazingText inference request body (`application/json`):
/// `{"instances": ["…", …], "configuration": {"k": 2}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlazingTextRequest {
    /// The sentences (classifier) or words (word2vec).
    pub instances: Vec<String>,
    /// `configuration.k`, when given.
    pub k: Option<i32>,
}

impl BlazingTextRequest {
    /// Parses a request body. [`Error::Usage`] when it is not JSON, has no
    /// `instances` array of strings, or `configuration.k` is not an integer
    /// in i32 range.
    pub fn from_json(body: &[u8]) -> Result<Self> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| usage(&format!("the request is not valid JSON: {e}")))?;
        let instances = v
            .get("instances")
            .and_then(Value::as_array)
            .ok_or_else(|| usage("the request has no \"instances\" array"))?
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| usage("every instance must be a string"))?;
        let k = match v.get("configuration").and_then(|c| c.get("k")) {
            None | Some(Value::Null) => None,
            Some(k) => Some(
                k.as_i64()
                    .and_then(|k| i32::try_from(k).ok())
                    .ok_or_else(|| usage("configuration.k must be an integer"))?,
            ),
        };
        Ok(BlazingTextRequest { instances, k })
    }
}

/// `Loss::findKBest`: labels with `p ≥ threshold`, ranked by `ln(p+1e-5)`
/// through the same heap operations as fastText.
fn find_k_best(k: usize, threshold: f32, output: &[f32], heap: &mut Vec<Pair>) {
    for (i, &p) in output.iter().enumerate() {
        if p < threshold {
            continue;
        }
        let s = std_log(p);
        if heap.len() == k && heap.first().is_some_and(|top| s < top.0) {
            continue;
        }
        heap.push((s, i));
        push_heap(heap);
        if heap.len() > k {
            pop_heap(heap);
            heap.pop();
        }
    }
}

// libstdc++'s heap algorithms (`bits/stl_heap.h`) with fastText's
// `comparePairs` (l.first > r.first): the front is the lowest score. They are
// replayed exactly so that equal scores end in fastText's order.

fn comp(l: &Pair, r: &Pair) -> bool {
    l.0 > r.0
}

/// `std::__push_heap`.
fn sift_up(h: &mut [Pair], mut hole: usize, top: usize, value: Pair) {
    while hole > top {
        let parent = (hole - 1) / 2;
        if !comp(&h[parent], &value) {
            break;
        }
        h[hole] = h[parent];
        hole = parent;
    }
    h[hole] = value;
}

/// `std::push_heap` after the new element was pushed.
fn push_heap(h: &mut [Pair]) {
    if let Some(&value) = h.last() {
        sift_up(h, h.len() - 1, 0, value);
    }
}

/// `std::__adjust_heap` over `h[..len]`.
fn adjust_heap(h: &mut [Pair], mut hole: usize, len: usize, value: Pair) {
    let top = hole;
    let mut second = hole;
    while len >= 1 && second < (len - 1) / 2 {
        second = 2 * (second + 1);
        if comp(&h[second], &h[second - 1]) {
            second -= 1;
        }
        h[hole] = h[second];
        hole = second;
    }
    if len >= 2 && len.is_multiple_of(2) && second == (len - 2) / 2 {
        second = 2 * (second + 1);
        h[hole] = h[second - 1];
        hole = second - 1;
    }
    sift_up(h, hole, top, value);
}

/// `std::__pop_heap(first, last, last)`: moves the front to `last`.
fn pop_into(h: &mut [Pair], last: usize) {
    let value = h[last];
    h[last] = h[0];
    adjust_heap(h, 0, last, value);
}

/// `std::pop_heap`: the front goes to the back (the caller pops it).
fn pop_heap(h: &mut [Pair]) {
    if h.len() > 1 {
        pop_into(h, h.len() - 1);
    }
}

/// `std::sort_heap`: best score first.
fn sort_heap(h: &mut [Pair]) {
    let mut last = h.len();
    while last > 1 {
        last -= 1;
        pop_into(h, last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_orders_like_a_sort() {
        let scores = [0.5f32, 0.1, 3.0, 3.0, 2.0, 0.7, 0.0, 2.5, 9.0, 0.1];
        for k in 1..=scores.len() + 1 {
            let mut heap = Vec::new();
            find_k_best(k, f32::NEG_INFINITY, &scores, &mut heap);
            sort_heap(&mut heap);
            let got: Vec<f32> = heap.iter().map(|p| p.0).collect();
            let mut want: Vec<f32> = scores.iter().map(|&p| std_log(p)).collect();
            want.sort_by(|a, b| b.total_cmp(a));
            want.truncate(k);
            assert_eq!(got, want, "k={k}");
        }
    }

    #[test]
    fn quant_dot_is_bounds_checked() {
        use super::super::model::ProductQuantizer;
        let cent: Vec<f32> = (0..4 * 256).map(|k| k as f32 / 256.0).collect();
        let pq = ProductQuantizer::new(4, 2, 2, 2, cent).unwrap();
        let q = QuantMatrix::new(3, 4, vec![0, 1, 2, 3, 255, 7], pq, None).unwrap();
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let row = Matrix::Quantized(q.clone()).row(1).unwrap();
        let want: f32 = row.iter().zip(&x).fold(0.0, |s, (a, b)| s + a * b);
        assert_eq!(quant_dot(&q, 1, &x), Some(want));
        assert_eq!(quant_dot(&q, 3, &x), None);
        assert_eq!(quant_dot(&q, usize::MAX, &x), None);
        assert_eq!(quant_dot(&q, 0, &x[..3]), None);
        let mut a = vec![0.5f32; 4];
        let mut b = a.clone();
        assert_eq!(quant_add(&q, 2, &mut a), Some(()));
        assert!(Matrix::Quantized(q.clone()).add_row_to(2, &mut b, 1.0));
        assert_eq!(a, b);
        assert_eq!(quant_add(&q, 3, &mut a), None);
        assert_eq!(quant_add(&q, 0, &mut a[..2]), None);
    }

    #[test]
    fn tree_of_equal_counts_is_balanced() {
        let t = Tree::build(&[5, 5, 5, 5]).unwrap();
        assert_eq!(t.children, vec![(3, 2), (1, 0), (4, 5)]);
        assert!(Tree::build(&[2_000_000_000_000_000, 1]).is_err());
        assert!(Tree::build(&[]).unwrap().root().is_none());
        assert_eq!(Tree::build(&[7]).unwrap().root(), Some(0));
    }
}
