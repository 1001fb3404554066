//! The converter: rewrites a model so that a SageMaker container's xgboost
//! loads it and predicts the same numbers as the original.
//!
//! [`convert`] takes a parsed [`Model`] (any encoding, wrapper or dialect
//! sm-pack reads) and a [`Request`] (a container tag, optionally an encoding
//! and a dialect version) and either
//!
//! * returns a [`Conversion`]: the new file's bytes, what changed and why,
//!   the container's verdict before and after, and what the new file will
//!   predict in the container; or
//! * refuses ([`Refusal`]) with the reasons and the oldest tag that can take
//!   the model.
//!
//! How a conversion is made safe:
//!
//! 1. **Plan** ([`plan`]): the model is brought into the shape the target
//!    version reads: base_score in the space and link that version uses
//!    (0.90 margins; the `binary:logitraw` link change at 1.3; a scalar
//!    before 3.1, a vector from 3.1 — a per-output intercept an old version
//!    cannot store is *folded* exactly into the first tree of each output),
//!    the objective configuration that version's loader reads, the
//!    multi-target tree layout (2.0 – 3.1 or 3.2+), DART weights in the
//!    classic `dart` layout, and attributes that would change what the
//!    container predicts (`best_ntree_limit` in 1.4 – 1.7) removed.
//!    Anything the target cannot represent is a refusal, never a silent
//!    loss.
//! 2. **Write** it in the dialect ([`crate::xgboost::write`]).
//! 3. **Re-read** the bytes with sm-pack's own reader and check that they
//!    hold exactly the planned model (round trip), that validation finds no
//!    error, and that the container's verdict for them is *loads*.
//! 4. **Compare** the re-read model with the original: same trees, split
//!    features, thresholds, missing-value directions, categories and leaf
//!    values bit for bit (a folded intercept accounted for), same DART and
//!    gblinear weights, intercept margins within 1e-6 (relative). The
//!    structural comparison stands in for a prediction comparison until
//!    sm-pack has an XGBoost evaluator.
//!
//! Any failure is a refusal: nothing is written.

use crate::container::{Container, ContainerTable, Reason, Verdict, model_encoding};
use crate::error::{Error, Result};
use crate::report::Severity;
use crate::xgboost::ir::{
    self, Booster, CategorySets, Encoding, Link, Model, MultiTargetLayout, ProducerVersion,
    ROOT_PARENT, ScoreSpace, Source, Tree, TreeModel, Version,
};
use crate::xgboost::predict::{self, DenseMatrix, Predictions};
use crate::xgboost::write::{Dialect, emit::param_f32, write_model};
use serde::Serialize;
use serde_json::{Map, Value as J, json};

/// What to convert to.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Container tag (`1.7-1`); `None`: the newest tag.
    pub container: Option<String>,
    /// Output encoding; `None`: the one sm-pack prefers for the tag's xgboost
    /// (see [`Dialect::preferred_encoding`]), or for `dialect` when given.
    pub encoding: Option<Encoding>,
    /// Write the dialect of this xgboost version instead of the tag's own.
    pub dialect: Option<Version>,
    /// Rows to compare the original's and the converted file's predictions
    /// on; `None`: rows synthesised from the model's own split thresholds
    /// ([`synthetic_sample`]).
    pub sample: Option<DenseMatrix>,
}

impl Request {
    /// A request for a container tag with sm-pack's preferred dialect.
    pub fn for_tag(tag: impl Into<String>) -> Self {
        Request {
            container: Some(tag.into()),
            ..Request::default()
        }
    }
}

/// One change the converter made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Change {
    /// Stable code (`convert.base_score`, `convert.objective_config`, ...).
    pub code: String,
    /// What was changed and why.
    pub message: String,
}

impl Change {
    fn new(code: &str, message: impl Into<String>) -> Self {
        Change {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// The input side of a conversion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct From {
    /// What the file is (`pickled Booster holding a UBJSON snapshot (xgboost 1.6+)`, ...).
    pub encoding: String,
    /// The producing xgboost version (exact or range).
    pub producer: String,
    /// Objective.
    pub objective: String,
    /// Booster (`gbtree`, `dart`, `gblinear`).
    pub booster: String,
}

/// The output side of a conversion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct To {
    /// `json`, `ubjson` or `legacy-binary`.
    pub encoding: Encoding,
    /// The xgboost version whose writer the file imitates (`1.7`).
    pub dialect: String,
    /// `UBJSON as xgboost 1.7 writes it`.
    pub description: String,
    /// Size of the written file.
    pub size: u64,
    /// SHA-256 of the written file.
    pub sha256: String,
}

/// How the converted model was checked against the original.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// `structural+predictions`: both checks below passed.
    pub method: String,
    /// What the structural check compared.
    pub compared: String,
    /// Largest intercept-margin difference found (absolute).
    pub max_intercept_diff: f64,
    /// Where the prediction rows came from (`--sample FILE` or synthesised).
    pub sample: String,
    /// Rows predicted.
    pub rows: usize,
    /// Largest relative difference (|a − b| / max(1, |b|)) between the
    /// original's predictions (its producer's rules, every tree) and what the
    /// container predicts with the converted file, over margins and values.
    pub max_rel_diff: f64,
    /// The tolerance (1e-6).
    pub tolerance: f64,
    /// Notes.
    pub notes: Vec<String>,
}

/// A successful conversion.
#[derive(Debug, Clone, Serialize)]
pub struct Conversion {
    /// The container tag converted for.
    pub container: String,
    /// Its pinned xgboost.
    pub xgboost: String,
    /// The input.
    pub from: From,
    /// The output.
    pub to: To,
    /// Why a conversion was needed: the reasons of the verdict before
    /// (empty when the model already loaded).
    pub why: Vec<Reason>,
    /// The container's verdict for the input.
    pub verdict_before: Verdict,
    /// The container's verdict for the output (always *loads*).
    pub verdict_after: Verdict,
    /// What the converter changed.
    pub changes: Vec<Change>,
    /// What the converted file predicts in the container.
    pub predicts: String,
    /// How equivalence with the original was established.
    pub check: Check,
    /// The converted file.
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// The converted file as sm-pack reads it.
    #[serde(skip)]
    pub model: Model,
}

impl Conversion {
    /// The format reader's summary of the converted model (what the
    /// manifest's `model` holds when the converted file is packed).
    pub fn summary_json(&self) -> serde_json::Value {
        let (findings, stats) = crate::xgboost::validate::validate(&self.model);
        crate::xgboost::Inspection::new(self.model.clone(), findings, &stats).summary_json()
    }

    /// The manifest's `conversion` record.
    pub fn manifest_record(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(J::Null)
    }
}

/// A refused conversion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    /// The container tag asked for.
    pub container: String,
    /// Its pinned xgboost.
    pub xgboost: String,
    /// Why the model cannot be converted for it.
    pub reasons: Vec<Reason>,
    /// The oldest tag whose xgboost can take the model (with sm-pack's
    /// preferred dialect for it), if any.
    pub oldest_tag: Option<String>,
    /// The container's verdict for the input as given.
    pub verdict_before: Verdict,
}

impl Refusal {
    /// One paragraph for humans.
    pub fn message(&self) -> String {
        let mut s = format!(
            "cannot convert the model for {} (xgboost {}): ",
            self.container, self.xgboost
        );
        s.push_str(
            &self
                .reasons
                .iter()
                .map(|r| r.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
        );
        match &self.oldest_tag {
            Some(t) => s.push_str(&format!("; the oldest tag that can take it is {t}")),
            None => s.push_str("; no SageMaker XGBoost tag can take it"),
        }
        s
    }
}

/// The result of [`convert`].
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Converted.
    Converted(Box<Conversion>),
    /// Refused; nothing to write.
    Refused(Box<Refusal>),
}

/// Converts `model` for `tag` with sm-pack's preferred dialect; a refusal
/// is an [`Error::InvalidModel`] with code `xgb.convert.refused` (exit code 1).
pub fn retarget(model: &Model, tag: &str) -> Result<Conversion> {
    match convert(model, None, &Request::for_tag(tag))? {
        Outcome::Converted(c) => Ok(*c),
        Outcome::Refused(r) => Err(refusal_error(&r)),
    }
}

/// A refusal as an error (exit code 1).
pub fn refusal_error(r: &Refusal) -> Error {
    let mut f = crate::report::Finding::error("xgb.convert.refused", r.message());
    if let Some(t) = &r.oldest_tag {
        f = f.with_hint(format!("target {t} or a newer tag (--container {t})"));
    }
    Error::InvalidModel {
        format: "XGBoost conversion".into(),
        finding: Box::new(f),
    }
}

