//! Structural validation of a [`Model`].
//!
//! Every check has a stable finding code (see `formats/xgboost.md`). Tree
//! walks are iterative (no recursion), so hostile trees (cycles, shared
//! nodes, millions of nodes) cost linear time and memory. At most
//! [`MAX_PER_CODE`] findings are listed per code; the rest are counted in one
//! summary finding with the same code.

use super::ir::*;
use crate::report::{Finding, Location, Severity};
use std::collections::BTreeMap;

/// Findings listed per code before the rest are summarised.
pub const MAX_PER_CODE: usize = 20;

/// Per-tree statistics gathered while validating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeStats {
    /// Node slots in the arrays.
    pub nodes: usize,
    /// Leaves reachable from the root.
    pub leaves: usize,
    /// Split nodes reachable from the root.
    pub splits: usize,
    /// Deleted nodes.
    pub deleted: usize,
    /// Depth of the deepest reachable leaf (root only = 0).
    pub depth: usize,
    /// Reachable categorical splits.
    pub categorical_splits: usize,
}

#[derive(Default)]
struct Sink {
    findings: Vec<Finding>,
    counts: BTreeMap<String, (usize, Severity)>,
}

impl Sink {
    fn push(&mut self, f: Finding) {
        let e = self.counts.entry(f.code.clone()).or_insert((0, f.severity));
        e.0 += 1;
        if e.0 <= MAX_PER_CODE {
            self.findings.push(f);
        }
    }

    /// Appends what `later` collected, as if its findings had been pushed
    /// here one by one: `later` lists the first [`MAX_PER_CODE`] of each
    /// code it saw, which include every one this sink still has room for.
    fn absorb(&mut self, later: Sink) {
        for f in later.findings {
            self.push(f);
        }
        for (code, (n, sev)) in later.counts {
            let unlisted = n.saturating_sub(MAX_PER_CODE);
            if unlisted > 0 {
                self.counts.entry(code).or_insert((0, sev)).0 += unlisted;
            }
        }
    }

    fn finish(mut self) -> Vec<Finding> {
        for (code, (n, sev)) in self.counts {
            if n > MAX_PER_CODE {
                self.findings.push(Finding::new(
                    code.clone(),
                    sev,
                    format!(
                        "… and {} more [{code}] findings not listed",
                        n - MAX_PER_CODE
                    ),
                ));
            }
        }
        self.findings
    }
}

/// Validates a model. Returns the findings and per-tree statistics.
pub fn validate(m: &Model) -> (Vec<Finding>, Vec<TreeStats>) {
    let mut s = Sink::default();
    learner(m, &mut s);
    let stats = match &m.booster {
        Booster::Trees(t) => trees(m, t, &mut s),
        Booster::Linear(l) => {
            linear(m, l, &mut s);
            Vec::new()
        }
    };
    (s.finish(), stats)
}

fn at(f: Finding, loc: Option<Location>) -> Finding {
    match loc {
        Some(l) => f.at(l),
        None => f,
    }
}

