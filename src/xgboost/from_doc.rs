//! Builds the [`Model`] IR from a JSON or UBJSON document tree.
//!
//! Works on the document as XGBoost's `LoadModel`/`FromJson` functions do
//! (1.0 – 3.4 layouts), consuming it so that packed arrays move into the IR
//! without copies. Problems that stop the IR from being built are
//! [`Error::InvalidModel`] with the JSON path (JSON) or byte offset (UBJSON);
//! problems XGBoost would reject but that do not stop reading (an integer
//! in a float field, a wrongly typed UBJSON array) are findings.

use super::doc::{Node, Packed, PackedData, Value};
use super::ir::*;
use crate::error::{Error, Result};
use crate::report::{Finding, Location};
use std::collections::BTreeSet;
use std::fmt::{self, Display};

/// The path `parent.key`, written out only when needed (a finding or a
/// JSON location); `child` builds it at once.
struct Key<'a, P: ?Sized>(&'a P, &'a str);

/// The path `parent[i]`, written out only when needed.
struct Idx<'a, P: ?Sized>(&'a P, usize);

impl<P: Display + ?Sized> Display for Idx<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.0, self.1)
    }
}

impl<P: Display + ?Sized> Display for Key<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// Reading context.
pub(crate) struct Ctx<'f> {
    pub enc: Encoding,
    pub findings: &'f mut Vec<Finding>,
    pub dialect: DocDialect,
    pub spans: SourceMap,
    /// Offset of the document inside the input (payload offset).
    pub base: u64,
    unknown_seen: BTreeSet<String>,
    /// Unknown-key findings made here: (index in `findings`, `pattern.key`).
    unknown_pushed: Vec<(usize, String)>,
    typed_tree: Option<bool>,
    bool_repr: Option<BoolRepr>,
}

/// What building a run of trees noticed besides its findings
/// ([`Ctx::tree_facts`], merged by [`Ctx::absorb_tree_run`]).
struct TreeFacts {
    unknown_pushed: Vec<(usize, String)>,
    typed_tree: Option<bool>,
    bool_repr: Option<BoolRepr>,
    dialect: DocDialect,
}

/// The representation of `default_left` over two runs of arrays: the
/// common one, or mixed.
fn merge_bool_repr(a: Option<BoolRepr>, b: Option<BoolRepr>) -> Option<BoolRepr> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) if a == b => Some(a),
        _ => Some(BoolRepr::Mixed),
    }
}

fn child(p: &(impl Display + ?Sized), k: &str) -> String {
    format!("{p}.{k}")
}

fn index(p: &(impl Display + ?Sized), i: usize) -> String {
    format!("{p}[{i}]")
}

impl<'f> Ctx<'f> {
    pub(crate) fn new(enc: Encoding, base: u64, findings: &'f mut Vec<Finding>) -> Self {
        Ctx {
            enc,
            findings,
            dialect: DocDialect::default(),
            spans: SourceMap::default(),
            base,
            unknown_seen: BTreeSet::new(),
            unknown_pushed: Vec::new(),
            typed_tree: None,
            bool_repr: None,
        }
    }

    /// The facts a context used only for [`Ctx::tree`] gathered.
    fn tree_facts(self) -> TreeFacts {
        TreeFacts {
            unknown_pushed: self.unknown_pushed,
            typed_tree: self.typed_tree,
            bool_repr: self.bool_repr,
            dialect: self.dialect,
        }
    }

    /// Merges a run of trees built in another context, as if they had been
    /// built here: its findings in order (an unknown key reported only at
    /// its first occurrence overall), and the dialect facts
    /// [`Ctx::tree`] records (the only ones it touches).
    fn absorb_tree_run(&mut self, found: Vec<Finding>, facts: TreeFacts) {
        let mut unknown = facts.unknown_pushed.into_iter().peekable();
        for (i, f) in found.into_iter().enumerate() {
            if let Some((_, key)) = unknown.next_if(|(j, _)| *j == i) {
                if !self.unknown_seen.insert(key.clone()) {
                    continue;
                }
                self.unknown_pushed.push((self.findings.len(), key));
            }
            self.findings.push(f);
        }
        self.typed_tree = match (self.typed_tree, facts.typed_tree) {
            (None, x) | (x, None) => x,
            (Some(a), Some(b)) => Some(a || b),
        };
        self.bool_repr = merge_bool_repr(self.bool_repr, facts.bool_repr);
        let d = facts.dialect;
        self.dialect.leaf_child_counts |= d.leaf_child_counts;
        self.dialect.split_type |= d.split_type;
        self.dialect.categories_arrays |= d.categories_arrays;
        self.dialect.f64_values |= d.f64_values;
        self.dialect.integers_in_float_fields |= d.integers_in_float_fields;
    }

    fn span(&self, at: u64, path: &(impl Display + ?Sized)) -> Span {
        match self.enc {
            Encoding::Json => Span::Path(path.to_string()),
            _ => Span::Bytes {
                offset: self.base + at,
                stride: 0,
            },
        }
    }

    fn array_span(
        &self,
        node_at: u64,
        packed: Option<&Packed>,
        path: &(impl Display + ?Sized),
    ) -> Span {
        match (self.enc, packed) {
            (Encoding::Json, _) => Span::Path(path.to_string()),
            (_, Some(p)) if p.marker.is_some() => Span::Bytes {
                offset: self.base + p.data_at,
                stride: u64::from(p.stride),
            },
            _ => Span::Bytes {
                offset: self.base + node_at,
                stride: 0,
            },
        }
    }

    fn loc(&self, at: u64, path: &(impl Display + ?Sized)) -> Location {
        self.span(at, path).at(None)
    }

    fn fail(
        &self,
        code: &str,
        msg: impl Into<String>,
        at: u64,
        path: &(impl Display + ?Sized),
    ) -> Error {
        Error::InvalidModel {
            format: self.enc.format_name().to_string(),
            finding: Box::new(Finding::error(code, msg).at(self.loc(at, path))),
        }
    }

    fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }

    fn unknown_key(&mut self, pattern: &str, key: &str, at: u64, path: &(impl Display + ?Sized)) {
        let k = format!("{pattern}.{key}");
        if self.unknown_seen.insert(k.clone()) {
            self.unknown_pushed.push((self.findings.len(), k));
            let loc = self.loc(at, path);
            self.push(
                Finding::info(
                    "xgb.doc.unknown_key",
                    format!("unknown key {key:?} in {pattern} (ignored; written by a newer XGBoost or another tool?)"),
                )
                .at(loc),
            );
        }
    }

    // ----------------------------------------------------------------- accessors

    fn expect_object(&self, node: &Node, path: &(impl Display + ?Sized)) -> Result<()> {
        match node.value {
            Value::Object(_) => Ok(()),
            _ => Err(self.fail(
                "xgb.doc.type",
                format!("{path} must be an object, found {}", node.value.type_name()),
                node.at,
                path,
            )),
        }
    }

    fn take_req(&self, obj: &mut Node, key: &str, path: &(impl Display + ?Sized)) -> Result<Node> {
        self.expect_object(obj, path)?;
        obj.value.take(key).ok_or_else(|| {
            self.fail(
                "xgb.doc.missing_key",
                format!("required key {key:?} is missing from {path}"),
                obj.at,
                path,
            )
        })
    }

    fn take_opt(&self, obj: &mut Node, key: &str) -> Option<Node> {
        obj.value.take(key)
    }

    fn check_duplicates(&mut self, obj: &Node, path: &(impl Display + ?Sized)) {
        if let Value::Object(entries) = &obj.value
            && entries.len() > 1
            // XGBoost writes keys sorted; strictly increasing keys are distinct.
            && !entries.windows(2).all(|w| w[0].0 < w[1].0)
        {
            for (n, (k, v)) in entries.iter().enumerate() {
                if entries[..n].iter().any(|(k2, _)| k2 == k) {
                    let loc = self.loc(v.at, &child(path, k));
                    self.findings.push(
                        Finding::warning(
                            "xgb.doc.duplicate_key",
                            format!("key {k:?} appears more than once in {path}; XGBoost uses the last one"),
                        )
                        .at(loc),
                    );
                }
            }
        }
    }

    fn string(&self, node: Node, path: &(impl Display + ?Sized)) -> Result<String> {
        match node.value {
            Value::Str(s) => Ok(s),
            v => Err(self.fail(
                "xgb.doc.type",
                format!("{path} must be a string, found {}", v.type_name()),
                node.at,
                path,
            )),
        }
    }

    /// A parameter stored as a decimal string (XGBoost writes every
    /// parameter as a string; a bare number is accepted with a finding).
    fn int_param(&mut self, node: Node, path: &(impl Display + ?Sized)) -> Result<i64> {
        match node.value {
            Value::Str(ref s) => parse_int_text(s).ok_or_else(|| {
                self.fail(
                    "xgb.param.invalid",
                    format!("{path} = {s:?} is not an integer"),
                    node.at,
                    path,
                )
            }),
            Value::Int(i) => {
                let loc = self.loc(node.at, path);
                self.push(
                    Finding::error(
                        "xgb.doc.param_not_string",
                        format!("{path} is stored as a number; XGBoost requires parameter values to be strings and will not load this"),
                    )
                    .with_hint("write the value as a string, e.g. \"5\"")
                    .at(loc),
                );
                Ok(i)
            }
            ref v => Err(self.fail(
                "xgb.doc.type",
                format!(
                    "{path} must be a string holding an integer, found {}",
                    v.type_name()
                ),
                node.at,
                path,
            )),
        }
    }

    fn int_scalar(&self, node: &Node, path: &(impl Display + ?Sized)) -> Result<i64> {
        match node.value {
            Value::Int(i) => Ok(i),
            ref v => Err(self.fail(
                "xgb.doc.type",
                format!("{path} must be an integer, found {}", v.type_name()),
                node.at,
                path,
            )),
        }
    }

    fn strings(&self, node: Node, path: &(impl Display + ?Sized)) -> Result<Vec<String>> {
        match node.value {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, n)| self.string(n, &index(path, i)))
                .collect(),
            Value::Typed(ref p) if p.data.is_empty() => Ok(Vec::new()),
            ref v => Err(self.fail(
                "xgb.doc.type",
                format!(
                    "{path} must be an array of strings, found {}",
                    v.type_name()
                ),
                node.at,
                path,
            )),
        }
    }

    fn note_typed(&mut self, packed: Option<&Packed>, tree_field: bool) {
        if !tree_field {
            return;
        }
        let typed = packed.is_some_and(|p| p.marker.is_some());
        match self.typed_tree {
            None => self.typed_tree = Some(typed),
            Some(t) if t != typed => self.typed_tree = Some(t || typed),
            _ => {}
        }
    }

    /// Checks a UBJSON typed array's marker against what XGBoost's tree
    /// loader requires.
    fn check_marker(
        &mut self,
        packed: &Packed,
        expect: &[u8],
        at: u64,
        path: &(impl Display + ?Sized),
    ) {
        if let Some(m) = packed.marker
            && !expect.contains(&m)
        {
            let want: Vec<String> = expect
                .iter()
                .map(|c| format!("'${}'", *c as char))
                .collect();
            let loc = self.loc(at, path);
            self.push(
                Finding::error(
                    "xgb.ubj.typed_array_type",
                    format!(
                        "{path} is a typed array of '{}' but XGBoost requires {}",
                        m as char,
                        want.join(" or ")
                    ),
                )
                .at(loc),
            );
        }
    }

    fn ints(
        &mut self,
        node: Node,
        path: &(impl Display + ?Sized),
        expect: &[u8],
        tree_field: bool,
    ) -> Result<(Vec<i64>, Span)> {
        let at = node.at;
        match node.value {
            Value::Typed(p) => {
                self.note_typed(Some(&p), tree_field);
                self.check_marker(&p, expect, at, path);
                let span = self.array_span(at, Some(&p), path);
                let v = match p.data {
                    PackedData::I64(v) => v,
                    PackedData::I32(v) => v.into_iter().map(i64::from).collect(),
                    PackedData::I16(v) => v.into_iter().map(i64::from).collect(),
                    PackedData::I8(v) => v.into_iter().map(i64::from).collect(),
                    PackedData::U8(v) => v.into_iter().map(i64::from).collect(),
                    other => {
                        return Err(self.fail(
                            "xgb.doc.type",
                            format!("{path} must hold integers, found {}", other.type_name()),
                            at,
                            path,
                        ));
                    }
                };
                Ok((v, span))
            }
            Value::Array(items) => {
                self.note_typed(None, tree_field);
                let span = self.array_span(at, None, path);
                let mut out = Vec::with_capacity(items.len());
                for (i, n) in items.iter().enumerate() {
                    out.push(self.int_scalar(n, &index(path, i))?);
                }
                Ok((out, span))
            }
            v => Err(self.fail(
                "xgb.doc.type",
                format!(
                    "{path} must be an array of integers, found {}",
                    v.type_name()
                ),
                at,
                path,
            )),
        }
    }

    fn i32s(
        &mut self,
        node: Node,
        path: &(impl Display + ?Sized),
        expect: &[u8],
        tree_field: bool,
    ) -> Result<(Vec<i32>, Span)> {
        let at = node.at;
        if let Value::Typed(Packed {
            data: PackedData::I32(_),
            ..
        }) = &node.value
        {
            // Fast path: move the vector.
            if let Value::Typed(p) = node.value {
                self.note_typed(Some(&p), tree_field);
                self.check_marker(&p, expect, at, path);
                let span = self.array_span(at, Some(&p), path);
                if let PackedData::I32(v) = p.data {
                    return Ok((v, span));
                }
            }
            return Err(self.fail(
                "xgb.doc.type",
                format!("{path}: internal type error"),
                at,
                path,
            ));
        }
        let (v, span) = self.ints(node, path, expect, tree_field)?;
        let mut out = Vec::with_capacity(v.len());
        for (i, x) in v.into_iter().enumerate() {
            match i32::try_from(x) {
                Ok(x) => out.push(x),
                Err(_) => {
                    let loc = span.at(Some(i));
                    return Err(Error::InvalidModel {
                        format: self.enc.format_name().to_string(),
                        finding: Box::new(
                            Finding::error(
                                "xgb.doc.int_range",
                                format!("{}[{i}] = {x} does not fit in a 32-bit integer", path),
                            )
                            .at(loc),
                        ),
                    });
                }
            }
        }
        Ok((out, span))
    }

    fn f32s(
        &mut self,
        node: Node,
        path: &(impl Display + ?Sized),
        tree_field: bool,
    ) -> Result<(Vec<f32>, Span)> {
        let at = node.at;
        match node.value {
            Value::Typed(p) => {
                self.note_typed(Some(&p), tree_field);
                if tree_field {
                    self.check_marker(&p, b"d", at, path);
                }
                let span = self.array_span(at, Some(&p), path);
                let v = match p.data {
                    PackedData::F32(v) => v,
                    PackedData::F64(v) => {
                        self.dialect.f64_values = true;
                        v.into_iter().map(|x| x as f32).collect()
                    }
                    d if d.is_integer() => {
                        self.ints_in_floats(at, path);
                        (0..d.len())
                            .map(|i| d.int_at(i).unwrap_or(0) as f32)
                            .collect()
                    }
                    other => {
                        return Err(self.fail(
                            "xgb.doc.type",
                            format!("{path} must hold floats, found {}", other.type_name()),
                            at,
                            path,
                        ));
                    }
                };
                Ok((v, span))
            }
            Value::Array(items) => {
                self.note_typed(None, tree_field);
                let span = self.array_span(at, None, path);
                let mut out = Vec::with_capacity(items.len());
                let mut int_seen = false;
                for (i, n) in items.iter().enumerate() {
                    out.push(match n.value {
                        Value::Float(f) => f,
                        Value::Double(d) => {
                            self.dialect.f64_values = true;
                            d as f32
                        }
                        Value::Int(x) => {
                            int_seen = true;
                            x as f32
                        }
                        ref v => {
                            let p = index(path, i);
                            return Err(self.fail(
                                "xgb.doc.type",
                                format!("{p} must be a float, found {}", v.type_name()),
                                n.at,
                                &p,
                            ));
                        }
                    });
                }
                if int_seen {
                    self.ints_in_floats(at, path);
                }
                Ok((out, span))
            }
            v => Err(self.fail(
                "xgb.doc.type",
                format!("{path} must be an array of floats, found {}", v.type_name()),
                at,
                path,
            )),
        }
    }

    fn ints_in_floats(&mut self, at: u64, path: &(impl Display + ?Sized)) {
        self.dialect.integers_in_float_fields = true;
        let loc = self.loc(at, path);
        self.push(
            Finding::error(
                "xgb.doc.int_in_float_field",
                format!("{path} holds integers where XGBoost requires floats; XGBoost refuses to load this"),
            )
            .with_hint("write floats as floats (JSON 0E0 rather than 0; UBJSON 'd' rather than 'i')")
            .at(loc),
        );
    }

    fn bools(&mut self, node: Node, path: &(impl Display + ?Sized)) -> Result<(Vec<bool>, Span)> {
        let at = node.at;
        let (v, span, repr) = match node.value {
            Value::Typed(p) => {
                self.note_typed(Some(&p), true);
                self.check_marker(&p, b"U", at, path);
                let span = self.array_span(at, Some(&p), path);
                match p.data {
                    PackedData::Bool(v) => (v, span, Some(BoolRepr::Bool)),
                    PackedData::U8(v) => (
                        // Converted in place (same size and alignment).
                        v.into_iter().map(|x| x != 0).collect(),
                        span,
                        Some(BoolRepr::Int),
                    ),
                    d if d.is_integer() => (
                        (0..d.len())
                            .map(|i| d.int_at(i).unwrap_or(0) != 0)
                            .collect(),
                        span,
                        Some(BoolRepr::Int),
                    ),
                    other => {
                        return Err(self.fail(
                            "xgb.doc.type",
                            format!(
                                "{path} must hold booleans or 0/1 integers, found {}",
                                other.type_name()
                            ),
                            at,
                            path,
                        ));
                    }
                }
            }
            Value::Array(items) => {
                self.note_typed(None, true);
                let span = self.array_span(at, None, path);
                let mut out = Vec::with_capacity(items.len());
                let (mut b, mut i_) = (false, false);
                for (i, n) in items.iter().enumerate() {
                    out.push(match n.value {
                        Value::Bool(x) => {
                            b = true;
                            x
                        }
                        Value::Int(x) => {
                            i_ = true;
                            x != 0
                        }
                        ref v => {
                            let p = index(path, i);
                            return Err(self.fail(
                                "xgb.doc.type",
                                format!("{p} must be a boolean or 0/1, found {}", v.type_name()),
                                n.at,
                                &p,
                            ));
                        }
                    });
                }
                let repr = match (b, i_) {
                    (true, true) => Some(BoolRepr::Mixed),
                    (true, false) => Some(BoolRepr::Bool),
                    (false, true) => Some(BoolRepr::Int),
                    _ => None,
                };
                (out, span, repr)
            }
            v => {
                return Err(self.fail(
                    "xgb.doc.type",
                    format!("{path} must be an array, found {}", v.type_name()),
                    at,
                    path,
                ));
            }
        };
        if let Some(r) = repr {
            self.bool_repr = Some(match self.bool_repr {
                None => r,
                Some(prev) if prev == r => r,
                _ => BoolRepr::Mixed,
            });
        }
        Ok((v, span))
    }

    fn u8s(&mut self, node: Node, path: &(impl Display + ?Sized)) -> Result<(Vec<u8>, Span)> {
        if let Value::Typed(Packed {
            data: PackedData::U8(_),
            ..
        }) = &node.value
            && let Value::Typed(p) = node.value
        {
            self.note_typed(Some(&p), true);
            let span = self.array_span(node.at, Some(&p), path);
            if let PackedData::U8(v) = p.data {
                return Ok((v, span));
            }
            return Err(self.fail(
                "xgb.doc.type",
                format!("{path}: internal type error"),
                node.at,
                path,
            ));
        }
        let (v, span) = self.ints(node, path, b"U", true)?;
        let mut out = Vec::with_capacity(v.len());
        for (i, x) in v.into_iter().enumerate() {
            match u8::try_from(x) {
                Ok(x) => out.push(x),
                Err(_) => {
                    return Err(Error::InvalidModel {
                        format: self.enc.format_name().to_string(),
                        finding: Box::new(
                            Finding::error(
                                "xgb.doc.int_range",
                                format!("{path}[{i}] = {x} is not a valid split type (0 or 1)"),
                            )
                            .at(span.at(Some(i))),
                        ),
                    });
                }
            }
        }
        Ok((out, span))
    }
}