fn ir_version(c: &Container) -> Version {
    Version {
        major: c.xgboost.major,
        minor: c.xgboost.minor,
        patch: Some(c.xgboost.patch),
    }
}

/// Resolves the request's dialect for a container.
pub fn resolve_dialect(req: &Request, c: &Container) -> Result<Dialect> {
    let version = req.dialect.unwrap_or_else(|| ir_version(c));
    let encoding = req
        .encoding
        .unwrap_or_else(|| Dialect::preferred_encoding(version));
    let d = Dialect::new(encoding, version);
    d.check()?;
    Ok(d)
}

/// Parses a `--dialect` value (`1.7`, `1.7.4`, `0.90`).
pub fn parse_version(s: &str) -> Option<Version> {
    let v = crate::container::Version::parse(s)?;
    Some(Version {
        major: v.major,
        minor: v.minor,
        patch: (s.trim().split('.').count() > 2).then_some(v.patch),
    })
}

/// Converts a model for a container. `file` is the model file's bytes (a
/// pickle's `best_ntree_limit` is read from them for the "before" verdict).
pub fn convert(model: &Model, file: Option<&[u8]>, req: &Request) -> Result<Outcome> {
    let table = ContainerTable::builtin()?;
    let c = match &req.container {
        Some(t) => table.require(t)?,
        None => table.newest_xgboost(),
    };
    let dialect = resolve_dialect(req, c)?;
    let verdict_before = c.judge_model_file(model, file, None);
    let refuse = |reasons: Vec<Reason>| -> Result<Outcome> {
        let oldest = oldest_tag(model, table);
        Ok(Outcome::Refused(Box::new(Refusal {
            container: c.tag.clone(),
            xgboost: c.xgboost_text.clone(),
            reasons,
            oldest_tag: oldest,
            verdict_before: verdict_before.clone(),
        })))
    };

    // A model with validation errors is not converted.
    let (findings, _) = crate::xgboost::validate::validate(model);
    let errors: Vec<Reason> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .take(5)
        .map(|f| {
            Reason::new(
                "convert.invalid_model",
                format!("{} ({})", f.message, f.code),
            )
        })
        .collect();
    if !errors.is_empty() {
        return refuse(errors);
    }

    let plan = match plan(model, &dialect) {
        Ok(p) => p,
        Err(reasons) => return refuse(reasons),
    };
    let bytes = write_model(&plan.model, &dialect)?;
    let (reread, _) = match crate::xgboost::read_model(&bytes) {
        Ok(x) => x,
        Err(e) => {
            return refuse(vec![Reason::new(
                "convert.internal",
                format!("sm-pack cannot read back the file it wrote ({e}); please report this"),
            )]);
        }
    };
    let rt = round_trip_differences(&plan.model, &reread);
    if !rt.is_empty() {
        return refuse(vec![Reason::new(
            "convert.internal",
            format!(
                "the written file does not read back as planned ({}); please report this",
                rt.join("; ")
            ),
        )]);
    }
    let (after_findings, _) = crate::xgboost::validate::validate(&reread);
    let after_errors: Vec<Reason> = after_findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .take(5)
        .map(|f| {
            Reason::new(
                "convert.output_invalid",
                format!(
                    "the converted file fails validation: {} ({})",
                    f.message, f.code
                ),
            )
        })
        .collect();
    if !after_errors.is_empty() {
        return refuse(after_errors);
    }
    let verdict_after = c.judge_model_file(&reread, Some(&bytes), None);
    if !verdict_after.is_loads() {
        let mut reasons = vec![Reason::new(
            "convert.output_verdict",
            format!(
                "the converted file ({dialect}) would not load cleanly in {}: {verdict_after}",
                c.tag
            ),
        )];
        if req.dialect.is_some() || req.encoding.is_some() {
            reasons.push(Reason::new(
                "convert.output_verdict",
                "drop --to/--dialect to let sm-pack pick the dialect this tag reads".to_string(),
            ));
        }
        return refuse(reasons);
    }
    let diff = match equivalence(model, &reread, &plan.fold) {
        Ok(d) => d,
        Err(reasons) => return refuse(reasons),
    };
    let (rows, sample_from) = match &req.sample {
        Some(r) => (r.clone(), "given sample".to_string()),
        None => {
            let r = synthetic_sample(model);
            (r, "synthesised from the model's split thresholds (just below, at and just above each, categories in and out of each set, missing values)".to_string())
        }
    };
    let mut notes = Vec::new();
    let pred_diff = match prediction_check(model, &reread, &bytes, &c.tag, &rows) {
        Ok(PredCheck::Same(d)) => d,
        Ok(PredCheck::Unevaluable(why)) => {
            notes.push(format!(
                "the original model could not be evaluated ({why}); the structural comparison alone vouches for the conversion"
            ));
            0.0
        }
        Err(reasons) => return refuse(reasons),
    };

    let mut changes = plan.changes;
    if let Some(p) = &model.source.pickle {
        changes.insert(
            0,
            Change::new(
                "convert.unwrapped",
                format!(
                    "took the model out of the pickled {}.{} (the container loads the bare model file; nothing of the pickle is executed)",
                    p.module, p.class
                ),
            ),
        );
    } else if model.source.snapshot.is_some() {
        changes.insert(
            0,
            Change::new(
                "convert.unwrapped",
                "took the model out of the memory snapshot (its training configuration is dropped)",
            ),
        );
    }
    let from = From {
        encoding: model_encoding(model)
            .map(|e| e.describe().to_string())
            .unwrap_or_else(|| model.source.encoding.describe().to_string()),
        producer: model.version.to_string(),
        objective: model.objective.name.clone(),
        booster: model.booster.name().to_string(),
    };
    let predicts = predicts_statement(model, &reread, c, &verdict_before, &plan.fold);
    let sha = crate::hash::sha256_hex(&bytes);
    Ok(Outcome::Converted(Box::new(Conversion {
        container: c.tag.clone(),
        xgboost: c.xgboost_text.clone(),
        from,
        to: To {
            encoding: dialect.encoding,
            dialect: format!("{}.{}", dialect.version.major, dialect.version.minor),
            description: dialect.to_string(),
            size: bytes.len() as u64,
            sha256: sha,
        },
        why: if verdict_before.is_loads() {
            Vec::new()
        } else {
            verdict_before.reasons().to_vec()
        },
        verdict_before,
        verdict_after,
        changes,
        predicts,
        check: Check {
            method: "structural+predictions".into(),
            compared: "tree structure, split features, thresholds, missing-value directions, categories and leaf values bit for bit; DART and gblinear weights bit for bit; intercept margins within 1e-6 (relative)".into(),
            max_intercept_diff: diff,
            sample: sample_from,
            rows: rows.rows(),
            max_rel_diff: pred_diff,
            tolerance: PRED_TOLERANCE,
            notes,
        },
        bytes,
        model: reread,
    })))
}

/// The oldest tag whose xgboost can take the model (planning with the
/// preferred dialect succeeds).
pub fn oldest_tag(model: &Model, table: &ContainerTable) -> Option<String> {
    table
        .containers()
        .iter()
        .find(|c| plan(model, &Dialect::preferred(ir_version(c))).is_ok())
        .map(|c| c.tag.clone())
}

// ---------------------------------------------------------------------------
// Planning

/// The planned output model and what was changed.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The model as it will be written.
    pub model: Model,
    /// What changed.
    pub changes: Vec<Change>,
    /// Intercepts folded into trees.
    pub fold: Fold,
}

/// Per-output intercepts moved into the first tree of each output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fold {
    /// `(tree, output, shift)`: `shift` was added (in f32) to every leaf of
    /// `tree` (element `output` for vector leaves).
    pub shifts: Vec<(usize, usize, f32)>,
}

fn at_least(v: Version, major: u32, minor: u32) -> bool {
    (v.major, v.minor) >= (major, minor)
}

fn vtext(v: Version) -> String {
    if v.major == 0 {
        "0.90".into()
    } else {
        format!("{}.{}", v.major, v.minor)
    }
}

/// The link a given xgboost version uses for an objective's base_score.
fn target_link(objective: &str, v: Version) -> Link {
    if objective == "binary:logitraw" && !at_least(v, 1, 3) {
        return Link::Logit;
    }
    ir::objective_info(objective)
        .map(|i| i.link)
        .unwrap_or(Link::Identity)
}