fn learner(m: &Model, s: &mut Sink) {
    let lp = &m.learner;
    let info = m.objective.info();
    if info.is_none() {
        s.push(at(
            Finding::error(
                "xgb.objective.unknown",
                format!("unknown objective {:?}; XGBoost will refuse to load the model", m.objective.name),
            )
            .with_hint("check the objective name; custom objectives cannot be served by the built-in container"),
            m.locate("objective", None),
        ));
    }
    if lp.num_class < 0 {
        s.push(at(
            Finding::error(
                "xgb.param.num_class",
                format!("num_class is negative ({})", lp.num_class),
            ),
            m.locate("num_class", None),
        ));
    }
    if lp.num_target < 1 {
        s.push(at(
            Finding::error(
                "xgb.param.num_target",
                format!("num_target must be at least 1 (found {})", lp.num_target),
            ),
            m.locate("num_target", None),
        ));
    }
    if let Some(i) = info {
        if i.multiclass && lp.num_class < 2 {
            s.push(at(
                Finding::error(
                    "xgb.objective.num_class",
                    format!(
                        "{} needs num_class ≥ 2, but num_class is {}",
                        i.name, lp.num_class
                    ),
                ),
                m.locate("num_class", None),
            ));
        }
        if !i.multiclass && lp.num_class > 1 {
            s.push(at(
                Finding::warning(
                    "xgb.objective.num_class",
                    format!(
                        "num_class is {} but {} is not a multi-class objective",
                        lp.num_class, i.name
                    ),
                ),
                m.locate("num_class", None),
            ));
        }
    }
    // base_score
    let bs = &lp.base_score;
    let groups = m.num_output_groups();
    if bs.vector && !bs.values.is_empty() && bs.values.len() != groups && bs.values.len() != 1 {
        s.push(at(
            Finding::error(
                "xgb.base_score.length",
                format!(
                    "base_score has {} values but the model has {groups} output group(s)",
                    bs.values.len()
                ),
            ),
            m.locate("base_score", None),
        ));
    }
    for (k, &v) in bs.values.iter().enumerate() {
        if !v.is_finite() {
            s.push(at(
                Finding::error(
                    "xgb.base_score.not_finite",
                    format!("base_score[{k}] is {v}"),
                ),
                m.locate("base_score", None),
            ));
            continue;
        }
        if bs.space == ScoreSpace::Margin {
            continue;
        }
        let link = m.base_score_link();
        if prob_to_margin(link, v).is_none() {
            let domain = match link {
                Link::Logit => "(0, 1)",
                Link::Log => "(0, ∞)",
                Link::Identity => "the finite numbers",
            };
            s.push(at(
                Finding::error(
                    "xgb.base_score.domain",
                    format!(
                        "base_score {v} is outside {domain}, the domain of {}; the intercept margin is undefined",
                        m.objective.name
                    ),
                )
                .with_hint("retrain or set a valid base_score"),
                m.locate("base_score", None),
            ));
        }
    }
    // feature names/types
    let nf = usize::try_from(lp.num_feature).unwrap_or(usize::MAX);
    if !m.feature_names.is_empty() && m.feature_names.len() != nf {
        s.push(at(
            Finding::warning(
                "xgb.features.names_length",
                format!(
                    "{} feature names for num_feature = {}",
                    m.feature_names.len(),
                    lp.num_feature
                ),
            ),
            m.locate("feature_names", None),
        ));
    }
    if !m.feature_types.is_empty() && m.feature_types.len() != nf {
        s.push(at(
            Finding::warning(
                "xgb.features.types_length",
                format!(
                    "{} feature types for num_feature = {}",
                    m.feature_types.len(),
                    lp.num_feature
                ),
            ),
            m.locate("feature_types", None),
        ));
    }
    for (i, t) in m.feature_types.iter().enumerate() {
        if !matches!(t.as_str(), "q" | "c" | "int" | "float" | "i") {
            s.push(at(
                Finding::warning(
                    "xgb.features.type_unknown",
                    format!("feature type {t:?} is not one XGBoost knows"),
                ),
                m.locate("feature_types", Some(i)),
            ));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, n) in m.feature_names.iter().enumerate() {
        if !seen.insert(n.as_str()) {
            s.push(at(
                Finding::warning(
                    "xgb.features.duplicate_name",
                    format!("feature name {n:?} appears more than once"),
                ),
                m.locate("feature_names", Some(i)),
            ));
        }
    }
}

fn linear(m: &Model, l: &LinearModel, s: &mut Sink) {
    let groups = m.num_output_groups() as u64;
    let expect = m
        .learner
        .num_feature
        .checked_add(1)
        .and_then(|x| x.checked_mul(groups));
    if expect != Some(l.weights.len() as u64) {
        s.push(at(
            Finding::error(
                "xgb.gblinear.weights_length",
                format!(
                    "gblinear has {} weights; (num_feature {} + 1) × {} group(s) = {} expected",
                    l.weights.len(),
                    m.learner.num_feature,
                    groups,
                    expect
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "overflow".into())
                ),
            ),
            m.locate("weights", None),
        ));
    }
    for (i, w) in l.weights.iter().enumerate() {
        if !w.is_finite() {
            s.push(at(
                Finding::error(
                    "xgb.gblinear.weight_not_finite",
                    format!("gblinear weight {i} is {w}"),
                ),
                m.locate("weights", Some(i)),
            ));
        }
    }
}

