//! Reader for XGBoost's legacy binary model format (0.90 – 3.0).
//!
//! Little-endian C structs written through dmlc streams:
//!
//! ```text
//! ["binf"]                           optional magic (1.1 – 3.0)
//! LearnerModelParam   136 bytes      base_score f32, num_feature u32, num_class i32,
//!                                    contain_extra_attrs i32, contain_eval_metrics i32,
//!                                    major u32, minor u32, num_target u32 (1.6+),
//!                                    boost_from_average i32 (1.7+), reserved
//! string objective, string booster   u64 length + bytes
//! gbtree/dart: GBTreeModelParam 160 bytes, then per tree TreeParam 148 bytes,
//!              Node 20 bytes × n, RTreeNodeStat 16 bytes × n; then i32 tree_info[num_trees];
//!              dart: vec<f32> weight_drop (when num_trees > 0)
//! gblinear:    GBLinearModelParam 136 bytes, vec<f32> weights
//! if contain_extra_attrs: vec<pair<string,string>> attributes
//! 0.90 only: count:poisson ⇒ string max_delta_step; contain_eval_metrics ⇒ vec<string>
//! ```
//!
//! Every count and length is checked against the bytes that remain before
//! anything is allocated. Offsets in errors and spans are absolute in the input.

use super::ir::*;
use crate::error::{Error, Result};
use crate::report::{Finding, Location};

const FORMAT: &str = "XGBoost legacy binary";
/// Size of `LearnerModelParam`.
pub const LEARNER_PARAM_SIZE: usize = 136;
/// Size of `GBTreeModelParam`.
pub const GBTREE_PARAM_SIZE: usize = 160;
/// Size of `TreeParam`.
pub const TREE_PARAM_SIZE: usize = 148;
/// Size of one `Node`.
pub const NODE_SIZE: usize = 20;
/// Size of one `RTreeNodeStat`.
pub const STAT_SIZE: usize = 16;
/// Size of `GBLinearModelParam`.
pub const GBLINEAR_PARAM_SIZE: usize = 136;
/// Longest objective/booster name accepted when sniffing a headerless file.
pub const MAX_NAME_LEN: usize = 64;

struct Rd<'a> {
    b: &'a [u8],
    p: usize,
    base: u64,
}

impl<'a> Rd<'a> {
    fn abs(&self, p: usize) -> u64 {
        self.base + p as u64
    }

    fn remaining(&self) -> usize {
        self.b.len().saturating_sub(self.p)
    }

    fn truncated(&self, n: usize, what: impl std::fmt::Display) -> Error {
        Error::InvalidModel {
            format: FORMAT.into(),
            finding: Box::new(
                Finding::error(
                    "xgb.truncated",
                    format!(
                        "the file ends inside {what}: {n} bytes needed at byte {}, only {} remain",
                        self.abs(self.p),
                        self.remaining()
                    ),
                )
                .with_hint("the file is truncated; copy it again from where it was trained")
                .at(Location::Offset(self.abs(self.p))),
            ),
        }
    }

    fn take(&mut self, n: usize, what: impl std::fmt::Display) -> Result<&'a [u8]> {
        match self.p.checked_add(n).and_then(|e| self.b.get(self.p..e)) {
            Some(s) => {
                self.p += n;
                Ok(s)
            }
            None => Err(self.truncated(n, what)),
        }
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let s = self.take(4, what)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(self.u32(what)? as i32)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        let s = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    /// A declared count whose elements need `unit` bytes each.
    fn count(
        &mut self,
        declared: u64,
        unit: usize,
        at: usize,
        what: impl std::fmt::Display,
    ) -> Result<usize> {
        let need = usize::try_from(declared)
            .ok()
            .and_then(|n| n.checked_mul(unit.max(1)));
        match need {
            Some(need) if need <= self.remaining() => Ok(usize::try_from(declared).unwrap_or(0)),
            _ => Err(Error::InvalidModel {
                format: FORMAT.into(),
                finding: Box::new(
                    Finding::error(
                        "xgb.length_exceeds_input",
                        format!(
                            "{what} declares {declared} elements of {unit} bytes, more than the {} bytes left in the file: it is truncated or the count is corrupt",
                            self.remaining()
                        ),
                    )
                    .at(Location::Offset(self.abs(at))),
                ),
            }),
        }
    }

