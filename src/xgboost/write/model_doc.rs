//! The JSON/UBJSON model document of a [`Model`], key by key as each
//! XGBoost version's `SaveModel` writes it.

use super::emit::{W, param_f32};
use super::{Dialect, unrepresentable};
use crate::error::Result;
use crate::xgboost::doc::{Node, PackedData, Value};
use crate::xgboost::ir::{Booster, LinearModel, Model, Tree, TreeModel};
use std::borrow::Cow;

/// The whole model document.
pub(super) fn document<'a>(m: &'a Model, d: &Dialect) -> Result<W<'a>> {
    let mut learner: Vec<(&str, W<'a>)> = Vec::new();
    learner.push((
        "attributes",
        W::Obj(
            m.attributes
                .iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), W::s(v)))
                .collect(),
        ),
    ));
    if d.at_least(1, 4) {
        learner.push((
            "feature_names",
            W::Arr(m.feature_names.iter().map(|s| W::s(s)).collect()),
        ));
        learner.push((
            "feature_types",
            W::Arr(m.feature_types.iter().map(|s| W::s(s)).collect()),
        ));
    }
    learner.push(("gradient_booster", booster(m, d)?));
    learner.push(("learner_model_param", learner_param(m, d)?));
    learner.push(("objective", json_value(&m.objective.config)));
    let patch = i64::from(d.version.patch.unwrap_or(0));
    Ok(W::obj(vec![
        ("learner", W::obj(learner)),
        (
            "version",
            W::IntArr(Cow::Owned(vec![
                i64::from(d.version.major),
                i64::from(d.version.minor),
                patch,
            ])),
        ),
    ]))
}

fn learner_param<'a>(m: &'a Model, d: &Dialect) -> Result<W<'a>> {
    let l = &m.learner;
    let bs = &l.base_score;
    let base = if d.at_least(3, 1) {
        let mut s = String::from("[");
        for (i, v) in bs.values.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&param_f32(*v));
        }
        s.push(']');
        s
    } else {
        match bs.values.as_slice() {
            [v] if !bs.vector => param_f32(*v),
            _ => {
                return Err(unrepresentable(
                    d,
                    format!("a vector base_score {:?}", bs.stored),
                ));
            }
        }
    };
    let mut p: Vec<(&str, W<'a>)> = vec![
        ("base_score", W::string(base)),
        ("num_class", W::string(l.num_class.to_string())),
        ("num_feature", W::string(l.num_feature.to_string())),
    ];
    if d.at_least(1, 6) {
        p.push(("num_target", W::string(l.num_target.to_string())));
    } else if l.num_target > 1 {
        return Err(unrepresentable(
            d,
            format!("a model with {} targets", l.num_target),
        ));
    }
    if d.at_least(1, 7) {
        let bfa = l.boost_from_average.unwrap_or(true);
        p.push(("boost_from_average", W::s(if bfa { "1" } else { "0" })));
    }
    Ok(W::obj(p))
}

/// A `serde_json::Value` (the objective configuration) as a document value.
fn json_value(v: &serde_json::Value) -> W<'_> {
    match v {
        serde_json::Value::Null => W::Str(Cow::Borrowed("")),
        serde_json::Value::Bool(b) => W::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => W::Int(i),
            None => W::Float(n.as_f64().unwrap_or(0.0) as f32),
        },
        serde_json::Value::String(s) => W::s(s),
        serde_json::Value::Array(a) => W::Arr(a.iter().map(json_value).collect()),
        serde_json::Value::Object(o) => W::Obj(
            o.iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), json_value(v)))
                .collect(),
        ),
    }
}

fn booster<'a>(m: &'a Model, d: &Dialect) -> Result<W<'a>> {
    match &m.booster {
        Booster::Linear(l) => Ok(W::obj(vec![
            ("model", linear(l, d)),
            ("name", W::s("gblinear")),
        ])),
        Booster::Trees(t) => {
            let inner = W::obj(vec![("model", gbtree(t, d)?), ("name", W::s("gbtree"))]);
            if !t.dart {
                return Ok(inner);
            }
            let weights = t.weight_drop.as_deref().unwrap_or(&[]);
            if weights.len() != t.trees.len() {
                return Err(unrepresentable(
                    d,
                    format!(
                        "a DART model with {} weights for {} trees",
                        weights.len(),
                        t.trees.len()
                    ),
                ));
            }
            // The dart layout every version up to 3.3 reads (3.4 still reads it).
            Ok(W::obj(vec![
                ("gbtree", inner),
                ("name", W::s("dart")),
                ("weight_drop", W::FloatArr(Cow::Borrowed(weights))),
            ]))
        }
    }
}

fn linear<'a>(l: &'a LinearModel, d: &Dialect) -> W<'a> {
    let mut p = vec![("weights", W::F32s(Cow::Borrowed(&l.weights)))];
    if d.at_least(1, 6)
        && let Some(r) = l.boosted_rounds
    {
        p.push(("boosted_rounds", W::Int(r)));
    }
    W::obj(p)
}