fn inverse_link(link: Link, m: f64) -> Option<f32> {
    let v = match link {
        Link::Identity => m,
        Link::Logit => 1.0 / (1.0 + (-m).exp()),
        Link::Log => m.exp(),
    } as f32;
    // The value must map back to the same margin.
    let back = ir::prob_to_margin(link, v)?;
    close(back, m).then_some(v)
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

fn neutral_base(link: Link) -> f32 {
    match link {
        Link::Identity => 0.0,
        Link::Logit => 0.5,
        Link::Log => 1.0,
    }
}

/// The objective configuration a version's `SaveConfig` writes, with the
/// values of the model's own configuration where it has them.
fn objective_config(m: &Model, name: &str, v: Version) -> J {
    let reg_loss = || vec![("reg_loss_param", vec![("scale_pos_weight", "1")])];
    let pre = (v.major, v.minor);
    let template: Vec<(&str, Vec<(&str, &str)>)> = match name {
        "reg:squarederror" | "reg:linear" | "reg:logistic" | "binary:logistic"
        | "binary:logitraw" => reg_loss(),
        "reg:squaredlogerror" if pre < (3, 0) => reg_loss(),
        "reg:pseudohubererror" if pre < (1, 6) => reg_loss(),
        "reg:pseudohubererror" if pre < (1, 7) => {
            vec![("pseduo_huber_param", vec![("huber_slope", "1")])]
        }
        "reg:pseudohubererror" => vec![("pseudo_huber_param", vec![("huber_slope", "1")])],
        "reg:gamma" if pre >= (2, 1) => reg_loss(),
        "reg:tweedie" => vec![(
            "tweedie_regression_param",
            vec![("tweedie_variance_power", "1.5")],
        )],
        "count:poisson" => vec![(
            "poisson_regression_param",
            vec![("max_delta_step", "0.699999988")],
        )],
        "survival:aft" => vec![(
            "aft_loss_param",
            vec![
                ("aft_loss_distribution", "normal"),
                ("aft_loss_distribution_scale", "1"),
            ],
        )],
        "multi:softmax" | "multi:softprob" => {
            vec![("softmax_multiclass_param", vec![("num_class", "")])]
        }
        "rank:pairwise" | "rank:ndcg" | "rank:map" if pre < (2, 0) => vec![(
            "lambda_rank_param",
            vec![("fix_list_weight", "0"), ("num_pairsample", "1")],
        )],
        "rank:pairwise" | "rank:ndcg" | "rank:map" => {
            let mut p = vec![
                ("lambdarank_bias_norm", "1"),
                ("lambdarank_num_pair_per_sample", "4294967295"),
                ("lambdarank_pair_method", "topk"),
                ("lambdarank_unbiased", "0"),
                ("ndcg_exp_gain", "1"),
            ];
            if pre >= (2, 1) {
                p.push(("lambdarank_normalization", "1"));
            }
            if pre >= (3, 0) {
                p.push(("lambdarank_score_normalization", "1"));
            }
            vec![("lambdarank_param", p)]
        }
        "reg:quantileerror" => vec![("quantile_loss_param", vec![("quantile_alpha", "[5E-1]")])],
        "reg:squaredlogerror"
        | "reg:gamma"
        | "reg:absoluteerror"
        | "binary:hinge"
        | "survival:cox" => Vec::new(),
        _ => {
            // Not one sm-pack knows the parameters of: keep what is stored.
            let mut c = m.objective.config.clone();
            if let Some(o) = c.as_object_mut() {
                o.insert("name".into(), J::String(name.into()));
            }
            return c;
        }
    };
    let src = &m.objective.config;
    let mut out = Map::new();
    out.insert("name".into(), J::String(name.into()));
    for (obj, keys) in template {
        let mut p = Map::new();
        for (k, default) in keys {
            let stored = src
                .get(obj)
                .and_then(|o| o.get(k))
                .and_then(|x| x.as_str())
                .map(str::to_string);
            let value = match (obj, k) {
                ("softmax_multiclass_param", "num_class") => m.learner.num_class.to_string(),
                ("poisson_regression_param", "max_delta_step") => stored
                    .or_else(|| {
                        m.source
                            .binary
                            .as_ref()
                            .and_then(|b| b.max_delta_step.clone())
                    })
                    .unwrap_or_else(|| default.into()),
                _ => stored.unwrap_or_else(|| default.into()),
            };
            p.insert(k.into(), J::String(value));
        }
        out.insert(obj.into(), J::Object(p));
    }
    J::Object(out)
}

/// Rounds per group and the iteration boundaries for 2.0+ documents.
fn iteration_indptr(t: &TreeModel, groups: usize, npt: usize) -> Option<Vec<i64>> {
    if let Some(p) = &t.iteration_indptr
        && p.last().copied() == Some(t.trees.len() as i64)
    {
        return Some(p.clone());
    }
    let vector = t.trees.iter().any(|x| x.is_vector_leaf());
    let step = if vector { npt } else { npt * groups }.max(1);
    if !t.trees.len().is_multiple_of(step) {
        return None;
    }
    Some(
        (0..=t.trees.len() / step)
            .map(|r| (r * step) as i64)
            .collect(),
    )
}

/// Brings `src` into the shape `d` needs; refusal reasons when it cannot.
pub fn plan(src: &Model, d: &Dialect) -> std::result::Result<Plan, Vec<Reason>> {
    let v = d.version;
    let vt = vtext(v);
    let mut refuse: Vec<Reason> = Vec::new();
    let mut changes: Vec<Change> = Vec::new();
    let binary = d.encoding == Encoding::LegacyBinary;
    let trees = src.trees();
    let groups = src.num_output_groups().max(1);

    // What the target cannot represent.
    let name = src.objective.name.clone();
    match ir::objective_info(&name) {
        None => refuse.push(Reason::new(
            "convert.objective",
            format!("the objective {name:?} is not one sm-pack knows; it cannot tell which xgboost has it"),
        )),
        Some(info) if info.since > Version::mm(v.major, v.minor) => refuse.push(Reason::new(
            "convert.objective",
            format!(
                "the objective {name} arrived in xgboost {}; xgboost {vt} does not have it",
                info.since
            ),
        )),
        Some(_) => {}
    }
    let dart = matches!(&src.booster, Booster::Trees(t) if t.dart);
    if dart && v.major == 0 {
        refuse.push(Reason::new(
            "convert.dart",
            "xgboost 0.90 predicts a DART model with dropout unless the container passes ntree_limit, which it does only for pickles; a bare DART model cannot be made to predict correctly there",
        ));
    }
    if trees
        .iter()
        .any(|t| (0..t.len()).any(|n| t.is_categorical(n)))
    {
        if !at_least(v, 1, 6) {
            refuse.push(Reason::new(
                "convert.categorical",
                format!("the model has categorical splits, which xgboost {vt} cannot evaluate (1.6+ can)"),
            ));
        } else if binary {
            refuse.push(Reason::new(
                "convert.categorical",
                "the legacy binary format cannot hold categorical splits (use JSON or UBJSON)",
            ));
        }
    }
    let vector = trees.iter().any(|t| t.is_vector_leaf());
    if vector {
        if !at_least(v, 2, 0) {
            refuse.push(Reason::new(
                "convert.multi_target",
                format!("the model has vector-leaf (multi_output_tree) trees, which need xgboost 2.0+; {vt} cannot load them"),
            ));
        } else if binary {
            refuse.push(Reason::new(
                "convert.multi_target",
                "the legacy binary format cannot hold vector-leaf trees (use JSON or UBJSON)",
            ));
        }
    }
    if src.learner.num_target > 1 && !at_least(v, 1, 6) {
        refuse.push(Reason::new(
            "convert.multi_target",
            format!(
                "the model has {} targets; xgboost {vt} knows one target only (1.6+)",
                src.learner.num_target
            ),
        ));
    }
    let margins = src.group_base_margins();
    if margins.len() != groups || margins.iter().any(|m| m.is_none()) {
        refuse.push(Reason::new(
            "convert.base_score",
            format!(
                "base_score {:?} does not give a valid intercept for {} output(s)",
                src.learner.base_score.stored, groups
            ),
        ));
    }
    let iptr = match &src.booster {
        Booster::Trees(t) if at_least(v, 2, 0) && !binary => {
            match iteration_indptr(t, groups, src.num_parallel_tree()) {
                Some(p) => Some(p),
                None => {
                    refuse.push(Reason::new(
                        "convert.rounds",
                        format!(
                            "cannot tell the boosting rounds of {} trees ({} outputs, {} parallel trees) for xgboost {vt}'s iteration_indptr",
                            t.trees.len(),
                            groups,
                            src.num_parallel_tree()
                        ),
                    ));
                    None
                }
            }
        }
        _ => None,
    };
    if !refuse.is_empty() {
        return Err(refuse);
    }
    let margins: Vec<f64> = margins.into_iter().map(|m| m.unwrap_or(0.0)).collect();

    let mut m = src.clone();
    m.spans = Default::default();
    m.source = Source {
        encoding: d.encoding,
        snapshot: None,
        pickle: None,
        binary: None,
        dialect: None,
        input_len: 0,
        payload_offset: 0,
    };
    m.version = ProducerVersion {
        exact: Some(v),
        min: Version::mm(v.major, v.minor),
        max: Some(Version::mm(v.major, v.minor)),
        basis: "written by sm-pack's converter".into(),
    };

    // Objective.
    let mut out_name = name.clone();
    if name == "reg:linear" && v.major >= 1 {
        out_name = "reg:squarederror".into();
        changes.push(Change::new(
            "convert.objective",
            "reg:linear is saved as reg:squarederror, as xgboost 1.0+ does (the same objective)",
        ));
    }
    m.objective.name = out_name.clone();
    m.objective.config = if v.major == 0 {
        json!({ "name": out_name })
    } else {
        objective_config(src, &out_name, v)
    };
    if v.major >= 1 && m.objective.config != src.objective.config {
        changes.push(Change::new(
            "convert.objective_config",
            format!(
                "objective configuration written as xgboost {vt} writes it: {}",
                serde_json::to_string(&m.objective.config).unwrap_or_default()
            ),
        ));
    }

    // Feature names and types (1.4+ documents only).
    if !at_least(v, 1, 4) || binary {
        if !m.feature_names.is_empty() || !m.feature_types.is_empty() {
            changes.push(Change::new(
                "convert.feature_names",
                format!(
                    "feature names/types dropped: {} cannot store them (the container does not check them: it predicts with validate_features=False)",
                    if binary { "legacy binary".to_string() } else { format!("xgboost {vt} models") }
                ),
            ));
        }
        m.feature_names.clear();
        m.feature_types.clear();
    }

    // Attributes that change what the container predicts.
    if at_least(v, 1, 4) && !at_least(v, 2, 0) {
        let linear = matches!(src.booster, Booster::Linear(_));
        let per_group = trees.len() / groups;
        let limits = |n: i64| {
            n > 0 && ((linear && !at_least(v, 1, 5)) || (!linear && (n as usize) < per_group))
        };
        if let Some((_, val)) = m
            .attributes
            .iter()
            .find(|(k, val)| k == "best_ntree_limit" && val.trim().parse::<i64>().is_ok_and(limits))
            .cloned()
        {
            m.attributes.retain(|(k, _)| k != "best_ntree_limit");
            changes.push(Change::new(
                "convert.best_ntree_limit",
                format!(
                    "attribute best_ntree_limit={val} removed: xgboost {vt}'s load_model turns it into the ntree_limit the container predicts with, which would use only {val} of the {per_group} trees per output; the converted model predicts with every tree"
                ),
            ));
        }
    }

    // Base score.
    let link_src = src.base_score_link();
    let link_t = target_link(&out_name, v);
    let bs = &src.learner.base_score;
    let linear = matches!(src.booster, Booster::Linear(_));
    let mut fold = Fold::default();
    let all_equal = margins.iter().all(|x| *x == margins[0]);
    let same_repr = bs.space == ScoreSpace::Response && link_src == link_t;
    let stored_values: Vec<f32>;
    let space;
    if at_least(v, 3, 1) {
        space = ScoreSpace::Response;
        stored_values = if same_repr && bs.values.len() == groups {
            bs.values.clone()
        } else if same_repr && bs.values.len() == 1 {
            vec![bs.values[0]; groups]
        } else {
            let mut vals = Vec::with_capacity(groups);
            for mg in &margins {
                match inverse_link(link_t, *mg) {
                    Some(x) => vals.push(x),
                    None => {
                        return Err(vec![Reason::new(
                            "convert.base_score",
                            format!(
                                "the intercept margin {mg} has no base_score under {out_name}'s link"
                            ),
                        )]);
                    }
                }
            }
            vals
        };
    } else {
        let scalar = if v.major == 0 {
            space = ScoreSpace::Margin;
            if all_equal {
                if bs.space == ScoreSpace::Margin && bs.values.len() == 1 {
                    Some(bs.values[0])
                } else {
                    Some(margins[0] as f32)
                }
            } else {
                None
            }
        } else {
            space = ScoreSpace::Response;
            if !all_equal {
                None
            } else if same_repr
                && bs
                    .values
                    .iter()
                    .all(|x| x.to_bits() == bs.values[0].to_bits())
            {
                Some(bs.values[0])
            } else {
                inverse_link(link_t, margins[0])
            }
        };
        stored_values = match scalar {
            Some(x) => vec![x],
            None => {
                // Fold the intercepts into the first tree of each output.
                if linear {
                    return Err(vec![Reason::new(
                        "convert.base_score",
                        format!(
                            "xgboost {vt} stores one base_score; this gblinear model needs {groups} different intercepts"
                        ),
                    )]);
                }
                let neutral = if v.major == 0 {
                    0.0
                } else {
                    neutral_base(link_t)
                };
                let weights = match &src.booster {
                    Booster::Trees(t) if t.dart => t.weight_drop.clone(),
                    _ => None,
                };
                let Booster::Trees(t) = &mut m.booster else {
                    unreachable!("linear handled above")
                };
                for (g, mg) in margins.iter().enumerate() {
                    let shift = *mg as f32;
                    let tree = t.trees.iter().enumerate().position(|(i, tr)| {
                        (tr.is_vector_leaf() || t.tree_info.get(i).copied() == Some(g as i32))
                            && weights.as_ref().is_none_or(|w| w.get(i) == Some(&1.0))
                    });
                    let Some(ti) = tree else {
                        return Err(vec![Reason::new(
                            "convert.base_score",
                            format!(
                                "xgboost {vt} stores one base_score; output {g} needs its own intercept and has no tree to carry it"
                            ),
                        )]);
                    };
                    fold_into(&mut t.trees[ti], g, shift);
                    fold.shifts.push((ti, g, shift));
                }
                changes.push(Change::new(
                    "convert.intercept_folded",
                    format!(
                        "xgboost {vt} stores one base_score but the outputs have different intercepts ({}): base_score set to {} (margin 0) and each output's intercept added to every leaf of its first tree (trees {}); the sums are the same f32 additions xgboost makes",
                        margins.iter().map(|x| format!("{x}")).collect::<Vec<_>>().join(", "),
                        param_f32(neutral),
                        fold.shifts.iter().map(|s| s.0.to_string()).collect::<Vec<_>>().join(", ")
                    ),
                ));
                vec![neutral]
            }
        };
    }
    let changed_bs = stored_values != bs.values || space != bs.space;
    m.learner.base_score = ir::BaseScore {
        stored: if at_least(v, 3, 1) {
            format!(
                "[{}]",
                stored_values
                    .iter()
                    .map(|x| param_f32(*x))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        } else if v.major == 0 {
            format!("{}", stored_values[0])
        } else {
            param_f32(stored_values[0])
        },
        values: stored_values,
        vector: at_least(v, 3, 1),
        space,
    };
    if changed_bs && fold.shifts.is_empty() {
        let why = if v.major == 0 {
            "xgboost 0.90 stores the intercept as a margin".to_string()
        } else if bs.space == ScoreSpace::Margin {
            "the 0.90 file stored a margin; xgboost 1.0+ stores the response value".to_string()
        } else if link_src != link_t {
            format!(
                "{out_name} maps base_score to a margin with {:?} in xgboost {vt} but the producer used {:?}",
                link_t, link_src
            )
        } else if at_least(v, 3, 1) {
            "xgboost 3.1+ stores one intercept per output".to_string()
        } else {
            format!("xgboost {vt} stores one scalar base_score")
        };
        changes.push(Change::new(
            "convert.base_score",
            format!(
                "base_score {:?} written as {:?} ({why}); the intercept margins are unchanged",
                bs.stored, m.learner.base_score.stored
            ),
        ));
    }

    // Learner parameters.
    if !at_least(v, 1, 6) {
        m.learner.num_target = 1;
    }
    m.learner.boost_from_average = if at_least(v, 1, 7) {
        Some(src.learner.boost_from_average.unwrap_or(true))
    } else {
        None
    };

    // Booster.
    let npt = src.num_parallel_tree();
    match &mut m.booster {
        Booster::Linear(l) => {
            if !at_least(v, 1, 6) || binary {
                l.boosted_rounds = None;
            }
            let (nf, ng) = if binary && v.major == 0 {
                (Some(src.learner.num_feature as i64), Some(groups as i64))
            } else if binary {
                (Some(0), Some(0))
            } else {
                (None, None)
            };
            l.num_feature_field = nf;
            l.num_output_group_field = ng;
        }
        Booster::Trees(t) => {
            if t.dart
                && src
                    .source
                    .dialect
                    .as_ref()
                    .is_some_and(|dd| dd.weight_drop_in_gbtree)
            {
                changes.push(Change::new(
                    "convert.dart_layout",
                    "DART weights moved from the xgboost 3.4 layout (model.weight_drop under gbtree) to the dart booster every older xgboost reads",
                ));
            }
            t.num_trees_declared = t.trees.len() as i64;
            t.num_parallel_tree = if at_least(v, 1, 6) {
                Some(npt as i64)
            } else if binary {
                Some(1)
            } else {
                None
            };
            t.size_leaf_vector = if binary || !at_least(v, 2, 0) {
                Some(0)
            } else {
                None
            };
            let (nf, ng) = if binary && v.major == 0 {
                (Some(src.learner.num_feature as i64), Some(groups as i64))
            } else if binary {
                (Some(0), Some(0))
            } else {
                (None, None)
            };
            t.num_feature_field = nf;
            t.num_output_group_field = ng;
            t.iteration_indptr = iptr;
            t.config_num_parallel_tree = None;
            if t.dart && t.weight_drop.is_none() {
                t.weight_drop = Some(vec![1.0; t.trees.len()]);
            }
            if !t.dart {
                t.weight_drop = None;
            }
            if let Some(cats) = t.cats.take_if(|_| !at_least(v, 3, 1))
                && cats
                    .value
                    .get("enc")
                    .and_then(|e| e.value.array_len())
                    .is_some_and(|n| n > 0)
            {
                changes.push(Change::new(
                    "convert.cats",
                    format!("the category names ('cats', xgboost 3.1+) are dropped: xgboost {vt} cannot store them; the trees split on category codes, which is what the container receives"),
                ));
            }
            let mut relaid = false;
            for (i, tree) in t.trees.iter_mut().enumerate() {
                relaid |= shape_tree(tree, i, d);
            }
            if relaid {
                changes.push(Change::new(
                    "convert.multi_target_layout",
                    if at_least(v, 3, 2) {
                        "vector-leaf trees rewritten in the xgboost 3.2 layout (leaf outputs in leaf_weights, indexed by right_children); gain/cover the producer did not store are written as 0"
                    } else {
                        "vector-leaf trees rewritten in the xgboost 2.0 - 3.1 layout (leaf outputs in base_weights)"
                    },
                ));
            }
        }
    }
    Ok(Plan {
        model: m,
        changes,
        fold,
    })
}

fn fold_into(t: &mut Tree, output: usize, shift: f32) {
    let n = t.len();
    let k = t.leaf_size();
    for node in 0..n {
        if !t.is_leaf(node) || t.is_deleted(node) {
            continue;
        }
        if !t.is_vector_leaf() {
            t.split_conditions[node] += shift;
            continue;
        }
        match &mut t.leaf_weights {
            Some(lw) => {
                if let Some(i) = usize::try_from(t.right_children[node])
                    .ok()
                    .map(|r| r * k + output)
                    && let Some(x) = lw.get_mut(i)
                {
                    *x += shift;
                }
            }
            None => {
                if let Some(x) = t.base_weights.get_mut(node * k + output) {
                    *x += shift;
                }
            }
        }
    }
}

/// Puts one tree in the dialect's shape; true when a multi-target tree was re-laid out.
fn shape_tree(t: &mut Tree, i: usize, d: &Dialect) -> bool {
    let v = d.version;
    let n = t.len();
    let binary = d.encoding == Encoding::LegacyBinary;
    let vector = t.is_vector_leaf();
    let k = t.leaf_size();
    t.id = if binary { None } else { Some(i as i64) };
    t.param.num_nodes = n as i64;
    t.param.size_leaf_vector = if vector {
        k as i64
    } else if at_least(v, 2, 0) {
        1
    } else {
        0
    };
    if binary {
        t.param.num_roots = Some(t.param.num_roots.unwrap_or(1));
        t.param.max_depth_field = Some(t.param.max_depth_field.unwrap_or(0));
        t.param.size_leaf_vector = i64::from(at_least(v, 2, 0));
        for p in t.parents.iter_mut() {
            if *p == -1 {
                *p = ROOT_PARENT;
            }
        }
    } else {
        t.param.num_roots = None;
        t.param.max_depth_field = None;
    }
    // Stats arrays.
    let fill = |a: &mut Vec<f32>, len: usize| {
        if a.len() != len {
            *a = vec![0.0; len];
        }
    };
    let mut relaid = false;
    if vector {
        let new_layout = at_least(v, 3, 2);
        match (&t.leaf_weights, new_layout) {
            (None, true) => {
                // 2.0-3.1 -> 3.2: leaf outputs into leaf_weights.
                let mut lw = Vec::new();
                let mut idx = 0i32;
                for node in 0..n {
                    if t.is_leaf(node) {
                        let start = node * k;
                        lw.extend_from_slice(t.base_weights.get(start..start + k).unwrap_or(&[]));
                        t.right_children[node] = idx;
                        idx += 1;
                    }
                }
                t.leaf_weights = Some(lw);
                relaid = true;
            }
            (Some(lw), false) => {
                // 3.2 -> 2.0-3.1: leaf outputs back into base_weights.
                let lw = lw.clone();
                if t.base_weights.len() != n * k {
                    t.base_weights = vec![0.0; n * k];
                }
                for node in 0..n {
                    if t.is_leaf(node) {
                        if let Some(r) = usize::try_from(t.right_children[node]).ok()
                            && let Some(vals) = lw.get(r * k..r * k + k)
                        {
                            t.base_weights[node * k..node * k + k].copy_from_slice(vals);
                        }
                        t.right_children[node] = -1;
                    }
                }
                t.leaf_weights = None;
                relaid = true;
            }
            _ => {}
        }
        fill(&mut t.base_weights, n * k);
        if new_layout {
            fill(&mut t.loss_changes, n);
            fill(&mut t.sum_hessian, n);
        } else {
            t.loss_changes.clear();
            t.sum_hessian.clear();
        }
    } else {
        fill(&mut t.base_weights, n);
        fill(&mut t.loss_changes, n);
        fill(&mut t.sum_hessian, n);
        t.leaf_weights = None;
    }
    // Dialect-specific arrays, as the reader will see them.
    if binary || !at_least(v, 1, 3) {
        t.split_type = None;
        t.categories = None;
        t.leaf_child_counts = Some(match t.leaf_child_counts.take() {
            Some(x) if x.len() == n => x,
            _ => vec![0; n],
        });
    } else {
        t.leaf_child_counts = None;
        if t.split_type.as_ref().is_none_or(|s| s.len() != n) {
            t.split_type = Some(vec![0; n]);
        }
        if t.categories.is_none() {
            t.categories = Some(CategorySets::default());
        }
    }
    if !at_least(v, 1, 1) && !binary {
        // xgboost 1.0 writes no num_deleted; its reader defaults it to 0.
        t.param.num_deleted = 0;
    }
    relaid
}

// ---------------------------------------------------------------------------
// Checks

/// Differences between the planned model and what the written bytes read
/// back as (empty when they are the same model).
pub fn round_trip_differences(planned: &Model, reread: &Model) -> Vec<String> {
    let mut d = Vec::new();
    let mut check = |what: &str, same: bool| {
        if !same {
            d.push(what.to_string());
        }
    };
    let (a, b) = (&planned.learner, &reread.learner);
    check(
        "base_score",
        a.base_score
            .values
            .iter()
            .map(|x| x.to_bits())
            .collect::<Vec<_>>()
            == b.base_score
                .values
                .iter()
                .map(|x| x.to_bits())
                .collect::<Vec<_>>()
            && a.base_score.space == b.base_score.space
            && a.base_score.vector == b.base_score.vector,
    );
    check("num_feature", a.num_feature == b.num_feature);
    check("num_class", a.num_class == b.num_class);
    check("num_target", a.num_target == b.num_target);
    check(
        "boost_from_average",
        a.boost_from_average == b.boost_from_average,
    );
    check(
        "objective name",
        planned.objective.name == reread.objective.name,
    );
    if reread.source.encoding != Encoding::LegacyBinary
        || planned.version.exact.is_some_and(|v| v.major >= 1)
    {
        check(
            "objective configuration",
            planned.objective.config == reread.objective.config,
        );
    }
    check(
        "feature names",
        planned.feature_names == reread.feature_names,
    );
    check(
        "feature types",
        planned.feature_types == reread.feature_types,
    );
    let mut pa = planned.attributes.clone();
    let mut pb = reread.attributes.clone();
    pa.sort();
    pb.sort();
    check("attributes", pa == pb);
    match (&planned.booster, &reread.booster) {
        (Booster::Trees(x), Booster::Trees(y)) => {
            let cats = |t: &TreeModel| t.cats.as_ref().map(|c| c.value.to_json());
            let mut x2 = x.clone();
            let mut y2 = y.clone();
            let (cx, cy) = (cats(x), cats(y));
            x2.cats = None;
            y2.cats = None;
            check("category container", cx == cy);
            if x2 != y2 {
                if x2.trees.len() != y2.trees.len() {
                    check("tree count", false);
                } else if let Some(i) =
                    (0..x2.trees.len()).find(|&i| !same_tree(&x2.trees[i], &y2.trees[i]))
                {
                    d.push(format!(
                        "tree {i}: {:?} vs {:?}",
                        tree_digest(&x2.trees[i]),
                        tree_digest(&y2.trees[i])
                    ));
                } else {
                    x2.trees.clear();
                    y2.trees.clear();
                    if x2 != y2 {
                        d.push(format!("booster parameters: {x2:?} vs {y2:?}"));
                    }
                }
            }
        }
        (Booster::Linear(x), Booster::Linear(y)) => {
            let bits = |w: &[f32]| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            check("gblinear weights", bits(&x.weights) == bits(&y.weights));
            check("boosted_rounds", x.boosted_rounds == y.boosted_rounds);
        }
        _ => check("booster kind", false),
    }
    d
}

fn same_tree(a: &Tree, b: &Tree) -> bool {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let mut a2 = a.clone();
    let mut b2 = b.clone();
    // Compare floats by bits (NaN == NaN).
    let fa = [
        bits(&a.split_conditions),
        bits(&a.base_weights),
        bits(&a.loss_changes),
        bits(&a.sum_hessian),
        a.leaf_weights.as_deref().map(bits).unwrap_or_default(),
    ];
    let fb = [
        bits(&b.split_conditions),
        bits(&b.base_weights),
        bits(&b.loss_changes),
        bits(&b.sum_hessian),
        b.leaf_weights.as_deref().map(bits).unwrap_or_default(),
    ];
    for t in [&mut a2, &mut b2] {
        t.split_conditions.clear();
        t.base_weights.clear();
        t.loss_changes.clear();
        t.sum_hessian.clear();
        if let Some(l) = t.leaf_weights.as_mut() {
            l.clear();
        }
    }
    fa == fb && a2 == b2
}

fn tree_digest(t: &Tree) -> String {
    format!(
        "nodes {} param {:?} split_type {:?} lcc {:?} lw {:?} id {:?}",
        t.len(),
        t.param,
        t.split_type.as_ref().map(|s| s.len()),
        t.leaf_child_counts.as_ref().map(|s| s.len()),
        t.leaf_weights.as_ref().map(|s| s.len()),
        t.id
    )
}

/// The structural equivalence of the original and the converted model:
/// every number a prediction uses. Returns the largest intercept difference.
pub fn equivalence(
    orig: &Model,
    conv: &Model,
    fold: &Fold,
) -> std::result::Result<f64, Vec<Reason>> {
    let mut bad: Vec<String> = Vec::new();
    let alias = |n: &str| {
        if n == "reg:linear" {
            "reg:squarederror".to_string()
        } else {
            n.to_string()
        }
    };
    if alias(&orig.objective.name) != alias(&conv.objective.name) {
        bad.push(format!(
            "objective {} became {}",
            orig.objective.name, conv.objective.name
        ));
    }
    let groups = orig.num_output_groups();
    if groups != conv.num_output_groups() {
        bad.push(format!(
            "{groups} outputs became {}",
            conv.num_output_groups()
        ));
    }
    if orig.learner.num_feature != conv.learner.num_feature {
        bad.push("num_feature changed".into());
    }
    if orig.objective.name.starts_with("multi:") && orig.learner.num_class != conv.learner.num_class
    {
        bad.push("num_class changed".into());
    }
    // Intercepts.
    let (ma, mb) = (orig.group_base_margins(), conv.group_base_margins());
    let mut worst = 0.0f64;
    if ma.len() != mb.len() {
        bad.push("intercept count changed".into());
    } else {
        for (g, (a, b)) in ma.iter().zip(&mb).enumerate() {
            let shift = fold
                .shifts
                .iter()
                .find(|s| s.1 == g)
                .map_or(0.0, |s| f64::from(s.2));
            match (a, b) {
                (Some(a), Some(b)) => {
                    let diff = (a - (b + shift)).abs();
                    worst = worst.max(diff);
                    if !close(*a, b + shift) {
                        bad.push(format!(
                            "output {g}: intercept margin {a} became {}",
                            b + shift
                        ));
                    }
                }
                _ => bad.push(format!("output {g}: intercept undefined")),
            }
        }
    }
    match (&orig.booster, &conv.booster) {
        (Booster::Linear(a), Booster::Linear(b)) => {
            if a.weights
                .iter()
                .map(|x| x.to_bits())
                .ne(b.weights.iter().map(|x| x.to_bits()))
            {
                bad.push("gblinear weights differ".into());
            }
        }
        (Booster::Trees(a), Booster::Trees(b)) => {
            if a.dart != b.dart {
                bad.push("DART became gbtree or the reverse".into());
            }
            if a.trees.len() != b.trees.len() || a.tree_info != b.tree_info {
                bad.push("trees or their output groups differ".into());
            } else {
                let wa = a.weight_drop.as_deref().unwrap_or(&[]);
                let wb = b.weight_drop.as_deref().unwrap_or(&[]);
                if a.dart
                    && wa
                        .iter()
                        .map(|x| x.to_bits())
                        .ne(wb.iter().map(|x| x.to_bits()))
                {
                    bad.push("DART weights differ".into());
                }
                for (i, (ta, tb)) in a.trees.iter().zip(&b.trees).enumerate() {
                    let shifts: Vec<(usize, f32)> = fold
                        .shifts
                        .iter()
                        .filter(|s| s.0 == i)
                        .map(|s| (s.1, s.2))
                        .collect();
                    if let Some(e) = tree_equivalence(ta, tb, &shifts) {
                        bad.push(format!("tree {i}: {e}"));
                    }
                    if bad.len() > 8 {
                        break;
                    }
                }
            }
        }
        _ => bad.push("booster kind changed".into()),
    }
    if bad.is_empty() {
        Ok(worst)
    } else {
        Err(bad
            .into_iter()
            .take(8)
            .map(|b| {
                Reason::new(
                    "convert.not_equivalent",
                    format!("the converted model would predict differently: {b}"),
                )
            })
            .collect())
    }
}

/// Compares two trees node by node as a predictor walks them.
fn tree_equivalence(a: &Tree, b: &Tree, shifts: &[(usize, f32)]) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("{} nodes became {}", a.len(), b.len()));
    }
    if a.leaf_size() != b.leaf_size() {
        return Some("leaf size changed".into());
    }
    for n in 0..a.len() {
        if a.is_leaf(n) != b.is_leaf(n) || a.is_deleted(n) != b.is_deleted(n) {
            return Some(format!("node {n} changed kind"));
        }
        if a.is_deleted(n) {
            continue;
        }
        if a.is_leaf(n) {
            let (Some(la), Some(lb)) = (a.leaf_value(n), b.leaf_value(n)) else {
                return Some(format!("leaf {n} has no value"));
            };
            for (o, (x, y)) in la.iter().zip(lb).enumerate() {
                let want = match shifts
                    .iter()
                    .find(|s| a.is_vector_leaf() && s.0 == o || !a.is_vector_leaf())
                {
                    Some((_, s)) => *x + *s,
                    None => *x,
                };
                if want.to_bits() != y.to_bits() {
                    return Some(format!("leaf {n} value {x} became {y}"));
                }
            }
            if la.len() != lb.len() {
                return Some(format!("leaf {n} size changed"));
            }
            continue;
        }
        if a.left_children[n] != b.left_children[n]
            || a.right_children[n] != b.right_children[n]
            || a.split_indices[n] != b.split_indices[n]
            || a.default_left[n] != b.default_left[n]
            || a.split_conditions[n].to_bits() != b.split_conditions[n].to_bits()
            || a.is_categorical(n) != b.is_categorical(n)
        {
            return Some(format!("split node {n} changed"));
        }
        if a.is_categorical(n) {
            let ca = a.categories.as_ref().and_then(|c| c.of(n));
            let cb = b.categories.as_ref().and_then(|c| c.of(n));
            if ca != cb {
                return Some(format!("categories of node {n} changed"));
            }
        }
    }
    None
}

