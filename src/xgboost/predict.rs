//! Prediction over the IR, reproducing the real XGBoost library.
//!
//! [`Predictor`] evaluates any [`Model`] the readers produce — gbtree, DART
//! (both the `dart` booster and the 3.4 layout with `weight_drop` under
//! `gbtree`), gblinear, multi-class (`tree_info` groups), multi-target
//! (one tree per target, or vector leaves in the 2.0 – 3.1 and 3.2+ layouts),
//! random forests (`num_parallel_tree`) — with the arithmetic of a chosen
//! XGBoost version (by default the one that wrote the model):
//!
//! * thresholds and inputs are `f32` and a numeric split goes left iff
//!   `x < threshold`; a missing value (NaN, or a feature the row does not
//!   have) follows `default_left`;
//! * categorical splits send the listed categories right; invalid categories
//!   (negative, ≥ 2^24) go left from 1.7, follow `default_left` in 1.6 (as
//!   do categories beyond the node's bit set), and are truncated to an
//!   integer before 1.6 (`src/common/categorical.h` of each release);
//! * leaf values are summed in `f32` in tree order — onto the intercept from
//!   1.3 (DART from 1.4), into a per-group sum that is then added to the
//!   intercept before (`src/predictor/cpu_predictor.cc`); DART adds
//!   `f32(leaf × weight)`;
//! * the intercept is `ProbToMargin(base_score)` in `f32` with the
//!   objective's link (`binary:logitraw`: the logit before 1.3; logistic:
//!   clamped to [1e-6, 1 − 1e-6] from 3.2); a 0.90 binary's margin-space
//!   `base_score` is used as is before 1.2 and converted back and forth
//!   (`PredTransform`, then `ProbToMargin`) from 1.2, except for `multi:*`;
//!   a vector `base_score` (3.1+) gives one intercept per group for trees,
//!   its first element for gblinear, and is ignored (0.5) by 1.2 – 3.0;
//! * gblinear: `bias[g] + base`, then `+= x · w` over the present features
//!   in column order, in `f32`;
//! * the objective's transform: sigmoid (clamped at −88.7 from 1.6),
//!   softmax with an f64 sum, the class index for `multi:softmax` (first
//!   maximum), `binary:hinge` 0/1, `exp` for count/gamma/tweedie/cox/aft,
//!   identity otherwise;
//! * tree ranges: `ntree_limit` (XGBoost < 1.4: the first `n × groups`
//!   trees) or `iteration_range` (boosting rounds, from `iteration_indptr`
//!   or `num_parallel_tree × groups` trees per round).
//!
//! The output has the shape `Booster.predict` returns: one value per row,
//! or one row of K values for `multi:softprob`, margins of multi-class
//! models, and multi-target models. Every fixture in `testdata/xgboost`
//! (1267 files, 12 releases) is reproduced (`tests/xgboost_predict.rs`).
//!
//! [`predict_as_container`] answers "what would this SageMaker container
//! return?": it applies the tag's pinned XGBoost rules, the
//! `best_ntree_limit` the container's `predict` passes on, and refuses
//! (with the reason) when the container fails to load the model or
//! mispredicts it in a way that cannot be reproduced exactly.
//!
//! ```
//! use sm_pack::xgboost::{predict::{DenseMatrix, Predictor, PredictOptions}, read_model};
//! let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/example/churn-xgboost.json"))?;
//! let (model, _) = read_model(&bytes)?;
//! let predictor = Predictor::new(&model)?;
//! let rows = DenseMatrix::from_rows(&[vec![12.0f32, 108.6, 1.0, 12.0, 11.5]])?;
//! let p = predictor.predict(&rows, &PredictOptions::default())?;
//! assert_eq!((p.rows(), p.width()), (1, 1));
//! assert!((0.0..=1.0).contains(&p.row(0)[0]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Hostile models never panic: every index is checked while the trees are
//! compiled (children, split features, leaf vectors, categories,
//! `tree_info`, DART weights, gblinear weights) and a tree whose nodes do
//! not form a tree (a cycle, a node reached twice) is refused with an
//! [`Error::InvalidModel`] of code [`PREDICT_MODEL`]. In the compiled node
//! array a split points only forward and a leaf to itself, so a walk ends
//! after at most the tree's depth steps.
//!
//! Speed: blocks of up to 128 rows walk each tree in lockstep, one level
//! per step, without data-dependent branches, with AVX-512 or AVX2 gathers
//! when the CPU has them ([`Kernel`]) and a heap layout of shallow trees;
//! fewer than 8 rows walk many trees at once instead; large batches are
//! spread over threads. Results are bit-identical for any kernel, layout
//! and thread count. On a 2000-tree depth-8 model this is 4 – 7 times
//! XGBoost's own CPU predictor per thread (figures in `formats/xgboost.md`).

use super::ir::{self, Booster, Link, Model, ScoreSpace, Version};
use crate::container::{self, ContainerTable, Verdict};
use crate::error::{Error, Result};
use crate::report::{Finding, Location};
use serde::Serialize;
use std::fmt::Write as _;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod lockstep;
pub use lockstep::Kernel;

/// Finding code of the [`Error::InvalidModel`] returned when a model cannot
/// be evaluated (broken tree structure, missing leaf values, group or weight
/// counts that do not fit).
pub const PREDICT_MODEL: &str = "xgb.predict.model";

/// The widest input row accepted (feature indices are 29 bits wide in the
/// compiled trees).
pub const MAX_COLUMNS: usize = (1 << 29) - 2;

/// The largest dense input [`parse_libsvm`] builds (1 GiB of f32).
pub const MAX_DENSE_VALUES: usize = 1 << 28;

/// Rows evaluated together, tree by tree (keeps a tree hot in the cache),
/// at most; fewer when that many rows would take more than `BLOCK_BYTES`.
const BLOCK_ROWS: usize = 128;
/// Below this many rows, prediction goes row by row, many trees at once
/// (`few_rows_into`), instead of rows in lockstep.
const FEW_ROWS: usize = 8;
/// Bytes of input rows per block, at most (unless 16 rows take more).
const BLOCK_BYTES: usize = 256 << 10;
/// Below this many row × tree steps prediction stays on the calling thread.
const PARALLEL_MIN_WORK: usize = 1 << 16;
/// Largest category code XGBoost accepts (`OutOfRangeCat()`, 2^24).
const MAX_CAT: f32 = 16_777_216.0;

// ---------------------------------------------------------------------------
// Input rows

/// Dense input rows in row-major `f32`, NaN meaning "missing".
///
/// A row narrower than the model's feature count has its remaining features
/// missing (as XGBoost treats a DMatrix with fewer columns).
#[derive(Debug, Clone, PartialEq)]
pub struct DenseMatrix {
    values: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl DenseMatrix {
    /// `rows × cols` values in row-major order.
    pub fn new(values: Vec<f32>, rows: usize, cols: usize) -> Result<Self> {
        if rows.checked_mul(cols) != Some(values.len()) {
            return Err(usage(format!(
                "{} values do not make {rows} rows of {cols} columns",
                values.len()
            )));
        }
        if cols > MAX_COLUMNS {
            return Err(usage(format!(
                "{cols} columns is more than the {MAX_COLUMNS} sm-pack evaluates"
            )));
        }
        Ok(DenseMatrix { values, rows, cols })
    }

    /// Rows of equal width.
    pub fn from_rows<R: AsRef<[f32]>>(rows: &[R]) -> Result<Self> {
        let cols = rows.first().map_or(0, |r| r.as_ref().len());
        let mut values = Vec::with_capacity(cols.saturating_mul(rows.len()));
        for (i, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != cols {
                return Err(usage(format!(
                    "row {} has {} values but row 1 has {cols}",
                    i + 1,
                    r.len()
                )));
            }
            values.extend_from_slice(r);
        }
        DenseMatrix::new(values, rows.len(), cols)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Row `i` (empty when out of range).
    pub fn row(&self, i: usize) -> &[f32] {
        let start = i.saturating_mul(self.cols);
        self.values
            .get(start..start.saturating_add(self.cols))
            .unwrap_or(&[])
    }

    /// All values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }
}

// ---------------------------------------------------------------------------
// Options and outputs

/// Which trees take part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TreeLimit {
    /// Every tree (`Booster.predict` without a limit).
    #[default]
    All,
    /// XGBoost < 1.4's `ntree_limit = n`: the first `n × num_output_group`
    /// trees (`num_parallel_tree` is not multiplied in); 0, or more than the
    /// model has, means every tree.
    NtreeLimit(usize),
    /// `iteration_range = (begin, end)`: boosting rounds `begin..end`
    /// (`end = 0`: to the last round). A range beyond the model's rounds is
    /// an error, as in XGBoost ("Check failed: end <= model.BoostedRounds()").
    Iterations {
        /// First round.
        begin: usize,
        /// One past the last round; 0 for "to the end".
        end: usize,
    },
}

/// Per-call options of [`Predictor::predict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PredictOptions {
    /// Return raw margins (`output_margin=True`) instead of transformed values.
    pub margin: bool,
    /// Which trees to use.
    pub limit: TreeLimit,
    /// Worker threads for large batches; 0 = one per available CPU. The
    /// result is bit-identical for any value.
    pub threads: usize,
    /// Which instructions walk the trees ([`Kernel::Auto`]: the widest the
    /// CPU has). The result is bit-identical for every kernel; asking for
    /// one the CPU lacks is an [`Error::Usage`].
    pub kernel: Kernel,
}

/// The objective's output transform (`PredTransform`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transform {
    /// The margin itself (squared error, ranking, `binary:logitraw`, ...).
    Identity,
    /// `1 / (1 + exp(-x))` (`binary:logistic`, `reg:logistic`).
    Sigmoid,
    /// Softmax over the groups (`multi:softprob`).
    Softmax,
    /// Index of the largest margin (`multi:softmax`).
    Argmax,
    /// 1 if the margin is positive, else 0 (`binary:hinge`).
    Hinge,
    /// `exp(x)` (`count:poisson`, `reg:gamma`, `reg:tweedie`,
    /// `survival:cox`, `survival:aft`).
    Exp,
}

impl Transform {
    /// The transform of an objective; `None` for an objective sm-pack does
    /// not know.
    pub fn of_objective(name: &str) -> Option<Transform> {
        Some(match name {
            "reg:squarederror"
            | "reg:linear"
            | "reg:squaredlogerror"
            | "reg:pseudohubererror"
            | "reg:absoluteerror"
            | "reg:quantileerror"
            | "reg:expectileerror"
            | "binary:logitraw"
            | "rank:pairwise"
            | "rank:ndcg"
            | "rank:map" => Transform::Identity,
            "binary:logistic" | "reg:logistic" => Transform::Sigmoid,
            "binary:hinge" => Transform::Hinge,
            "count:poisson" | "reg:gamma" | "reg:tweedie" | "survival:cox" | "survival:aft" => {
                Transform::Exp
            }
            "multi:softprob" => Transform::Softmax,
            "multi:softmax" => Transform::Argmax,
            _ => return None,
        })
    }
}

/// What the values of a [`Predictions`] are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputKind {
    /// Raw margins.
    Margin,
    /// Transformed values (probabilities, regression values, ...).
    Value,
    /// Class indices (`multi:softmax`), whole numbers stored as floats.
    ClassIndex,
    /// 0/1 labels (`binary:hinge`).
    Label,
}

/// Predictions for a batch of rows, shaped like `Booster.predict`'s result.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    rows: usize,
    width: usize,
    values: Vec<f32>,
    kind: OutputKind,
}

impl Predictions {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row: 1 for a one-dimensional result, K or T otherwise.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Row `i`'s values (empty when out of range).
    pub fn row(&self, i: usize) -> &[f32] {
        let start = i.saturating_mul(self.width);
        self.values
            .get(start..start.saturating_add(self.width))
            .unwrap_or(&[])
    }