    /// A dmlc string: u64 length + bytes. Returns the raw bytes.
    fn string_raw(&mut self, what: &str, allow_quirk: bool) -> Result<(&'a [u8], bool)> {
        let at = self.p;
        let mut len = self.u64(what)?;
        let mut quirk = false;
        if allow_quirk && len >= 0xFFFF_FFFF {
            // 0.90's loader: an old 32-bit length encoding; an extra i32 follows.
            self.i32(what)?;
            len >>= 32;
            quirk = true;
        }
        let n = self.count(len, 1, at, what)?;
        Ok((self.take(n, what)?, quirk))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let at = self.p;
        let (raw, _) = self.string_raw(what, false)?;
        utf8(raw, self.abs(at + 8), what)
    }
}

fn utf8(raw: &[u8], at: u64, what: &str) -> Result<String> {
    match std::str::from_utf8(raw) {
        Ok(s) => Ok(s.to_owned()),
        Err(e) => Err(Error::InvalidModel {
            format: FORMAT.into(),
            finding: Box::new(
                Finding::error("xgb.invalid_utf8", format!("{what} is not valid UTF-8"))
                    .at(Location::Offset(at + e.valid_up_to() as u64)),
            ),
        }),
    }
}

fn le_i32(s: &[u8], off: usize) -> i32 {
    s.get(off..off + 4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0)
}

fn le_f32(s: &[u8], off: usize) -> f32 {
    f32::from_bits(le_i32(s, off) as u32)
}

/// What sniffing concludes about bytes that might be a headerless binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The header and both name strings look like XGBoost's.
    Plausible,
    /// Not a legacy binary model.
    No,
}

fn plausible_name(s: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b':' | b'_' | b'-' | b'.'))
}

/// Structural check of a legacy binary model without magic: the objective
/// and booster strings must sit right after the 136-byte header with sane
/// lengths and names (`gbtree`, `gblinear`, `dart`, or at least identifier-like).
pub fn probe(bytes: &[u8]) -> Probe {
    let mut r = Rd {
        b: bytes,
        p: 0,
        base: 0,
    };
    if bytes.starts_with(b"binf") {
        r.p = 4;
    }
    if r.take(LEARNER_PARAM_SIZE, "").is_err() {
        return Probe::No;
    }
    let Ok((obj, _)) = r.string_raw("", true) else {
        return Probe::No;
    };
    if !plausible_name(obj) {
        return Probe::No;
    }
    let Ok((booster, _)) = r.string_raw("", false) else {
        return Probe::No;
    };
    if matches!(booster, b"gbtree" | b"gblinear" | b"dart") {
        Probe::Plausible
    } else {
        Probe::No
    }
}

