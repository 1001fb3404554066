//! The result of inspecting a model: the IR, a serialisable summary, and
//! every finding.

use super::ir::*;
use super::validate::TreeStats;
use crate::report::{Finding, Severity};
use serde::Serialize;
use std::fmt::Write as _;

/// A read, validated model.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The model.
    pub model: Model,
    /// What `sm-pack inspect --json` prints and the manifest records.
    pub summary: Summary,
    /// Reader and validator findings.
    pub findings: Vec<Finding>,
}

/// Serialisable model summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Model encoding (inside any wrapper).
    pub encoding: Encoding,
    /// One-line description of the container/wrapper chain, e.g.
    /// `"pickle (protocol 2) of xgboost.core.Booster → UBJSON snapshot"`.
    pub container: String,
    /// Memory snapshot kind, when the model was in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotKind>,
    /// Pickle facts, for pickles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pickle: Option<PickleSummary>,
    /// Producer version.
    pub producer: ProducerSummary,
    /// Objective name.
    pub objective: String,
    /// Whether sm-pack (and XGBoost 0.90 – 3.4) knows the objective.
    pub objective_known: bool,
    /// `gbtree`, `dart` or `gblinear`.
    pub booster: &'static str,
    /// Number of features.
    pub num_feature: u64,
    /// Number of classes (0: not multi-class).
    pub num_class: i64,
    /// Number of targets.
    pub num_target: i64,
    /// Output groups the margins are computed for.
    pub output_groups: usize,
    /// Tree statistics (gbtree/dart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trees: Option<TreeSummary>,
    /// Linear model facts (gblinear).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linear: Option<LinearSummary>,
    /// Uses categorical splits.
    pub categorical: bool,
    /// Uses vector (multi-target) leaves.
    pub vector_leaves: bool,
    /// Feature names (may be empty).
    pub feature_names: Vec<String>,
    /// Feature types (may be empty).
    pub feature_types: Vec<String>,
    /// The intercept.
    pub base_score: BaseScoreSummary,
    /// User attributes.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Finding counts by severity.
    pub findings: FindingCounts,
}

/// Pickle facts for the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PickleSummary {
    /// Protocol.
    pub protocol: u8,
    /// `module.Class` of the pickled object.
    pub class: String,
    /// Booster, scikit-learn wrapper, or other object.
    pub object: PickleObject,
    /// How the model bytes are stored.
    pub payload: PicklePayloadOp,
    /// Size of the model bytes.
    pub payload_bytes: u64,
}

/// Producer version for the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProducerSummary {
    /// Human text: `3.2.0`, `0.90`, `≥ 1.6`, `1.0 – 1.2`.
    pub version: String,
    /// Exact version, when recorded.
    pub exact: Option<String>,
    /// Lower bound.
    pub min: String,
    /// Upper bound (`None`: newest).
    pub max: Option<String>,
    /// Where the version comes from.
    pub basis: String,
}

/// Tree statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TreeSummary {
    /// Number of trees.
    pub num_trees: usize,
    /// Boosting rounds (`iteration_indptr`, or trees / (num_parallel_tree × groups)).
    pub rounds: usize,
    /// Trees per output group per round.
    pub num_parallel_tree: i64,
    /// DART booster.
    pub dart: bool,
    /// Shallowest tree's depth (a lone root leaf has depth 0).
    pub min_depth: usize,
    /// Mean tree depth.
    pub mean_depth: f64,
    /// Deepest tree's depth.
    pub max_depth: usize,
    /// Node slots in all trees.
    pub total_nodes: usize,
    /// Reachable leaves.
    pub leaves: usize,
    /// Reachable split nodes.
    pub splits: usize,
    /// Deleted nodes.
    pub deleted_nodes: usize,
    /// Reachable categorical splits.
    pub categorical_splits: usize,
    /// Leaf vector size (1 for scalar leaves).
    pub leaf_vector_size: usize,
}

/// gblinear facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinearSummary {
    /// Number of weights (including biases).
    pub weights: usize,
    /// `boosted_rounds`, when stored.
    pub boosted_rounds: Option<i64>,
}

/// base_score for the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaseScoreSummary {
    /// As stored.
    pub stored: String,
    /// Parsed values.
    pub values: Vec<f32>,
    /// Stored as a vector string (3.1+).
    pub vector: bool,
    /// The space the stored values are in.
    pub space: ScoreSpace,
    /// The intercept as a margin (`null` where undefined).
    pub margin: Vec<Option<f64>>,
}

/// Finding counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FindingCounts {
    /// Errors.
    pub errors: usize,
    /// Warnings.
    pub warnings: usize,
    /// Infos.
    pub infos: usize,
}