fn parse_int_text(s: &str) -> Option<i64> {
    let t = s.trim();
    t.parse::<i64>().ok().or_else(|| {
        // dmlc parameters also accept e.g. "5.0" for ints? No: be strict but allow "+5".
        t.strip_prefix('+').and_then(|r| r.parse::<i64>().ok())
    })
}

/// Parses a `base_score` string: a float (`"0.500000"`, `"5E-1"`) or a
/// 3.1+ vector (`"[4.4666666E-1]"`).
pub(crate) fn parse_base_score(s: &str) -> Option<(Vec<f32>, bool)> {
    let t = s.trim();
    if t.starts_with('[') {
        let (node, facts) = super::json::parse(t.as_bytes()).ok()?;
        if facts.end as usize != t.len() {
            return None;
        }
        let vals = match node.value {
            Value::Typed(p) => match p.data {
                PackedData::F32(v) => v,
                d if d.is_integer() => (0..d.len())
                    .map(|i| d.int_at(i).unwrap_or(0) as f32)
                    .collect(),
                _ => return None,
            },
            Value::Array(a) if a.is_empty() => Vec::new(),
            Value::Array(a) => a
                .iter()
                .map(|n| match n.value {
                    Value::Float(f) => Some(f),
                    Value::Int(i) => Some(i as f32),
                    _ => None,
                })
                .collect::<Option<Vec<f32>>>()?,
            _ => return None,
        };
        Some((vals, true))
    } else {
        t.parse::<f32>().ok().map(|v| (vec![v], false))
    }
}