    /// All values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// What the values are.
    pub fn kind(&self) -> OutputKind {
        self.kind
    }

    /// True when the values are whole numbers (class indices, hinge labels),
    /// to be compared exactly.
    pub fn is_integer(&self) -> bool {
        matches!(self.kind, OutputKind::ClassIndex | OutputKind::Label)
    }
}

// ---------------------------------------------------------------------------
// Compiled trees

const FEAT_MASK: u32 = (1 << 29) - 1;
const CATEGORICAL: u32 = 1 << 29;
const DEFAULT_LEFT: u32 = 1 << 30;
const LEAF: u32 = 1 << 31;

/// One compiled node (12 bytes). Nodes are in preorder, so a split's left
/// child is the next node; `right` is the absolute index of its right child
/// (always further on). A leaf's `right` is itself and its feature is the
/// always-missing padding column with `default_left` unset, so a walk of
/// fixed length stays on it. For a leaf, `value` is the scalar leaf value,
/// or (vector-leaf trees) the offset of its vector in `leaf_vectors` as
/// bits; for a categorical split, `value` holds the index of its category
/// set as bits.
#[derive(Debug, Clone, Copy)]
#[repr(C)] // the SIMD walks address the fields as words 0, 1, 2
struct Node {
    right: u32,
    flags: u32,
    value: f32,
}

/// The categories of one categorical split (the ones that go right).
#[derive(Debug, Clone)]
struct CatSet {
    sorted: Vec<i32>,
    /// Bits of XGBoost's bit set for the node (`ceil((max + 1) / 32) × 32`).
    bits: u64,
}

impl CatSet {
    fn contains(&self, c: i64) -> bool {
        i32::try_from(c).is_ok_and(|c| self.sorted.binary_search(&c).is_ok())
    }
}

/// How an invalid or unknown category is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CatRule {
    /// < 1.6: `(int)x`; negative goes left; right iff listed.
    Truncate,
    /// 1.6: negative, ≥ 2^24 or beyond the bit set follow `default_left`.
    DefaultLeft,
    /// 1.7+: negative or ≥ 2^24 go left; right iff listed.
    Left,
}

/// Where leaf values are summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accumulate {
    /// Onto the intercept, tree by tree (gbtree 1.3+, DART 1.4+).
    OntoBase,
    /// Into a per-group sum from 0, added to the intercept at the end.
    SumThenBase,
}

#[derive(Debug, Clone)]
struct Forest {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    /// Output group of each tree; `u32::MAX` for a vector-leaf tree.
    group_of: Vec<u32>,
    weights: Option<Vec<f32>>,
    cats: Vec<CatSet>,
    leaf_vectors: Vec<f32>,
    /// Round boundaries: round r is trees `bounds[r]..bounds[r + 1]`.
    bounds: Vec<usize>,
    /// Depth of each tree (steps from the root to its deepest leaf).
    depth: Vec<u32>,
    /// Trees with a categorical split (walked row by row).
    has_cats: Vec<bool>,
    /// Heap layouts of the shallow trees (faster to walk).
    heaps: lockstep::Heaps,
    /// Output groups per `ntree_limit` unit (XGBoost's `num_output_group`).
    ntree_groups: usize,
    accumulate: Accumulate,
    cat_rule: CatRule,
}

#[derive(Debug, Clone)]
enum Engine {
    Trees(Box<Forest>),
    Linear { weights: Vec<f32> },
}

fn bad_model(message: impl Into<String>, at: Option<Location>) -> Error {
    let mut f = Finding::error(PREDICT_MODEL, message);
    if let Some(l) = at {
        f = f.at(l);
    }
    Error::InvalidModel {
        format: "XGBoost".into(),
        finding: Box::new(f),
    }
}

fn usage(message: impl Into<String>) -> Error {
    Error::Usage {
        message: message.into(),
    }
}

fn at_least(v: Version, major: u32, minor: u32) -> bool {
    (v.major, v.minor) >= (major, minor)
}

/// Compiles tree `ti` into `forest`, returning its root index, its depth
/// and whether it has categorical splits.
fn compile_tree(
    model: &Model,
    ti: usize,
    tree: &ir::Tree,
    groups: usize,
    num_feature: usize,
    forest: &mut Forest,
) -> Result<(u32, u32, bool)> {
    let node_at = |n: usize| Some(Location::Node { tree: ti, node: n });
    let n = tree.len();
    if n == 0 {
        return Err(bad_model(
            format!("tree {ti} has no nodes"),
            model.locate_tree(ti, None),
        ));
    }
    let base = forest.nodes.len();
    if base.saturating_add(n) >= u32::MAX as usize {
        return Err(bad_model(
            "the model has more than 2^32 nodes",
            model.locate_tree(ti, None),
        ));
    }
    // Pass 1: preorder numbering of the nodes reachable from the root;
    // a node discovered twice is a cycle or a shared subtree.
    let mut new_index = vec![u32::MAX; n];
    let mut order: Vec<usize> = Vec::new();
    let mut discovered = vec![false; n];
    let mut stack = vec![(0usize, 0u32)];
    let mut depth = 0u32;
    discovered[0] = true;
    while let Some((old, d)) = stack.pop() {
        new_index[old] = (base + order.len()) as u32;
        order.push(old);
        depth = depth.max(d);
        if tree.is_leaf(old) {
            continue;
        }
        let l = tree.left_children.get(old).copied().unwrap_or(-1);
        let r = tree.right_children.get(old).copied().unwrap_or(-1);
        for (child, side) in [(r, "right"), (l, "left")] {
            let c = usize::try_from(child)
                .ok()
                .filter(|&c| c < n)
                .ok_or_else(|| {
                    bad_model(
                        format!(
                            "tree {ti} node {old}: {side} child {child} is not a node of the tree"
                        ),
                        node_at(old),
                    )
                })?;
            if discovered[c] {
                return Err(bad_model(
                    format!(
                        "tree {ti} node {old}: {side} child {c} is reached twice (the nodes form a cycle or share a subtree)"
                    ),
                    node_at(old),
                ));
            }
            discovered[c] = true;
            stack.push((c, d + 1));
        }
    }
    // Pass 2: the nodes.
    let vector = tree.is_vector_leaf();
    let mut has_cats = false;
    for &old in &order {
        if tree.is_leaf(old) {
            let value = tree.leaf_value(old).ok_or_else(|| {
                bad_model(
                    format!("tree {ti} node {old}: the leaf's value is not in the tree's arrays"),
                    node_at(old),
                )
            })?;
            let scalar = if vector {
                if value.len() != groups {
                    return Err(bad_model(
                        format!(
                            "tree {ti} node {old}: the leaf holds {} values but the model has {groups} targets",
                            value.len()
                        ),
                        node_at(old),
                    ));
                }
                let off = forest.leaf_vectors.len();
                if off > u32::MAX as usize {
                    return Err(bad_model("too many leaf values", node_at(old)));
                }
                forest.leaf_vectors.extend_from_slice(value);
                f32::from_bits(off as u32)
            } else {
                value[0]
            };
            let me = new_index[old];
            forest.nodes.push(Node {
                right: me,
                flags: LEAF | FEAT_MASK,
                value: scalar,
            });
            continue;
        }
        let split = tree.split_indices.get(old).copied().ok_or_else(|| {
            bad_model(
                format!("tree {ti} node {old}: no split feature"),
                node_at(old),
            )
        })?;
        // A split on a feature the model does not have reads a missing value.
        let feature = usize::try_from(split)
            .ok()
            .filter(|&f| f < num_feature && f < FEAT_MASK as usize)
            .unwrap_or(FEAT_MASK as usize) as u32;
        let default_left = tree.default_left.get(old).copied().ok_or_else(|| {
            bad_model(
                format!("tree {ti} node {old}: no default_left"),
                node_at(old),
            )
        })?;
        let mut flags = feature | if default_left { DEFAULT_LEFT } else { 0 };
        let value = if tree.is_categorical(old) {
            let set = tree
                .categories
                .as_ref()
                .and_then(|c| c.of(old))
                .ok_or_else(|| {
                    bad_model(
                        format!("tree {ti} node {old}: categorical split without a category set"),
                        node_at(old),
                    )
                })?;
            if let Some(bad) = set.iter().find(|&&c| c < 0) {
                return Err(bad_model(
                    format!("tree {ti} node {old}: negative category {bad}"),
                    node_at(old),
                ));
            }
            let mut sorted = set.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            let bits = sorted.last().map_or(0, |&m| {
                (u64::try_from(m).unwrap_or(0) + 1).div_ceil(32) * 32
            });
            let idx = forest.cats.len() as u32;
            forest.cats.push(CatSet { sorted, bits });
            flags |= CATEGORICAL;
            has_cats = true;
            f32::from_bits(idx)
        } else {
            tree.split_conditions.get(old).copied().ok_or_else(|| {
                bad_model(
                    format!("tree {ti} node {old}: no split condition"),
                    node_at(old),
                )
            })?
        };
        let child = |c: i32| new_index[c as usize];
        let (l, r) = (tree.left_children[old], tree.right_children[old]);
        debug_assert_eq!(child(l), new_index[old] + 1, "preorder: left child next");
        forest.nodes.push(Node {
            right: child(r),
            flags,
            value,
        });
    }
    Ok((base as u32, depth, has_cats))
}

impl Forest {
    /// A leaf value of tree `t` as it is added: `f32(v × weight)` for DART,
    /// `v` otherwise.
    fn weighted(&self, t: usize, v: f32) -> f32 {
        match &self.weights {
            Some(w) => v * w[t],
            None => v,
        }
    }

    /// Hands tree `t`'s values at `leaf` (a preorder index), weighted, to
    /// `add(group, value)`: its output group's, or every group's of a
    /// vector leaf.
    fn add_leaf(&self, t: usize, leaf: u32, mut add: impl FnMut(usize, f32)) {
        let node = &self.nodes[leaf as usize];
        match self.group_of[t] {
            u32::MAX => {
                let off = node.value.to_bits() as usize;
                let values = &self.leaf_vectors[off..off + self.ntree_groups];
                for (k, &v) in values.iter().enumerate() {
                    add(k, self.weighted(t, v));
                }
            }
            group => add(group as usize, self.weighted(t, node.value)),
        }
    }

    /// The leaf row `x` reaches from `root` (row by row, for trees with
    /// categorical splits).
    fn leaf_index(&self, root: u32, x: &[f32]) -> u32 {
        let nodes = &self.nodes[..];
        let mut i = root as usize;
        loop {
            // Children point forward within the array (compile_tree); a
            // leaf ends the walk.
            let n = &nodes[i];
            if n.flags & LEAF != 0 {
                return i as u32;
            }
            let v = x
                .get((n.flags & FEAT_MASK) as usize)
                .copied()
                .unwrap_or(f32::NAN);
            let left = if v.is_nan() {
                n.flags & DEFAULT_LEFT != 0
            } else if n.flags & CATEGORICAL != 0 {
                self.categorical_left(n, v)
            } else {
                v < n.value
            };
            i = if left { i + 1 } else { n.right as usize };
        }
    }

