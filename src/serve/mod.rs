//! `serve`: answer inference requests exactly as a SageMaker built-in
//! container would, from the archive that will ship.
//!
//! [`load`] reads a `model.tar.gz` with the safe streaming reader, runs the
//! container's discovery and load rules ([`crate::verify`]: which root
//! files it loads, ensembles, dotfiles, encodings its XGBoost reads) and
//! either refuses — [`Load::Refused`], when the container would fail to
//! load the archive or when sm-pack cannot reproduce what it would serve —
//! or returns the [`LoadedModels`]. An [`Endpoint`] built on them answers
//! the container's HTTP contract without any HTTP: [`Endpoint::ping`],
//! [`Endpoint::invoke`] (`POST /invocations`) and
//! [`Endpoint::execution_parameters`]. The `serve` feature adds
//! `serve::http`, an axum server around an endpoint (`sm-pack serve`).
//!
//! What the XGBoost containers do is taken from the serving code of each
//! tag's branch of `aws/sagemaker-xgboost-container`
//! (`algorithm_mode/serve.py`, `serve_utils.py`, `encoder.py`,
//! `data_utils.py`) and the libraries it pins (scipy, numpy,
//! sagemaker-containers, Flask/Werkzeug); BlazingText is closed source and
//! follows its documented contract. `formats/serve.md` lists every rule with
//! its source, and where sm-pack differs.
//!
//! ```
//! use sm_pack::serve::{load, ContainerEnv, Endpoint, Load, LoadOptions, Request};
//! use sm_pack::verify::Target;
//! # let dir = tempfile::tempdir()?;
//! # let model = dir.path().join("model.json");
//! # std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/example/churn-xgboost.json"), &model)?;
//! # let archive = dir.path().join("model.tar.gz");
//! # sm_pack::pack::pack(&sm_pack::pack::PackJob::new(sm_pack::pack::Family::Xgboost, &model, &archive)?)?;
//! let opts = LoadOptions::new(Target::Xgboost(Some("1.7-1".into())));
//! let Load::Ready(models) = load(&archive, &opts)? else { panic!("refused") };
//! let endpoint = Endpoint::new(&models, ContainerEnv::default())?;
//! let response = endpoint.invoke(&Request {
//!     content_type: Some("text/csv"),
//!     accept: None,
//!     body: b"12,108.6,1,12,11.5",
//! });
//! assert_eq!(response.status, 200);
//! assert_eq!(response.content_type.as_deref(), Some("text/csv; charset=utf-8"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod blazingtext;
#[cfg(feature = "serve")]
pub mod http;
mod pyfmt;
mod xgb;

use crate::archive::reader::{self, CapturePolicy, ReadOptions};
use crate::container::{ContainerTable, Verdict};
use crate::error::{Error, Result};
use crate::report::{Finding, Severity};
use crate::verify::{self, Sidecar, Target, VerifyOptions};
use crate::xgboost::predict::ContainerPlan;
use std::path::{Path, PathBuf};

pub use xgb::{ServingCode, serving_code};

/// The largest model file [`load`] keeps in memory by default (per member
/// and over all members): 4 GiB.
pub const DEFAULT_MODEL_LIMIT: u64 = 4 << 30;

/// The request size limit applied to BlazingText (6 MiB, SageMaker's
/// real-time `InvokeEndpoint` payload limit; the container's own is not
/// documented).
pub const BLAZINGTEXT_MAX_PAYLOAD: u64 = 6 << 20;

/// The XGBoost containers' default `MAX_CONTENT_LENGTH` (6 MiB).
pub const XGBOOST_DEFAULT_MAX_CONTENT_LENGTH: i64 = 6_291_456;

// ---------------------------------------------------------------------------
// Environment

/// The container environment variables that change how it answers (set on
/// the SageMaker model or transform job; the defaults are the container's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerEnv {
    /// `SAGEMAKER_BATCH` (set by batch transform): any non-empty value
    /// switches XGBoost to one prediction per line.
    pub batch: Option<String>,
    /// `SAGEMAKER_INFERENCE_OUTPUT`: selectable inference output keys
    /// (`predicted_label,probability,...`), XGBoost 1.0-1 and later.
    pub inference_output: Option<String>,
    /// `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`: the response type when a
    /// request has no `Accept` (or `*/*`); `text/csv` when unset.
    pub default_accept: Option<String>,
    /// `SAGEMAKER_INFERENCE_ENSEMBLE`: the ensemble is on unless this is
    /// set to anything but `true` (1.2-2 and later).
    pub ensemble: Option<String>,
    /// `MAX_CONTENT_LENGTH`: the request size limit in bytes (6 MiB when
    /// unset; 0.90-1 … 1.2-1 cap it at 20 MiB).
    pub max_content_length: Option<String>,
}