fn predicts_statement(
    orig: &Model,
    conv: &Model,
    c: &Container,
    before: &Verdict,
    fold: &Fold,
) -> String {
    let groups = conv.num_output_groups();
    let what = match &conv.booster {
        Booster::Linear(_) => "the gblinear weights".to_string(),
        Booster::Trees(t) => format!(
            "all {} trees{}",
            t.trees.len(),
            if t.dart {
                " with their DART weights"
            } else {
                ""
            }
        ),
    };
    let margins: Vec<String> = orig
        .group_base_margins()
        .iter()
        .map(|m| m.map_or("?".into(), |x| format!("{x:.7}")))
        .collect();
    let mut s = format!(
        "In {} (xgboost {}) the converted file predicts what Booster.predict() gives for the original model: {what}, {} output{}, intercept margin{} {}{}, then {}'s transform.",
        c.tag,
        c.xgboost_text,
        groups,
        if groups == 1 { "" } else { "s" },
        if margins.len() == 1 { "" } else { "s" },
        margins.join(", "),
        if fold.shifts.is_empty() {
            ""
        } else {
            " (carried by the first tree of each output)"
        },
        conv.objective.name
    );
    if let Some(r) = before
        .reasons()
        .iter()
        .find(|r| r.code == "container.best_ntree_limit")
    {
        s.push_str(&format!(
            " The original file did not: {}; the converted file uses every tree.",
            r.message
        ));
    }
    s
}