    #[cold]
    fn categorical_left(&self, n: &Node, v: f32) -> bool {
        let Some(set) = self.cats.get(n.value.to_bits() as usize) else {
            return true;
        };
        match self.cat_rule {
            CatRule::Truncate => {
                let c = v.trunc();
                if !(0.0..2_147_483_648.0).contains(&c) {
                    return true;
                }
                !set.contains(c as i64)
            }
            CatRule::DefaultLeft => {
                if !(0.0..MAX_CAT).contains(&v) || f64::from(v) >= set.bits as f64 {
                    return n.flags & DEFAULT_LEFT != 0;
                }
                !set.contains(v as i64)
            }
            CatRule::Left => {
                if !(0.0..MAX_CAT).contains(&v) {
                    return true;
                }
                !set.contains(v as i64)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The predictor

/// A model compiled for fast, exact evaluation with one XGBoost version's
/// rules.
#[derive(Debug, Clone)]
pub struct Predictor<'m> {
    model: &'m Model,
    version: Version,
    groups: usize,
    num_feature: usize,
    transform: Transform,
    sigmoid_clamp: bool,
    base: Vec<f32>,
    engine: Engine,
}

/// The version whose rules apply to a model by default: the one that wrote
/// it (exactly, or the newest its encoding allows).
pub fn producer_version(model: &Model) -> Version {
    model
        .version
        .exact
        .or(model.version.max)
        .unwrap_or(model.version.min)
}

impl<'m> Predictor<'m> {
    /// A predictor following the rules of the XGBoost that wrote the model.
    pub fn new(model: &'m Model) -> Result<Self> {
        Self::with_version(model, producer_version(model))
    }

    /// A predictor following the rules of XGBoost `version` (as if that
    /// version had loaded the model). Fails with [`Error::InvalidModel`]
    /// ([`PREDICT_MODEL`]) when the model cannot be evaluated, and with
    /// [`Error::Usage`] when that version cannot load it at all in a way
    /// that predicts (an unknown objective, a vector `base_score` before
    /// 1.2, a `base_score` outside the objective's domain).
    pub fn with_version(model: &'m Model, version: Version) -> Result<Self> {
        let transform = Transform::of_objective(&model.objective.name).ok_or_else(|| {
            usage(format!(
                "the objective {:?} is not one sm-pack can evaluate",
                model.objective.name
            ))
        })?;
        let groups = model.num_output_groups();
        let size = match &model.booster {
            Booster::Trees(t) => t.trees.len(),
            Booster::Linear(l) => l.weights.len(),
        };
        if groups > 65_536 && groups > size {
            return Err(bad_model(
                format!("{groups} output groups for a model of {size} trees or weights"),
                model.locate("num_class", None),
            ));
        }
        if matches!(transform, Transform::Softmax | Transform::Argmax)
            && model.learner.num_class < 1
        {
            return Err(bad_model(
                format!(
                    "{} needs num_class, which is {}",
                    model.objective.name, model.learner.num_class
                ),
                model.locate("num_class", None),
            ));
        }
        let num_feature = usize::try_from(model.learner.num_feature).unwrap_or(usize::MAX);
        let linear = matches!(model.booster, Booster::Linear(_));
        let base = base_margins(model, version, groups, linear)?;
        let engine = match &model.booster {
            Booster::Linear(l) => {
                let need = num_feature
                    .checked_add(1)
                    .and_then(|n| n.checked_mul(groups));
                if need != Some(l.weights.len()) {
                    return Err(bad_model(
                        format!(
                            "gblinear holds {} weights; {} features and {groups} groups need {}",
                            l.weights.len(),
                            model.learner.num_feature,
                            need.map_or("more".to_string(), |n| n.to_string())
                        ),
                        model.locate("weights", None),
                    ));
                }
                Engine::Linear {
                    weights: l.weights.clone(),
                }
            }
            Booster::Trees(t) => Engine::Trees(Box::new(compile_forest(
                model,
                t,
                version,
                groups,
                num_feature,
            )?)),
        };
        Ok(Predictor {
            model,
            version,
            groups,
            num_feature,
            transform,
            sigmoid_clamp: at_least(version, 1, 6),
            base,
            engine,
        })
    }

    /// The model.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// The XGBoost version whose rules are applied.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The objective's transform.
    pub fn transform(&self) -> Transform {
        self.transform
    }

    /// Output groups (classes, targets) the margins have.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// Features the model expects.
    pub fn num_feature(&self) -> usize {
        self.num_feature
    }

    /// The intercept added to each group, in margin space.
    pub fn base_margins(&self) -> &[f32] {
        &self.base
    }

    /// Boosting rounds (0 for gblinear).
    pub fn rounds(&self) -> usize {
        match &self.engine {
            Engine::Trees(f) => f.bounds.len() - 1,
            Engine::Linear { .. } => 0,
        }
    }

    /// Values per row of a prediction.
    pub fn output_width(&self, margin: bool) -> usize {
        if !margin && self.transform == Transform::Argmax {
            1
        } else {
            self.groups
        }
    }

    /// The tree index range a limit selects.
    pub fn tree_range(&self, limit: TreeLimit) -> Result<std::ops::Range<usize>> {
        let Engine::Trees(f) = &self.engine else {
            return match limit {
                TreeLimit::Iterations { begin, .. } if begin > 0 => Err(usage(
                    "gblinear does not support a prediction range starting after round 0",
                )),
                _ => Ok(0..0),
            };
        };
        let n = f.roots.len();
        let rounds = f.bounds.len() - 1;
        match limit {
            TreeLimit::All => Ok(0..n),
            TreeLimit::NtreeLimit(k) => {
                let end = k.saturating_mul(f.ntree_groups);
                Ok(0..if end == 0 || end > n { n } else { end })
            }
            TreeLimit::Iterations { begin, end } => {
                let end_round = if end == 0 { rounds } else { end };
                if end_round > rounds {
                    return Err(usage(format!(
                        "iteration_range ends at round {end_round} but the model has {rounds} rounds (XGBoost: 'Check failed: end <= model.BoostedRounds()')"
                    )));
                }
                if begin > end_round {
                    return Err(usage(format!(
                        "iteration_range ({begin}, {end}) begins after it ends"
                    )));
                }
                let b = f.bounds[begin];
                let e = if end == 0 { n } else { f.bounds[end_round] };
                Ok(b..e.max(b))
            }
        }
    }

    /// Predicts every row of `x`.
    pub fn predict(&self, x: &DenseMatrix, opts: &PredictOptions) -> Result<Predictions> {
        if x.cols() > self.num_feature {
            return Err(usage(format!(
                "the input has {} features per row but the model has {} (XGBoost refuses more columns than the model's features)",
                x.cols(),
                self.num_feature
            )));
        }
        let range = self.tree_range(opts.limit)?;
        let kernel = match opts.kernel {
            Kernel::Auto => Kernel::best(),
            k if k.is_available() => k,
            k => {
                return Err(usage(format!(
                    "this CPU cannot run the {} prediction kernel",
                    k.name()
                )));
            }
        };
        let g = self.groups;
        let rows = x.rows();
        let mut margins = vec![0f32; rows.saturating_mul(g)];
        let work = rows.saturating_mul(range.len().max(1));
        let threads = if opts.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            opts.threads
        }
        .min(rows.div_ceil(BLOCK_ROWS).max(1));
        if threads <= 1 || work < PARALLEL_MIN_WORK {
            self.margins_into(x, 0, range.clone(), kernel, &mut margins);
        } else {
            // Chunks of whole blocks taken from a shared queue by the workers
            // and this thread (which does everything if no thread can be
            // started). Every row is computed the same way whichever chunk
            // or thread it lands in.
            let per = rows.div_ceil(threads * 4).div_ceil(BLOCK_ROWS) * BLOCK_ROWS;
            let chunks: Vec<(usize, &mut [f32])> = margins
                .chunks_mut(per * g)
                .enumerate()
                .map(|(i, c)| (i * per, c))
                .collect();
            let queue = std::sync::Mutex::new(chunks);
            let work = || {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                    let Some((first, chunk)) = next else {
                        break;
                    };
                    self.margins_into(x, first, range.clone(), kernel, chunk);
                }
            };
            std::thread::scope(|s| {
                for _ in 1..threads {
                    let _ = std::thread::Builder::new()
                        .name("sm-pack-predict".into())
                        .spawn_scoped(s, work);
                }
                work();
            });
        }
        if opts.margin {
            return Ok(Predictions {
                rows,
                width: g,
                values: margins,
                kind: OutputKind::Margin,
            });
        }
        Ok(self.apply_transform(rows, margins))
    }

    /// Predicts one row.
    pub fn predict_row(&self, row: &[f32], margin: bool) -> Result<Vec<f32>> {
        let x = DenseMatrix::new(row.to_vec(), 1, row.len())?;
        let opts = PredictOptions {
            margin,
            threads: 1,
            ..PredictOptions::default()
        };
        Ok(self.predict(&x, &opts)?.values)
    }

    /// Margins of rows `first..first + out.len() / groups` into `out`.
    fn margins_into(
        &self,
        x: &DenseMatrix,
        first: usize,
        range: std::ops::Range<usize>,
        kernel: Kernel,
        out: &mut [f32],
    ) {
        let g = self.groups;
        match &self.engine {
            Engine::Linear { weights } => {
                let nf = self.num_feature;
                let base = self.base.first().copied().unwrap_or(0.0);
                for (r, o) in out.chunks_mut(g).enumerate() {
                    let row = x.row(first + r);
                    for (gid, slot) in o.iter_mut().enumerate() {
                        let mut psum = weights[nf * g + gid] + base;
                        for (f, &v) in row.iter().enumerate().take(nf) {
                            if !v.is_nan() {
                                psum += v * weights[f * g + gid];
                            }
                        }
                        *slot = psum;
                    }
                }
            }
            Engine::Trees(f) if out.len() / g < FEW_ROWS => {
                let kernel = lockstep::usable(kernel, f.nodes.len(), x.cols() + 1);
                self.few_rows_into(f, x, first, range, kernel, out);
            }
            Engine::Trees(f) => {
                let onto_base = f.accumulate == Accumulate::OntoBase;
                // Each block's rows, column by column, with a NaN column
                // that every feature the rows lack maps to (`lockstep::Block`).
                let cols = x.cols();
                // A power of two (16 – 256) rows of BLOCK_BYTES at most, no
                // more than the rows there are.
                let fit = (BLOCK_BYTES / 4 / (cols + 1)).clamp(16, BLOCK_ROWS);
                let block_rows = (1usize << fit.ilog2())
                    .min((out.len() / g).next_power_of_two())
                    .max(16);
                let kernel = lockstep::usable(kernel, f.nodes.len(), (cols + 1) * block_rows);
                let mut buf = vec![f32::NAN; (cols + 1) * block_rows];
                let mut idx = vec![0u32; block_rows];
                // The block's sums, group by group (row r of group k at
                // k × block_rows + r), so that a tree's leaves add to
                // consecutive values.
                let mut acc = vec![0f32; g * block_rows];
                for (b, block) in out.chunks_mut(block_rows * g).enumerate() {
                    let r0 = first + b * block_rows;
                    let nrows = block.len() / g;
                    for r in 0..nrows {
                        for (c, &v) in x.row(r0 + r).iter().enumerate() {
                            buf[c * block_rows + r] = v;
                        }
                    }
                    for (k, sums) in acc.chunks_mut(block_rows).enumerate() {
                        sums.fill(if onto_base { self.base[k] } else { 0.0 });
                    }
                    let rows = lockstep::Block {
                        buf: &buf,
                        rows: block_rows,
                        cols,
                    };
                    for t in range.clone() {
                        let group = f.group_of[t];
                        let weight = f.weights.as_ref().map(|w| w[t]);
                        let heap = if f.has_cats[t] { None } else { f.heaps.of(t) };
                        match heap {
                            // The common case: the walk adds the leaves.
                            Some(heap) if group != u32::MAX => {
                                let start = group as usize * block_rows;
                                let sink = lockstep::Sink::Sum {
                                    acc: &mut acc[start..start + nrows],
                                    weight,
                                };
                                lockstep::walk_heap(kernel, &heap, &rows, sink);
                                continue;
                            }
                            Some(heap) => {
                                let sink = lockstep::Sink::Leaf(&mut idx[..nrows]);
                                lockstep::walk_heap(kernel, &heap, &rows, sink);
                            }
                            None if f.has_cats[t] => {
                                for (r, i) in idx.iter_mut().enumerate().take(nrows) {
                                    *i = f.leaf_index(f.roots[t], x.row(r0 + r));
                                }
                            }
                            None => lockstep::walk(
                                kernel,
                                &f.nodes,
                                f.roots[t],
                                f.depth[t],
                                &rows,
                                &mut idx[..nrows],
                            ),
                        }
                        for (r, &leaf) in idx.iter().enumerate().take(nrows) {
                            f.add_leaf(t, leaf, |k, v| acc[k * block_rows + r] += v);
                        }
                    }
                    for (r, o) in block.chunks_mut(g).enumerate() {
                        for (k, slot) in o.iter_mut().enumerate() {
                            let sum = acc[k * block_rows + r];
                            *slot = if onto_base { sum } else { sum + self.base[k] };
                        }
                    }
                }
            }
        }
    }

    /// Margins of a few rows (fewer than fill a SIMD walk): row by row,
    /// with runs of heap trees walked together
    /// ([`lockstep::heaps_for_row`]), leaves added in tree order.
    fn few_rows_into(
        &self,
        f: &Forest,
        x: &DenseMatrix,
        first: usize,
        range: std::ops::Range<usize>,
        kernel: Kernel,
        out: &mut [f32],
    ) {
        let g = self.groups;
        let onto_base = f.accumulate == Accumulate::OntoBase;
        let cols = x.cols();
        let mut row = vec![f32::NAN; cols + 1];
        let mut heaps = Vec::with_capacity(lockstep::TREES_AT_ONCE);
        let mut values = [0f32; lockstep::TREES_AT_ONCE];
        for (r, o) in out.chunks_mut(g).enumerate() {
            row[..cols].copy_from_slice(x.row(first + r));
            if onto_base {
                o.copy_from_slice(&self.base);
            } else {
                o.fill(0.0);
            }
            let mut t = range.start;
            while t < range.end {
                let start = t;
                heaps.clear();
                while t < range.end && heaps.len() < lockstep::TREES_AT_ONCE {
                    let simple = f.group_of[t] != u32::MAX && !f.has_cats[t];
                    match f.heaps.heap(t).filter(|_| simple) {
                        Some(heap) => heaps.push(heap),
                        None => break,
                    }
                    t += 1;
                }
                if heaps.is_empty() {
                    // This tree on its own, in preorder.
                    let leaf = f.leaf_index(f.roots[t], x.row(first + r));
                    f.add_leaf(t, leaf, |k, v| o[k] += v);
                    t += 1;
                    continue;
                }
                lockstep::heaps_for_row(kernel, &f.heaps, &heaps, &row, cols, &mut values);
                for (k, &v) in values[..heaps.len()].iter().enumerate() {
                    o[f.group_of[start + k] as usize] += f.weighted(start + k, v);
                }
            }
            if !onto_base {
                for (slot, &b) in o.iter_mut().zip(&self.base) {
                    *slot += b;
                }
            }
        }
    }

    fn apply_transform(&self, rows: usize, mut m: Vec<f32>) -> Predictions {
        let g = self.groups;
        let (width, kind) = match self.transform {
            Transform::Identity => (g, OutputKind::Value),
            Transform::Sigmoid => {
                let clamp = self.sigmoid_clamp;
                m.iter_mut().for_each(|v| *v = sigmoid(*v, clamp));
                (g, OutputKind::Value)
            }
            Transform::Exp => {
                m.iter_mut().for_each(|v| *v = v.exp());
                (g, OutputKind::Value)
            }
            Transform::Hinge => {
                m.iter_mut()
                    .for_each(|v| *v = if *v > 0.0 { 1.0 } else { 0.0 });
                (g, OutputKind::Label)
            }
            Transform::Softmax => {
                m.chunks_mut(g).for_each(softmax);
                (g, OutputKind::Value)
            }
            Transform::Argmax => {
                let idx: Vec<f32> = m.chunks(g).map(|r| argmax(r) as f32).collect();
                return Predictions {
                    rows,
                    width: 1,
                    values: idx,
                    kind: OutputKind::ClassIndex,
                };
            }
        };
        Predictions {
            rows,
            width,
            values: m,
            kind,
        }
    }
}

fn compile_forest(
    model: &Model,
    t: &ir::TreeModel,
    version: Version,
    groups: usize,
    num_feature: usize,
) -> Result<Forest> {
    let n = t.trees.len();
    if t.tree_info.len() != n {
        return Err(bad_model(
            format!("tree_info has {} entries for {n} trees", t.tree_info.len()),
            model.locate("tree_info", None),
        ));
    }
    // 3.4 DART (weights under gbtree) read by an older XGBoost: the weights
    // are ignored and the trees summed as gbtree.
    let folded = model
        .source
        .dialect
        .as_ref()
        .is_some_and(|d| d.weight_drop_in_gbtree);
    let use_weights = t.dart && (!folded || at_least(version, 3, 4));
    let weights = if use_weights {
        let w = t.weight_drop.clone().unwrap_or_default();
        if w.len() != n {
            return Err(bad_model(
                format!("DART holds {} weights for {n} trees", w.len()),
                model.locate("weight_drop", None),
            ));
        }
        Some(w)
    } else {
        None
    };
    let accumulate = if use_weights {
        if at_least(version, 1, 4) {
            Accumulate::OntoBase
        } else {
            Accumulate::SumThenBase
        }
    } else if at_least(version, 1, 3) {
        Accumulate::OntoBase
    } else {
        Accumulate::SumThenBase
    };
    let cat_rule = if !at_least(version, 1, 6) {
        CatRule::Truncate
    } else if !at_least(version, 1, 7) {
        CatRule::DefaultLeft
    } else {
        CatRule::Left
    };
    let mut forest = Forest {
        nodes: Vec::new(),
        roots: Vec::with_capacity(n),
        group_of: Vec::with_capacity(n),
        weights,
        cats: Vec::new(),
        leaf_vectors: Vec::new(),
        bounds: Vec::new(),
        depth: Vec::with_capacity(n),
        has_cats: Vec::with_capacity(n),
        heaps: lockstep::Heaps::default(),
        ntree_groups: groups,
        accumulate,
        cat_rule,
    };
    let mut any_vector = false;
    for (ti, tree) in t.trees.iter().enumerate() {
        let (root, depth, cats) = compile_tree(model, ti, tree, groups, num_feature, &mut forest)?;
        if cats {
            forest.heaps.push_none();
        } else {
            let count = forest.nodes.len() - root as usize;
            forest.heaps.push(&forest.nodes, root, depth, count);
        }
        forest.roots.push(root);
        forest.depth.push(depth);
        forest.has_cats.push(cats);
        if tree.is_vector_leaf() {
            any_vector = true;
            forest.group_of.push(u32::MAX);
        } else {
            let g = t.tree_info[ti];
            let g = usize::try_from(g)
                .ok()
                .filter(|&g| g < groups)
                .ok_or_else(|| {
                    bad_model(
                        format!(
                            "tree {ti} is assigned to output group {g} but the model has {groups}"
                        ),
                        model.locate("tree_info", Some(ti)),
                    )
                })?;
            forest.group_of.push(g as u32);
        }
    }
    forest.heaps.finish();
    // Round boundaries.
    let indptr = t
        .iteration_indptr
        .as_ref()
        .filter(|_| at_least(version, 2, 0));
    let valid = indptr.is_some_and(|p| {
        p.first() == Some(&0)
            && p.last().is_some_and(|&l| usize::try_from(l) == Ok(n))
            && p.windows(2).all(|w| w[0] <= w[1])
    });
    forest.bounds = match indptr {
        Some(p) if valid => p.iter().map(|&v| v as usize).collect(),
        _ => {
            let parallel = parallel_trees(model, version);
            let layer = parallel.saturating_mul(if any_vector { 1 } else { groups });
            let rounds = n / layer.max(1);
            (0..=rounds).map(|r| r * layer).collect()
        }
    };
    Ok(forest)
}

/// Trees per output group per round as `version` sees the model: from 1.6
/// the model's own `num_parallel_tree` (absent before 1.6: 1); before 1.6 the
/// training configuration's, which only a pickle's memory snapshot carries.
fn parallel_trees(model: &Model, version: Version) -> usize {
    let Booster::Trees(t) = &model.booster else {
        return 1;
    };
    let stored = if at_least(version, 1, 6) {
        t.num_parallel_tree.filter(|_| {
            model.source.encoding != ir::Encoding::LegacyBinary
                || model.version.min >= Version::mm(1, 6)
        })
    } else {
        t.config_num_parallel_tree
    };
    stored
        .and_then(|p| usize::try_from(p).ok())
        .filter(|&p| p >= 1)
        .unwrap_or(1)
}

// ---------------------------------------------------------------------------
// Arithmetic, as XGBoost does it in f32

/// `common::Sigmoid` (`clamp`: 1.6+, `min(-x, 88.7)` before `expf`).
fn sigmoid(x: f32, clamp: bool) -> f32 {
    let e = if clamp {
        // std::min(-x, 88.7f) keeps a NaN.
        let nx = -x;
        if 88.7f32 < nx { 88.7f32 } else { nx }
    } else {
        -x
    };
    1.0 / (e.exp() + 1.0)
}

/// `common::Softmax`: max with `fmaxf`, `expf`, sum in f64.
fn softmax(row: &mut [f32]) {
    let Some(&first) = row.first() else {
        return;
    };
    let wmax = row[1..].iter().fold(first, |m, &v| v.max(m));
    let mut wsum = 0f64;
    for v in row.iter_mut() {
        *v = (*v - wmax).exp();
        wsum += f64::from(*v);
    }
    let s = wsum as f32;
    for v in row.iter_mut() {
        *v /= s;
    }
}

/// `common::FindMaxIndex`: the first largest value.
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// True when `binary:logitraw` turns base_score into a margin with the logit
/// in `version`: before 1.3 (measured: 1.0/1.2 files mispredict in 1.3.3,
/// the boundary [`Model::base_score_link`] and the container verdicts use).
fn logitraw_logit(v: Version) -> bool {
    (v.major, v.minor) < (1, 3)
}

/// The link `version` uses for the objective.
fn link_in(objective: &str, version: Version) -> Link {
    if objective == "binary:logitraw" {
        return if logitraw_logit(version) {
            Link::Logit
        } else {
            Link::Identity
        };
    }
    ir::objective_info(objective).map_or(Link::Identity, |i| i.link)
}

/// `ProbToMargin` in f32, as `version` computes it; `None` when that
/// version rejects the value.
fn prob_to_margin_f32(link: Link, v: f32, version: Version) -> Option<f32> {
    match link {
        Link::Identity => Some(v),
        Link::Logit => {
            let v = if at_least(version, 3, 2) {
                v.clamp(1e-6, 1.0 - 1e-6)
            } else if v > 0.0 && v < 1.0 {
                v
            } else {
                return None;
            };
            Some(-(1.0f32 / v - 1.0).ln())
        }
        Link::Log => (v > 0.0).then(|| v.ln()),
    }
}

/// `PredTransform` of one value (for 0.90's margin-space base_score).
fn pred_transform_f32(objective: &str, x: f32, version: Version) -> f32 {
    match Transform::of_objective(objective) {
        Some(Transform::Sigmoid) => sigmoid(x, at_least(version, 1, 6)),
        Some(Transform::Hinge) => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Some(Transform::Exp) => x.exp(),
        _ => x,
    }
}

/// The intercept of each group in margin space, as `version` computes it.
fn base_margins(model: &Model, version: Version, groups: usize, linear: bool) -> Result<Vec<f32>> {
    let bs = &model.learner.base_score;
    let name = &model.objective.name;
    let values: Vec<f32> = if bs.vector && !at_least(version, 3, 1) {
        if !at_least(version, 1, 2) {
            return Err(usage(format!(
                "xgboost {version} cannot parse the vector base_score {:?} (it fails to load the model)",
                bs.stored
            )));
        }
        // 1.2 – 3.0 cannot parse it and keep the default.
        vec![0.5]
    } else if bs.values.is_empty() {
        vec![0.5]
    } else {
        bs.values.clone()
    };
    let link = link_in(name, version);
    let multi = name.starts_with("multi:");
    let mut margins = Vec::with_capacity(values.len());
    for &v in &values {
        let m = if bs.space == ScoreSpace::Margin && !bs.vector {
            if !at_least(version, 1, 2) || multi {
                Some(v)
            } else {
                prob_to_margin_f32(link, pred_transform_f32(name, v, version), version)
            }
        } else {
            prob_to_margin_f32(link, v, version)
        };
        let m = m.filter(|m| m.is_finite()).ok_or_else(|| {
            usage(format!(
                "base_score {v} is outside what {name} accepts in xgboost {version} (it fails to load the model)"
            ))
        })?;
        // `+ 0.0` turns -0.0 (from -ln(1)) into 0.0, as XGBoost prints it.
        margins.push(m + 0.0);
    }
    if values.len() != 1 && !linear && values.len() != groups {
        return Err(bad_model(
            format!(
                "base_score has {} values for {groups} output groups",
                values.len()
            ),
            model.locate("base_score", None),
        ));
    }
    Ok((0..groups)
        .map(|g| {
            if margins.len() == 1 || linear {
                margins[0]
            } else {
                margins[g]
            }
        })
        .collect())
}

/// Predicts with the rules of the XGBoost that wrote the model.
pub fn predict(model: &Model, x: &DenseMatrix, margin: bool) -> Result<Predictions> {
    Predictor::new(model)?.predict(
        x,
        &PredictOptions {
            margin,
            ..PredictOptions::default()
        },
    )
}

// ---------------------------------------------------------------------------
// What a container predicts

/// How a SageMaker container predicts a model: its pinned XGBoost's rules
/// and the tree limit its `predict` applies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerPlan {
    /// The container tag.
    pub tag: String,
    /// Its pinned XGBoost.
    pub xgboost: String,
    /// The rules applied (the pinned XGBoost's version).
    #[serde(skip)]
    pub version: Version,
    /// The `best_ntree_limit` the container passes to `predict`, if any.
    pub best_ntree_limit: Option<usize>,
    /// The limit as the container's XGBoost applies it.
    #[serde(skip)]
    pub limit: TreeLimit,
    /// The container's verdict for the model.
    pub verdict: Verdict,
}