/// Parses a legacy binary model. `base` is the offset of `bytes` in the
/// input (non-zero inside snapshots and pickles). Non-fatal problems go to
/// `findings`.
pub fn parse(bytes: &[u8], base: u64, findings: &mut Vec<Finding>) -> Result<Model> {
    let mut r = Rd {
        b: bytes,
        p: 0,
        base,
    };
    let binf = bytes.starts_with(b"binf");
    if binf {
        r.p = 4;
    }
    let hp = r.p;
    let h = r.take(
        LEARNER_PARAM_SIZE,
        "the learner header (LearnerModelParam, 136 bytes)",
    )?;
    let base_score = le_f32(h, 0);
    let num_feature = le_i32(h, 4) as u32;
    let num_class = le_i32(h, 8);
    let contain_extra_attrs = le_i32(h, 12);
    let contain_eval_metrics = le_i32(h, 16);
    let major = le_i32(h, 20) as u32;
    let minor = le_i32(h, 24) as u32;
    let num_target_field = le_i32(h, 28) as u32;
    let bfa_field = le_i32(h, 32);
    let mut spans = SourceMap::default();
    spans.set(
        "base_score",
        Span::Bytes {
            offset: r.abs(hp),
            stride: 0,
        },
    );
    spans.set(
        "num_feature",
        Span::Bytes {
            offset: r.abs(hp + 4),
            stride: 0,
        },
    );
    spans.set(
        "num_class",
        Span::Bytes {
            offset: r.abs(hp + 8),
            stride: 0,
        },
    );
    spans.set(
        "num_target",
        Span::Bytes {
            offset: r.abs(hp + 28),
            stride: 0,
        },
    );
    let ver = (major, minor);

    let obj_at = r.p;
    spans.set(
        "objective",
        Span::Bytes {
            offset: r.abs(obj_at),
            stride: 0,
        },
    );
    let (obj_raw, old_len) = r.string_raw("the objective name", major == 0)?;
    let objective = utf8(obj_raw, r.abs(obj_at + 8), "the objective name")?;
    let booster_at = r.p;
    let booster_name = r.string("the booster name")?;

    let booster = match booster_name.as_str() {
        "gbtree" | "dart" => {
            let t = read_gbtree(&mut r, booster_name == "dart", &mut spans, findings)?;
            Booster::Trees(t)
        }
        "gblinear" => {
            let pp = r.p;
            let p = r.take(GBLINEAR_PARAM_SIZE, "the gblinear parameter (136 bytes)")?;
            let nf = le_i32(p, 0) as u32;
            let ng = le_i32(p, 4);
            let wat = r.p;
            let n = r.u64("the gblinear weight count")?;
            let n = r.count(n, 4, wat, "the gblinear weight vector")?;
            spans.set(
                "weights",
                Span::Bytes {
                    offset: r.abs(wat + 8),
                    stride: 4,
                },
            );
            spans.set(
                "gblinear_param",
                Span::Bytes {
                    offset: r.abs(pp),
                    stride: 0,
                },
            );
            let raw = r.take(n * 4, "the gblinear weights")?;
            let weights = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Booster::Linear(LinearModel {
                weights,
                boosted_rounds: None,
                num_feature_field: Some(i64::from(nf)),
                num_output_group_field: Some(i64::from(ng)),
            })
        }
        other => {
            return Err(Error::InvalidModel {
                format: FORMAT.into(),
                finding: Box::new(
                    Finding::error(
                        "xgb.booster.unknown",
                        format!("unknown booster {other:?} (expected gbtree, dart or gblinear)"),
                    )
                    .at(Location::Offset(r.abs(booster_at))),
                ),
            });
        }
    };

    // Attributes.
    let mut attributes = Vec::new();
    let mut internal = Vec::new();
    let mut objective_attr = None;
    let mut metrics = Vec::new();
    if contain_extra_attrs != 0 {
        let at = r.p;
        spans.set(
            "attributes",
            Span::Bytes {
                offset: r.abs(at),
                stride: 0,
            },
        );
        let n = r.u64("the attribute count")?;
        let n = r.count(n, 16, at, "the attribute list")?;
        for _ in 0..n {
            let k = r.string("an attribute name")?;
            let v = r.string("an attribute value")?;
            match k.as_str() {
                "objective" => objective_attr = Some(v),
                "metrics" => {
                    metrics.extend(v.split(';').filter(|s| !s.is_empty()).map(String::from))
                }
                _ => {
                    if k.starts_with("SAVED_PARAM_") {
                        internal.push(k.clone());
                    }
                    attributes.push((k, v));
                }
            }
        }
    }
    let mut max_delta_step = None;
    if major == 0 {
        if objective == "count:poisson" && r.remaining() > 0 {
            max_delta_step = Some(r.string("max_delta_step")?);
        }
        if contain_eval_metrics != 0 {
            let at = r.p;
            let n = r.u64("the metric count")?;
            let n = r.count(n, 8, at, "the metric list")?;
            for _ in 0..n {
                metrics.push(r.string("a metric name")?);
            }
        }
    }
    spans.set(
        "end",
        Span::Bytes {
            offset: r.abs(r.p),
            stride: 0,
        },
    );
    if r.remaining() > 0 {
        findings.push(
            Finding::warning(
                "xgb.trailing_bytes",
                format!(
                    "{} bytes after the end of the model are ignored by XGBoost",
                    r.remaining()
                ),
            )
            .with_hint(
                "the file may have been concatenated with other data or padded; re-save the model",
            )
            .at(Location::Offset(r.abs(r.p))),
        );
    }

    // Objective configuration. 1.0+ loaders configure the objective from
    // the `objective` attribute; its name is what the library then reports
    // (e.g. the header's deprecated `reg:linear` becomes `reg:squarederror`).
    let header_objective = objective.clone();
    let mut objective = objective;
    let config = match &objective_attr {
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => {
                if let Some(n) = v.get("name").and_then(|n| n.as_str())
                    && n != objective
                {
                    let alias =
                        matches!((objective.as_str(), n), ("reg:linear", "reg:squarederror"));
                    if !alias {
                        findings.push(
                            Finding::warning(
                                "xgb.objective.mismatch",
                                format!(
                                    "the header names objective {objective:?} but the objective attribute names {n:?}; XGBoost 1.0+ configures the objective from the attribute"
                                ),
                            )
                            .at(Location::Offset(r.abs(obj_at))),
                        );
                    }
                    objective = n.to_string();
                }
                v
            }
            Err(e) => {
                findings.push(
                    Finding::warning(
                        "xgb.objective.config_invalid",
                        format!("the objective attribute is not valid JSON ({e}); XGBoost will fail to configure the objective"),
                    )
                    .at(Location::Offset(r.abs(obj_at))),
                );
                serde_json::json!({ "name": header_objective })
            }
        },
        None => serde_json::json!({ "name": header_objective }),
    };

    let margin = major == 0;
    let num_target = if ver >= (1, 6) {
        i64::from(num_target_field)
    } else {
        1
    };
    let boost_from_average = (ver >= (1, 7)).then_some(bfa_field != 0);
    let version = if major == 0 {
        ProducerVersion {
            exact: None,
            min: Version::mm(0, 90),
            max: Some(Version::mm(0, 90)),
            basis: "legacy binary with header version 0: written by 0.90 or earlier".into(),
        }
    } else {
        let v = Version::mm(major, minor);
        ProducerVersion {
            exact: Some(v),
            min: v,
            max: Some(v),
            basis: format!(
                "legacy binary header version {major}.{minor}{}",
                if binf {
                    " (with binf magic)"
                } else {
                    " (no binf magic)"
                }
            ),
        }
    };
    if major != 0 && !binf && ver >= (1, 1) {
        findings.push(
            Finding::info(
                "xgb.binary.no_magic",
                format!("header version {major}.{minor} but no binf magic; XGBoost 1.1+ normally writes it"),
            )
            .at(Location::Offset(base)),
        );
    }
    Ok(Model {
        source: Source {
            encoding: Encoding::LegacyBinary,
            snapshot: None,
            pickle: None,
            binary: Some(BinaryFacts {
                binf_magic: binf,
                major_version: major,
                minor_version: minor,
                contain_extra_attrs,
                contain_eval_metrics,
                old_string_length: old_len,
                max_delta_step,
                metrics,
                objective_attribute: objective_attr,
                header_objective,
                saved_param_attributes: internal,
            }),
            dialect: None,
            input_len: 0,
            payload_offset: base,
        },
        version,
        learner: LearnerParams {
            base_score: BaseScore {
                stored: format!("{base_score}"),
                values: vec![base_score],
                vector: false,
                space: if margin {
                    ScoreSpace::Margin
                } else {
                    ScoreSpace::Response
                },
            },
            num_feature: u64::from(num_feature),
            num_class: i64::from(num_class),
            num_target,
            boost_from_average,
        },
        objective: Objective {
            name: objective,
            config,
        },
        booster,
        feature_names: Vec::new(),
        feature_types: Vec::new(),
        attributes,
        spans,
    })
}