/// The parts of a model a document yields.
pub(crate) struct DocModel {
    pub model: Model,
    /// The document was a `{"Config":…,"Model":…}` snapshot.
    pub snapshot: bool,
}

const LEARNER_KEYS: &[&str] = &[
    "attributes",
    "feature_names",
    "feature_types",
    "gradient_booster",
    "learner_model_param",
    "objective",
];
const LMP_KEYS: &[&str] = &[
    "base_score",
    "num_feature",
    "num_class",
    "num_target",
    "boost_from_average",
];
const GBTREE_MODEL_KEYS: &[&str] = &[
    "gbtree_model_param",
    "trees",
    "tree_info",
    "iteration_indptr",
    "cats",
    "weight_drop",
];
const TREE_KEYS: &[&str] = &[
    "tree_param",
    "id",
    "left_children",
    "right_children",
    "parents",
    "split_indices",
    "split_conditions",
    "split_type",
    "default_left",
    "loss_changes",
    "sum_hessian",
    "base_weights",
    "leaf_child_counts",
    "categories_nodes",
    "categories_segments",
    "categories_sizes",
    "categories",
    "leaf_weights",
];

impl Ctx<'_> {
    fn report_unknown(
        &mut self,
        node: &Node,
        known: &[&str],
        pattern: &str,
        path: &(impl Display + ?Sized),
    ) {
        let Value::Object(entries) = &node.value else {
            return;
        };
        let unknown: Vec<(String, u64)> = entries
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_ref()))
            .map(|(k, v)| (k.to_string(), v.at))
            .collect();
        for (k, at) in unknown {
            self.unknown_key(pattern, &k, at, &child(path, &k));
        }
    }

    /// Converts a whole document (model or snapshot).
    pub(crate) fn model(mut self, mut root: Node) -> Result<(DocModel, DocDialect, SourceMap)> {
        self.expect_object(&root, "$")?;
        let mut snapshot = false;
        let mut path = String::from("$");
        let mut config_npt = None;
        if root.value.get("Model").is_some() && root.value.get("learner").is_none() {
            snapshot = true;
            config_npt = root.value.get("Config").and_then(config_num_parallel_tree);
            root = self.take_req(&mut root, "Model", "$")?;
            path = "$.Model".into();
            self.expect_object(&root, &path)?;
        }
        self.check_duplicates(&root, &path);
        if let Some(v) = self.take_opt(&mut root, "version") {
            let vp = child(&path, "version");
            let (nums, _) = self.ints(v, &vp, b"iIlL", false)?;
            self.dialect.version = Some(nums);
        }
        let lp = child(&path, "learner");
        let mut learner = self.take_req(&mut root, "learner", &path)?;
        self.expect_object(&learner, &lp)?;
        self.check_duplicates(&learner, &lp);
        self.report_unknown(&learner, LEARNER_KEYS, "learner", &lp);

        // learner_model_param
        let lmpp = child(&lp, "learner_model_param");
        let mut lmp = self.take_req(&mut learner, "learner_model_param", &lp)?;
        self.expect_object(&lmp, &lmpp)?;
        self.check_duplicates(&lmp, &lmpp);
        self.report_unknown(&lmp, LMP_KEYS, "learner_model_param", &lmpp);
        let bsp = child(&lmpp, "base_score");
        let base_score = match self.take_opt(&mut lmp, "base_score") {
            Some(n) => {
                let at = n.at;
                self.spans.set("base_score", self.span(at, &bsp));
                let s = match n.value {
                    Value::Str(s) => s,
                    Value::Float(f) => {
                        let loc = self.loc(at, &bsp);
                        self.push(
                            Finding::error(
                                "xgb.doc.param_not_string",
                                format!("{bsp} is stored as a number; XGBoost requires a string"),
                            )
                            .at(loc),
                        );
                        format!("{f:?}")
                    }
                    v => {
                        return Err(self.fail(
                            "xgb.doc.type",
                            format!("{bsp} must be a string, found {}", v.type_name()),
                            at,
                            &bsp,
                        ));
                    }
                };
                match parse_base_score(&s) {
                    Some((values, vector)) => {
                        self.dialect.base_score_vector = vector;
                        BaseScore {
                            stored: s,
                            values,
                            vector,
                            space: ScoreSpace::Response,
                        }
                    }
                    None => {
                        let loc = self.loc(at, &bsp);
                        self.push(
                            Finding::error(
                                "xgb.base_score.invalid",
                                format!(
                                    "base_score {s:?} is neither a number nor a vector of numbers"
                                ),
                            )
                            .at(loc),
                        );
                        let vector = s.trim_start().starts_with('[');
                        BaseScore {
                            stored: s,
                            values: Vec::new(),
                            vector,
                            space: ScoreSpace::Response,
                        }
                    }
                }
            }
            None => {
                let loc = self.loc(lmp.at, &lmpp);
                self.push(
                    Finding::warning(
                        "xgb.base_score.missing",
                        "learner_model_param has no base_score; XGBoost uses 0.5",
                    )
                    .at(loc),
                );
                BaseScore {
                    stored: String::new(),
                    values: vec![0.5],
                    vector: false,
                    space: ScoreSpace::Response,
                }
            }
        };
        let nfp = child(&lmpp, "num_feature");
        let nf_node = self.take_req(&mut lmp, "num_feature", &lmpp)?;
        self.spans.set("num_feature", self.span(nf_node.at, &nfp));
        let nf_at = nf_node.at;
        let num_feature = self.int_param(nf_node, &nfp)?;
        let num_feature = u64::try_from(num_feature).map_err(|_| {
            self.fail(
                "xgb.param.invalid",
                format!("num_feature {num_feature} is negative"),
                nf_at,
                &nfp,
            )
        })?;
        let ncp = child(&lmpp, "num_class");
        let num_class = match self.take_opt(&mut lmp, "num_class") {
            Some(n) => {
                self.spans.set("num_class", self.span(n.at, &ncp));
                self.int_param(n, &ncp)?
            }
            None => 0,
        };
        let ntp = child(&lmpp, "num_target");
        let num_target = match self.take_opt(&mut lmp, "num_target") {
            Some(n) => {
                self.dialect.num_target_param = true;
                self.spans.set("num_target", self.span(n.at, &ntp));
                self.int_param(n, &ntp)?
            }
            None => 1,
        };
        let bfap = child(&lmpp, "boost_from_average");
        let boost_from_average = match self.take_opt(&mut lmp, "boost_from_average") {
            Some(n) => {
                self.dialect.boost_from_average_param = true;
                Some(self.int_param(n, &bfap)? != 0)
            }
            None => None,
        };

        // objective
        let op = child(&lp, "objective");
        let obj_node = self.take_req(&mut learner, "objective", &lp)?;
        self.expect_object(&obj_node, &op)?;
        self.spans.set("objective", self.span(obj_node.at, &op));
        let config = obj_node.value.to_json();
        let name = match obj_node.value.get("name") {
            Some(n) => self.string(n.clone(), &child(&op, "name"))?,
            None => {
                return Err(self.fail(
                    "xgb.doc.missing_key",
                    format!("required key \"name\" is missing from {op}"),
                    obj_node.at,
                    &op,
                ));
            }
        };

        // attributes, feature names/types
        let ap = child(&lp, "attributes");
        let mut attributes = Vec::new();
        if let Some(a) = self.take_opt(&mut learner, "attributes") {
            self.expect_object(&a, &ap)?;
            self.spans.set("attributes", self.span(a.at, &ap));
            self.check_duplicates(&a, &ap);
            if let Value::Object(entries) = a.value {
                for (k, v) in entries {
                    let kp = child(&ap, &k);
                    let s = self.string(v, &kp)?;
                    attributes.push((k.into_owned(), s));
                }
            }
        }
        let fnp = child(&lp, "feature_names");
        let feature_names = match self.take_opt(&mut learner, "feature_names") {
            Some(n) => {
                self.dialect.feature_names_key = true;
                self.spans.set("feature_names", self.span(n.at, &fnp));
                self.strings(n, &fnp)?
            }
            None => Vec::new(),
        };
        let ftp = child(&lp, "feature_types");
        let feature_types = match self.take_opt(&mut learner, "feature_types") {
            Some(n) => {
                self.spans.set("feature_types", self.span(n.at, &ftp));
                self.strings(n, &ftp)?
            }
            None => Vec::new(),
        };

        // booster
        let gbp = child(&lp, "gradient_booster");
        let gb = self.take_req(&mut learner, "gradient_booster", &lp)?;
        let mut booster = self.booster(gb, &gbp)?;
        if let Booster::Trees(t) = &mut booster {
            t.config_num_parallel_tree = config_npt;
        }

        // The dialect facts first: the version range of a document without
        // a "version" field depends on them (default_left bool ⇒ ≤ 1.5).
        self.dialect.default_left = self.bool_repr;
        self.dialect.typed_tree_arrays = self.typed_tree.unwrap_or(false);
        let version = version_from_doc(&self.dialect, self.enc);
        let model = Model {
            source: Source {
                encoding: self.enc,
                snapshot: None,
                pickle: None,
                binary: None,
                dialect: None,
                input_len: 0,
                payload_offset: self.base,
            },
            version,
            learner: LearnerParams {
                base_score,
                num_feature,
                num_class,
                num_target,
                boost_from_average,
            },
            objective: Objective { name, config },
            booster,
            feature_names,
            feature_types,
            attributes,
            spans: SourceMap::default(),
        };
        Ok((DocModel { model, snapshot }, self.dialect, self.spans))
    }

    fn booster(&mut self, mut gb: Node, gbp: &str) -> Result<Booster> {
        self.expect_object(&gb, gbp)?;
        self.check_duplicates(&gb, gbp);
        let np = child(gbp, "name");
        let name_node = self.take_req(&mut gb, "name", gbp)?;
        let name_at = name_node.at;
        let name = self.string(name_node, &np)?;
        self.dialect.booster_name = name.clone();
        match name.as_str() {
            "gbtree" => {
                let mp = child(gbp, "model");
                let model = self.take_req(&mut gb, "model", gbp)?;
                self.report_unknown(&gb, &["model"], "gradient_booster", gbp);
                let mut t = self.gbtree_model(model, &mp)?;
                if t.weight_drop.is_some() {
                    self.dialect.weight_drop_in_gbtree = true;
                    t.dart = true;
                }
                Ok(Booster::Trees(t))
            }
            "dart" => {
                let ip = child(gbp, "gbtree");
                let mut inner = self.take_req(&mut gb, "gbtree", gbp)?;
                self.expect_object(&inner, &ip)?;
                let mp = child(&ip, "model");
                let model = self.take_req(&mut inner, "model", &ip)?;
                let mut t = self.gbtree_model(model, &mp)?;
                let wp = child(gbp, "weight_drop");
                let w = self.take_req(&mut gb, "weight_drop", gbp)?;
                let (weights, span) = self.f32s(w, &wp, false)?;
                self.spans.set("weight_drop", span);
                if t.weight_drop.is_some() {
                    let loc = self.loc(gb.at, gbp);
                    self.push(
                        Finding::warning(
                            "xgb.dart.weight_drop_twice",
                            "weight_drop is stored both in the dart booster and in its gbtree model; the dart one is used",
                        )
                        .at(loc),
                    );
                }
                t.weight_drop = Some(weights);
                t.dart = true;
                self.report_unknown(&gb, &["gbtree", "weight_drop"], "gradient_booster", gbp);
                Ok(Booster::Trees(t))
            }
            "gblinear" => {
                let mp = child(gbp, "model");
                let mut model = self.take_req(&mut gb, "model", gbp)?;
                self.expect_object(&model, &mp)?;
                let wp = child(&mp, "weights");
                let w = self.take_req(&mut model, "weights", &mp)?;
                let (weights, span) = self.f32s(w, &wp, false)?;
                self.spans.set("weights", span);
                let boosted_rounds = match self.take_opt(&mut model, "boosted_rounds") {
                    Some(n) => {
                        self.dialect.boosted_rounds = true;
                        Some(self.int_scalar(&n, &child(&mp, "boosted_rounds"))?)
                    }
                    None => None,
                };
                self.report_unknown(&model, &[], "gblinear model", &mp);
                Ok(Booster::Linear(LinearModel {
                    weights,
                    boosted_rounds,
                    num_feature_field: None,
                    num_output_group_field: None,
                }))
            }
            other => Err(self.fail(
                "xgb.booster.unknown",
                format!("unknown booster {other:?} (expected gbtree, dart or gblinear)"),
                name_at,
                &np,
            )),
        }
    }

    fn gbtree_model(&mut self, mut model: Node, mp: &str) -> Result<TreeModel> {
        self.expect_object(&model, mp)?;
        self.check_duplicates(&model, mp);
        self.report_unknown(&model, GBTREE_MODEL_KEYS, "gbtree model", mp);
        let pp = child(mp, "gbtree_model_param");
        let mut param = self.take_req(&mut model, "gbtree_model_param", mp)?;
        self.expect_object(&param, &pp)?;
        let ntp = child(&pp, "num_trees");
        let nt = self.take_req(&mut param, "num_trees", &pp)?;
        self.spans.set("num_trees", self.span(nt.at, &ntp));
        let num_trees_declared = self.int_param(nt, &ntp)?;
        let num_parallel_tree = match self.take_opt(&mut param, "num_parallel_tree") {
            Some(n) => {
                self.dialect.num_parallel_tree_param = true;
                Some(self.int_param(n, &child(&pp, "num_parallel_tree"))?)
            }
            None => None,
        };
        let size_leaf_vector = match self.take_opt(&mut param, "size_leaf_vector") {
            Some(n) => {
                self.dialect.size_leaf_vector_param = true;
                Some(self.int_param(n, &child(&pp, "size_leaf_vector"))?)
            }
            None => None,
        };
        self.report_unknown(&param, &[], "gbtree_model_param", &pp);

        let tp = child(mp, "trees");
        let trees_node = self.take_req(&mut model, "trees", mp)?;
        self.spans.set("trees", self.span(trees_node.at, &tp));
        let tree_nodes = match trees_node.value {
            Value::Array(items) => items,
            Value::Typed(p) if p.data.is_empty() => Vec::new(),
            v => {
                return Err(self.fail(
                    "xgb.doc.type",
                    format!(
                        "{tp} must be an array of tree objects, found {}",
                        v.type_name()
                    ),
                    trees_node.at,
                    &tp,
                ));
            }
        };
        // Trees are built independently, in runs on several threads for a
        // large model (each with its own context); the runs are merged in
        // tree order, so findings, facts and the first error are those of
        // one pass over the trees.
        let n_trees = tree_nodes.len();
        let (enc, base, tp_ref) = (self.enc, self.base, &tp);
        let runs = super::par_runs(tree_nodes, |first, run: Vec<Node>| {
            let mut found = Vec::new();
            let mut w = Ctx::new(enc, base, &mut found);
            let mut built = Vec::with_capacity(run.len());
            for (j, tn) in run.into_iter().enumerate() {
                built.push(w.tree(tn, &Idx(tp_ref, first + j))?);
            }
            let facts = w.tree_facts();
            Ok::<_, Error>((built, facts, found))
        });
        let mut trees = Vec::with_capacity(n_trees);
        let mut vector_layout: Option<MultiTargetLayout> = None;
        for run in runs {
            let (built, facts, found) = run?;
            self.absorb_tree_run(found, facts);
            for (tree, spans) in built {
                if tree.is_vector_leaf() {
                    vector_layout = Some(if tree.leaf_weights.is_some() {
                        MultiTargetLayout::LeafWeights
                    } else {
                        MultiTargetLayout::PerNodeBaseWeights
                    });
                }
                trees.push(tree);
                self.spans.trees.push(spans);
            }
        }
        self.dialect.multi_target_layout = vector_layout;

        let tip = child(mp, "tree_info");
        let tree_info = match self.take_opt(&mut model, "tree_info") {
            Some(n) => {
                let (v, span) = self.i32s(n, &tip, b"l", false)?;
                self.spans.set("tree_info", span);
                v
            }
            None => {
                return Err(self.fail(
                    "xgb.doc.missing_key",
                    format!("required key \"tree_info\" is missing from {mp}"),
                    model.at,
                    mp,
                ));
            }
        };
        let iteration_indptr = match self.take_opt(&mut model, "iteration_indptr") {
            Some(n) => {
                self.dialect.iteration_indptr = true;
                let ip = child(mp, "iteration_indptr");
                let (v, span) = self.ints(n, &ip, b"lL", false)?;
                self.spans.set("iteration_indptr", span);
                Some(v)
            }
            None => None,
        };
        let cats = self.take_opt(&mut model, "cats");
        if cats.is_some() {
            self.dialect.cats = true;
        }
        let weight_drop = match self.take_opt(&mut model, "weight_drop") {
            Some(n) => {
                let wp = child(mp, "weight_drop");
                let (v, span) = self.f32s(n, &wp, false)?;
                self.spans.set("weight_drop", span);
                Some(v)
            }
            None => None,
        };
        Ok(TreeModel {
            dart: false,
            num_trees_declared,
            num_parallel_tree,
            size_leaf_vector,
            num_output_group_field: None,
            num_feature_field: None,
            trees,
            tree_info,
            iteration_indptr,
            weight_drop,
            config_num_parallel_tree: None,
            cats,
        })
    }

    fn tree(&mut self, mut t: Node, p: &(impl Display + ?Sized)) -> Result<(Tree, TreeSpans)> {
        self.expect_object(&t, p)?;
        self.check_duplicates(&t, p);
        self.report_unknown(&t, TREE_KEYS, "tree", p);
        let json = self.enc == Encoding::Json;
        let mut spans = TreeSpans {
            tree: Some(self.span(t.at, p)),
            // One span per array field (JSON derives them from the path).
            fields: Vec::with_capacity(if json { 0 } else { TREE_KEYS.len() }),
        };
        let tpp = Key(p, "tree_param");
        let mut tp = self.take_req(&mut t, "tree_param", p)?;
        self.expect_object(&tp, &tpp)?;
        let mut tparam = |ctx: &mut Self, key: &str, default: Option<i64>| -> Result<i64> {
            match ctx.take_opt(&mut tp, key) {
                Some(n) => ctx.int_param(n, &Key(&tpp, key)),
                None => match default {
                    Some(d) => Ok(d),
                    None => Err(ctx.fail(
                        "xgb.doc.missing_key",
                        format!("required key {key:?} is missing from {tpp}"),
                        tp.at,
                        &tpp,
                    )),
                },
            }
        };
        let num_nodes = tparam(self, "num_nodes", None)?;
        let num_deleted = tparam(self, "num_deleted", Some(0))?;
        let num_feature = tparam(self, "num_feature", Some(0))?;
        let size_leaf_vector = tparam(self, "size_leaf_vector", Some(0))?;
        let param = TreeParam {
            num_nodes,
            num_deleted,
            num_feature,
            size_leaf_vector,
            num_roots: None,
            max_depth_field: None,
        };
        let id = match self.take_opt(&mut t, "id") {
            Some(n) => Some(self.int_scalar(&n, &Key(p, "id"))?),
            None => None,
        };

        macro_rules! field {
            ($key:literal) => {
                self.take_req(&mut t, $key, p)?
            };
        }
        macro_rules! keep {
            ($key:literal, $span:expr) => {
                if !json {
                    spans.fields.push(($key, $span));
                }
            };
        }
        let (left_children, s) = self.i32s(
            field!("left_children"),
            &Key(p, "left_children"),
            b"l",
            true,
        )?;
        keep!("left_children", s);
        let (right_children, s) = self.i32s(
            field!("right_children"),
            &Key(p, "right_children"),
            b"l",
            true,
        )?;
        keep!("right_children", s);
        let (parents, s) = self.i32s(field!("parents"), &Key(p, "parents"), b"l", true)?;
        keep!("parents", s);
        let (split_indices, s) = self.i32s(
            field!("split_indices"),
            &Key(p, "split_indices"),
            b"lL",
            true,
        )?;
        keep!("split_indices", s);
        let (split_conditions, s) = self.f32s(
            field!("split_conditions"),
            &Key(p, "split_conditions"),
            true,
        )?;
        keep!("split_conditions", s);
        let (default_left, s) = self.bools(field!("default_left"), &Key(p, "default_left"))?;
        keep!("default_left", s);

        let vector = size_leaf_vector > 1;
        let mut opt_f32 = |ctx: &mut Self, key: &'static str, required: bool| -> Result<Vec<f32>> {
            match ctx.take_opt(&mut t, key) {
                Some(n) => {
                    let (v, s) = ctx.f32s(n, &Key(p, key), true)?;
                    if !json {
                        spans.fields.push((key, s));
                    }
                    Ok(v)
                }
                None if required => Err(ctx.fail(
                    "xgb.doc.missing_key",
                    format!("required key {key:?} is missing from {p}"),
                    t.at,
                    p,
                )),
                None => Ok(Vec::new()),
            }
        };
        let base_weights = opt_f32(self, "base_weights", true)?;
        // Multi-target trees of 2.0–3.1 store no gain/cover.
        let loss_changes = opt_f32(self, "loss_changes", !vector)?;
        let sum_hessian = opt_f32(self, "sum_hessian", !vector)?;
        let leaf_weights = match self.take_opt(&mut t, "leaf_weights") {
            Some(n) => {
                let (v, s) = self.f32s(n, &Key(p, "leaf_weights"), true)?;
                keep!("leaf_weights", s);
                Some(v)
            }
            None => None,
        };
        let leaf_child_counts = match self.take_opt(&mut t, "leaf_child_counts") {
            Some(n) => {
                self.dialect.leaf_child_counts = true;
                let (v, s) = self.i32s(n, &Key(p, "leaf_child_counts"), b"l", true)?;
                keep!("leaf_child_counts", s);
                Some(v)
            }
            None => None,
        };
        let split_type = match self.take_opt(&mut t, "split_type") {
            Some(n) => {
                self.dialect.split_type = true;
                let (v, s) = self.u8s(n, &Key(p, "split_type"))?;
                keep!("split_type", s);
                Some(v)
            }
            None => None,
        };
        let cn = self.take_opt(&mut t, "categories_nodes");
        let cs = self.take_opt(&mut t, "categories_segments");
        let cz = self.take_opt(&mut t, "categories_sizes");
        let cv = self.take_opt(&mut t, "categories");
        let categories = match (cn, cs, cz, cv) {
            (None, None, None, None) => None,
            (Some(cn), Some(cs), Some(cz), Some(cv)) => {
                self.dialect.categories_arrays = true;
                let (nodes, s1) = self.i32s(cn, &Key(p, "categories_nodes"), b"l", true)?;
                let (segments, s2) = self.ints(cs, &Key(p, "categories_segments"), b"L", true)?;
                let (sizes, s3) = self.ints(cz, &Key(p, "categories_sizes"), b"L", true)?;
                let (values, s4) = self.i32s(cv, &Key(p, "categories"), b"l", true)?;
                keep!("categories_nodes", s1);
                keep!("categories_segments", s2);
                keep!("categories_sizes", s3);
                keep!("categories", s4);
                Some(CategorySets {
                    nodes,
                    segments,
                    sizes,
                    values,
                })
            }
            _ => {
                return Err(self.fail(
                    "xgb.tree.categories_incomplete",
                    format!(
                        "{p} has only some of categories_nodes, categories_segments, categories_sizes, categories; XGBoost needs all four"
                    ),
                    t.at,
                    p,
                ));
            }
        };
        Ok((
            Tree {
                id,
                param,
                left_children,
                right_children,
                parents,
                split_indices,
                split_conditions,
                default_left,
                split_type,
                categories,
                base_weights,
                loss_changes,
                sum_hessian,
                leaf_child_counts,
                leaf_weights,
            },
            spans,
        ))
    }
}