/// Reasons for "mispredicts" that sm-pack reproduces exactly.
const REPRODUCIBLE: &[&str] = &[
    "container.base_score_margin",
    "container.logitraw_base_score",
    "container.best_ntree_limit",
    "container.base_score_vector",
    "container.dart_weights",
];

/// What container `tag` does with `model`: refuses (with the reason) when it
/// fails to load it, when its outcome is undetermined, or when it
/// mispredicts in a way sm-pack cannot reproduce exactly (0.90's random DART
/// dropout, a 1.x binary read by 0.90, multi-target layouts it misreads).
/// Pass the model file's bytes so a pickle's `best_ntree_limit` is read.
pub fn container_plan(model: &Model, file: Option<&[u8]>, tag: &str) -> Result<ContainerPlan> {
    let table = ContainerTable::builtin()?;
    let c = table.require(tag)?;
    let verdict = c.judge_model_file(model, file, None);
    let why = |v: &Verdict| {
        v.reasons()
            .iter()
            .map(|r| r.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    match &verdict {
        Verdict::FailsToLoad { .. } => {
            return Err(usage(format!(
                "container {} (xgboost {}) fails to load this model: {}",
                c.tag,
                c.xgboost_text,
                why(&verdict)
            )));
        }
        Verdict::Undetermined { .. } => {
            return Err(usage(format!(
                "what container {} (xgboost {}) does with this model is undetermined: {}",
                c.tag,
                c.xgboost_text,
                why(&verdict)
            )));
        }
        Verdict::LoadsButMispredicts { reasons } => {
            let other: Vec<&str> = reasons
                .iter()
                .filter(|r| !REPRODUCIBLE.contains(&r.code.as_str()))
                .map(|r| r.message.as_str())
                .collect();
            if !other.is_empty() {
                return Err(usage(format!(
                    "container {} (xgboost {}) mispredicts this model in a way sm-pack cannot reproduce exactly: {}",
                    c.tag,
                    c.xgboost_text,
                    other.join("; ")
                )));
            }
        }
        _ => {}
    }
    let version = Version {
        major: c.xgboost.major,
        minor: c.xgboost.minor,
        patch: Some(c.xgboost.patch),
    };
    let best = container_best_ntree_limit(model, file, c)?;
    let limit = match best {
        None => TreeLimit::All,
        Some(_) if matches!(model.booster, Booster::Linear(_)) => TreeLimit::All,
        Some(n) if !at_least(version, 1, 4) => TreeLimit::NtreeLimit(n),
        Some(n) if !at_least(version, 2, 0) => {
            // Python's _convert_ntree_limit: iteration_range=(0, n // num_parallel_tree).
            let parallel = parallel_trees(model, version);
            TreeLimit::Iterations {
                begin: 0,
                end: n / parallel,
            }
        }
        Some(n) => TreeLimit::Iterations { begin: 0, end: n },
    };
    Ok(ContainerPlan {
        tag: c.tag.clone(),
        xgboost: c.xgboost_text.clone(),
        version,
        best_ntree_limit: best,
        limit,
        verdict,
    })
}

/// What SageMaker container `tag` returns for `rows` (margins with
/// `margin`): the pinned XGBoost's rules, with the `best_ntree_limit` the
/// container's `predict` passes on. See [`container_plan`] for when it
/// refuses. `file` is the model file's bytes (for a pickle's
/// `best_ntree_limit`).
pub fn predict_as_container(
    model: &Model,
    file: Option<&[u8]>,
    tag: &str,
    rows: &DenseMatrix,
    margin: bool,
) -> Result<Predictions> {
    let plan = container_plan(model, file, tag)?;
    Predictor::with_version(model, plan.version)?.predict(
        rows,
        &PredictOptions {
            margin,
            limit: plan.limit,
            threads: 0,
            ..PredictOptions::default()
        },
    )
}

/// The `best_ntree_limit` container `c` passes to `predict` (mirrors
/// `Container::best_ntree_limit` in `container.rs`, which is private).
fn container_best_ntree_limit(
    model: &Model,
    file: Option<&[u8]>,
    c: &container::Container,
) -> Result<Option<usize>> {
    let attr = |k: &str| -> Option<i64> {
        model
            .attributes
            .iter()
            .rev()
            .find(|(a, _)| a == k)
            .and_then(|(_, v)| v.trim().parse().ok())
    };
    let positive = |n: i64| usize::try_from(n).ok().filter(|&n| n > 0);
    let cv = (c.xgboost.major, c.xgboost.minor);
    if model.source.pickle.is_some() {
        if let Some(bytes) = file {
            return match pickled_best_ntree_limit(bytes) {
                Pickled::Int(n) => Ok(positive(n)),
                Pickled::Absent => Ok(None),
                Pickled::Unreadable => Err(usage(
                    "the pickle's best_ntree_limit (which the container passes to predict) could not be read",
                )),
            };
        }
        let p = model.version.exact.or(model.version.max).ok_or_else(|| {
            usage("the pickle's best_ntree_limit is unknown without the file's bytes")
        })?;
        if at_least(p, 2, 0) {
            return Ok(None);
        }
        if at_least(p, 1, 4) {
            return Ok(attr("best_ntree_limit").and_then(positive));
        }
        return Ok(match &model.booster {
            Booster::Linear(_) if !at_least(p, 1, 3) => Some(1),
            Booster::Linear(_) => None,
            Booster::Trees(t) => match attr("best_iteration") {
                Some(b) => positive(b + 1),
                None => positive((t.trees.len() / model.num_output_groups().max(1)) as i64),
            },
        });
    }
    if ((1, 4)..(2, 0)).contains(&cv) {
        return Ok(attr("best_ntree_limit").and_then(positive));
    }
    Ok(None)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pickled {
    Absent,
    Int(i64),
    Unreadable,
}

/// A pickled Booster's `best_ntree_limit` state entry, read from the opcodes
/// around its key (never executing anything); `None` counts as absent.
fn pickled_best_ntree_limit(bytes: &[u8]) -> Pickled {
    const KEY: &[u8] = b"best_ntree_limit";
    let n = KEY.len();
    let mut from = 0;
    while let Some(pos) = bytes
        .get(from..)
        .and_then(|b| b.windows(n).position(|w| w == KEY))
    {
        let at = from + pos;
        from = at + 1;
        let before = |k: usize| at.checked_sub(k).and_then(|i| bytes.get(i)).copied();
        let len_u32 = at
            .checked_sub(4)
            .and_then(|i| bytes.get(i..at))
            .is_some_and(|l| l == (n as u32).to_le_bytes());
        // SHORT_BINUNICODE, SHORT_BINSTRING, BINUNICODE/BINSTRING, or text UNICODE.
        let keyed = (before(2) == Some(0x8c) && before(1) == Some(n as u8))
            || (before(2) == Some(b'U') && before(1) == Some(n as u8))
            || (before(5).is_some_and(|c| c == b'X' || c == b'T') && len_u32);
        let mut i = at + n;
        let text_key = before(1) == Some(b'V') && bytes.get(i) == Some(&b'\n');
        if !keyed && !text_key {
            continue;
        }
        if text_key {
            i += 1;
        }
        // Memo bookkeeping between key and value.
        loop {
            match bytes.get(i) {
                Some(0x94) => i += 1,
                Some(b'q') => i += 2,
                Some(b'r') => i += 5,
                Some(b'p') => match bytes
                    .get(i..)
                    .and_then(|b| b.iter().position(|&c| c == b'\n'))
                {
                    Some(e) => i += e + 1,
                    None => return Pickled::Unreadable,
                },
                _ => break,
            }
        }
        let le = |k: usize| -> Option<i64> {
            let b = bytes.get(i + 1..i + 1 + k)?;
            Some(
                b.iter()
                    .enumerate()
                    .fold(0i64, |v, (j, &x)| v | (i64::from(x) << (8 * j))),
            )
        };
        let text = |skip: usize| -> Option<i64> {
            let rest = bytes.get(i + skip..)?;
            let e = rest.iter().position(|&c| c == b'\n')?;
            std::str::from_utf8(&rest[..e])
                .ok()?
                .trim_end_matches('L')
                .parse()
                .ok()
        };
        let value = match bytes.get(i) {
            Some(b'K') => le(1),
            Some(b'M') => le(2),
            Some(b'J') => le(4).map(|v| i64::from(v as u32 as i32)),
            Some(0x8a) => bytes.get(i + 1).and_then(|&k| {
                let k = k as usize;
                if k == 0 {
                    return Some(0);
                }
                if k > 8 {
                    return None;
                }
                let b = bytes.get(i + 2..i + 2 + k)?;
                let v = b
                    .iter()
                    .enumerate()
                    .fold(0i64, |v, (j, &x)| v | (i64::from(x) << (8 * j)));
                let shift = 64 - 8 * k as u32;
                Some((v << shift) >> shift)
            }),
            Some(b'N') => return Pickled::Absent,
            Some(b'I') | Some(b'L') => text(1),
            _ => None,
        };
        return match value {
            Some(v) => Pickled::Int(v),
            None => Pickled::Unreadable,
        };
    }
    Pickled::Absent
}

// ---------------------------------------------------------------------------
// Request bodies (what the container's text/csv and text/libsvm accept)

/// A request body's content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ContentType {
    /// `text/csv`: one row per line, comma-separated, no header; an empty
    /// field or `nan` is missing.
    #[serde(rename = "text/csv")]
    Csv,
    /// `text/libsvm`: `[label] index:value ...` per line; absent features
    /// are missing.
    #[serde(rename = "text/libsvm")]
    Libsvm,
    /// `application/x-recordio-protobuf`: SageMaker `Record` messages in
    /// RecordIO framing, one row per record (the `values` feature), as the
    /// SageMaker SDK writes them; NaN or an absent sparse entry is missing.
    #[serde(rename = "application/x-recordio-protobuf")]
    RecordioProtobuf,
}

impl ContentType {
    /// The MIME name.
    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Csv => "text/csv",
            ContentType::Libsvm => "text/libsvm",
            ContentType::RecordioProtobuf => "application/x-recordio-protobuf",
        }
    }

    /// Parses `text/csv`, `csv`, `text/libsvm`, `text/x-libsvm`, `libsvm`,
    /// `application/x-recordio-protobuf`, `recordio-protobuf`.
    pub fn parse(s: &str) -> Option<ContentType> {
        let s = s
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match s.as_str() {
            "text/csv" | "csv" => Some(ContentType::Csv),
            "text/libsvm" | "text/x-libsvm" | "libsvm" => Some(ContentType::Libsvm),
            "application/x-recordio-protobuf" | "recordio-protobuf" => {
                Some(ContentType::RecordioProtobuf)
            }
            _ => None,
        }
    }

    /// Guesses from the body: libsvm when a field holds `index:value`.
    pub fn sniff(body: &str) -> ContentType {
        let first = body.trim().lines().next().unwrap_or("");
        if first.split([' ', ',']).any(|t| {
            t.split_once(':')
                .is_some_and(|(a, _)| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
        }) {
            ContentType::Libsvm
        } else {
            ContentType::Csv
        }
    }
}

/// Python's `float()` of a request field: surrounding whitespace allowed,
/// `nan`/`inf`/`infinity` in any case, parsed to f64 and then narrowed to
/// f32 as the DMatrix does.
fn parse_number(field: &str) -> Option<f32> {
    let t = field.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "nan" => f64::NAN,
        "inf" | "infinity" => f64::INFINITY,
        _ => {
            let b = body.as_bytes();
            if !b.first().is_some_and(|c| c.is_ascii_digit() || *c == b'.') {
                return None;
            }
            // Python allows an underscore only between two digits.
            for (i, &c) in b.iter().enumerate() {
                if c == b'_'
                    && !(i > 0
                        && b[i - 1].is_ascii_digit()
                        && b.get(i + 1).is_some_and(u8::is_ascii_digit))
                {
                    return None;
                }
            }
            let clean: String = body.chars().filter(|&c| c != '_').collect();
            clean.parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v } as f32)
}