fn read_gbtree(
    r: &mut Rd<'_>,
    dart: bool,
    spans: &mut SourceMap,
    findings: &mut Vec<Finding>,
) -> Result<TreeModel> {
    let pp = r.p;
    let p = r.take(
        GBTREE_PARAM_SIZE,
        "the gbtree parameter (GBTreeModelParam, 160 bytes)",
    )?;
    let num_trees = le_i32(p, 0);
    let roots_or_parallel = le_i32(p, 4);
    let nf_field = le_i32(p, 8);
    let num_output_group = le_i32(p, 24);
    let slv = le_i32(p, 28);
    spans.set(
        "num_trees",
        Span::Bytes {
            offset: r.abs(pp),
            stride: 0,
        },
    );
    let Ok(n_trees) = u64::try_from(num_trees) else {
        return Err(Error::InvalidModel {
            format: FORMAT.into(),
            finding: Box::new(
                Finding::error(
                    "xgb.gbtree.num_trees",
                    format!("num_trees is negative ({num_trees})"),
                )
                .at(Location::Offset(r.abs(pp))),
            ),
        });
    };
    // Each tree needs at least its 148-byte parameter and a 4-byte tree_info entry.
    let n_trees = r.count(n_trees, TREE_PARAM_SIZE + 4, pp, "num_trees")?;
    spans.set(
        "trees",
        Span::Bytes {
            offset: r.abs(r.p),
            stride: 0,
        },
    );
    // Slice every tree off the input first (where reading can fail), then
    // decode them, on several threads for a large model; the findings of
    // each run of trees are appended in tree order.
    let mut raw = Vec::with_capacity(n_trees);
    for t in 0..n_trees {
        raw.push(slice_tree(r, t)?);
    }
    let base = r.base;
    let runs = super::par_runs(raw, |_, run: Vec<RawTree<'_>>| {
        let mut found = Vec::new();
        let decoded: Vec<(Tree, TreeSpans)> = run
            .iter()
            .map(|t| decode_tree(t, base, &mut found))
            .collect();
        (decoded, found)
    });
    let mut trees = Vec::with_capacity(n_trees);
    for (decoded, found) in runs {
        findings.extend(found);
        for (tree, ts) in decoded {
            trees.push(tree);
            spans.trees.push(ts);
        }
    }
    let mut tree_info = Vec::with_capacity(n_trees);
    if n_trees > 0 {
        let at = r.p;
        spans.set(
            "tree_info",
            Span::Bytes {
                offset: r.abs(at),
                stride: 4,
            },
        );
        let raw = r.take(n_trees * 4, "tree_info")?;
        tree_info.extend(
            raw.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
    }
    let mut weight_drop = None;
    if dart {
        if n_trees > 0 {
            let at = r.p;
            let n = r.u64("the dart weight count")?;
            let n = r.count(n, 4, at, "the dart weight_drop vector")?;
            spans.set(
                "weight_drop",
                Span::Bytes {
                    offset: r.abs(at + 8),
                    stride: 4,
                },
            );
            let raw = r.take(n * 4, "the dart weights")?;
            weight_drop = Some(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            );
        } else {
            weight_drop = Some(Vec::new());
        }
    }
    Ok(TreeModel {
        dart,
        num_trees_declared: i64::from(num_trees),
        num_parallel_tree: Some(i64::from(roots_or_parallel)),
        size_leaf_vector: Some(i64::from(slv)),
        num_output_group_field: Some(i64::from(num_output_group)),
        num_feature_field: Some(i64::from(nf_field)),
        trees,
        tree_info,
        iteration_indptr: None,
        weight_drop,
        config_num_parallel_tree: None,
        cats: None,
    })
}