/// The multi-target layout a dialect uses, for reports.
pub fn multi_target_layout(d: &Dialect) -> Option<MultiTargetLayout> {
    if !d.at_least(2, 0) {
        None
    } else if d.at_least(3, 2) {
        Some(MultiTargetLayout::LeafWeights)
    } else {
        Some(MultiTargetLayout::PerNodeBaseWeights)
    }
}

// ---------------------------------------------------------------------------
// The packing pipeline

/// What `sm-pack xgboost` found out about the target container, and did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerCheck {
    /// The tag judged against.
    pub tag: String,
    /// Its pinned xgboost.
    pub xgboost: String,
    /// No tag was given: the newest tag was judged, nothing was converted.
    pub default_tag: bool,
    /// The verdict for the model file as given.
    pub verdict: Verdict,
    /// Tags whose verdict for the file as given is *loads*.
    pub loads_in: Vec<String>,
    /// The model was converted for the tag (the archive holds the converted file).
    pub converted: bool,
    /// Packing must exit 1: `--no-convert` with a verdict other than *loads*,
    /// or the conversion was refused.
    pub failed: bool,
    /// One sentence for the report.
    pub message: String,
}

/// The container part of packing an XGBoost model.
#[derive(Debug, Clone)]
pub struct PackPrep {
    /// What was found and done.
    pub check: ContainerCheck,
    /// The conversion, when one was made (its bytes are what gets packed).
    pub conversion: Option<Conversion>,
    /// The refusal, when the model needed a conversion that cannot be made.
    pub refusal: Option<Refusal>,
    /// Findings to add to the report (`container.verdict`, `xgb.convert.refused`).
    pub findings: Vec<crate::report::Finding>,
    /// Size of the model file as given.
    pub original_size: u64,
    /// SHA-256 of the model file as given.
    pub original_sha256: String,
}