/// Parses a `text/csv` request body the container's way
/// (`encoder.csv_to_dmatrix`): the body is stripped, split on newlines and
/// commas; an empty field or `nan` is missing; every row must have the same
/// number of fields.
pub fn parse_csv(body: &str) -> Result<DenseMatrix> {
    let body = body.trim();
    if body.is_empty() {
        return DenseMatrix::new(Vec::new(), 0, 0);
    }
    let mut values = Vec::new();
    let mut cols = None;
    let mut rows = 0usize;
    for (i, line) in body.split('\n').enumerate() {
        let mut n = 0usize;
        for field in line.split(',') {
            let v = if field.trim().is_empty() {
                f32::NAN
            } else {
                parse_number(field).ok_or_else(|| {
                    usage(format!(
                        "line {}: {:?} is not a number (text/csv rows hold numbers only, no header)",
                        i + 1,
                        field.trim()
                    ))
                })?
            };
            values.push(v);
            n += 1;
        }
        match cols {
            None => cols = Some(n),
            Some(c) if c != n => {
                return Err(usage(format!(
                    "line {} has {n} fields but line 1 has {c} (the container refuses ragged CSV)",
                    i + 1
                )));
            }
            _ => {}
        }
        rows += 1;
    }
    DenseMatrix::new(values, rows, cols.unwrap_or(0))
}