/// One tree's bytes, sliced off the input (the part of reading a tree that
/// can fail); [`decode_tree`] turns it into a [`Tree`].
struct RawTree<'a> {
    /// Tree index.
    t: usize,
    tp_at: usize,
    tp: &'a [u8],
    nodes_at: usize,
    nodes: &'a [u8],
    stats_at: usize,
    stats: &'a [u8],
}

fn slice_tree<'a>(r: &mut Rd<'a>, t: usize) -> Result<RawTree<'a>> {
    let tp_at = r.p;
    let tp = r.take(
        TREE_PARAM_SIZE,
        format_args!("tree {t}'s parameter (TreeParam, 148 bytes)"),
    )?;
    let num_nodes = le_i32(tp, 4);
    let Ok(nn) = u64::try_from(num_nodes) else {
        return Err(Error::InvalidModel {
            format: FORMAT.into(),
            finding: Box::new(
                Finding::error(
                    "xgb.tree.num_nodes",
                    format!("tree {t} declares a negative node count ({num_nodes})"),
                )
                .at(Location::Offset(r.abs(tp_at + 4))),
            ),
        });
    };
    let n = r.count(
        nn,
        NODE_SIZE + STAT_SIZE,
        tp_at + 4,
        format_args!("tree {t}'s num_nodes"),
    )?;
    let nodes_at = r.p;
    let nodes = r.take(n * NODE_SIZE, format_args!("tree {t}'s nodes"))?;
    let stats_at = r.p;
    let stats = r.take(n * STAT_SIZE, format_args!("tree {t}'s node statistics"))?;
    Ok(RawTree {
        t,
        tp_at,
        tp,
        nodes_at,
        nodes,
        stats_at,
        stats,
    })
}