fn trees(m: &Model, t: &TreeModel, s: &mut Sink) -> Vec<TreeStats> {
    let n = t.trees.len();
    if t.num_trees_declared != n as i64 {
        s.push(at(
            Finding::error(
                "xgb.gbtree.num_trees",
                format!(
                    "num_trees says {} but the model holds {n} trees",
                    t.num_trees_declared
                ),
            ),
            m.locate("num_trees", None),
        ));
    }
    if t.tree_info.len() != n {
        s.push(at(
            Finding::error(
                "xgb.gbtree.tree_info_length",
                format!("tree_info has {} entries for {n} trees", t.tree_info.len()),
            ),
            m.locate("tree_info", None),
        ));
    }
    let vector = t.trees.iter().any(|tr| tr.is_vector_leaf());
    let groups = if vector { 1 } else { m.num_output_groups() };
    for (i, &g) in t.tree_info.iter().enumerate() {
        if g < 0 || g as usize >= groups {
            s.push(at(
                Finding::error(
                    "xgb.gbtree.tree_info_value",
                    format!("tree {i} is assigned to output group {g}, but the model has {groups} group(s)"),
                ),
                m.locate("tree_info", Some(i)),
            ));
        }
    }
    if let Some(p) = t.num_parallel_tree
        && p < 1
        && m.source.encoding != Encoding::LegacyBinary
    {
        s.push(at(
            Finding::error(
                "xgb.gbtree.num_parallel_tree",
                format!("num_parallel_tree must be ≥ 1 (found {p})"),
            ),
            m.locate("num_trees", None),
        ));
    }
    let npt = m.num_parallel_tree();
    if n > 0 && !n.is_multiple_of(npt.saturating_mul(groups)) {
        s.push(at(
            Finding::warning(
                "xgb.gbtree.round_shape",
                format!(
                    "{n} trees is not a whole number of rounds of {} trees (num_parallel_tree {npt} × {groups} group(s))",
                    npt.saturating_mul(groups)
                ),
            ),
            m.locate("trees", None),
        ));
    }
    if let Some(ind) = &t.iteration_indptr {
        let ok = ind.first() == Some(&0)
            && ind.windows(2).all(|w| w[0] <= w[1])
            && ind.last().is_some_and(|&l| l == n as i64);
        if !ok {
            s.push(at(
                Finding::error(
                    "xgb.gbtree.iteration_indptr",
                    format!(
                        "iteration_indptr must start at 0, never decrease and end at the tree count {n} (found {} entries{})",
                        ind.len(),
                        ind.last().map(|l| format!(", last {l}")).unwrap_or_default()
                    ),
                ),
                m.locate("iteration_indptr", None),
            ));
        }
    }
    if let Some(w) = &t.weight_drop {
        if t.dart && w.len() != n {
            s.push(at(
                Finding::error(
                    "xgb.dart.weight_count",
                    format!("dart has {} weights for {n} trees", w.len()),
                ),
                m.locate("weight_drop", None),
            ));
        }
        for (i, x) in w.iter().enumerate() {
            if !x.is_finite() {
                s.push(at(
                    Finding::error(
                        "xgb.dart.weight_not_finite",
                        format!("dart weight {i} is {x}"),
                    ),
                    m.locate("weight_drop", Some(i)),
                ));
            }
        }
    }
    if m.source.encoding == Encoding::LegacyBinary
        && m.source
            .binary
            .as_ref()
            .is_some_and(|b| b.major_version == 0)
        && let Some(g) = t.num_output_group_field
        && g != groups as i64
    {
        s.push(at(
            Finding::error(
                "xgb.binary.num_output_group",
                format!("0.90 header: num_output_group is {g} but num_class implies {groups}"),
            ),
            m.locate("num_trees", None),
        ));
    }
    let target_k = usize::try_from(m.learner.num_target).unwrap_or(1).max(1);
    // Trees are validated independently, in runs on several threads for a
    // large model; each run's findings are merged in tree order, so the
    // result is that of one pass over the trees.
    let runs = super::par_runs(t.trees.iter().collect(), |first, run: Vec<&Tree>| {
        let mut rs = Sink::default();
        let stats: Vec<TreeStats> = run
            .into_iter()
            .enumerate()
            .map(|(j, tr)| tree(m, first + j, tr, target_k, &mut rs))
            .collect();
        (rs, stats)
    });
    let mut stats = Vec::with_capacity(t.trees.len());
    for (rs, st) in runs {
        s.absorb(rs);
        stats.extend(st);
    }
    stats
}