/// The variables [`ContainerEnv`] reads.
pub const ENV_VARS: &[&str] = &[
    "SAGEMAKER_BATCH",
    "SAGEMAKER_INFERENCE_OUTPUT",
    "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT",
    "SAGEMAKER_INFERENCE_ENSEMBLE",
    "MAX_CONTENT_LENGTH",
];

impl ContainerEnv {
    /// The variables of this process's environment.
    pub fn from_process() -> Self {
        let mut env = ContainerEnv::default();
        for name in ENV_VARS {
            if let Some(v) = std::env::var_os(name) {
                // Unset and set-but-not-UTF-8 differ; keep what Python would see.
                let _ = env.set(name, &v.to_string_lossy());
            }
        }
        env
    }

    /// Sets one variable by name; [`Error::Usage`] for a name the
    /// container does not read.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let v = Some(value.to_string());
        match name {
            "SAGEMAKER_BATCH" => self.batch = v,
            "SAGEMAKER_INFERENCE_OUTPUT" => self.inference_output = v,
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT" => self.default_accept = v,
            "SAGEMAKER_INFERENCE_ENSEMBLE" => self.ensemble = v,
            "MAX_CONTENT_LENGTH" => self.max_content_length = v,
            _ => {
                return Err(Error::Usage {
                    message: format!(
                        "{name} is not an environment variable the container reads (known: {})",
                        ENV_VARS.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// `is_ensemble_enabled()`: unset or `true`.
    pub fn ensemble_enabled(&self) -> bool {
        self.ensemble.as_deref().is_none_or(|v| v == "true")
    }

    /// `if SAGEMAKER_BATCH:` — set and non-empty.
    pub fn is_batch(&self) -> bool {
        self.batch.as_deref().is_some_and(|v| !v.is_empty())
    }
}

// ---------------------------------------------------------------------------
// Requests and responses

/// One `POST /invocations` request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The `Content-Type` header, as sent.
    pub content_type: Option<&'a str>,
    /// The `Accept` header, as sent.
    pub accept: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// A response: status, `Content-Type` and body, as the container sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The `Content-Type` header (none for a body-less response).
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// Flask's default type for responses without a mimetype.
const HTML: &str = "text/html; charset=utf-8";

impl Response {
    /// A response with a body and Werkzeug's content type for `mimetype`
    /// (`; charset=utf-8` added to `text/*`).
    pub(crate) fn new(status: u16, mimetype: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type: Some(werkzeug_content_type(mimetype)),
            body: body.into(),
        }
    }

    /// A Flask error response: `flask.Response(response=text, status=s)`.
    pub(crate) fn text(status: u16, text: impl Into<String>) -> Self {
        Response {
            status,
            content_type: Some(HTML.into()),
            body: text.into().into_bytes(),
        }
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// `werkzeug.utils.get_content_type(mimetype, "utf-8")`.
fn werkzeug_content_type(mimetype: &str) -> String {
    const WITH_CHARSET: &[&str] = &[
        "application/ecmascript",
        "application/javascript",
        "application/sql",
        "application/xml",
        "application/xml-dtd",
        "application/xml-external-parsed-entity",
    ];
    if mimetype.starts_with("text/")
        || WITH_CHARSET.contains(&mimetype)
        || mimetype.ends_with("+xml")
    {
        format!("{mimetype}; charset=utf-8")
    } else {
        mimetype.to_string()
    }
}

// ---------------------------------------------------------------------------
// Loading

/// Options of [`load`].
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The container to imitate.
    pub target: Target,
    /// The container's environment (only `SAGEMAKER_INFERENCE_ENSEMBLE`
    /// matters for loading).
    pub env: ContainerEnv,
    /// Largest model file kept in memory (per file and in total).
    pub model_limit: u64,
    /// fastText checks (quantized models are refused unless allowed).
    pub fasttext: crate::fasttext::Options,
}

impl LoadOptions {
    /// Defaults for `target`.
    pub fn new(target: Target) -> Self {
        LoadOptions {
            target,
            env: ContainerEnv::default(),
            model_limit: DEFAULT_MODEL_LIMIT,
            fasttext: crate::fasttext::Options::default(),
        }
    }
}

/// One XGBoost file the container loads.
#[derive(Debug)]
pub struct XgbMember {
    /// Root entry name (`xgboost-model`).
    pub name: String,
    /// The parsed model.
    pub model: crate::xgboost::ir::Model,
    /// How the container predicts it (pinned XGBoost rules, tree limit).
    pub plan: ContainerPlan,
    /// One-line description (encoding, producer).
    pub description: String,
}

/// What [`load`] loaded, ready for [`Endpoint::new`].
#[derive(Debug)]
pub struct LoadedModels {
    /// The archive.
    pub archive: PathBuf,
    /// The container imitated: an XGBoost tag or `blazingtext`.
    pub container: String,
    /// Pinned XGBoost of the tag (XGBoost only).
    pub xgboost: Option<String>,
    /// The verify verdict (for notes; never "fails to load").
    pub verdict: Verdict,
    /// Warnings and errors verify reported that did not stop loading
    /// (e.g. "several models are averaged as an ensemble").
    pub findings: Vec<Finding>,
    kind: LoadedKind,
}

#[derive(Debug)]
enum LoadedKind {
    Xgboost(Vec<XgbMember>),
    Blazingtext {
        name: String,
        model: Box<crate::fasttext::Model>,
    },
}

impl LoadedModels {
    /// The XGBoost files loaded, in the container's listing order (empty
    /// for BlazingText).
    pub fn xgboost_members(&self) -> &[XgbMember] {
        match &self.kind {
            LoadedKind::Xgboost(m) => m,
            LoadedKind::Blazingtext { .. } => &[],
        }
    }

    /// The fastText model (BlazingText only).
    pub fn fasttext_model(&self) -> Option<&crate::fasttext::Model> {
        match &self.kind {
            LoadedKind::Blazingtext { model, .. } => Some(model),
            LoadedKind::Xgboost(_) => None,
        }
    }

    /// One line per loaded file.
    pub fn describe(&self) -> Vec<String> {
        match &self.kind {
            LoadedKind::Xgboost(ms) => ms
                .iter()
                .map(|m| {
                    let limit = match m.plan.best_ntree_limit {
                        Some(n) => format!(", best_ntree_limit {n} applied"),
                        None => String::new(),
                    };
                    format!("{}: {}{limit}", m.name, m.description)
                })
                .collect(),
            LoadedKind::Blazingtext { name, model } => {
                let a = model.args();
                vec![format!(
                    "{name}: fastText {} model, dim {}, {} words, {} labels",
                    match a.model {
                        crate::fasttext::ModelName::Supervised => "supervised",
                        crate::fasttext::ModelName::Skipgram => "skipgram",
                        crate::fasttext::ModelName::Cbow => "cbow",
                        crate::fasttext::ModelName::Unknown(_) => "unknown",
                    },
                    a.dim,
                    model.nwords(),
                    model.nlabels()
                )]
            }
        }
    }
}

/// Why [`load`] refused to start the endpoint.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The container imitated.
    pub container: String,
    /// Its verdict for the archive.
    pub verdict: Verdict,
    /// The findings that explain it (errors and warnings).
    pub findings: Vec<Finding>,
    /// One sentence.
    pub message: String,
}

/// The outcome of [`load`].
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Load {
    /// The container loads the archive; these are its models.
    Ready(LoadedModels),
    /// The container would fail to load it, or sm-pack cannot reproduce
    /// what it serves: the endpoint must not start.
    Refused(Refusal),
}

/// Reads `archive` and loads what the container would load (see the
/// module docs). I/O and usage problems are errors; an archive the
/// container cannot serve is [`Load::Refused`].
pub fn load(archive: &Path, opts: &LoadOptions) -> Result<Load> {
    let read = ReadOptions {
        capture: CapturePolicy::RootFiles,
        capture_limit: opts.model_limit,
        capture_total_limit: opts.model_limit,
        ..ReadOptions::default()
    };
    let vopts = VerifyOptions {
        target: opts.target.clone(),
        manifest: Sidecar::Skip,
        sums: Sidecar::Skip,
        read: read.clone(),
        ensemble: opts
            .env
            .ensemble
            .as_ref()
            .map(|_| opts.env.ensemble_enabled()),
        fasttext: opts.fasttext.clone(),
        progress: None,
    };
    let report = verify::verify_archive(archive, &vopts)?;
    let notable: Vec<Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .cloned()
        .collect();
    let refuse = |message: String| {
        Ok(Load::Refused(Refusal {
            container: report.container.clone(),
            verdict: report.verdict.clone(),
            findings: notable.clone(),
            message,
        }))
    };
    match &report.verdict {
        Verdict::FailsToLoad { .. } => {
            return refuse(format!(
                "{} fails to load {}: {}",
                container_name(&report),
                archive.display(),
                report.verdict
            ));
        }
        Verdict::Undetermined { .. } => {
            return refuse(format!(
                "sm-pack cannot tell whether {} loads {}: {}",
                container_name(&report),
                archive.display(),
                report.verdict
            ));
        }
        Verdict::LoadsButMispredicts { reasons }
            if reasons
                .iter()
                .any(|r| r.code == verify::codes::ORDER_DEPENDENT) =>
        {
            return refuse(format!(
                "{} loads one of several different models, picked by the filesystem's listing order, so what it serves cannot be known: {}",
                container_name(&report),
                report.verdict
            ));
        }
        _ => {}
    }
    let d = &report.discovery;
    // Identical copies picked by listing order: any one of them.
    let names: Vec<String> = if d.loads.is_empty() {
        d.one_of.iter().take(1).cloned().collect()
    } else {
        d.loads.clone()
    };
    let member_of = |name: &str| {
        d.root
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.member)
            .and_then(|i| report.listing.members.get(i))
    };
    let kind = match &opts.target {
        Target::Xgboost(_) => {
            let mut members = Vec::new();
            for name in &names {
                let Some(m) = member_of(name) else {
                    return refuse(format!("{name} is not a regular file in the archive"));
                };
                let Some((bytes, true)) = m.captured() else {
                    return refuse(format!(
                        "{name} ({} bytes) is larger than the {} bytes sm-pack keeps in memory",
                        m.size, opts.model_limit
                    ));
                };
                let (model, _) = crate::xgboost::read_model(bytes)?;
                let plan = match crate::xgboost::predict::container_plan(
                    &model,
                    Some(bytes),
                    &report.container,
                ) {
                    Ok(p) => p,
                    Err(Error::Usage { message }) => return refuse(message),
                    Err(e) => return Err(e),
                };
                let producer = crate::xgboost::predict::producer_version(&model);
                let description = format!(
                    "{}{} saved by xgboost {producer}, {} {}",
                    model.source.encoding.format_name(),
                    if model.source.pickle.is_some() {
                        " (pickled Booster)"
                    } else {
                        ""
                    },
                    model.objective.name,
                    match &model.booster {
                        crate::xgboost::ir::Booster::Trees(t) =>
                            format!("({} trees)", t.trees.len()),
                        crate::xgboost::ir::Booster::Linear(_) => "(gblinear)".to_string(),
                    }
                );
                members.push(XgbMember {
                    name: name.clone(),
                    model,
                    plan,
                    description,
                });
            }
            if members.is_empty() {
                return refuse(format!(
                    "{} finds no model file in {}",
                    container_name(&report),
                    archive.display()
                ));
            }
            LoadedKind::Xgboost(members)
        }
        Target::Blazingtext => {
            let Some(name) = names.first() else {
                return refuse("there is no model.bin at the root of the archive".into());
            };
            let Some(m) = member_of(name) else {
                return refuse(format!("{name} is not a regular file in the archive"));
            };
            // verify streamed model.bin through the validator without keeping
            // it; read it again, keeping just that member.
            let path = m.path.clone();
            let listing = reader::read_archive_file(
                archive,
                &ReadOptions {
                    capture: CapturePolicy::Paths(vec![path.clone()]),
                    ..read
                },
            )?;
            let Some((bytes, true)) = listing
                .members
                .iter()
                .rev()
                .find(|x| x.path == path)
                .and_then(|x| x.captured())
            else {
                return refuse(format!(
                    "{name} is larger than the {} bytes sm-pack keeps in memory",
                    opts.model_limit
                ));
            };
            let model = crate::fasttext::Model::read_from(bytes, Some(bytes.len() as u64))?;
            LoadedKind::Blazingtext {
                name: name.clone(),
                model: Box::new(model),
            }
        }
    };
    let xgboost = match &opts.target {
        Target::Xgboost(_) => ContainerTable::builtin()?
            .get(&report.container)
            .map(|c| c.xgboost_text.clone()),
        Target::Blazingtext => None,
    };
    Ok(Load::Ready(LoadedModels {
        archive: archive.to_path_buf(),
        container: report.container.clone(),
        xgboost,
        verdict: report.verdict.clone(),
        findings: notable,
        kind,
    }))
}

fn container_name(report: &verify::VerifyReport) -> String {
    match &report.pinned {
        Some(p) => format!("SageMaker XGBoost {} ({p})", report.container),
        None => "SageMaker BlazingText".to_string(),
    }
}

// ---------------------------------------------------------------------------
// The endpoint

/// Answers the container's HTTP contract for loaded models. Build one per
/// process with [`Endpoint::new`]; it is `Send + Sync` and every method
/// takes `&self`.
#[derive(Debug)]
pub struct Endpoint<'m> {
    container: String,
    kind: EndpointKind<'m>,
}

#[derive(Debug)]
enum EndpointKind<'m> {
    Xgboost(Box<xgb::XgbEndpoint<'m>>),
    Blazingtext(Box<blazingtext::BtEndpoint<'m>>),
}

impl<'m> Endpoint<'m> {
    /// Compiles the models for serving with the container's environment.
    /// [`Error::Usage`] when the environment would stop the container from
    /// starting (e.g. a `MAX_CONTENT_LENGTH` that is not an integer).
    pub fn new(models: &'m LoadedModels, env: ContainerEnv) -> Result<Self> {
        let kind =
            match &models.kind {
                LoadedKind::Xgboost(members) => EndpointKind::Xgboost(Box::new(
                    xgb::XgbEndpoint::new(&models.container, members, env)?,
                )),
                LoadedKind::Blazingtext { model, .. } => {
                    EndpointKind::Blazingtext(Box::new(blazingtext::BtEndpoint::new(model)?))
                }
            };
        Ok(Endpoint {
            container: models.container.clone(),
            kind,
        })
    }

    /// The container imitated (tag or `blazingtext`).
    pub fn container(&self) -> &str {
        &self.container
    }

    /// `GET /ping`: 200 with an empty body (the models are loaded).
    pub fn ping(&self) -> Response {
        Response::text(200, "")
    }

    /// `GET /execution-parameters`, when the container serves it (XGBoost:
    /// `{"MaxConcurrentTransforms": <CPUs>, "BatchStrategy":
    /// "MULTI_RECORD", "MaxPayloadInMB": <limit>}`); `None`: 404.
    pub fn execution_parameters(&self) -> Option<Response> {
        match &self.kind {
            EndpointKind::Xgboost(x) => Some(x.execution_parameters()),
            EndpointKind::Blazingtext(_) => None,
        }
    }

    /// The request size limit in bytes: a larger body gets
    /// [`Endpoint::payload_too_large`] without being read. `None`: every
    /// request is too large (a negative `MAX_CONTENT_LENGTH`).
    pub fn max_payload(&self) -> Option<u64> {
        match &self.kind {
            EndpointKind::Xgboost(x) => u64::try_from(x.max_content_length()).ok(),
            EndpointKind::Blazingtext(_) => Some(BLAZINGTEXT_MAX_PAYLOAD),
        }
    }

    /// The 413 response for a body over [`Endpoint::max_payload`]
    /// (Werkzeug's `RequestEntityTooLarge`).
    pub fn payload_too_large(&self) -> Response {
        Response::text(
            413,
            "<!doctype html>\n<html lang=en>\n<title>413 Request Entity Too Large</title>\n<h1>Request Entity Too Large</h1>\n<p>The data value transmitted exceeds the capacity limit.</p>\n",
        )
    }

    /// `POST /invocations`. Never panics on any input; every outcome is a
    /// response with the container's status code.
    pub fn invoke(&self, req: &Request<'_>) -> Response {
        if self
            .max_payload()
            .is_none_or(|max| req.body.len() as u64 > max)
        {
            return self.payload_too_large();
        }
        match &self.kind {
            EndpointKind::Xgboost(x) => x.invoke(req),
            EndpointKind::Blazingtext(b) => b.invoke(req),
        }
    }

    /// One line saying how requests are answered (response types, limits).
    pub fn contract_summary(&self) -> String {
        match &self.kind {
            EndpointKind::Xgboost(x) => x.summary(),
            EndpointKind::Blazingtext(b) => b.summary(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn werkzeug_adds_charset_to_text_types_only() {
        assert_eq!(werkzeug_content_type("text/csv"), "text/csv; charset=utf-8");
        assert_eq!(
            werkzeug_content_type("application/json"),
            "application/json"
        );
        assert_eq!(
            werkzeug_content_type("application/jsonlines"),
            "application/jsonlines"
        );
        assert_eq!(
            werkzeug_content_type("application/atom+xml"),
            "application/atom+xml; charset=utf-8"
        );
    }

    #[test]
    fn env_follows_python_truthiness() {
        let mut e = ContainerEnv::default();
        assert!(e.ensemble_enabled() && !e.is_batch());
        e.set("SAGEMAKER_INFERENCE_ENSEMBLE", "True").unwrap();
        assert!(!e.ensemble_enabled());
        e.set("SAGEMAKER_BATCH", "false").unwrap();
        assert!(e.is_batch());
        e.set("SAGEMAKER_BATCH", "").unwrap();
        assert!(!e.is_batch());
        assert!(e.set("PATH", "/bin").is_err());
    }
}