/// Decodes a sliced tree; `base` is the input's offset (for locations).
fn decode_tree(raw: &RawTree<'_>, base: u64, findings: &mut Vec<Finding>) -> (Tree, TreeSpans) {
    let RawTree {
        t,
        tp_at,
        tp,
        nodes_at,
        nodes,
        stats_at,
        stats,
    } = *raw;
    let abs = |p: usize| base + p as u64;
    // Each field into its own array in one pass over the fixed-size records.
    let (nodes, _) = nodes.as_chunks::<NODE_SIZE>();
    let (stats, _) = stats.as_chunks::<STAT_SIZE>();
    let at =
        |r: &[u8; NODE_SIZE], o: usize| i32::from_le_bytes([r[o], r[o + 1], r[o + 2], r[o + 3]]);
    let st =
        |r: &[u8; STAT_SIZE], o: usize| f32::from_le_bytes([r[o], r[o + 1], r[o + 2], r[o + 3]]);
    let sindex = |r: &[u8; NODE_SIZE]| at(r, 12) as u32;
    let tree = Tree {
        id: None,
        param: TreeParam {
            num_nodes: i64::from(le_i32(tp, 4)),
            num_deleted: i64::from(le_i32(tp, 8)),
            num_feature: i64::from(le_i32(tp, 16)),
            size_leaf_vector: i64::from(le_i32(tp, 20)),
            num_roots: Some(i64::from(le_i32(tp, 0))),
            max_depth_field: Some(i64::from(le_i32(tp, 12))),
        },
        left_children: nodes.iter().map(|r| at(r, 4)).collect(),
        right_children: nodes.iter().map(|r| at(r, 8)).collect(),
        parents: nodes.iter().map(|r| at(r, 0) & 0x7FFF_FFFF).collect(),
        split_indices: nodes
            .iter()
            .map(|r| (sindex(r) & 0x7FFF_FFFF) as i32)
            .collect(),
        split_conditions: nodes
            .iter()
            .map(|r| f32::from_bits(at(r, 16) as u32))
            .collect(),
        default_left: nodes.iter().map(|r| sindex(r) >> 31 == 1).collect(),
        split_type: None,
        categories: None,
        base_weights: stats.iter().map(|r| st(r, 8)).collect(),
        loss_changes: stats.iter().map(|r| st(r, 0)).collect(),
        sum_hessian: stats.iter().map(|r| st(r, 4)).collect(),
        leaf_child_counts: Some(
            stats
                .iter()
                .map(|r| i32::from_le_bytes([r[12], r[13], r[14], r[15]]))
                .collect(),
        ),
        leaf_weights: None,
    };
    // The "is left child" bit of each parent field must agree with the parent's children.
    for (i, r) in nodes.iter().enumerate().skip(1) {
        let parent = at(r, 0);
        let is_left = (parent as u32) >> 31 == 1 && parent != -1;
        let Ok(p) = usize::try_from(tree.parents[i]) else {
            continue;
        };
        let (Some(&l), Some(&rc)) = (tree.left_children.get(p), tree.right_children.get(p)) else {
            continue;
        };
        let actual_left = usize::try_from(l).ok() == Some(i);
        let actual_right = usize::try_from(rc).ok() == Some(i);
        if (actual_left && !is_left) || (actual_right && is_left) {
            findings.push(
                Finding::warning(
                    "xgb.binary.parent_side",
                    format!(
                        "tree {t} node {i}: the parent field says it is the {} child of node {p}, but node {p} lists it as its {} child",
                        if is_left { "left" } else { "right" },
                        if actual_left { "left" } else { "right" }
                    ),
                )
                .at(Location::Offset(abs(nodes_at + i * NODE_SIZE))),
            );
        }
    }
    let nb = abs(nodes_at);
    let sb = abs(stats_at);
    let f = |off: u64, stride: u64| Span::Bytes {
        offset: off,
        stride,
    };
    let spans = TreeSpans {
        tree: Some(Span::Bytes {
            offset: abs(tp_at),
            stride: 0,
        }),
        fields: vec![
            ("num_nodes", f(abs(tp_at + 4), 0)),
            ("num_deleted", f(abs(tp_at + 8), 0)),
            ("parents", f(nb, 20)),
            ("left_children", f(nb + 4, 20)),
            ("right_children", f(nb + 8, 20)),
            ("split_indices", f(nb + 12, 20)),
            ("default_left", f(nb + 12, 20)),
            ("split_conditions", f(nb + 16, 20)),
            ("loss_changes", f(sb, 16)),
            ("sum_hessian", f(sb + 4, 16)),
            ("base_weights", f(sb + 8, 16)),
            ("leaf_child_counts", f(sb + 12, 16)),
        ],
    };
    (tree, spans)
}