fn container_text(m: &Model) -> String {
    let inner = match m.source.snapshot {
        Some(SnapshotKind::ConfigOffset) => {
            "CONFIG-offset snapshot (legacy binary + JSON config)".to_string()
        }
        Some(SnapshotKind::Json) => "JSON snapshot {\"Config\",\"Model\"}".to_string(),
        Some(SnapshotKind::Ubjson) => "UBJSON snapshot {\"Config\",\"Model\"}".to_string(),
        None => match (m.source.encoding, &m.source.binary) {
            (Encoding::LegacyBinary, Some(b)) if b.binf_magic => "legacy binary (binf)".to_string(),
            (Encoding::LegacyBinary, _) => "legacy binary (no magic)".to_string(),
            (e, _) => e.describe().to_string(),
        },
    };
    match &m.source.pickle {
        Some(p) => format!(
            "pickle (protocol {}) of {}.{} → {inner}",
            p.protocol, p.module, p.class
        ),
        None => inner,
    }
}

impl Inspection {
    /// Builds the summary for a validated model.
    pub fn new(model: Model, findings: Vec<Finding>, stats: &[TreeStats]) -> Self {
        let summary = summarize(&model, &findings, stats);
        Inspection {
            model,
            summary,
            findings,
        }
    }

    /// The summary as a JSON value.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.summary).unwrap_or(serde_json::Value::Null)
    }

    /// True when some finding has error severity.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// A multi-line description for a terminal (`sm-pack inspect MODEL`).
    /// Findings are counted on the last line, not listed; render them
    /// separately.
    pub fn human_summary(&self) -> String {
        let s = &self.summary;
        let m = &self.model;
        let mut o = String::new();
        let _ = writeln!(o, "XGBoost model ({})", s.container);
        let _ = writeln!(
            o,
            "  written by    XGBoost {} ({})",
            s.producer.version, s.producer.basis
        );
        let known = if s.objective_known {
            ""
        } else {
            "  (unknown objective!)"
        };
        let _ = writeln!(o, "  objective     {}{known}", s.objective);
        match (&s.trees, &s.linear) {
            (Some(t), _) => {
                let par = if t.num_parallel_tree > 1 {
                    format!(", {} parallel trees per round", t.num_parallel_tree)
                } else {
                    String::new()
                };
                let _ = writeln!(
                    o,
                    "  booster       {}: {} trees in {} rounds{par}",
                    s.booster, t.num_trees, t.rounds
                );
                if t.num_trees > 0 {
                    let _ = writeln!(
                        o,
                        "  tree depth    min {}, mean {:.1}, max {}",
                        t.min_depth, t.mean_depth, t.max_depth
                    );
                    let _ = writeln!(
                        o,
                        "  nodes         {} total: {} splits, {} leaves, {} deleted",
                        t.total_nodes, t.splits, t.leaves, t.deleted_nodes
                    );
                }
            }
            (None, Some(l)) => {
                let rounds = l
                    .boosted_rounds
                    .map(|r| format!(", {r} rounds"))
                    .unwrap_or_default();
                let _ = writeln!(o, "  booster       gblinear: {} weights{rounds}", l.weights);
            }
            _ => {}
        }
        let names = if s.feature_names.is_empty() {
            String::from(" (no names stored)")
        } else {
            let shown: Vec<&str> = s.feature_names.iter().take(8).map(String::as_str).collect();
            let more = if s.feature_names.len() > 8 {
                format!(", … {} more", s.feature_names.len() - 8)
            } else {
                String::new()
            };
            format!(": {}{more}", shown.join(", "))
        };
        let _ = writeln!(o, "  features      {}{names}", s.num_feature);
        let outputs = if s.num_class > 0 {
            format!("{} classes", s.num_class)
        } else if s.num_target > 1 {
            format!("{} targets", s.num_target)
        } else {
            "1 output".to_string()
        };
        let _ = writeln!(o, "  outputs       {outputs}");
        let margins: Vec<String> = s
            .base_score
            .margin
            .iter()
            .map(|x| {
                x.map(|v| format!("{v:.6}"))
                    .unwrap_or_else(|| "undefined".into())
            })
            .collect();
        let space = match s.base_score.space {
            ScoreSpace::Margin => "stored as a margin",
            ScoreSpace::Response => "response space",
        };
        let _ = writeln!(
            o,
            "  base_score    {:?} ({space}; margin {})",
            s.base_score.stored,
            margins.join(", ")
        );
        let mut features = Vec::new();
        if s.categorical {
            let n = s.trees.as_ref().map(|t| t.categorical_splits).unwrap_or(0);
            features.push(format!("categorical splits ({n})"));
        }
        if s.vector_leaves {
            let k = s.trees.as_ref().map(|t| t.leaf_vector_size).unwrap_or(0);
            features.push(format!("vector leaves (k = {k})"));
        }
        if let Some(d) = &m.source.dialect {
            if d.base_score_vector {
                features.push("vector base_score (3.1+)".into());
            }
            if d.weight_drop_in_gbtree {
                features.push("DART weights inside gbtree (3.4+)".into());
            }
        }
        if !features.is_empty() {
            let _ = writeln!(o, "  uses          {}", features.join(", "));
        }
        if !s.attributes.is_empty() {
            let a: Vec<String> = s
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            let _ = writeln!(o, "  attributes    {}", a.join(", "));
        }
        let f = s.findings;
        let _ = write!(
            o,
            "  findings      {} error{}, {} warning{}, {} info",
            f.errors,
            if f.errors == 1 { "" } else { "s" },
            f.warnings,
            if f.warnings == 1 { "" } else { "s" },
            f.infos
        );
        o
    }
}