fn gbtree<'a>(t: &'a TreeModel, d: &Dialect) -> Result<W<'a>> {
    let mut param: Vec<(&str, W<'a>)> = vec![("num_trees", W::string(t.trees.len().to_string()))];
    if d.at_least(1, 6) {
        let npt = t.num_parallel_tree.unwrap_or(1).max(1);
        param.push(("num_parallel_tree", W::string(npt.to_string())));
    }
    if !d.at_least(2, 0) {
        param.push(("size_leaf_vector", W::s("0")));
    }
    let mut p: Vec<(&str, W<'a>)> = vec![
        ("gbtree_model_param", W::obj(param)),
        (
            "tree_info",
            W::IntArr(Cow::Owned(
                t.tree_info.iter().map(|&x| i64::from(x)).collect(),
            )),
        ),
    ];
    if d.at_least(2, 0) {
        let indptr = match &t.iteration_indptr {
            Some(v) => v.clone(),
            None => return Err(unrepresentable(d, "a tree model without iteration_indptr")),
        };
        p.push(("iteration_indptr", W::IntArr(Cow::Owned(indptr))));
    }
    if let Some(cats) = &t.cats {
        if !d.at_least(3, 1) {
            return Err(unrepresentable(d, "a category container ('cats')"));
        }
        p.push(("cats", cats_value(cats, None)));
    }
    let mut trees = Vec::with_capacity(t.trees.len());
    for (i, tree) in t.trees.iter().enumerate() {
        trees.push(self::tree(i, tree, d)?);
    }
    p.push(("trees", W::Arr(trees)));
    Ok(W::obj(p))
}

fn floats_or_zeros(v: &[f32], n: usize) -> W<'_> {
    if v.len() == n || n == 0 {
        W::F32s(Cow::Borrowed(v))
    } else {
        W::F32s(Cow::Owned(vec![0.0; n]))
    }
}

fn tree<'a>(i: usize, t: &'a Tree, d: &Dialect) -> Result<W<'a>> {
    let n = t.len();
    let vector = t.is_vector_leaf();
    if vector && !d.at_least(2, 0) {
        return Err(unrepresentable(d, "a vector-leaf (multi-target) tree"));
    }
    if vector && d.at_least(3, 2) != t.leaf_weights.is_some() {
        return Err(unrepresentable(
            d,
            "a vector-leaf tree in the other multi-target layout",
        ));
    }
    let categorical = (0..n).any(|k| t.is_categorical(k));
    if categorical && !d.at_least(1, 3) {
        return Err(unrepresentable(d, "categorical splits"));
    }
    let mut p: Vec<(&str, W<'a>)> = Vec::new();
    let k = t.leaf_size();
    p.push((
        "base_weights",
        floats_or_zeros(&t.base_weights, if vector { n * k } else { n }),
    ));
    if !vector || d.at_least(3, 2) {
        p.push(("loss_changes", floats_or_zeros(&t.loss_changes, n)));
        p.push(("sum_hessian", floats_or_zeros(&t.sum_hessian, n)));
    }
    if let Some(lw) = &t.leaf_weights {
        p.push(("leaf_weights", W::F32s(Cow::Borrowed(lw))));
    }
    p.push(("id", W::Int(i as i64)));
    p.push(("left_children", W::I32s(Cow::Borrowed(&t.left_children))));
    p.push(("right_children", W::I32s(Cow::Borrowed(&t.right_children))));
    p.push(("parents", W::I32s(Cow::Borrowed(&t.parents))));
    p.push(("split_indices", W::I32s(Cow::Borrowed(&t.split_indices))));
    p.push((
        "split_conditions",
        W::F32s(Cow::Borrowed(&t.split_conditions)),
    ));
    if d.at_least(1, 6) {
        p.push((
            "default_left",
            W::U8s(Cow::Owned(
                t.default_left.iter().map(|&b| u8::from(b)).collect(),
            )),
        ));
    } else {
        p.push(("default_left", W::BoolArr(Cow::Borrowed(&t.default_left))));
    }
    if !d.at_least(1, 3) {
        let lcc = match &t.leaf_child_counts {
            Some(v) if v.len() == n => W::I32s(Cow::Borrowed(v)),
            _ => W::I32s(Cow::Owned(vec![0; n])),
        };
        p.push(("leaf_child_counts", lcc));
    } else {
        let st = match &t.split_type {
            Some(v) if v.len() == n => W::U8s(Cow::Borrowed(v)),
            _ => W::U8s(Cow::Owned(vec![0; n])),
        };
        p.push(("split_type", st));
        let empty = crate::xgboost::ir::CategorySets::default();
        let c = t.categories.as_ref().unwrap_or(&empty);
        p.push(("categories_nodes", W::I32s(Cow::Owned(c.nodes.clone()))));
        p.push((
            "categories_segments",
            W::I64s(Cow::Owned(c.segments.clone())),
        ));
        p.push(("categories_sizes", W::I64s(Cow::Owned(c.sizes.clone()))));
        p.push(("categories", W::I32s(Cow::Owned(c.values.clone()))));
    }
    let mut tp: Vec<(&str, W<'a>)> = vec![
        ("num_feature", W::string(t.param.num_feature.to_string())),
        ("num_nodes", W::string(n.to_string())),
        (
            "size_leaf_vector",
            W::string(if d.at_least(2, 0) {
                k.to_string()
            } else {
                "0".into()
            }),
        ),
    ];
    // xgboost 1.0 wrote no num_deleted.
    if d.at_least(1, 1) {
        tp.push(("num_deleted", W::string(t.param.num_deleted.to_string())));
    }
    p.push(("tree_param", W::obj(tp)));
    Ok(W::obj(p))
}

