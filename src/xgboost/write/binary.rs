//! Legacy binary writer: the 0.90 layout (header version 0, margin-space
//! `base_score`, `num_output_group`, 0.90 tail) and the 1.x layout that
//! xgboost 1.0 – 3.0 write (`binf` magic from 1.1, header version, the
//! objective configuration as the `objective` attribute).

use super::{Dialect, unrepresentable};
use crate::error::Result;
use crate::xgboost::binary::{
    GBLINEAR_PARAM_SIZE, GBTREE_PARAM_SIZE, LEARNER_PARAM_SIZE, TREE_PARAM_SIZE,
};
use crate::xgboost::ir::{Booster, DELETED_SPLIT_INDEX, Model, ROOT_PARENT, ScoreSpace, Tree};

struct Out(Vec<u8>);

impl Out {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn string(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    /// A fixed-size struct of i32 fields at byte offsets, zero elsewhere.
    fn block(&mut self, size: usize, fields: &[(usize, [u8; 4])]) {
        let start = self.0.len();
        self.0.resize(start + size, 0);
        for (off, bytes) in fields {
            self.0[start + off..start + off + 4].copy_from_slice(bytes);
        }
    }
}

fn i32_field(v: i64) -> [u8; 4] {
    (v as i32).to_le_bytes()
}

pub(super) fn write(m: &Model, d: &Dialect) -> Result<Vec<u8>> {
    let v090 = d.version.major == 0;
    let bs = &m.learner.base_score;
    let base = match bs.values.as_slice() {
        [v] if !bs.vector => *v,
        _ => return Err(unrepresentable(d, "a vector base_score")),
    };
    let want_space = if v090 {
        ScoreSpace::Margin
    } else {
        ScoreSpace::Response
    };
    if bs.space != want_space {
        return Err(unrepresentable(
            d,
            "a base_score stored in the other space (0.90 stores a margin, 1.0+ a response value)",
        ));
    }
    if m.learner.num_target > 1 && !d.at_least(1, 6) {
        return Err(unrepresentable(d, "several targets"));
    }
    let groups = m.num_output_groups().max(1) as i64;
    let mut attrs: Vec<(String, String)> = m.attributes.clone();
    if !v090 {
        let obj = serde_json::to_string(&m.objective.config).unwrap_or_default();
        attrs.retain(|(k, _)| k != "objective");
        attrs.push(("objective".into(), obj));
    }
    attrs.sort_by(|a, b| a.0.cmp(&b.0));
    attrs.dedup_by(|a, b| a.0 == b.0);
    let extra = if v090 {
        i32::from(!attrs.is_empty())
    } else {
        1
    };

    let mut o = Out(Vec::new());
    if d.at_least(1, 1) {
        o.0.extend_from_slice(b"binf");
    }
    let mut header: Vec<(usize, [u8; 4])> = vec![
        (0, base.to_le_bytes()),
        (4, (m.learner.num_feature as u32).to_le_bytes()),
        (8, i32_field(m.learner.num_class)),
        (12, extra.to_le_bytes()),
    ];
    if !v090 {
        header.push((20, d.version.major.to_le_bytes()));
        header.push((24, d.version.minor.to_le_bytes()));
    }
    if d.at_least(1, 6) {
        header.push((28, i32_field(m.learner.num_target.max(1))));
    }
    if d.at_least(1, 7) {
        header.push((
            32,
            i32::from(m.learner.boost_from_average.unwrap_or(true)).to_le_bytes(),
        ));
    }
    o.block(LEARNER_PARAM_SIZE, &header);
    o.string(&m.objective.name);
    o.string(m.booster.name());

    match &m.booster {
        Booster::Linear(l) => {
            let fields: Vec<(usize, [u8; 4])> = if v090 {
                vec![
                    (0, (m.learner.num_feature as u32).to_le_bytes()),
                    (4, i32_field(groups)),
                ]
            } else {
                Vec::new()
            };
            o.block(GBLINEAR_PARAM_SIZE, &fields);
            o.u64(l.weights.len() as u64);
            for w in &l.weights {
                o.f32(*w);
            }
        }
        Booster::Trees(t) => {
            if t.trees.iter().any(|x| x.is_vector_leaf()) {
                return Err(unrepresentable(d, "vector-leaf (multi-target) trees"));
            }
            let n = t.trees.len() as i64;
            let mut fields = vec![(0, i32_field(n))];
            if v090 {
                fields.push((4, 1i32.to_le_bytes()));
                fields.push((8, (m.learner.num_feature as u32).to_le_bytes()));
                fields.push((24, i32_field(groups)));
            } else if d.at_least(1, 6) {
                fields.push((4, i32_field(t.num_parallel_tree.unwrap_or(1).max(1))));
            } else {
                fields.push((4, 1i32.to_le_bytes()));
            }
            o.block(GBTREE_PARAM_SIZE, &fields);
            for tree in &t.trees {
                write_tree(&mut o, tree, d)?;
            }
            for g in &t.tree_info {
                o.i32(*g);
            }
            if t.dart && n > 0 {
                let w = t.weight_drop.as_deref().unwrap_or(&[]);
                if w.len() != t.trees.len() {
                    return Err(unrepresentable(
                        d,
                        "a DART model whose weights do not match its trees",
                    ));
                }
                o.u64(w.len() as u64);
                for x in w {
                    o.f32(*x);
                }
            }
        }
    }

    if extra != 0 {
        o.u64(attrs.len() as u64);
        for (k, v) in &attrs {
            o.string(k);
            o.string(v);
        }
    }
    if v090 && m.objective.name == "count:poisson" {
        let mds = m
            .source
            .binary
            .as_ref()
            .and_then(|b| b.max_delta_step.clone())
            .or_else(|| {
                m.objective
                    .config
                    .pointer("/poisson_regression_param/max_delta_step")
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "0.7".into());
        o.string(&mds);
    }
    Ok(o.0)
}

fn write_tree(o: &mut Out, t: &Tree, d: &Dialect) -> Result<()> {
    let n = t.len();
    if (0..n).any(|k| t.is_categorical(k)) {
        return Err(unrepresentable(d, "categorical splits"));
    }
    let slv: i64 = if d.at_least(2, 0) { 1 } else { 0 };
    o.block(
        TREE_PARAM_SIZE,
        &[
            (0, i32_field(t.param.num_roots.unwrap_or(1))),
            (4, i32_field(n as i64)),
            (8, i32_field(t.param.num_deleted)),
            (12, i32_field(t.param.max_depth_field.unwrap_or(0))),
            (16, i32_field(t.param.num_feature)),
            (20, i32_field(slv)),
        ],
    );
    for i in 0..n {
        let parent = t.parents[i];
        let pfield = if parent == ROOT_PARENT || parent == -1 {
            -1i32
        } else {
            let is_left = usize::try_from(parent)
                .ok()
                .and_then(|p| t.left_children.get(p))
                .is_some_and(|&l| usize::try_from(l).ok() == Some(i));
            (parent & 0x7FFF_FFFF) | if is_left { i32::MIN } else { 0 }
        };
        o.i32(pfield);
        o.i32(t.left_children[i]);
        o.i32(t.right_children[i]);
        let idx = t.split_indices[i];
        let idx = if idx == DELETED_SPLIT_INDEX {
            idx
        } else {
            idx & 0x7FFF_FFFF
        };
        let dl = t.default_left.get(i).copied().unwrap_or(false);
        o.u32(idx as u32 | if dl { 1 << 31 } else { 0 });
        o.f32(t.split_conditions[i]);
    }
    let stat = |v: &[f32], i: usize| if v.len() == n { v[i] } else { 0.0 };
    for i in 0..n {
        o.f32(stat(&t.loss_changes, i));
        o.f32(stat(&t.sum_hessian, i));
        o.f32(stat(&t.base_weights, i));
        let lcc = t
            .leaf_child_counts
            .as_ref()
            .filter(|v| v.len() == n)
            .map_or(0, |v| v[i]);
        o.i32(lcc);
    }
    Ok(())
}