/// Decides what packing does about the container:
///
/// * with `container` given: the file is judged for that tag; when the
///   verdict is not *loads* it is converted (unless `no_convert`, in which
///   case it is packed as given and [`ContainerCheck::failed`] is set); a
///   refused conversion sets [`PackPrep::refusal`] and nothing is packed;
/// * without: the file is judged for the newest tag and the verdict is
///   reported (a warning when it is not *loads*), but nothing is converted:
///   sm-pack changes the bytes of a model only for a container the user
///   named.
pub fn prepare_for_pack(
    path: &std::path::Path,
    container: Option<&str>,
    no_convert: bool,
) -> Result<PackPrep> {
    let bytes = crate::input::read_model_file(path, crate::input::MAX_MODEL_BYTES)?;
    prepare_for_pack_bytes(&bytes, container, no_convert)
}

/// [`prepare_for_pack`] for a model file's bytes already in memory (the
/// packing pipeline reads the file once, validates and judges those bytes,
/// and checks that the bytes it packs are the same).
pub fn prepare_for_pack_bytes(
    bytes: &[u8],
    container: Option<&str>,
    no_convert: bool,
) -> Result<PackPrep> {
    use crate::report::Finding;
    let (model, _) = crate::xgboost::read_model(bytes)?;
    let table = ContainerTable::builtin()?;
    let c = match container {
        Some(t) => table.require(t)?,
        None => table.newest_xgboost(),
    };
    let verdict = c.judge_model_file(&model, Some(bytes), None);
    let loads_in: Vec<String> = table
        .containers()
        .iter()
        .filter(|x| x.judge_model_file(&model, Some(bytes), None).is_loads())
        .map(|x| x.tag.clone())
        .collect();
    let mut check = ContainerCheck {
        tag: c.tag.clone(),
        xgboost: c.xgboost_text.clone(),
        default_tag: container.is_none(),
        verdict: verdict.clone(),
        loads_in: loads_in.clone(),
        converted: false,
        failed: false,
        message: String::new(),
    };
    let mut prep = PackPrep {
        check: check.clone(),
        conversion: None,
        refusal: None,
        findings: Vec::new(),
        original_size: bytes.len() as u64,
        original_sha256: crate::hash::sha256_hex(bytes),
    };
    let loads_list = if loads_in.is_empty() {
        "no tag loads it as given".to_string()
    } else {
        format!("tags that load it as given: {}", loads_in.join(", "))
    };
    if verdict.is_loads() {
        check.message = format!(
            "{} (xgboost {}){}: loads",
            c.tag,
            c.xgboost_text,
            if container.is_none() {
                " — the newest tag, judged because no --container was given"
            } else {
                ""
            }
        );
        prep.check = check;
        return Ok(prep);
    }
    if container.is_none() {
        check.message = format!(
            "{} (xgboost {}, the newest tag; no --container was given): {verdict}; {loads_list}. Nothing was converted: pass --container TAG for the tag you deploy to, and sm-pack converts the model when that tag needs it",
            c.tag, c.xgboost_text
        );
        prep.findings.push(
            Finding::warning("container.verdict", check.message.clone())
                .with_hint("pass --container TAG (sm-pack containers lists them)"),
        );
        prep.check = check;
        return Ok(prep);
    }
    if no_convert {
        check.failed = true;
        check.message = format!(
            "{} (xgboost {}): {verdict}; packed as given because of --no-convert ({loads_list})",
            c.tag, c.xgboost_text
        );
        prep.findings.push(
            Finding::warning("container.verdict", check.message.clone())
                .with_hint("drop --no-convert to let sm-pack convert the model for this tag"),
        );
        prep.check = check;
        return Ok(prep);
    }
    match convert(&model, Some(bytes), &Request::for_tag(&c.tag))? {
        Outcome::Converted(conv) => {
            check.converted = true;
            check.message = format!(
                "{} (xgboost {}): the model as given {}; packed converted to {} ({})",
                c.tag,
                c.xgboost_text,
                verdict.label(),
                conv.to.description,
                conv.verdict_after.label()
            );
            prep.conversion = Some(*conv);
        }
        Outcome::Refused(r) => {
            check.failed = true;
            check.message = r.message();
            let mut f = Finding::error("xgb.convert.refused", r.message());
            if let Some(t) = &r.oldest_tag {
                f = f.with_hint(format!("target {t} or a newer tag (--container {t})"));
            }
            prep.findings.push(f);
            prep.refusal = Some(*r);
        }
    }
    prep.check = check;
    Ok(prep)
}