fn tree(m: &Model, ti: usize, t: &Tree, target_k: usize, s: &mut Sink) -> TreeStats {
    let n = t.len();
    let mut st = TreeStats {
        nodes: n,
        ..TreeStats::default()
    };
    let tloc = |field: Option<&str>| {
        m.locate_tree(ti, field)
            .or(Some(Location::Node { tree: ti, node: 0 }))
    };
    if let Some(id) = t.id
        && id != ti as i64
    {
        s.push(at(
            Finding::error(
                "xgb.tree.id",
                format!("tree {ti} has id {id}; XGBoost places trees by id"),
            ),
            tloc(Some("id")),
        ));
    }
    if t.param.num_nodes != n as i64 {
        s.push(at(
            Finding::error(
                "xgb.tree.num_nodes",
                format!(
                    "tree {ti}: num_nodes says {} but the arrays hold {n} nodes",
                    t.param.num_nodes
                ),
            ),
            tloc(Some("tree_param")).or(tloc(Some("num_nodes"))),
        ));
    }
    if n == 0 {
        s.push(at(
            Finding::error("xgb.tree.empty", format!("tree {ti} has no nodes")),
            tloc(None),
        ));
        return st;
    }
    let k = t.leaf_size();
    let vector = t.is_vector_leaf();
    // Per-node array lengths.
    let mut lens: Vec<(&'static str, usize, usize)> = vec![
        ("right_children", t.right_children.len(), n),
        ("parents", t.parents.len(), n),
        ("split_indices", t.split_indices.len(), n),
        ("split_conditions", t.split_conditions.len(), n),
        ("default_left", t.default_left.len(), n),
    ];
    if vector {
        lens.push(("base_weights", t.base_weights.len(), n.saturating_mul(k)));
    } else {
        lens.push(("base_weights", t.base_weights.len(), n));
    }
    if !t.loss_changes.is_empty() || !vector {
        lens.push(("loss_changes", t.loss_changes.len(), n));
        lens.push(("sum_hessian", t.sum_hessian.len(), n));
    }
    if let Some(st_) = &t.split_type {
        lens.push(("split_type", st_.len(), n));
    }
    if let Some(l) = &t.leaf_child_counts {
        lens.push(("leaf_child_counts", l.len(), n));
    }
    let mut arrays_ok = true;
    for (field, got, want) in lens {
        if got != want {
            // base_weights of a 3.2 vector tree may hold n × split-target count.
            if vector
                && field == "base_weights"
                && t.leaf_weights.is_some()
                && got.is_multiple_of(n)
            {
                continue;
            }
            let critical = matches!(
                field,
                "right_children"
                    | "parents"
                    | "split_indices"
                    | "split_conditions"
                    | "default_left"
                    | "split_type"
            );
            arrays_ok &= !critical;
            s.push(at(
                Finding::error(
                    "xgb.tree.array_length",
                    format!("tree {ti}: {field} has {got} entries, {want} expected"),
                ),
                tloc(Some(field)),
            ));
        }
    }
    if vector && k != target_k {
        s.push(at(
            Finding::error(
                "xgb.tree.leaf_vector_size",
                format!("tree {ti}: leaves hold {k} values but num_target is {target_k}"),
            ),
            tloc(Some("tree_param")),
        ));
    }
    if !arrays_ok {
        return st;
    }

    // Categories lookup: node -> index into CSR.
    let mut cat_of: Vec<Option<usize>> = Vec::new();
    if let Some(c) = &t.categories {
        cat_of = vec![None; n];
        if c.segments.len() != c.nodes.len() || c.sizes.len() != c.nodes.len() {
            s.push(at(
                Finding::error(
                    "xgb.tree.category_arrays",
                    format!(
                        "tree {ti}: categories_nodes, categories_segments and categories_sizes have {}, {} and {} entries",
                        c.nodes.len(),
                        c.segments.len(),
                        c.sizes.len()
                    ),
                ),
                tloc(Some("categories_nodes")),
            ));
        }
        for (j, &node) in c.nodes.iter().enumerate() {
            let Some(slot) = usize::try_from(node).ok().and_then(|x| cat_of.get_mut(x)) else {
                s.push(at(
                    Finding::error(
                        "xgb.tree.category_node",
                        format!(
                            "tree {ti}: categories_nodes[{j}] = {node} is not a node of the tree"
                        ),
                    ),
                    Some(m.locate_node(ti, "categories_nodes", j)),
                ));
                continue;
            };
            *slot = Some(j);
            let (Some(&seg), Some(&size)) = (c.segments.get(j), c.sizes.get(j)) else {
                continue;
            };
            let ok = seg >= 0
                && size >= 0
                && seg
                    .checked_add(size)
                    .is_some_and(|e| e <= c.values.len() as i64);
            if !ok {
                s.push(at(
                    Finding::error(
                        "xgb.tree.category_range",
                        format!(
                            "tree {ti}: categories of node {node} span [{seg}, {seg}+{size}) outside the {} stored categories",
                            c.values.len()
                        ),
                    ),
                    Some(m.locate_node(ti, "categories_segments", j)),
                ));
            }
        }
        for (j, &v) in c.values.iter().enumerate() {
            if v < 0 {
                s.push(at(
                    Finding::error(
                        "xgb.tree.category_value",
                        format!("tree {ti}: category code {v} is negative"),
                    ),
                    Some(m.locate_node(ti, "categories", j)),
                ));
            }
        }
    }

    if !vector
        && t.split_type
            .as_ref()
            .is_none_or(|s| s.iter().fold(0, |acc, &x| acc | x) == 0)
        && let Some(fast) = fast_tree_ordered(t, m.learner.num_feature)
            .or_else(|| fast_tree(t, m.learner.num_feature))
    {
        st.leaves = fast.leaves;
        st.splits = fast.splits;
        st.deleted = fast.deleted;
        st.depth = fast.depth;
        if t.param.num_deleted != st.deleted as i64 {
            s.push(at(
                Finding::error(
                    "xgb.tree.num_deleted",
                    format!(
                        "tree {ti}: num_deleted says {} but {} nodes are marked deleted",
                        t.param.num_deleted, st.deleted
                    ),
                ),
                tloc(Some("num_deleted")).or(tloc(Some("tree_param"))),
            ));
        }
        return st;
    }

    // Node-local checks.
    let nf = m.learner.num_feature;
    let mut n_leaves_total = 0usize;
    for i in 0..n {
        if t.is_deleted(i) {
            st.deleted += 1;
            continue;
        }
        let l = t.left_children[i];
        let r = t.right_children[i];
        if l == -1 {
            n_leaves_total += 1;
            // A leaf has no children: XGBoost writes -1 on both sides. Only
            // the 3.2+ vector-leaf layout reuses a leaf's right_children as
            // its index into leaf_weights.
            if r != -1 && !(vector && t.leaf_weights.is_some()) {
                s.push(at(
                    Finding::error(
                        "xgb.tree.leaf_with_child",
                        format!(
                            "tree {ti} node {i}: its left child is -1 (a leaf) but its right child is {r}; leaves and splits disagree"
                        ),
                    )
                    .with_hint(
                        "XGBoost never writes this; it would treat the node as a leaf and drop the subtree under it (the file is corrupt or was edited)",
                    ),
                    Some(m.locate_node(ti, "right_children", i)),
                ));
            }
            match t.leaf_value(i) {
                Some(v) => {
                    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
                        let field = if vector {
                            if t.leaf_weights.is_some() {
                                "leaf_weights"
                            } else {
                                "base_weights"
                            }
                        } else {
                            "split_conditions"
                        };
                        s.push(at(
                            Finding::error(
                                "xgb.tree.leaf_not_finite",
                                format!("tree {ti} leaf {i} has value {x}"),
                            ),
                            Some(m.locate_node(ti, field, i)),
                        ));
                    }
                }
                None => s.push(at(
                    Finding::error(
                        "xgb.tree.leaf_value_missing",
                        format!("tree {ti}: leaf {i} has no value in the leaf arrays"),
                    ),
                    Some(m.locate_node(
                        ti,
                        if t.leaf_weights.is_some() {
                            "right_children"
                        } else {
                            "base_weights"
                        },
                        i,
                    )),
                )),
            }
            continue;
        }
        // Split node.
        for (side, c) in [("left", l), ("right", r)] {
            if c < 1 || c as usize >= n {
                s.push(at(
                    Finding::error(
                        "xgb.tree.child_range",
                        format!("tree {ti} node {i}: {side} child {c} is not a node of the tree (1..{n})"),
                    ),
                    Some(m.locate_node(ti, if side == "left" { "left_children" } else { "right_children" }, i)),
                ));
            } else if t.parents[c as usize] != i as i32 {
                s.push(at(
                    Finding::error(
                        "xgb.tree.parent_mismatch",
                        format!(
                            "tree {ti}: node {c} is the {side} child of node {i} but its parent is recorded as {}",
                            t.parents[c as usize]
                        ),
                    ),
                    Some(m.locate_node(ti, "parents", c as usize)),
                ));
            }
        }
        let f = t.split_indices[i];
        if f < 0 || f as u64 >= nf {
            s.push(at(
                Finding::error(
                    "xgb.tree.split_feature",
                    format!("tree {ti} node {i} splits on feature {f}, but num_feature is {nf}"),
                )
                .with_hint(
                    "the model and its num_feature disagree; XGBoost would read past the input row",
                ),
                Some(m.locate_node(ti, "split_indices", i)),
            ));
        }
        if t.is_categorical(i) {
            match cat_of.get(i).copied().flatten() {
                Some(_) => {}
                None => s.push(at(
                    Finding::error(
                        "xgb.tree.category_missing",
                        format!("tree {ti} node {i} is a categorical split without a category set"),
                    ),
                    Some(m.locate_node(ti, "split_type", i)),
                )),
            }
        } else {
            let c = t.split_conditions[i];
            if c.is_nan() {
                s.push(at(
                    Finding::error(
                        "xgb.tree.threshold_not_finite",
                        format!("tree {ti} node {i} has threshold NaN; every value goes right"),
                    ),
                    Some(m.locate_node(ti, "split_conditions", i)),
                ));
            } else if c.is_infinite() {
                s.push(at(
                    Finding::warning(
                        "xgb.tree.threshold_not_finite",
                        format!("tree {ti} node {i} has threshold {c}; the split sends every value one way"),
                    ),
                    Some(m.locate_node(ti, "split_conditions", i)),
                ));
            }
        }
    }
    if let (Some(lw), true) = (&t.leaf_weights, vector)
        && lw.len() != n_leaves_total.saturating_mul(k)
    {
        s.push(at(
            Finding::error(
                "xgb.tree.array_length",
                format!(
                    "tree {ti}: leaf_weights has {} entries for {n_leaves_total} leaves × {k}",
                    lw.len()
                ),
            ),
            tloc(Some("leaf_weights")),
        ));
    }
    if t.param.num_deleted != st.deleted as i64 {
        s.push(at(
            Finding::error(
                "xgb.tree.num_deleted",
                format!(
                    "tree {ti}: num_deleted says {} but {} nodes are marked deleted",
                    t.param.num_deleted, st.deleted
                ),
            ),
            tloc(Some("num_deleted")).or(tloc(Some("tree_param"))),
        ));
    }
    let root_parent = t.parents[0];
    if root_parent != ROOT_PARENT && root_parent != -1 {
        s.push(at(
            Finding::error(
                "xgb.tree.root_parent",
                format!("tree {ti}: the root's parent is {root_parent}; a root has none (-1 / 2147483647)"),
            ),
            Some(m.locate_node(ti, "parents", 0)),
        ));
    }

    // Reachability: iterative DFS. state 0 unvisited, 1 on the current path, 2 done.
    let mut state = vec![0u8; n];
    let mut stack: Vec<(usize, usize, u8)> = vec![(0, 0, 0)]; // (node, depth, next child index)
    state[0] = 1;
    while let Some(top) = stack.last_mut() {
        let (node, depth, next) = *top;
        let l = t.left_children[node];
        if l == -1 || t.is_deleted(node) {
            if t.is_deleted(node) {
                s.push(at(
                    Finding::error(
                        "xgb.tree.deleted_reachable",
                        format!("tree {ti}: deleted node {node} is reachable from the root"),
                    ),
                    Some(m.locate_node(ti, "split_indices", node)),
                ));
            } else {
                st.leaves += 1;
                st.depth = st.depth.max(depth);
            }
            state[node] = 2;
            stack.pop();
            continue;
        }
        if next == 0 {
            st.splits += 1;
            if t.is_categorical(node) {
                st.categorical_splits += 1;
            }
        }
        if next >= 2 {
            state[node] = 2;
            stack.pop();
            continue;
        }
        top.2 += 1;
        let c = if next == 0 { l } else { t.right_children[node] };
        let Some(cu) = usize::try_from(c).ok().filter(|&x| x < n) else {
            continue; // reported above
        };
        match state[cu] {
            0 => {
                state[cu] = 1;
                stack.push((cu, depth + 1, 0));
            }
            1 => s.push(at(
                Finding::error(
                    "xgb.tree.cycle",
                    format!("tree {ti}: node {node} points back to its ancestor {cu}; the tree has a cycle"),
                )
                .with_hint("XGBoost would loop forever or crash predicting with this tree"),
                Some(m.locate_node(ti, if next == 0 { "left_children" } else { "right_children" }, node)),
            )),
            _ => s.push(at(
                Finding::error(
                    "xgb.tree.shared_node",
                    format!("tree {ti}: node {cu} is reachable more than once (again from node {node})"),
                ),
                Some(m.locate_node(ti, if next == 0 { "left_children" } else { "right_children" }, node)),
            )),
        }
    }
    for (i, &v) in state.iter().enumerate() {
        if v == 0 && !t.is_deleted(i) {
            s.push(at(
                Finding::warning(
                    "xgb.tree.unreachable",
                    format!(
                        "tree {ti}: node {i} is not reachable from the root and not marked deleted"
                    ),
                ),
                Some(m.locate_node(ti, "parents", i)),
            ));
        }
    }
    st
}