/// The version (exact or range) a JSON/UBJSON document implies.
fn version_from_doc(d: &DocDialect, enc: Encoding) -> ProducerVersion {
    if let Some(v) = &d.version
        && v.len() >= 2
        && v.iter().all(|&x| (0..=1000).contains(&x))
    {
        let ver = Version {
            major: v[0] as u32,
            minor: v[1] as u32,
            patch: v.get(2).map(|&p| p as u32),
        };
        return ProducerVersion {
            exact: Some(ver),
            min: Version::mm(ver.major, ver.minor),
            max: Some(Version::mm(ver.major, ver.minor)),
            basis: "the document's \"version\" field".into(),
        };
    }
    // No version recorded: infer from the dialect.
    let (min, basis) = if d.base_score_vector {
        (Version::mm(3, 1), "vector base_score")
    } else if enc == Encoding::Ubjson {
        (Version::mm(1, 6), "UBJSON encoding")
    } else if d.default_left == Some(BoolRepr::Int) {
        (Version::mm(1, 6), "integer default_left")
    } else {
        (Version::mm(1, 0), "JSON encoding")
    };
    let (max, upper) = if d.leaf_child_counts {
        (Some(Version::mm(1, 2)), " and leaf_child_counts")
    } else if d.default_left == Some(BoolRepr::Bool) {
        (Some(Version::mm(1, 5)), " and boolean default_left")
    } else {
        (None, "")
    };
    ProducerVersion {
        exact: None,
        min,
        max,
        basis: format!("no \"version\" field; inferred from the {basis}{upper}"),
    }
}

/// `num_parallel_tree` from a snapshot's `Config`
/// (`learner.gradient_booster[.gbtree].gbtree_train_param.num_parallel_tree`).
pub(crate) fn config_num_parallel_tree(config: &Node) -> Option<i64> {
    let gb = config.value.get("learner")?.value.get("gradient_booster")?;
    let gb = match gb.value.get("gbtree") {
        Some(inner) => inner,
        None => gb,
    };
    let v = gb
        .value
        .get("gbtree_train_param")?
        .value
        .get("num_parallel_tree")?;
    match &v.value {
        Value::Str(s) => parse_int_text(s),
        Value::Int(i) => Some(*i),
        _ => None,
    }
}