// ---------------------------------------------------------------------------
// Prediction check

/// Tolerance of the prediction check: `|a − b| ≤ 1e-6 × max(1, |b|)`.
pub const PRED_TOLERANCE: f64 = 1e-6;

enum PredCheck {
    Same(f64),
    Unevaluable(String),
}

fn rows_of(p: &Predictions) -> Vec<Vec<f64>> {
    (0..p.rows())
        .map(|r| p.row(r).iter().map(|&x| f64::from(x)).collect())
        .collect()
}

/// Predicts `rows` with the original (its producer's rules, every tree:
/// `Booster.predict()`) and with the converted file as the container
/// predicts it; margins and values must agree within [`PRED_TOLERANCE`].
fn prediction_check(
    orig: &Model,
    conv: &Model,
    bytes: &[u8],
    tag: &str,
    rows: &DenseMatrix,
) -> std::result::Result<PredCheck, Vec<Reason>> {
    let mut worst = 0.0f64;
    for margin in [true, false] {
        let want = match predict::predict(orig, rows, margin) {
            Ok(p) => p,
            Err(e) => return Ok(PredCheck::Unevaluable(e.to_string())),
        };
        let got =
            predict::predict_as_container(conv, Some(bytes), tag, rows, margin).map_err(|e| {
                vec![Reason::new(
                    "convert.not_equivalent",
                    format!("the converted file cannot be evaluated as {tag} would: {e}"),
                )]
            })?;
        let cmp = predict::compare_predictions(&got, &rows_of(&want), PRED_TOLERANCE);
        if !cmp.passed() {
            return Err(vec![Reason::new(
                "convert.not_equivalent",
                format!(
                    "the converted file would predict differently in {tag} ({}): {}",
                    if margin { "margins" } else { "values" },
                    cmp.describe()
                ),
            )]);
        }
        worst = worst.max(cmp.max_rel_diff);
    }
    Ok(PredCheck::Same(worst))
}