/// Parses a `text/libsvm` request body the container's way
/// (`_get_sparse_matrix_from_libsvm`): lines split on single spaces, tokens
/// with a `:` are `index:value` (others, such as a label, are ignored),
/// duplicates are summed, absent features are missing, and the row count is
/// up to the last line with a feature. With `shift_one_based` (the 3.2-0
/// container), indices are shifted down by one when the smallest is ≥ 1.
/// Rows wider than `max_cols` are refused before anything is allocated for
/// them.
pub fn parse_libsvm(body: &str, shift_one_based: bool, max_cols: usize) -> Result<DenseMatrix> {
    let body = body.trim();
    let mut entries: Vec<(usize, i64, f64)> = Vec::new();
    for (r, line) in body.split('\n').enumerate() {
        for item in line.split(' ') {
            let Some((idx, val)) = item.split_once(':') else {
                continue;
            };
            let col: i64 = idx.trim().parse().map_err(|_| {
                usage(format!(
                    "line {}: {idx:?} is not a feature index (text/libsvm tokens are index:value)",
                    r + 1
                ))
            })?;
            let val = val.split(':').next().unwrap_or("");
            let v = parse_number(val)
                .ok_or_else(|| usage(format!("line {}: {val:?} is not a number", r + 1)))?;
            entries.push((r, col, f64::from(v)));
        }
    }
    let min = entries.iter().map(|e| e.1).min();
    let shift = i64::from(shift_one_based && min.is_some_and(|m| m >= 1));
    if let Some(m) = min
        && m - shift < 0
    {
        return Err(usage(format!(
            "feature index {m} is negative (the container refuses it)"
        )));
    }
    let cols = entries.iter().map(|e| e.1 - shift + 1).max().unwrap_or(0);
    let cols = usize::try_from(cols).unwrap_or(usize::MAX);
    if cols > max_cols {
        return Err(usage(format!(
            "the input has {cols} features (largest index {}) but the model has {max_cols}",
            cols - 1 + shift as usize
        )));
    }
    let rows = entries.iter().map(|e| e.0 + 1).max().unwrap_or(0);
    densify(
        entries
            .into_iter()
            .map(|(r, c, v)| (r, (c - shift) as usize, v)),
        rows,
        cols,
    )
}

/// Sparse entries `(row, column, value)` as dense rows, absent ones missing:
/// duplicates summed in f64 (scipy's COO → CSR), then narrowed to f32. At
/// most [`MAX_DENSE_VALUES`] values; the entries lie within `rows × cols`.
fn densify(
    entries: impl IntoIterator<Item = (usize, usize, f64)>,
    rows: usize,
    cols: usize,
) -> Result<DenseMatrix> {
    if rows.checked_mul(cols).is_none_or(|n| n > MAX_DENSE_VALUES) {
        return Err(usage(format!(
            "{rows} rows of {cols} features are too many to evaluate at once (at most {MAX_DENSE_VALUES} values); split the input"
        )));
    }
    let mut sums = vec![f64::NAN; rows * cols];
    for (r, c, v) in entries {
        let slot = &mut sums[r * cols + c];
        *slot = if slot.is_nan() { v } else { *slot + v };
    }
    DenseMatrix::new(sums.into_iter().map(|v| v as f32).collect(), rows, cols)
}

/// Parses a text request body (`None`: sniffed, CSV or libsvm).
/// `max_cols` bounds libsvm indices; `shift_one_based` as in [`parse_libsvm`].
pub fn parse_request(
    body: &str,
    content_type: Option<ContentType>,
    shift_one_based: bool,
    max_cols: usize,
) -> Result<(DenseMatrix, ContentType)> {
    let ct = content_type.unwrap_or_else(|| ContentType::sniff(body));
    Ok((parse_as(body, ct, shift_one_based, max_cols)?, ct))
}

/// Parses a request body of any content type (`None`: sniffed; a body that
/// starts with the RecordIO magic is RecordIO-protobuf). Text bodies must
/// be UTF-8; `max_cols` bounds libsvm indices and sparse RecordIO widths.
pub fn parse_request_bytes(
    body: &[u8],
    content_type: Option<ContentType>,
    shift_one_based: bool,
    max_cols: usize,
) -> Result<(DenseMatrix, ContentType)> {
    let recordio = crate::recordio::starts_with_magic(body);
    let ct = match content_type {
        Some(ct) => ct,
        None if recordio => ContentType::RecordioProtobuf,
        None => ContentType::sniff(&String::from_utf8_lossy(&body[..body.len().min(4096)])),
    };
    if ct == ContentType::RecordioProtobuf {
        return Ok((parse_recordio(body, max_cols)?, ct));
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        usage(format!(
            "the input is not UTF-8 text (byte {}); {} bodies are text",
            e.valid_up_to(),
            ct.mime()
        ))
    })?;
    Ok((parse_as(text, ct, shift_one_based, max_cols)?, ct))
}

/// A text body as `ct` says.
fn parse_as(
    text: &str,
    ct: ContentType,
    shift_one_based: bool,
    max_cols: usize,
) -> Result<DenseMatrix> {
    match ct {
        ContentType::Csv => parse_csv(text),
        ContentType::Libsvm => parse_libsvm(text, shift_one_based, max_cols),
        ContentType::RecordioProtobuf => parse_recordio(text.as_bytes(), max_cols),
    }
}

/// A RecordIO-protobuf body as rows (dense as they are; sparse rows with
/// their absent entries missing and duplicates summed, as scipy's CSR).
fn parse_recordio(body: &[u8], max_cols: usize) -> Result<DenseMatrix> {
    match crate::recordio::read_rows(body).map_err(usage)? {
        crate::recordio::Rows::Dense { values, rows, cols } => DenseMatrix::new(values, rows, cols),
        crate::recordio::Rows::Sparse {
            entries,
            rows,
            cols,
        } => {
            if cols > max_cols {
                return Err(usage(format!(
                    "the input has {cols} features (its sparse shape) but the model has {max_cols}"
                )));
            }
            densify(entries, rows, cols)
        }
    }
}

/// True when container `tag` shifts 1-based libsvm indices (the 3.2-0 image:
/// `col - 1` when the smallest index is ≥ 1).
pub fn container_shifts_libsvm(tag: &str) -> Result<bool> {
    let c = ContainerTable::builtin()?.require(tag)?;
    Ok((c.xgboost.major, c.xgboost.minor) >= (3, 2))
}