/// The per-node arrays the fast checks read, each cut to the tree's `n`
/// nodes.
struct NodeArrays<'a> {
    n: usize,
    left: &'a [i32],
    right: &'a [i32],
    parents: &'a [i32],
    split: &'a [i32],
    cond: &'a [f32],
    dl: &'a [bool],
}

impl<'a> NodeArrays<'a> {
    /// `None` for an empty tree or when an array is shorter than `n`.
    fn of(t: &'a Tree) -> Option<Self> {
        let n = t.len();
        (n > 0).then_some(())?;
        Some(NodeArrays {
            n,
            left: t.left_children.get(..n)?,
            right: t.right_children.get(..n)?,
            parents: t.parents.get(..n)?,
            split: t.split_indices.get(..n)?,
            cond: t.split_conditions.get(..n)?,
            dl: t.default_left.get(..n)?,
        })
    }
}

/// The commonest case, in two tight loops: every node's parent has a
/// smaller id (XGBoost numbers nodes as it adds them; only a pruned and
/// regrown tree may reuse a smaller id). The first loop checks what each
/// node holds (vectorised); the second checks links from the child's side:
/// each live node but the root names a live node before it that lists it
/// as a child. Distinct nodes fill distinct child slots, so the tree is
/// whole (every split's two slots hold live nodes that point back, nothing
/// else hangs on, nothing is unreachable, no cycle) exactly when the live
/// non-root nodes number twice the splits; and a node's depth is its
/// parent's plus one, already known. Same statistics as [`fast_tree`]
/// (tested on every fixture tree and on corrupted and renumbered copies);
/// `None` for anything else, which [`fast_tree`] and then the detailed
/// checks take up. Twice as fast as [`fast_tree`] on a large model.
fn fast_tree_ordered(t: &Tree, num_feature: u64) -> Option<TreeStats> {
    let NodeArrays {
        n,
        left,
        right,
        parents,
        split,
        cond,
        dl,
    } = NodeArrays::of(t)?;
    let deleted = |i: usize| (split[i] == DELETED_SPLIT_INDEX) & dl[i];
    if u32::try_from(n).is_err() || deleted(0) || (parents[0] != ROOT_PARENT && parents[0] != -1) {
        return None;
    }
    // Node-local invariants, in a loop the compiler vectorises. A feature
    // index f passes when 0 <= f < num_feature: as u32, a negative f is
    // larger than any bound kept below 2^31.
    let nf = u32::try_from(num_feature.min(1 << 31)).unwrap_or(1 << 31);
    let (mut bad, mut n_deleted, mut n_splits) = (false, 0u32, 0u32);
    for ((((&l, &r), &f), &c), &d) in left.iter().zip(right).zip(split).zip(cond).zip(dl) {
        let del = (f == DELETED_SPLIT_INDEX) & d;
        let leaf = l == -1;
        let local = c.is_finite() & ((leaf & (r == -1)) | (!leaf & ((f as u32) < nf)));
        bad |= !(del | local);
        n_deleted += u32::from(del);
        n_splits += u32::from(!del & !leaf);
    }
    let (n_deleted, n_splits) = (n_deleted as usize, n_splits as usize);
    if bad || 2 * n_splits + 1 != n - n_deleted {
        return None;
    }
    // Links, from the child's side, and depths.
    let mut depth = vec![0u32; n];
    let mut max_depth = 0u32;
    for i in 1..n {
        if deleted(i) {
            continue;
        }
        let p = parents[i] as u32 as usize;
        if p >= i || deleted(p) || (left[p] != i as i32 && right[p] != i as i32) {
            return None;
        }
        let d = depth[p] + 1;
        depth[i] = d;
        max_depth = max_depth.max(d);
    }
    Some(TreeStats {
        nodes: n,
        deleted: n_deleted,
        leaves: n - n_deleted - n_splits,
        splits: n_splits,
        depth: max_depth as usize,
        ..TreeStats::default()
    })
}