fn summarize(m: &Model, findings: &[Finding], stats: &[TreeStats]) -> Summary {
    let v = &m.version;
    let producer = ProducerSummary {
        version: v.to_string(),
        exact: v.exact.map(|e| e.to_string()),
        min: v.min.to_string(),
        max: v.max.map(|x| x.to_string()),
        basis: v.basis.clone(),
    };
    let mut counts = FindingCounts::default();
    for f in findings {
        match f.severity {
            Severity::Error => counts.errors += 1,
            Severity::Warning => counts.warnings += 1,
            Severity::Info => counts.infos += 1,
        }
    }
    let (trees, linear, categorical, vector) = match &m.booster {
        Booster::Trees(t) => {
            let n = t.trees.len();
            let vector = t.trees.iter().any(|tr| tr.is_vector_leaf());
            let groups = if vector { 1 } else { m.num_output_groups() };
            let npt = m.num_parallel_tree();
            let rounds = match &t.iteration_indptr {
                Some(ind) if !ind.is_empty() => ind.len() - 1,
                _ => n / npt.saturating_mul(groups).max(1),
            };
            let depths: Vec<usize> = stats.iter().map(|s| s.depth).collect();
            let mean = if depths.is_empty() {
                0.0
            } else {
                depths.iter().sum::<usize>() as f64 / depths.len() as f64
            };
            let cat: usize = stats.iter().map(|s| s.categorical_splits).sum();
            let k = t.trees.iter().map(|tr| tr.leaf_size()).max().unwrap_or(1);
            (
                Some(TreeSummary {
                    num_trees: n,
                    rounds,
                    num_parallel_tree: npt as i64,
                    dart: t.dart,
                    min_depth: depths.iter().copied().min().unwrap_or(0),
                    mean_depth: (mean * 1000.0).round() / 1000.0,
                    max_depth: depths.iter().copied().max().unwrap_or(0),
                    total_nodes: stats.iter().map(|s| s.nodes).sum(),
                    leaves: stats.iter().map(|s| s.leaves).sum(),
                    splits: stats.iter().map(|s| s.splits).sum(),
                    deleted_nodes: stats.iter().map(|s| s.deleted).sum(),
                    categorical_splits: cat,
                    leaf_vector_size: k,
                }),
                None,
                cat > 0
                    || t.trees
                        .iter()
                        .any(|tr| tr.split_type.as_ref().is_some_and(|s| s.contains(&1))),
                vector,
            )
        }
        Booster::Linear(l) => (
            None,
            Some(LinearSummary {
                weights: l.weights.len(),
                boosted_rounds: l.boosted_rounds,
            }),
            false,
            false,
        ),
    };
    let attributes = m
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    Summary {
        encoding: m.source.encoding,
        container: container_text(m),
        snapshot: m.source.snapshot,
        pickle: m.source.pickle.as_ref().map(|p| PickleSummary {
            protocol: p.protocol,
            class: format!("{}.{}", p.module, p.class),
            object: p.object,
            payload: p.payload_op,
            payload_bytes: p.payload_len,
        }),
        producer,
        objective: m.objective.name.clone(),
        objective_known: m.objective.info().is_some(),
        booster: m.booster.name(),
        num_feature: m.learner.num_feature,
        num_class: m.learner.num_class,
        num_target: m.learner.num_target,
        output_groups: m.num_output_groups(),
        trees,
        linear,
        categorical,
        vector_leaves: vector,
        feature_names: m.feature_names.clone(),
        feature_types: m.feature_types.clone(),
        base_score: BaseScoreSummary {
            stored: m.learner.base_score.stored.clone(),
            values: m.learner.base_score.values.clone(),
            vector: m.learner.base_score.vector,
            space: m.learner.base_score.space,
            margin: m.base_margin(),
        },
        attributes,
        findings: counts,
    }
}