/// The container's feature-count check for a pickled model
/// (`serve_utils.predict`, pickle format only): CSV rows must have the
/// model's feature count or one less; libsvm at most one more.
pub fn container_feature_check(
    num_feature: usize,
    cols: usize,
    content_type: ContentType,
) -> Result<()> {
    match content_type {
        ContentType::Libsvm if cols > num_feature + 1 => Err(usage(format!(
            "Feature size of libsvm inference data {cols} is larger than feature size of trained model {num_feature}."
        ))),
        ContentType::Csv if cols != num_feature && cols + 1 != num_feature => Err(usage(format!(
            "Feature size of text/csv inference data {cols} is not consistent with feature size of trained model {num_feature}."
        ))),
        ContentType::RecordioProtobuf if cols != num_feature && cols + 1 != num_feature => {
            Err(usage(format!(
                "Feature size of recordio-protobuf inference data {cols} is not consistent with feature size of trained model {num_feature}."
            )))
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// Responses (what the container returns)

/// Python's `repr` of a float (`str(np.float64(x))`): shortest round-trip
/// digits, fixed notation for exponents −4 … 15, else `1e-05` / `1.5e+16`;
/// `nan`, `inf`, `-inf`.
pub fn python_float_repr(x: f64) -> String {
    let mut s = String::with_capacity(24);
    push_python_float_repr(&mut s, x);
    s
}

/// [`python_float_repr`], appended to `out`.
///
/// The digits are Ryu's: the shortest that round-trip, the closest of them
/// to `x`, an exact tie between two going to the even one, as David Gay's
/// dtoa (behind Python's `repr`) chooses; Python's layout is then applied.
pub(crate) fn push_python_float_repr(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(x.abs());
    let (mant, exp) = text.split_once('e').unwrap_or((text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    // Significant digits and the decimal exponent of the first of them.
    let int_len = mant.find('.').unwrap_or(mant.len());
    let mut digits = [0u8; 24];
    let mut n = 0;
    let mut leading = 0i32;
    for &c in mant.as_bytes().iter().filter(|c| c.is_ascii_digit()) {
        if n == 0 && c == b'0' {
            leading += 1;
            continue;
        }
        if n < digits.len() {
            digits[n] = c;
            n += 1;
        }
    }
    while n > 1 && digits[n - 1] == b'0' {
        n -= 1;
    }
    let digits = std::str::from_utf8(&digits[..n]).unwrap_or("0");
    let exp = exp + int_len as i32 - 1 - leading;
    if x < 0.0 {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

/// `json.dumps` of a float: like [`python_float_repr`], with `NaN`,
/// `Infinity`, `-Infinity`.
fn json_float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        python_float_repr(x)
    }
}

/// The container's `text/csv` response: one line per row, the row's values
/// comma-separated, each as Python prints the float32 value widened to
/// float64 (`0.43861907720565796`, `1.0` for a class index).
pub fn csv_response(p: &Predictions) -> String {
    let mut s = String::with_capacity(p.values().len() * 20);
    for r in 0..p.rows() {
        for (i, v) in p.row(r).iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&python_float_repr(f64::from(*v)));
        }
        s.push('\n');
    }
    s
}

/// The container's `application/json` response
/// (`serve_utils.encode_predictions_as_json`):
/// `{"predictions": [{"score": 0.43}, ...]}`, a list of K values per row for
/// multi-output models.
pub fn json_response(p: &Predictions) -> String {
    let mut s = String::from("{\"predictions\": [");
    for r in 0..p.rows() {
        if r > 0 {
            s.push_str(", ");
        }
        s.push_str("{\"score\": ");
        let row = p.row(r);
        if p.width() == 1 {
            s.push_str(&json_float(f64::from(row[0])));
        } else {
            s.push('[');
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                s.push_str(&json_float(f64::from(*v)));
            }
            s.push(']');
        }
        s.push('}');
    }
    s.push_str("]}");
    s
}

// ---------------------------------------------------------------------------
// Sample checks

/// One prediction that differs from the expected value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleDiff {
    /// Row, 1-based.
    pub row: usize,
    /// Column, 1-based.
    pub column: usize,
    /// The expected value.
    pub expected: f64,
    /// What the model predicts.
    pub got: f64,
    /// `|got − expected|` (infinite when exactly one is NaN).
    pub abs_diff: f64,
}

/// The comparison of predictions with an expected file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleComparison {
    /// Rows compared.
    pub rows: usize,
    /// Values per row.
    pub columns: usize,
    /// The tolerance: a value passes when `|got − expected| ≤ tolerance ×
    /// max(1, |expected|)`.
    pub tolerance: f64,
    /// Largest `|got − expected|`.
    pub max_abs_diff: f64,
    /// Largest `|got − expected| / max(1, |expected|)`.
    pub max_rel_diff: f64,
    /// Values beyond the tolerance.
    pub mismatches: usize,
    /// The first mismatches (at most 20), in row order.
    pub first: Vec<SampleDiff>,
    /// A shape problem (row or column count), when there is one.
    pub shape_error: Option<String>,
}

impl SampleComparison {
    /// True when every value is within the tolerance and the shapes agree.
    pub fn passed(&self) -> bool {
        self.mismatches == 0 && self.shape_error.is_none()
    }

    /// A human-readable diff (one line per listed mismatch).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if let Some(e) = &self.shape_error {
            s.push_str(e);
            return s;
        }
        let _ = write!(
            s,
            "{} of {} predictions differ from the expected values by more than {:e} (relative, max(1, |expected|)); largest |Δ| {:.3e}",
            self.mismatches,
            self.rows * self.columns,
            self.tolerance,
            self.max_abs_diff
        );
        for d in &self.first {
            let _ = write!(
                s,
                "\n    row {}, column {}: expected {}, got {}, |Δ| {:.3e}",
                d.row,
                d.column,
                python_float_repr(d.expected),
                python_float_repr(d.got),
                d.abs_diff
            );
        }
        if self.mismatches > self.first.len() {
            let _ = write!(s, "\n    … and {} more", self.mismatches - self.first.len());
        }
        s
    }
}

/// Parses an expected-predictions file: one row per line, values
/// comma-separated (the layout `sm-pack predict` prints); blank lines are
/// skipped; an empty field or `nan` is NaN.
pub fn parse_expected(text: &str) -> Result<Vec<Vec<f64>>> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row = line
            .split(',')
            .map(|f| {
                if f.trim().is_empty() {
                    Ok(f64::NAN)
                } else {
                    let t = f.trim();
                    let lower = t.to_ascii_lowercase();
                    match lower.trim_start_matches(['+', '-']) {
                        "nan" => Ok(f64::NAN),
                        "inf" | "infinity" => Ok(if t.starts_with('-') {
                            f64::NEG_INFINITY
                        } else {
                            f64::INFINITY
                        }),
                        _ => t.parse::<f64>().map_err(|_| {
                            usage(format!(
                                "expected predictions, line {}: {t:?} is not a number",
                                i + 1
                            ))
                        }),
                    }
                }
            })
            .collect::<Result<Vec<f64>>>()?;
        rows.push(row);
    }
    Ok(rows)
}

/// Compares predictions with expected rows (see [`SampleComparison`]).
pub fn compare_predictions(
    got: &Predictions,
    expected: &[Vec<f64>],
    tolerance: f64,
) -> SampleComparison {
    let mut c = SampleComparison {
        rows: got.rows(),
        columns: got.width(),
        tolerance,
        max_abs_diff: 0.0,
        max_rel_diff: 0.0,
        mismatches: 0,
        first: Vec::new(),
        shape_error: None,
    };
    if expected.len() != got.rows() {
        c.shape_error = Some(format!(
            "the expected file has {} rows but the sample has {} rows",
            expected.len(),
            got.rows()
        ));
        return c;
    }
    for (r, want) in expected.iter().enumerate() {
        let have = got.row(r);
        if want.len() != have.len() {
            c.shape_error = Some(format!(
                "row {}: the expected file has {} values but the model predicts {} per row",
                r + 1,
                want.len(),
                have.len()
            ));
            return c;
        }
        for (col, (&e, &g)) in want.iter().zip(have).enumerate() {
            let g = f64::from(g);
            let d = if (e.is_nan() && g.is_nan()) || e == g {
                0.0
            } else {
                (g - e).abs()
            };
            let d = if d.is_nan() { f64::INFINITY } else { d };
            let rel = d / e.abs().max(1.0);
            let rel = if rel.is_nan() { f64::INFINITY } else { rel };
            c.max_abs_diff = c.max_abs_diff.max(d);
            c.max_rel_diff = c.max_rel_diff.max(rel);
            if rel > tolerance {
                c.mismatches += 1;
                if c.first.len() < 20 {
                    c.first.push(SampleDiff {
                        row: r + 1,
                        column: col + 1,
                        expected: e,
                        got: g,
                        abs_diff: d,
                    });
                }
            }
        }
    }
    c
}

/// Default tolerance of the sample gate.
pub const DEFAULT_TOLERANCE: f64 = 1e-6;

/// Finding code: the packed model's predictions on the sample differ from
/// the expected ones (error; nothing is written).
pub const SAMPLE_MISMATCH: &str = "xgb.sample.mismatch";
/// Finding code: the sample could not be evaluated the way it was asked
/// (bad rows, a container that cannot serve the model) (error).
pub const SAMPLE_UNEVALUABLE: &str = "xgb.sample.unevaluable";
/// Finding code: the sample matched (info).
pub const SAMPLE_PASS: &str = "xgb.sample.pass";

/// A sample check for the packing pipeline (`--sample`, `--expect`,
/// `--tolerance`).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleGate {
    /// The sample: a `text/csv` or `text/libsvm` request body (sniffed).
    pub input: std::path::PathBuf,
    /// The expected predictions: one row per line, comma-separated (the
    /// layout `sm-pack predict` prints).
    pub expected: std::path::PathBuf,
    /// A value passes when `|got − expected| ≤ tolerance × max(1, |expected|)`.
    pub tolerance: f64,
}

impl SampleGate {
    /// What every family's gate starts with: checks the tolerance, reads the
    /// sample and the expected file (no devices, at most
    /// [`crate::input::MAX_DATA_BYTES`]; `--sample /dev/zero` would read
    /// forever) and fills the manifest record's file names and digests
    /// (`result` "fail" until the gate passes, `semantics` empty).
    pub(crate) fn read(&self) -> Result<(Vec<u8>, Vec<u8>, crate::manifest::SampleRecord)> {
        if self.tolerance.is_nan() || self.tolerance < 0.0 {
            return Err(usage(format!(
                "--tolerance must be a non-negative number, not {}",
                self.tolerance
            )));
        }
        let max = crate::input::MAX_DATA_BYTES;
        let input = crate::input::read_data_file(&self.input, max)?;
        let expected = crate::input::read_data_file(&self.expected, max)?;
        let record = crate::manifest::SampleRecord {
            input: file_name(&self.input),
            input_sha256: crate::hash::sha256_hex(&input),
            content_type: String::new(),
            expected: file_name(&self.expected),
            expected_sha256: crate::hash::sha256_hex(&expected),
            rows: 0,
            columns: 0,
            semantics: String::new(),
            tolerance: self.tolerance,
            max_abs_diff: 0.0,
            max_rel_diff: 0.0,
            result: "fail".into(),
        };
        Ok((input, expected, record))
    }

    /// A gate with the default tolerance.
    pub fn new(
        input: impl Into<std::path::PathBuf>,
        expected: impl Into<std::path::PathBuf>,
    ) -> Self {
        SampleGate {
            input: input.into(),
            expected: expected.into(),
            tolerance: DEFAULT_TOLERANCE,
        }
    }
}

/// What the sample gate found.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleOutcome {
    /// The comparison (`None` when the sample could not be evaluated).
    pub comparison: Option<SampleComparison>,
    /// What the manifest records (meaningful when [`SampleOutcome::passed`]).
    pub record: crate::manifest::SampleRecord,
    /// [`SAMPLE_PASS`] (info) or [`SAMPLE_MISMATCH`] / [`SAMPLE_UNEVALUABLE`]
    /// (error) with the diff.
    pub finding: Finding,
}