/// The common case, fast: a scalar-leaf, numerical tree whose local
/// invariants all hold (children in 1..n, distinct, not deleted, their parent
/// pointing back; a leaf's right child -1 too; split features < num_feature;
/// finite thresholds and leaves; root parent -1/2147483647). Then every node
/// has at most one parent and the root none, so the nodes reachable from
/// the root form a tree: a plain DFS gives the statistics. Returns `None` whenever anything
/// is irregular (or some node is unreachable), and the detailed checks run.
fn fast_tree(t: &Tree, num_feature: u64) -> Option<TreeStats> {
    let NodeArrays {
        n,
        left,
        right,
        parents,
        split,
        cond,
        dl,
    } = NodeArrays::of(t)?;
    if parents[0] != ROOT_PARENT && parents[0] != -1 {
        return None;
    }
    let deleted = |i: usize| split[i] == DELETED_SPLIT_INDEX && dl[i];
    let mut n_deleted = 0usize;
    let mut ok = true;
    for i in 0..n {
        if deleted(i) {
            n_deleted += 1;
            continue;
        }
        let l = left[i];
        let r = right[i];
        if l == -1 {
            ok &= cond[i].is_finite() && r == -1;
            continue;
        }
        let f = split[i];
        let good = l >= 1
            && r >= 1
            && l != r
            && (l as usize) < n
            && (r as usize) < n
            && parents[l as usize] == i as i32
            && parents[r as usize] == i as i32
            && !deleted(l as usize)
            && !deleted(r as usize)
            && f >= 0
            && (f as u64) < num_feature
            && cond[i].is_finite();
        ok &= good;
    }
    if !ok {
        return None;
    }
    let mut st = TreeStats {
        nodes: n,
        deleted: n_deleted,
        ..TreeStats::default()
    };
    let mut stack: Vec<(u32, u32)> = vec![(0, 0)];
    let mut reached = 0usize;
    while let Some((node, depth)) = stack.pop() {
        reached += 1;
        let node = node as usize;
        if deleted(node) {
            return None;
        }
        let l = left[node];
        if l == -1 {
            st.leaves += 1;
            st.depth = st.depth.max(depth as usize);
        } else {
            st.splits += 1;
            stack.push((l as u32, depth + 1));
            stack.push((right[node] as u32, depth + 1));
        }
        if reached > n {
            return None;
        }
    }
    (reached + n_deleted == n).then_some(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every scalar-leaf numerical tree of every fixture, as read.
    fn fixture_trees() -> Vec<(String, Tree, u64)> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).expect("fixture folder").flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_none_or(|x| x != "csv") {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/xgboost")),
            &mut files,
        );
        files.sort();
        let mut trees = Vec::new();
        for f in files {
            let Ok(bytes) = std::fs::read(&f) else {
                continue;
            };
            let Ok((m, _)) = crate::xgboost::read_model(&bytes) else {
                continue;
            };
            for (i, t) in m.trees().iter().enumerate() {
                if !t.is_vector_leaf()
                    && t.split_type
                        .as_ref()
                        .is_none_or(|s| s.iter().all(|&x| x == 0))
                {
                    trees.push((
                        format!("{} tree {i}", f.display()),
                        t.clone(),
                        m.learner.num_feature,
                    ));
                }
            }
        }
        trees
    }

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn ordered_fast_check_agrees_with_the_traversal() {
        let trees = fixture_trees();
        assert!(trees.len() > 1000, "only {} fixture trees", trees.len());
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut taken, mut mutants, mut mutants_taken, mut renumbered) = (0, 0, 0, 0);
        for (name, t, nf) in &trees {
            let ordered = fast_tree_ordered(t, *nf);
            let dfs = fast_tree(t, *nf);
            if let Some(o) = &ordered {
                assert_eq!(Some(o), dfs.as_ref(), "{name}");
                taken += 1;
            }
            // XGBoost numbers children after their parents: every clean
            // fixture tree takes the one-pass check.
            if dfs.is_some() {
                assert!(ordered.is_some(), "{name}: clean but not taken");
            }
            let n = t.len();
            // Corruptions: whatever the one-pass check accepts, the
            // traversal accepts with the same statistics.
            for _ in 0..40 {
                let mut m = t.clone();
                let i = rng.below(n);
                let pick = |rng: &mut Rng| -> i32 {
                    match rng.below(8) {
                        0 => -1,
                        1 => 0,
                        2 => n as i32,
                        3 => i as i32 + 1,
                        4 => i as i32 - 1,
                        5 => DELETED_SPLIT_INDEX,
                        _ => rng.below(n) as i32,
                    }
                };
                match rng.below(6) {
                    0 => m.left_children[i] = pick(&mut rng),
                    1 => m.right_children[i] = pick(&mut rng),
                    2 => m.parents[i] = pick(&mut rng),
                    3 => m.split_indices[i] = pick(&mut rng),
                    4 => m.default_left[i] = !m.default_left[i],
                    _ => {
                        // Swap two nodes' child links.
                        let j = rng.below(n);
                        m.left_children.swap(i, j);
                    }
                }
                mutants += 1;
                if let Some(o) = fast_tree_ordered(&m, *nf) {
                    mutants_taken += 1;
                    assert_eq!(Some(o), fast_tree(&m, *nf), "{name} mutated at node {i}");
                }
            }
            // The same tree numbered in another order (root kept): still
            // whole; the one-pass check may decline, never disagree.
            if n > 2 && dfs.is_some() {
                let mut perm: Vec<usize> = (1..n).collect();
                for k in (1..perm.len()).rev() {
                    perm.swap(k, rng.below(k + 1));
                }
                perm.insert(0, 0);
                let new = |old: i32| {
                    if old < 0 || old as usize >= n {
                        old
                    } else {
                        perm[old as usize] as i32
                    }
                };
                let mut m = t.clone();
                for (old, &k) in perm.iter().enumerate() {
                    m.left_children[k] = new(t.left_children[old]);
                    m.right_children[k] = new(t.right_children[old]);
                    m.parents[k] = if old == 0 {
                        t.parents[0]
                    } else {
                        new(t.parents[old])
                    };
                    m.split_indices[k] = t.split_indices[old];
                    m.split_conditions[k] = t.split_conditions[old];
                    m.default_left[k] = t.default_left[old];
                }
                assert_eq!(fast_tree(&m, *nf), dfs, "{name} renumbered");
                if let Some(o) = fast_tree_ordered(&m, *nf) {
                    assert_eq!(Some(o), dfs, "{name} renumbered");
                }
                renumbered += 1;
            }
        }
        assert!(
            taken > 1000 && mutants_taken > 100 && renumbered > 500,
            "{taken} {mutants} {mutants_taken} {renumbered}"
        );
    }

    /// Findings of two codes, `n` of them, alternating in runs of three.
    fn findings(n: usize) -> Vec<Finding> {
        (0..n)
            .map(|i| {
                let code = if (i / 3) % 2 == 0 { "a.code" } else { "b.code" };
                Finding::error(code, format!("finding {i}"))
            })
            .collect()
    }

    #[test]
    fn absorbing_runs_equals_one_pass() {
        for n in [0, 5, 40, 41, 100, 250] {
            let mut one = Sink::default();
            findings(n).into_iter().for_each(|f| one.push(f));
            let one = one.finish();
            for cuts in [
                vec![n / 2],
                vec![1, n / 3, n / 2],
                vec![n.saturating_sub(1)],
            ] {
                let all = findings(n);
                let mut merged = Sink::default();
                let mut start = 0;
                for &c in cuts.iter().chain([n].iter()) {
                    let c = c.clamp(start, n);
                    let mut run = Sink::default();
                    all[start..c].iter().cloned().for_each(|f| run.push(f));
                    merged.absorb(run);
                    start = c;
                }
                assert_eq!(merged.finish(), one, "n = {n}, cuts {cuts:?}");
            }
        }
    }
}