/// The 3.1+ category container, with the UBJSON array types XGBoost writes
/// (`$l` offsets and indices, `$i` string bytes, numeric values by their
/// `type`), whichever encoding it was read from.
fn cats_value<'a>(n: &'a Node, key: Option<(&str, &'a Node)>) -> W<'a> {
    match &n.value {
        Value::Null => W::Arr(Vec::new()),
        Value::Bool(b) => W::Bool(*b),
        Value::Int(i) => W::Int(*i),
        Value::Float(f) => W::Float(*f),
        Value::Double(d) => W::Double(*d),
        Value::Str(s) => W::s(s),
        Value::Array(items) if items.is_empty() && key.is_some_and(|(k, _)| k == "enc") => {
            W::Arr(Vec::new())
        }
        Value::Array(items) if items.is_empty() => typed_empty(key),
        Value::Array(items) => W::Arr(items.iter().map(|x| cats_value(x, None)).collect()),
        Value::Typed(p) => {
            let want = p.marker.or_else(|| marker_for(key));
            packed(&p.data, want)
        }
        Value::Object(entries) => W::Obj(
            entries
                .iter()
                .map(|(k, v)| {
                    (
                        Cow::Borrowed(k.as_ref()),
                        cats_value(v, Some((k.as_ref(), n))),
                    )
                })
                .collect(),
        ),
    }
}

/// The UBJSON element marker XGBoost uses for a `cats` array, from its key
/// and its object (`values` of a string encoding are `$i`; numeric values
/// follow `type`; everything else is `$l`).
fn marker_for(key: Option<(&str, &Node)>) -> Option<u8> {
    let (k, parent) = key?;
    if k != "values" {
        return Some(b'l');
    }
    match parent.value.get("type").map(|t| &t.value) {
        Some(Value::Int(t)) => Some(match t {
            7 => b'd',
            8 => b'D',
            9 => b'i',
            10 => b'U',
            11 | 12 => b'I',
            13 | 14 => b'l',
            _ => b'L',
        }),
        _ => Some(b'i'),
    }
}

fn typed_empty<'a>(key: Option<(&str, &'a Node)>) -> W<'a> {
    match marker_for(key) {
        Some(b'i') => W::I8s(Cow::Owned(Vec::new())),
        Some(b'd') => W::F32s(Cow::Owned(Vec::new())),
        Some(b'D') => W::F64s(Cow::Owned(Vec::new())),
        Some(b'U') => W::U8s(Cow::Owned(Vec::new())),
        Some(b'I') => W::I16s(Cow::Owned(Vec::new())),
        Some(b'L') => W::I64s(Cow::Owned(Vec::new())),
        _ => W::I32s(Cow::Owned(Vec::new())),
    }
}

fn packed(d: &PackedData, marker: Option<u8>) -> W<'_> {
    let ints = || -> Vec<i64> { (0..d.len()).filter_map(|i| d.int_at(i)).collect() };
    match (d, marker) {
        (PackedData::F32(v), Some(b'D')) => {
            W::F64s(Cow::Owned(v.iter().map(|&x| f64::from(x)).collect()))
        }
        (PackedData::F32(v), _) => W::F32s(Cow::Borrowed(v)),
        (PackedData::F64(v), Some(b'd')) => {
            W::F32s(Cow::Owned(v.iter().map(|&x| x as f32).collect()))
        }
        (PackedData::F64(v), _) => W::F64s(Cow::Borrowed(v)),
        (PackedData::Bool(v), _) => W::BoolArr(Cow::Borrowed(v)),
        (_, Some(b'i')) => W::I8s(Cow::Owned(ints().into_iter().map(|x| x as i8).collect())),
        (_, Some(b'U')) => W::U8s(Cow::Owned(ints().into_iter().map(|x| x as u8).collect())),
        (_, Some(b'I')) => W::I16s(Cow::Owned(ints().into_iter().map(|x| x as i16).collect())),
        (_, Some(b'L')) => W::I64s(Cow::Owned(ints())),
        (PackedData::I32(v), _) => W::I32s(Cow::Borrowed(v)),
        _ => W::I32s(Cow::Owned(ints().into_iter().map(|x| x as i32).collect())),
    }
}