/// Rows that exercise every split of a model: for each feature, values just
/// below, at and just above each of its thresholds (up to 64 thresholds per
/// feature), the categories of its categorical splits and one outside them,
/// and missing values; combined column by column with different offsets,
/// plus pseudo-random combinations and an all-missing row. gblinear models
/// get a few values per feature. At most ~450 rows, and only the columns up
/// to the highest feature a split uses.
pub fn synthetic_sample(m: &Model) -> DenseMatrix {
    use std::collections::BTreeSet;
    let trees = m.trees();
    let mut max_feature = 0usize;
    let mut per: Vec<BTreeSet<u32>> = Vec::new();
    // Category codes are used as they are (never just below or above: a
    // negative code is invalid input, routed differently by 1.6 and 1.7).
    let mut cats_of: Vec<BTreeSet<i32>> = Vec::new();
    for t in trees {
        for n in 0..t.len() {
            if t.is_leaf(n) || t.is_deleted(n) {
                continue;
            }
            let Ok(f) = usize::try_from(t.split_indices[n]) else {
                continue;
            };
            if f > 1 << 20 {
                continue;
            }
            max_feature = max_feature.max(f);
            if per.len() <= f {
                per.resize(f + 1, BTreeSet::new());
                cats_of.resize(f + 1, BTreeSet::new());
            }
            if t.is_categorical(n) {
                if let Some(cats) = t.categories.as_ref().and_then(|c| c.of(n)) {
                    cats_of[f].extend(cats.iter().copied().filter(|&c| c >= 0));
                }
                cats_of[f].insert(0);
                continue;
            }
            let x = t.split_conditions[n];
            if x.is_finite() {
                per[f].insert(x.to_bits());
            }
        }
    }
    let cols = match &m.booster {
        Booster::Linear(_) => usize::try_from(m.learner.num_feature)
            .unwrap_or(1)
            .clamp(1, 4096),
        Booster::Trees(_) => (max_feature + 1).clamp(1, 1 << 20),
    };
    let mut values: Vec<Vec<f32>> = Vec::with_capacity(cols);
    for f in 0..cols {
        let mut v: Vec<f32> = Vec::new();
        let set = per
            .get(f)
            .map(|s| s.iter().map(|b| f32::from_bits(*b)).collect::<Vec<_>>());
        match set {
            Some(th) if !th.is_empty() => {
                let step = th.len().div_ceil(64);
                for x in th.iter().step_by(step) {
                    v.extend([x.next_down(), *x, x.next_up()]);
                }
            }
            _ => {}
        }
        if let Some(cs) = cats_of.get(f).filter(|c| !c.is_empty()) {
            // Every code up to the largest one any split lists (a code outside
            // every set goes left everywhere), at most 64 of them.
            let hi = cs.iter().max().copied().unwrap_or(0).min(63);
            v.extend((0..=hi).map(|c| c as f32));
        }
        if v.is_empty() {
            v.extend([0.0, 1.0, -1.5, 3.25]);
        }
        v.push(f32::NAN);
        values.push(v);
    }
    let longest = values.iter().map(Vec::len).max().unwrap_or(1).min(384);
    let mut data: Vec<f32> = Vec::new();
    let mut nrows = 0usize;
    for r in 0..longest {
        for (f, v) in values.iter().enumerate() {
            data.push(v[(r + f * 7) % v.len()]);
        }
        nrows += 1;
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..64 {
        for v in &values {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(v[(x % v.len() as u64) as usize]);
        }
        nrows += 1;
    }
    data.extend(std::iter::repeat_n(f32::NAN, cols));
    nrows += 1;
    DenseMatrix::new(data, nrows, cols)
        .unwrap_or_else(|_| DenseMatrix::new(vec![f32::NAN], 1, 1).expect("a 1x1 matrix"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(file: &str) -> (Vec<u8>, Model) {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/xgboost")
            .join(file);
        let bytes = std::fs::read(p).unwrap();
        let (m, _) = crate::xgboost::read_model(&bytes).unwrap();
        (bytes, m)
    }

    #[test]
    fn a_one_ulp_threshold_change_is_caught_by_both_checks() {
        let (_, m) = fixture("1.7.4/logistic.json");
        let d = Dialect::preferred(Version::mm(1, 7));
        let mut p = plan(&m, &d).unwrap();
        if let Booster::Trees(t) = &mut p.model.booster {
            let tree = &mut t.trees[0];
            let split = (0..tree.len()).find(|&n| !tree.is_leaf(n)).unwrap();
            tree.split_conditions[split] = tree.split_conditions[split].next_up();
        }
        let bytes = write_model(&p.model, &d).unwrap();
        let (back, _) = crate::xgboost::read_model(&bytes).unwrap();
        assert!(equivalence(&m, &back, &p.fold).is_err());
        let rows = synthetic_sample(&m);
        assert!(prediction_check(&m, &back, &bytes, "1.7-1", &rows).is_err());
        // The unchanged plan passes both.
        let p = plan(&m, &d).unwrap();
        let bytes = write_model(&p.model, &d).unwrap();
        let (back, _) = crate::xgboost::read_model(&bytes).unwrap();
        assert!(equivalence(&m, &back, &p.fold).is_ok());
        assert!(matches!(
            prediction_check(&m, &back, &bytes, "1.7-1", &rows),
            Ok(PredCheck::Same(_))
        ));
    }

    #[test]
    fn synthetic_rows_straddle_every_threshold() {
        let (_, m) = fixture("1.7.4/logistic.json");
        let rows = synthetic_sample(&m);
        let t = &m.trees()[0];
        let f = usize::try_from(t.split_indices[0]).unwrap();
        let x = t.split_conditions[0];
        let col: Vec<f32> = (0..rows.rows()).map(|r| rows.row(r)[f]).collect();
        for want in [x.next_down(), x, x.next_up()] {
            assert!(col.iter().any(|v| v.to_bits() == want.to_bits()));
        }
        assert!(col.iter().any(|v| v.is_nan()));
        assert!(rows.rows() < 500);
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("1.7"), Some(Version::mm(1, 7)));
        assert_eq!(
            parse_version("0.90").map(|v| (v.major, v.minor)),
            Some((0, 90))
        );
        assert_eq!(parse_version("3.2.0").and_then(|v| v.patch), Some(0));
        assert_eq!(parse_version("x"), None);
    }
}