impl SampleOutcome {
    /// True when every prediction is within the tolerance.
    pub fn passed(&self) -> bool {
        self.comparison
            .as_ref()
            .is_some_and(SampleComparison::passed)
    }
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The sample gate of the packing pipeline: evaluates `model_bytes` — the
/// bytes that go into the archive, after any conversion — on the sample and
/// compares the predictions with the expected file. With `container`, the
/// predictions are what that container returns ([`container_plan`]: its
/// xgboost's rules, `best_ntree_limit`, libsvm index handling); otherwise
/// the model's producer's rules apply.
///
/// Errors only when a file cannot be read or the tolerance is not a
/// non-negative number; a sample that does not match, or cannot be
/// evaluated, is a failing [`SampleOutcome`] whose finding says why.
pub fn run_sample_gate(
    gate: &SampleGate,
    model_bytes: &[u8],
    container: Option<&str>,
) -> Result<SampleOutcome> {
    let (input, expected, mut record) = gate.read()?;
    let evaluated = (|| -> Result<(SampleComparison, ContentType, String)> {
        // The sample is a request body (CSV, libsvm or RecordIO-protobuf);
        // the expected predictions are text.
        if !crate::recordio::starts_with_magic(&input)
            && let Err(e) = std::str::from_utf8(&input)
        {
            return Err(usage(format!(
                "{}: neither UTF-8 text nor RecordIO-protobuf (byte {})",
                gate.input.display(),
                e.valid_up_to()
            )));
        }
        let expected = std::str::from_utf8(&expected).map_err(|e| {
            usage(format!(
                "{}: not UTF-8 text (byte {})",
                gate.expected.display(),
                e.valid_up_to()
            ))
        })?;
        check_sample_bytes(model_bytes, &input, expected, gate.tolerance, container)
    })();
    let (comparison, finding) = match evaluated {
        Err(e) => {
            let f = Finding::error(
                SAMPLE_UNEVALUABLE,
                format!("the sample {} cannot be evaluated: {e}", record.input),
            )
            .with_hint("check the sample file and the container tag");
            (None, f)
        }
        Ok((c, ct, semantics)) => {
            record.content_type = ct.mime().into();
            record.semantics = semantics.clone();
            record.rows = c.rows as u64;
            record.columns = c.columns as u64;
            record.max_abs_diff = c.max_abs_diff;
            record.max_rel_diff = c.max_rel_diff;
            let f = if c.passed() {
                record.result = "pass".into();
                Finding::info(
                    SAMPLE_PASS,
                    format!(
                        "the sample {} ({} rows, {semantics}) predicts the expected values (largest |Δ| {:.3e}, tolerance {:e})",
                        record.input, c.rows, c.max_abs_diff, c.tolerance
                    ),
                )
            } else {
                Finding::error(
                    SAMPLE_MISMATCH,
                    format!(
                        "the model to be packed does not predict {} on the sample {} ({semantics}): {}",
                        record.expected,
                        record.input,
                        c.describe()
                    ),
                )
                .with_hint("check that the expected file comes from this model and the same rows, or raise --tolerance")
            };
            (Some(c), f)
        }
    };
    Ok(SampleOutcome {
        comparison,
        record,
        finding,
    })
}

/// Evaluates `model_bytes` on a sample request body and compares the result
/// with the expected predictions (see [`run_sample_gate`]). Returns the
/// comparison, the sample's content type and a description of the rules
/// applied.
pub fn check_sample(
    model_bytes: &[u8],
    sample: &str,
    expected: &str,
    tolerance: f64,
    container: Option<&str>,
) -> Result<(SampleComparison, ContentType, String)> {
    check_sample_bytes(
        model_bytes,
        sample.as_bytes(),
        expected,
        tolerance,
        container,
    )
}

/// [`check_sample`] for a sample of any content type, RecordIO-protobuf
/// included ([`parse_request_bytes`]).
pub fn check_sample_bytes(
    model_bytes: &[u8],
    sample: &[u8],
    expected: &str,
    tolerance: f64,
    container: Option<&str>,
) -> Result<(SampleComparison, ContentType, String)> {
    let (model, _) = super::read_model(model_bytes)?;
    let num_feature = usize::try_from(model.learner.num_feature).unwrap_or(usize::MAX);
    let shift = match container {
        Some(tag) => container_shifts_libsvm(tag)?,
        None => false,
    };
    let (rows, ct) = parse_request_bytes(sample, None, shift, num_feature.saturating_add(1))?;
    let (pred, semantics) = match container {
        Some(tag) => {
            if model.source.pickle.is_some() {
                container_feature_check(num_feature, rows.cols(), ct)?;
            }
            let plan = container_plan(&model, Some(model_bytes), tag)?;
            let p = Predictor::with_version(&model, plan.version)?.predict(
                &rows,
                &PredictOptions {
                    margin: false,
                    limit: plan.limit,
                    threads: 0,
                    ..PredictOptions::default()
                },
            )?;
            let limit = plan
                .best_ntree_limit
                .map(|n| format!(", best_ntree_limit {n}"))
                .unwrap_or_default();
            (
                p,
                format!("container {} (xgboost {}{limit})", plan.tag, plan.xgboost),
            )
        }
        None => (
            predict(&model, &rows, false)?,
            format!(
                "xgboost {} (the model's producer)",
                producer_version(&model)
            ),
        ),
    };
    let want = parse_expected(expected)?;
    Ok((compare_predictions(&pred, &want, tolerance), ct, semantics))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every fixture's margins, with its shallow trees walked as heaps and
    /// with every tree walked in preorder, by every kernel this CPU runs,
    /// for row counts that leave partial vectors and blocks, and for rows
    /// wide enough to shrink the block: all bit-identical.
    #[test]
    fn heap_and_preorder_walks_agree() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/xgboost");
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
        let kernels: Vec<Kernel> = Kernel::available().collect();
        let (mut heaps, mut trees) = (0usize, 0usize);
        for e in index["entries"].as_array().unwrap() {
            let file = e["file"].as_str().unwrap();
            let Ok((model, _)) = super::super::read_model(&std::fs::read(root.join(file)).unwrap())
            else {
                continue;
            };
            let Ok(with_heaps) = Predictor::new(&model) else {
                continue;
            };
            let mut preorder = with_heaps.clone();
            if let Engine::Trees(f) = &mut preorder.engine {
                trees += f.roots.len();
                heaps += (0..f.roots.len())
                    .filter(|&t| f.heaps.of(t).is_some())
                    .count();
                f.heaps = lockstep::Heaps::default();
            }
            let text = std::fs::read_to_string(root.join(e["input"].as_str().unwrap())).unwrap();
            let x = parse_csv(&text).unwrap();
            // The first 17 rows padded with missing columns to 5,000 (a
            // 16-row block then) predict the same.
            let (w, n) = (5_000, x.rows().min(17));
            let mut wide = vec![f32::NAN; n * w];
            for r in 0..n {
                wide[r * w..r * w + x.cols()].copy_from_slice(x.row(r));
            }
            let wide = DenseMatrix::new(wide, n, w).unwrap();
            let mut wide_heaps = with_heaps.clone();
            wide_heaps.num_feature = w;
            for rows in [0, 1, 15, 17, 100, x.rows()] {
                let rows = rows.min(x.rows());
                let sub = |x: &DenseMatrix| {
                    let rows = rows.min(x.rows());
                    DenseMatrix::new(x.values()[..rows * x.cols()].to_vec(), rows, x.cols())
                        .unwrap()
                };
                let (narrow, wide) = (sub(&x), sub(&wide));
                let run = |p: &Predictor<'_>, x: &DenseMatrix, kernel| {
                    let opts = PredictOptions {
                        margin: true,
                        threads: 1,
                        kernel,
                        ..PredictOptions::default()
                    };
                    let out = p.predict(x, &opts).unwrap();
                    out.values().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                };
                let want = run(&preorder, &narrow, Kernel::Portable);
                for &k in &kernels {
                    assert_eq!(
                        run(&with_heaps, &narrow, k),
                        want,
                        "{file}, {rows} rows, {k:?}"
                    );
                    assert_eq!(
                        run(&preorder, &narrow, k),
                        want,
                        "{file}, {rows} rows, {k:?}"
                    );
                    if rows <= n && matches!(with_heaps.engine, Engine::Trees(_)) {
                        assert_eq!(
                            run(&wide_heaps, &wide, k),
                            want,
                            "{file}, {rows} wide rows, {k:?}"
                        );
                    }
                }
            }
        }
        assert!(
            trees > 5_000 && heaps > trees / 2,
            "{heaps} heaps of {trees} trees"
        );
    }

    #[test]
    fn python_repr_matches_python() {
        let cases = [
            (0.43861907720565796, "0.43861907720565796"),
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (123456789012345.0, "123456789012345.0"),
            (1234567890123456.0, "1234567890123456.0"),
            (-2.5, "-2.5"),
            (100.0, "100.0"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::from(0.1f32), "0.10000000149011612"),
            // Exact ties between two shortest candidates go to the even one.
            (f64::from(0.670_784_f32), "0.6707839965820312"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
        ];
        for (x, want) in cases {
            assert_eq!(python_float_repr(x), want, "{x:e}");
        }
    }

    /// Float32 values on an exact tie between two shortest candidates, as
    /// Python prints them (`testdata/python/repr_cases.py`).
    #[test]
    fn python_repr_breaks_ties_like_python() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/python/repr-ties.txt");
        let text = std::fs::read_to_string(path).unwrap();
        let mut n = 0;
        for want in text.lines() {
            let x: f64 = want.parse().unwrap();
            assert_eq!(python_float_repr(x), want);
            n += 1;
        }
        assert!(n > 1000, "{n} cases");
    }

    /// Bulk check against Python (`testdata/python/repr_cases.py BULK_DIR`,
    /// then `SM_PACK_REPR_CHECK=BULK_DIR`): `vals.f64` (little-endian
    /// doubles) and `reprs.txt` (Python's `repr` of each, one per line).
    #[test]
    #[ignore = "needs SM_PACK_REPR_CHECK"]
    fn python_repr_matches_python_in_bulk() {
        let dir = std::path::PathBuf::from(std::env::var_os("SM_PACK_REPR_CHECK").unwrap());
        let vals = std::fs::read(dir.join("vals.f64")).unwrap();
        let reprs = std::fs::read_to_string(dir.join("reprs.txt")).unwrap();
        let mut n = 0;
        for (c, want) in vals.chunks_exact(8).zip(reprs.lines()) {
            let x = f64::from_le_bytes(c.try_into().unwrap());
            assert_eq!(python_float_repr(x), want, "{:016x}", x.to_bits());
            n += 1;
        }
        eprintln!("{n} values match Python's repr");
    }

    #[test]
    fn numbers_parse_like_python_float() {
        assert_eq!(parse_number(" 1.5 "), Some(1.5));
        assert!(parse_number("NaN").is_some_and(f32::is_nan));
        assert_eq!(parse_number("-inf"), Some(f32::NEG_INFINITY));
        assert_eq!(parse_number("1_000"), Some(1000.0));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        assert_eq!(parse_number("abc"), None);
        assert_eq!(parse_number("e5"), None);
        assert_eq!(parse_number(""), None);
        // Through f64, then f32 (double rounding like the container's numpy).
        assert_eq!(
            parse_number("0.1000000029802322443"),
            Some("0.1000000029802322443".parse::<f64>().unwrap() as f32)
        );
    }

    #[test]
    fn softmax_and_argmax() {
        let mut r = [1.0f32, 2.0, 3.0];
        softmax(&mut r);
        assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        // Like std::max_element, which xgboost's FindMaxIndex uses: nothing
        // compares greater than a leading NaN, so it stays the answer.
        assert_eq!(argmax(&[f32::NAN, 1.0]), 0);
        assert_eq!(argmax(&[1.0, f32::NAN, 2.0]), 2);
    }

    #[test]
    fn sigmoid_clamps_from_1_6() {
        assert_eq!(sigmoid(-100.0, false), 0.0);
        assert!(sigmoid(-100.0, true) > 0.0);
        assert!(sigmoid(f32::NAN, true).is_nan());
    }
}
