//! The XGBoost algorithm-mode contract (`algorithm_mode/serve.py` and
//! `serve_utils.py` of each tag's branch of
//! `aws/sagemaker-xgboost-container`).

use super::pyfmt::{PyVal, json_float, json_str, py_float, py_int};
use super::{ContainerEnv, Request, Response, XGBOOST_DEFAULT_MAX_CONTENT_LENGTH, XgbMember};
use crate::error::{Error, Result};
use crate::xgboost::predict::{
    DenseMatrix, PredictOptions, Predictor, TreeLimit, push_python_float_repr,
};

// ---------------------------------------------------------------------------
// What each tag's serving code does

/// How a tag's `/invocations` treats the `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcceptHandling {
    /// 0.90-1, 0.90-2: ignored; the response is always `text/csv`.
    Ignored,
    /// 1.0-1, 1.2-1: read only when `SAGEMAKER_INFERENCE_OUTPUT` is set.
    SelectableOnly,
    /// 1.2-2 and later: always read (406 when unsupported), after predicting.
    Always,
}

/// The layout of a plain (non-batch) `text/csv` response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsvLayout {
    /// `",".join(map(str, preds.tolist()))`: one line, rows separated by
    /// commas; a multi-output row is written as a Python list
    /// (`[0.1, 0.9],[0.8, 0.2]`). 0.90-1 … 1.2-1.
    Joined,
    /// sagemaker-containers' `array_to_csv`: one line per row, a row's
    /// values separated by commas, a trailing newline. 1.2-2 and later.
    Lines,
}

/// The facts of one tag's serving code that change responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServingCode {
    /// The branch of `aws/sagemaker-xgboost-container` they come from.
    pub branch: &'static str,
    /// `Accept` handling.
    pub accept: AcceptHandling,
    /// Plain `text/csv` layout.
    pub csv: CsvLayout,
    /// `_get_max_content_length`'s cap on `MAX_CONTENT_LENGTH` (20 MiB,
    /// 0.90-1 … 1.2-1); `None`: the variable is used as is.
    pub max_content_cap: Option<i64>,
    /// The scipy the image pins.
    pub scipy: &'static str,
    /// scipy ≥ 1.11: `stats.mode(...).mode[0]` is the first row's vote
    /// alone, so a voting ensemble (`multi:softmax`, `binary:hinge`)
    /// answers every request with 500.
    pub vote_is_scalar: bool,
    /// `reg:absoluteerror` is a selectable-output objective (1.7-1+).
    pub absoluteerror_selectable: bool,
}

/// The serving-code facts of an XGBoost tag (unknown tags get the newest
/// branch's).
pub fn serving_code(tag: &str) -> ServingCode {
    const MIB20: Option<i64> = Some(20 << 20);
    let (branch, accept, csv, cap, scipy) = match tag {
        "0.90-1" => (
            "0.90-1",
            AcceptHandling::Ignored,
            CsvLayout::Joined,
            MIB20,
            "1.2.2",
        ),
        "0.90-2" => (
            "0.90-2",
            AcceptHandling::Ignored,
            CsvLayout::Joined,
            MIB20,
            "1.2.2",
        ),
        "1.0-1" => (
            "1.0-1",
            AcceptHandling::SelectableOnly,
            CsvLayout::Joined,
            MIB20,
            "1.2.2",
        ),
        "1.2-1" => (
            "1.2-1",
            AcceptHandling::SelectableOnly,
            CsvLayout::Joined,
            MIB20,
            "1.5.3",
        ),
        "1.2-2" => (
            "1.2-2",
            AcceptHandling::Always,
            CsvLayout::Lines,
            None,
            "1.5.3",
        ),
        "1.3-1" => (
            "1.3-1",
            AcceptHandling::Always,
            CsvLayout::Lines,
            None,
            "1.6.2",
        ),
        "1.5-1" => (
            "1.5-1",
            AcceptHandling::Always,
            CsvLayout::Lines,
            None,
            "1.8.0",
        ),
        "1.7-1" => (
            "1.7-1",
            AcceptHandling::Always,
            CsvLayout::Lines,
            None,
            "1.8.0",
        ),
        "3.0-5" => (
            "release-3.0.5",
            AcceptHandling::Always,
            CsvLayout::Lines,
            None,
            "1.15.0",
        ),
        _ => (
            "master",
            AcceptHandling::Always,
            CsvLayout::Lines,
            None,
            "1.15.0",
        ),
    };
    let scipy_ge_1_11 = {
        let mut it = scipy.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0)) >= (1, 11)
    };
    ServingCode {
        branch,
        accept,
        csv,
        max_content_cap: cap,
        scipy,
        vote_is_scalar: scipy_ge_1_11,
        absoluteerror_selectable: !matches!(
            tag,
            "0.90-1" | "0.90-2" | "1.0-1" | "1.2-1" | "1.2-2" | "1.3-1" | "1.5-1"
        ),
    }
}

/// Accept types `_parse_accept` allows.
const SUPPORTED_ACCEPTS: &[&str] = &[
    "application/json",
    "application/jsonlines",
    "application/x-recordio-protobuf",
    "text/csv",
];

/// `data_utils.VALID_CONTENT_TYPES`, as the error message lists them.
const VALID_CONTENT_TYPES: &str = "csv, libsvm, parquet, recordio-protobuf, text/csv, text/libsvm, text/x-libsvm, application/x-parquet, application/x-recordio-protobuf";

/// Selectable output keys by objective (`VALID_OBJECTIVES`).
fn valid_keys(objective: &str, absoluteerror: bool) -> Option<&'static [&'static str]> {
    const CLASSIFIER: &[&str] = &[
        "predicted_label",
        "labels",
        "probability",
        "probabilities",
        "raw_score",
        "raw_scores",
    ];
    const RAW: &[&str] = &["predicted_label", "labels", "raw_score", "raw_scores"];
    Some(match objective {
        "reg:squarederror" | "reg:logistic" | "reg:gamma" | "reg:tweedie" => &["predicted_score"],
        "reg:absoluteerror" if absoluteerror => &["predicted_score"],
        "binary:logistic" | "multi:softprob" => CLASSIFIER,
        "binary:logitraw" | "binary:hinge" | "multi:softmax" => RAW,
        _ => return None,
    })
}

/// The order `get_selected_predictions` fills each output dict in.
const KEY_ORDER: &[&str] = &[
    "predicted_label",
    "labels",
    "probability",
    "probabilities",
    "raw_score",
    "raw_scores",
    "predicted_score",
];

// ---------------------------------------------------------------------------
// The endpoint

struct Member<'m> {
    name: String,
    predictor: Predictor<'m>,
    limit: TreeLimit,
    num_feature: usize,
    pickle: bool,
}

impl std::fmt::Debug for Member<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("name", &self.name)
            .field("num_feature", &self.num_feature)
            .field("pickle", &self.pickle)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(crate) struct XgbEndpoint<'m> {
    tag: String,
    code: ServingCode,
    /// The pinned XGBoost (major, minor).
    xgb: (u32, u32),
    members: Vec<Member<'m>>,
    /// The first booster's objective as its `save_config()` names it.
    objective: String,
    /// `learner_model_param.num_class` of the first booster (a string).
    num_class: String,
    env: ContainerEnv,
    max_len: i64,
    /// Large predictions running now: one running alone spreads over every
    /// CPU; concurrent ones take one thread each (the requests already keep
    /// the CPUs busy, and more threads would only contend).
    busy: std::sync::atomic::AtomicUsize,
}

/// Counts a large prediction in [`XgbEndpoint::busy`] while it runs.
struct Busy<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Busy<'a> {
    /// Counts one more; returns how many were running before.
    fn enter(counter: &'a std::sync::atomic::AtomicUsize) -> (Self, usize) {
        let before = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        (Busy(counter), before)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// What a request body became: XGBoost's DMatrix, as dense row blocks.
enum Input {
    Dense(DenseMatrix),
    /// libsvm entries `(row, column, value)` in row order; duplicates are
    /// summed when densified.
    Sparse {
        entries: Vec<(usize, usize, f64)>,
        rows: usize,
    },
}

/// Predictions of one member or of the ensemble: `rows × width` f32.
struct Out {
    rows: usize,
    width: usize,
    values: Vec<f32>,
}

impl Out {
    fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.width..(i + 1) * self.width]
    }
}

/// Dense values kept at once when densifying sparse rows.
const DENSE_BLOCK_VALUES: usize = 1 << 22;
/// Rows from which a request's prediction is spread over threads.
const PARALLEL_ROWS: usize = 256;

/// Flask's answer to an exception the view does not catch: 500 with
/// Werkzeug's generic page (`detail`, what the container logs, is added as
/// an HTML comment).
fn internal_error(detail: &str) -> Response {
    Response::text(
        500,
        format!(
            "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.</p>\n<!-- sm-pack: {} -->\n",
            detail.replace("--", "- -")
        ),
    )
}

fn bad_request(detail: impl std::fmt::Display) -> Response {
    Response::text(
        400,
        format!("Unable to evaluate payload provided: {detail}"),
    )
}

impl<'m> XgbEndpoint<'m> {
    pub(crate) fn new(tag: &str, members: &'m [XgbMember], env: ContainerEnv) -> Result<Self> {
        let code = serving_code(tag);
        let first = members.first().ok_or_else(|| Error::Usage {
            message: "no model to serve".into(),
        })?;
        let mut compiled = Vec::with_capacity(members.len());
        for m in members {
            let predictor = Predictor::with_version(&m.model, m.plan.version)?;
            compiled.push(Member {
                name: m.name.clone(),
                num_feature: predictor.num_feature(),
                predictor,
                limit: m.plan.limit,
                pickle: m.model.source.pickle.is_some(),
            });
        }
        let objective = match first.model.objective.name.as_str() {
            // Loaded by 1.0+, the deprecated alias is saved (and reported) as
            // its replacement.
            "reg:linear" => "reg:squarederror".to_string(),
            o => o.to_string(),
        };
        let raw_len = match &env.max_content_length {
            None => XGBOOST_DEFAULT_MAX_CONTENT_LENGTH,
            Some(v) => py_int(v).ok_or_else(|| Error::Usage {
                message: format!(
                    "MAX_CONTENT_LENGTH={v:?} is not an integer: the container fails to start (int() raises ValueError)"
                ),
            })?,
        };
        let max_len = match code.max_content_cap {
            Some(cap) if raw_len >= cap => cap,
            _ => raw_len,
        };
        Ok(XgbEndpoint {
            tag: tag.to_string(),
            xgb: (first.plan.version.major, first.plan.version.minor),
            code,
            members: compiled,
            objective,
            num_class: first.model.learner.num_class.max(0).to_string(),
            env,
            max_len,
            busy: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    pub(crate) fn max_content_length(&self) -> i64 {
        self.max_len
    }

    pub(crate) fn summary(&self) -> String {
        let accept = match self.code.accept {
            AcceptHandling::Ignored => "Accept ignored, text/csv responses".to_string(),
            AcceptHandling::SelectableOnly if self.env.inference_output.is_none() => {
                "Accept ignored, text/csv responses (Accept is read only with SAGEMAKER_INFERENCE_OUTPUT)".to_string()
            }
            _ => format!(
                "Accept: {} (default {})",
                SUPPORTED_ACCEPTS.join(", "),
                self.env.default_accept.as_deref().unwrap_or("text/csv")
            ),
        };
        let mut s = format!(
            "XGBoost {} serving code ({} branch): requests text/csv, text/libsvm, text/x-libsvm; {accept}; payload limit {} bytes",
            self.tag, self.code.branch, self.max_len
        );
        if let Some(o) = &self.env.inference_output {
            s.push_str(&format!("; SAGEMAKER_INFERENCE_OUTPUT={o}"));
        }
        if self.env.is_batch() {
            s.push_str("; SAGEMAKER_BATCH (one prediction per line)");
        }
        if self.members.len() > 1 {
            s.push_str(&format!(
                "; ensemble of {} models ({}, {})",
                self.members.len(),
                if self.votes() {
                    "majority vote"
                } else {
                    "average"
                },
                self.members
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        s.push_str(&format!(
            "; trees walked with the {} kernel",
            crate::xgboost::predict::Kernel::best().name()
        ));
        s
    }

    fn votes(&self) -> bool {
        matches!(self.objective.as_str(), "multi:softmax" | "binary:hinge")
    }

    /// `/execution-parameters`.
    pub(crate) fn execution_parameters(&self) -> Response {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mb = (self.max_len as f64 / (1024.0 * 1024.0)).trunc() as i64;
        Response::new(
            200,
            "application/json",
            format!(
                "{{\"MaxConcurrentTransforms\": {cpus}, \"BatchStrategy\": \"MULTI_RECORD\", \"MaxPayloadInMB\": {mb}}}"
            ),
        )
    }

    /// `/invocations` (the body is within the size limit).
    pub(crate) fn invoke(&self, req: &Request<'_>) -> Response {
        if req.body.is_empty() {
            return Response::text(204, "");
        }
        let (input, ncol, kind) = match self.parse(req) {
            Ok(x) => x,
            Err(msg) => return Response::text(415, msg),
        };
        let out = match self.predict(&input, ncol, kind) {
            Ok(o) => o,
            Err(r) => return r,
        };
        self.respond(req, &out)
    }

    // -----------------------------------------------------------------------
    // Parsing (`serve_utils.parse_content_data`): every failure is 415

    fn parse(&self, req: &Request<'_>) -> Result<(Input, usize, &'static str), String> {
        let kind = parse_content_type(req.content_type)?;
        let reject_inf = self.xgb >= (1, 5);
        if kind == "recordio-protobuf" {
            // The payload as it came (no strip: the RecordIO magic starts
            // with a newline byte).
            return parse_recordio(req.body, reject_inf)
                .map(|(input, ncol)| (input, ncol, kind))
                .map_err(|e| {
                    format!(
                        "Loading recordio-protobuf data failed with Exception, please ensure data is in recordio-protobuf format: {e}"
                    )
                });
        }
        let body = req.body.trim_ascii();
        let what = if kind == "csv" { "csv" } else { "libsvm" };
        let fail = |e: String| {
            format!(
                "Loading {what} data failed with Exception, please ensure data is in {what} format:\n {e}"
            )
        };
        let text = std::str::from_utf8(body).map_err(|e| {
            fail(format!(
                "<class 'UnicodeDecodeError'>\n 'utf-8' codec can't decode the body: {e}"
            ))
        })?;
        let (input, ncol) = if kind == "csv" {
            parse_csv(text, reject_inf).map_err(fail)?
        } else {
            parse_libsvm(text, self.xgb >= (3, 2), reject_inf).map_err(fail)?
        };
        Ok((input, ncol, kind))
    }

    // -----------------------------------------------------------------------
    // Predicting (`serve_utils.predict`): failures are 400

    fn predict(&self, input: &Input, ncol: usize, kind: &str) -> Result<Out, Response> {
        let first = &self.members[0];
        if first.pickle {
            let (x, y) = (first.num_feature, ncol);
            if kind == "libsvm" && y > x + 1 {
                return Err(bad_request(format!(
                    "Feature size of libsvm inference data {y} is larger than feature size of trained model {x}."
                )));
            }
            if (kind == "csv" || kind == "recordio-protobuf") && x != y && x != y + 1 {
                return Err(bad_request(format!(
                    "Feature size of {kind} inference data {y} is not consistent with feature size of trained model {x}."
                )));
            }
        }
        let mut outs = Vec::with_capacity(self.members.len());
        for m in &self.members {
            // XGBoost 1.2+ refuses a DMatrix wider than the model; 0.90 and
            // 1.0 ignore the extra columns (no tree can split on them).
            let width = if ncol > m.num_feature {
                if self.xgb >= (1, 2) {
                    return Err(bad_request(format!(
                        "[sm-pack] Check failed: learner_model_param_.num_feature >= p_fmat->Info().num_col_ ({} vs. {ncol}) : Number of columns does not match number of features in booster.",
                        m.num_feature
                    )));
                }
                m.num_feature
            } else {
                ncol
            };
            outs.push(
                self.predict_member(m, input, ncol, width)
                    .map_err(bad_request)?,
            );
        }
        if outs.len() == 1
            && let Some(only) = outs.pop()
        {
            return Ok(only);
        }
        let (rows, width) = (outs[0].rows, outs[0].width);
        if outs.iter().any(|o| o.rows != rows || o.width != width) {
            return Err(bad_request(
                "setting an array element with a sequence. The requested array has an inhomogeneous shape (the ensemble's models predict different shapes)",
            ));
        }
        if self.votes() {
            if self.code.vote_is_scalar {
                // scipy >= 1.11: mode(...).mode[0] is a scalar; every encoder
                // then raises TypeError and Flask answers 500.
                return Err(internal_error(
                    "TypeError: scipy.stats.mode(...).mode[0] is the first row's vote alone (scipy >= 1.11), which no encoder accepts",
                ));
            }
            Ok(vote(&outs))
        } else {
            Ok(mean(&outs))
        }
    }

    fn predict_member(
        &self,
        m: &Member<'_>,
        input: &Input,
        ncol: usize,
        width: usize,
    ) -> std::result::Result<Out, Error> {
        let (_busy, others) = Busy::enter(&self.busy);
        let opts = |rows: usize| PredictOptions {
            margin: false,
            limit: m.limit,
            threads: if rows >= PARALLEL_ROWS && others == 0 {
                0
            } else {
                1
            },
            ..PredictOptions::default()
        };
        match input {
            Input::Dense(x) if width == ncol => {
                let p = m.predictor.predict(x, &opts(x.rows()))?;
                Ok(Out {
                    rows: p.rows(),
                    width: p.width(),
                    values: p.values().to_vec(),
                })
            }
            Input::Dense(x) => {
                let mut values = Vec::with_capacity(x.rows() * width);
                for r in 0..x.rows() {
                    values.extend_from_slice(&x.row(r)[..width]);
                }
                let narrow = DenseMatrix::new(values, x.rows(), width)?;
                let p = m.predictor.predict(&narrow, &opts(x.rows()))?;
                Ok(Out {
                    rows: p.rows(),
                    width: p.width(),
                    values: p.values().to_vec(),
                })
            }
            Input::Sparse { entries, rows } => {
                let per = (DENSE_BLOCK_VALUES / width.max(1)).max(1);
                let mut out = Out {
                    rows: *rows,
                    width: m.predictor.output_width(false),
                    values: Vec::new(),
                };
                let mut next = 0usize;
                let mut start = 0usize;
                while start < *rows {
                    let end = (start + per).min(*rows);
                    let mut sums = vec![f64::NAN; (end - start) * width];
                    while next < entries.len() && entries[next].0 < end {
                        let (r, c, v) = entries[next];
                        next += 1;
                        if c >= width {
                            continue;
                        }
                        let slot = &mut sums[(r - start) * width + c];
                        *slot = if slot.is_nan() { v } else { *slot + v };
                    }
                    let x = DenseMatrix::new(
                        sums.into_iter().map(|v| v as f32).collect(),
                        end - start,
                        width,
                    )?;
                    let p = m.predictor.predict(&x, &opts(end - start))?;
                    out.width = p.width();
                    out.values.extend_from_slice(p.values());
                    start = end;
                }
                Ok(out)
            }
        }
    }

    // -----------------------------------------------------------------------
    // Responding

    fn respond(&self, req: &Request<'_>, out: &Out) -> Response {
        let selectable = self.env.inference_output.is_some();
        let read_accept = match self.code.accept {
            AcceptHandling::Ignored => false,
            AcceptHandling::SelectableOnly => selectable,
            AcceptHandling::Always => true,
        };
        if !read_accept {
            let body = if self.env.is_batch() {
                batch_lines(out)
            } else if self.code.csv == CsvLayout::Joined {
                joined(out)
            } else {
                csv_lines(out)
            };
            return Response::new(200, "text/csv", body);
        }
        let accept = match self.parse_accept(req.accept) {
            Ok(a) => a,
            Err(msg) => return Response::text(406, msg),
        };
        if selectable {
            return match self.selectable(out, &accept) {
                Ok(body) => Response::new(200, &accept, body),
                Err(SelectError::Python(msg)) => Response::text(500, msg),
                Err(SelectError::TooLarge(msg)) => Response::text(500, msg),
            };
        }
        if self.env.is_batch() {
            return Response::new(200, &accept, batch_lines(out));
        }
        match accept.as_str() {
            "application/json" => Response::new(200, &accept, json_scores(out)),
            "text/csv" => Response::new(200, &accept, csv_lines(out)),
            "application/x-npy" => Response::new(200, &accept, npy(out)),
            other => internal_error(&format!(
                "UnsupportedFormatError: Content type {other} is not supported by this framework."
            )),
        }
    }

    /// `_parse_accept`.
    fn parse_accept(&self, header: Option<&str>) -> Result<String, String> {
        let accept = header.map(cgi_key).unwrap_or_default();
        if accept.is_empty() || accept == "*/*" {
            return Ok(self
                .env
                .default_accept
                .clone()
                .unwrap_or_else(|| "text/csv".into()));
        }
        let lower = accept.to_lowercase();
        if !SUPPORTED_ACCEPTS.contains(&lower.as_str()) {
            return Err(format!(
                "Accept type {accept} is not supported. Please use supported accept types: ['application/json', 'application/jsonlines', 'application/x-recordio-protobuf', 'text/csv']."
            ));
        }
        Ok(lower)
    }

    /// `_handle_selectable_inference_response`.
    fn selectable(&self, out: &Out, accept: &str) -> Result<Vec<u8>, SelectError> {
        let raw = self.env.inference_output.as_deref().unwrap_or("");
        let keys: Vec<String> = raw
            .replace(' ', "")
            .to_lowercase()
            .split(',')
            .map(str::to_string)
            .collect();
        let valid =
            valid_keys(&self.objective, self.code.absoluteerror_selectable).ok_or_else(|| {
                SelectError::Python(format!(
                    "Objective `{}` unsupported for selectable inference predictions.",
                    self.objective
                ))
            })?;
        // Output dict order: the valid keys in the code's order, then the
        // invalid ones (a Python set: hash order; sm-pack keeps first use).
        let mut dict_keys: Vec<&str> = KEY_ORDER
            .iter()
            .copied()
            .filter(|k| valid.contains(k) && keys.iter().any(|s| s == k))
            .collect();
        for k in &keys {
            if !valid.contains(&k.as_str()) && !dict_keys.contains(&k.as_str()) {
                dict_keys.push(k);
            }
        }
        let mut rows: Vec<Vec<(&str, PyVal)>> = Vec::with_capacity(out.rows);
        for i in 0..out.rows {
            let row = out.row(i);
            let mut d = Vec::with_capacity(dict_keys.len());
            for &k in &dict_keys {
                let v = if valid.contains(&k) {
                    self.selected_value(k, row).map_err(SelectError::Python)?
                } else {
                    PyVal::Float(f64::NAN)
                };
                d.push((k, v));
            }
            rows.push(d);
        }
        let obj = |d: &[(&str, PyVal)], s: &mut String| {
            s.push('{');
            for (i, (k, v)) in d.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                json_str(k, s);
                s.push_str(": ");
                v.json(s);
            }
            s.push('}');
        };
        let mut s = String::new();
        match accept {
            "application/json" => {
                s.push_str("{\"predictions\": [");
                for (i, d) in rows.iter().enumerate() {
                    if i > 0 {
                        s.push_str(", ");
                    }
                    obj(d, &mut s);
                }
                s.push_str("]}");
            }
            "application/jsonlines" => {
                for d in &rows {
                    obj(d, &mut s);
                    s.push('\n');
                }
            }
            "text/csv" => {
                for (i, d) in rows.iter().enumerate() {
                    if i > 0 {
                        s.push('\n');
                    }
                    for (j, k) in keys.iter().enumerate() {
                        if j > 0 {
                            s.push(',');
                        }
                        let v = d.iter().find(|(dk, _)| dk == k).map(|(_, v)| v);
                        match v {
                            Some(v @ PyVal::List(_)) => {
                                s.push('"');
                                v.py_str(&mut s);
                                s.push('"');
                            }
                            Some(v) => v.py_str(&mut s),
                            None => s.push_str("nan"),
                        }
                    }
                }
                if self.env.is_batch() {
                    s.push('\n');
                }
            }
            "application/x-recordio-protobuf" => {
                // Every value a float32 tensor: a list as it is, a scalar as
                // a list of one.
                let floats = |v: &PyVal| -> Vec<f32> {
                    let one = |v: &PyVal| match v {
                        PyVal::Int(i) => *i as f32,
                        PyVal::Float(f) => *f as f32,
                        PyVal::List(_) => f32::NAN,
                    };
                    match v {
                        PyVal::List(items) => items.iter().map(one).collect(),
                        other => vec![one(other)],
                    }
                };
                let predictions: Vec<Vec<(&str, Vec<f32>)>> = rows
                    .iter()
                    .map(|d| d.iter().map(|(k, v)| (*k, floats(v))).collect())
                    .collect();
                return crate::recordio::encode_predictions(&predictions)
                    .map_err(SelectError::TooLarge);
            }
            other => {
                return Err(SelectError::Python(format!(
                    "Cannot encode selected predictions into accept type '{other}'."
                )));
            }
        }
        Ok(s.into_bytes())
    }

    /// One selectable key for one prediction (`_get_predicted_label` …).
    fn selected_value(&self, key: &str, row: &[f32]) -> std::result::Result<PyVal, String> {
        let o = self.objective.as_str();
        let softprob = o == "multi:softprob";
        let item = || -> std::result::Result<f64, String> {
            match row {
                [v] => Ok(f64::from(*v)),
                _ => Err("can only convert an array of size 1 to a Python scalar".into()),
            }
        };
        // Python's max(): keeps the first unless a later value is greater.
        let pymax = || {
            let mut best = row.first().copied().unwrap_or(f32::NAN);
            for &v in row.iter().skip(1) {
                if v > best {
                    best = v;
                }
            }
            f64::from(best)
        };
        let list = || PyVal::List(row.iter().map(|v| PyVal::Float(f64::from(*v))).collect());
        let pair = |v: f64| PyVal::List(vec![PyVal::Float(1.0 - v), PyVal::Float(v)]);
        Ok(match key {
            "predicted_label" => match o {
                "binary:hinge" | "multi:softmax" => PyVal::Float(item()?),
                "binary:logistic" => PyVal::Int(i64::from(item()? > 0.5)),
                "binary:logitraw" => PyVal::Int(i64::from(item()? > 0.0)),
                // np.argmax: the first largest; a NaN wins.
                _ if softprob => {
                    let mut best = 0usize;
                    for (i, &v) in row.iter().enumerate() {
                        let b = row[best];
                        if !b.is_nan() && (v.is_nan() || v > b) {
                            best = i;
                        }
                    }
                    PyVal::Int(best as i64)
                }
                _ => PyVal::Float(f64::NAN),
            },
            "labels" => {
                if o.contains("binary:") {
                    PyVal::List(vec![PyVal::Int(0), PyVal::Int(1)])
                } else if o.contains("multi:") && !self.num_class.is_empty() {
                    let n: i64 = self.num_class.parse().unwrap_or(0);
                    PyVal::List((0..n).map(PyVal::Int).collect())
                } else {
                    PyVal::Float(f64::NAN)
                }
            }
            "probability" => match o {
                _ if softprob => PyVal::Float(pymax()),
                "binary:logistic" => PyVal::Float(item()?),
                _ => PyVal::Float(f64::NAN),
            },
            "probabilities" => match o {
                _ if softprob => list(),
                "binary:logistic" => pair(item()?),
                _ => PyVal::Float(f64::NAN),
            },
            "raw_score" => match o {
                _ if softprob => PyVal::Float(pymax()),
                "binary:logitraw" | "binary:hinge" | "binary:logistic" | "multi:softmax" => {
                    PyVal::Float(item()?)
                }
                _ => PyVal::Float(f64::NAN),
            },
            "raw_scores" => match o {
                _ if softprob => list(),
                "binary:logitraw" | "binary:hinge" | "binary:logistic" | "multi:softmax" => {
                    pair(item()?)
                }
                _ => PyVal::Float(f64::NAN),
            },
            "predicted_score" => PyVal::Float(item()?),
            _ => PyVal::Float(f64::NAN),
        })
    }
}

enum SelectError {
    /// What the container's Python raises (500).
    Python(String),
    /// A response sm-pack will not build (500, with the reason).
    TooLarge(String),
}

// ---------------------------------------------------------------------------
// Ensembles (`serve_utils.predict` with a list of boosters)

/// `np.mean(preds, axis=0)` over float32 arrays: summed model by model in
/// f32, then divided by the count (correctly rounded either way numpy
/// computes it).
fn mean(outs: &[Out]) -> Out {
    let mut values = outs[0].values.clone();
    for o in &outs[1..] {
        for (a, b) in values.iter_mut().zip(&o.values) {
            *a += *b;
        }
    }
    let n = outs.len() as f32;
    for v in &mut values {
        *v /= n;
    }
    Out {
        rows: outs[0].rows,
        width: outs[0].width,
        values,
    }
}

/// `scipy.stats.mode(preds).mode[0]` (scipy < 1.11): per value, the most
/// frequent prediction across models, the smallest on a tie.
fn vote(outs: &[Out]) -> Out {
    let n = outs[0].values.len();
    let mut values = Vec::with_capacity(n);
    let mut seen: Vec<f32> = Vec::with_capacity(outs.len());
    for i in 0..n {
        seen.clear();
        seen.extend(outs.iter().map(|o| o.values[i]));
        seen.sort_by(f32::total_cmp);
        let (mut best, mut best_n) = (seen[0], 0usize);
        let mut j = 0;
        while j < seen.len() {
            let mut k = j;
            while k < seen.len() && seen[k].total_cmp(&seen[j]).is_eq() {
                k += 1;
            }
            if k - j > best_n {
                best = seen[j];
                best_n = k - j;
            }
            j = k;
        }
        values.push(best);
    }
    Out {
        rows: outs[0].rows,
        width: outs[0].width,
        values,
    }
}

// ---------------------------------------------------------------------------
// Response bodies

fn push_row_str(out: &Out, i: usize, s: &mut String) {
    let row = out.row(i);
    if out.width == 1 {
        push_python_float_repr(s, f64::from(row[0]));
    } else {
        PyVal::List(row.iter().map(|v| PyVal::Float(f64::from(*v))).collect()).py_str(s);
    }
}

/// `",".join(map(str, preds.tolist()))`.
fn joined(out: &Out) -> String {
    let mut s = String::with_capacity(out.values.len() * 20);
    for i in 0..out.rows {
        if i > 0 {
            s.push(',');
        }
        push_row_str(out, i, &mut s);
    }
    s
}

/// `"\n".join(map(str, preds.tolist())) + "\n"` (SAGEMAKER_BATCH).
fn batch_lines(out: &Out) -> String {
    let mut s = String::with_capacity(out.values.len() * 20);
    for i in 0..out.rows {
        push_row_str(out, i, &mut s);
        s.push('\n');
    }
    s
}

/// sagemaker-containers' `array_to_csv`: one line per row.
fn csv_lines(out: &Out) -> String {
    let mut s = String::with_capacity(out.values.len() * 20);
    for i in 0..out.rows {
        for (j, v) in out.row(i).iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            push_python_float_repr(&mut s, f64::from(*v));
        }
        s.push('\n');
    }
    s
}

/// `encode_predictions_as_json`.
fn json_scores(out: &Out) -> String {
    let mut s = String::with_capacity(out.values.len() * 32 + 20);
    s.push_str("{\"predictions\": [");
    for i in 0..out.rows {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str("{\"score\": ");
        let row = out.row(i);
        if out.width == 1 {
            json_float(f64::from(row[0]), &mut s);
        } else {
            PyVal::List(row.iter().map(|v| PyVal::Float(f64::from(*v))).collect()).json(&mut s);
        }
        s.push('}');
    }
    s.push_str("]}");
    s
}

/// `np.save` of `np.array(preds.tolist())` (float64), for
/// `SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT=application/x-npy`.
fn npy(out: &Out) -> Vec<u8> {
    let shape = if out.width == 1 {
        format!("({},)", out.rows)
    } else {
        format!("({}, {})", out.rows, out.width)
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + length (2) + header + '\n' padded to 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut b = Vec::with_capacity(10 + header.len() + out.values.len() * 8);
    b.extend_from_slice(b"\x93NUMPY\x01\x00");
    b.extend_from_slice(&(header.len() as u16).to_le_bytes());
    b.extend_from_slice(header.as_bytes());
    for v in &out.values {
        b.extend_from_slice(&f64::from(*v).to_le_bytes());
    }
    b
}

// ---------------------------------------------------------------------------
// Request parsing

/// `cgi.parse_header(value)[0]`: the part before the first `;`, stripped.
fn cgi_key(value: &str) -> String {
    value.split(';').next().unwrap_or("").trim().to_string()
}

/// `data_utils.get_content_type` (+ `parse_content_data`'s dispatch):
/// `csv` or `libsvm`, or the 415 message.
fn parse_content_type(header: Option<&str>) -> Result<&'static str, String> {
    let Some(raw) = header else {
        return Ok("libsvm");
    };
    let lower = raw.to_lowercase();
    let mut parts = lower.split(';');
    let key = parts.next().unwrap_or("").trim();
    match key {
        "csv" | "text/csv" => {
            for p in parts {
                if let Some((name, value)) = p.split_once('=') {
                    let mut value = value.trim();
                    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
                        value = &value[1..value.len() - 1];
                    }
                    if name.trim() == "label_size" && value != "1" {
                        return Err(format!(
                            "{raw} is not an accepted csv ContentType. Optional parameter label_size must be equal to 1"
                        ));
                    }
                }
            }
            Ok("csv")
        }
        "libsvm" | "text/libsvm" | "text/x-libsvm" => Ok("libsvm"),
        "parquet" | "application/x-parquet" => Err(format!("Content-type {raw} is not supported.")),
        "recordio-protobuf" | "application/x-recordio-protobuf" => Ok("recordio-protobuf"),
        _ => Err(format!(
            "{raw} is not an accepted ContentType: {VALID_CONTENT_TYPES}."
        )),
    }
}

/// Python's `csv.Sniffer().sniff(sample).delimiter` for a one-line sample
/// without quotes (`_guess_delimiter`), then the container's rule: an
/// alphanumeric guess means `,`. Only ASCII characters are counted, so the
/// delimiter is an ASCII byte.
fn sniff_delimiter(first_line: &str) -> Result<u8, String> {
    let sample: String = first_line.chars().take(512).collect();
    let mut counts = [0usize; 127];
    for c in sample.chars() {
        if (c as u32) < 127 {
            counts[c as usize] += 1;
        }
    }
    let present: Vec<usize> = (0..127).filter(|&c| counts[c] > 0).collect();
    let guess = match present.as_slice() {
        [] => return Err("<class '_csv.Error'>\n Could not determine delimiter".into()),
        [only] => *only as u8,
        _ => {
            if let Some(p) = [b',', b'\t', b';', b' ', b':']
                .into_iter()
                .find(|&p| counts[p as usize] > 0)
            {
                p
            } else {
                // The most frequent character; on a tie the largest.
                let best = present
                    .iter()
                    .copied()
                    .max_by_key(|&c| (counts[c], c))
                    .unwrap_or(b',' as usize);
                best as u8
            }
        }
    };
    Ok(if guess.is_ascii_alphanumeric() {
        b','
    } else {
        guess
    })
}

const INF_MESSAGE: &str =
    "Input data contains `inf` or a value too large, while `missing` is not set to `inf`";

/// `encoder.csv_to_dmatrix`: sniffed delimiter, `''` → NaN, `float()` of
/// every other field, equal row widths; XGBoost 1.5+ refuses ±inf.
fn parse_csv(text: &str, reject_inf: bool) -> Result<(Input, usize), String> {
    let first = text.split('\n').next().unwrap_or("");
    let delim = sniff_delimiter(first)?;
    let mut values = Vec::with_capacity(text.len() / 4);
    let mut cols = None;
    let mut rows = 0usize;
    let mut n = 0usize;
    let field = |f: &str, values: &mut Vec<f32>| -> Result<(), String> {
        let v = if f.is_empty() {
            f32::NAN
        } else {
            let v = py_float(f).ok_or_else(|| {
                format!("<class 'ValueError'>\n could not convert string to float: {f:?}")
            })? as f32;
            if reject_inf && v.is_infinite() {
                return Err(format!(
                    "<class 'xgboost.core.XGBoostError'>\n {INF_MESSAGE}"
                ));
            }
            v
        };
        values.push(v);
        Ok(())
    };
    let mut end_line = |n: usize, rows: &mut usize| -> Result<(), String> {
        match cols {
            None => cols = Some(n),
            Some(c) if c != n => {
                return Err(format!(
                    "<class 'ValueError'>\n setting an array element with a sequence. The requested array has an inhomogeneous shape after 1 dimensions. (line {} has {n} fields, line 1 has {c})",
                    *rows + 1
                ));
            }
            _ => {}
        }
        *rows += 1;
        Ok(())
    };
    // Lines split on '\n', fields on the delimiter (ASCII, so a field
    // boundary is a char boundary), in one pass over the bytes.
    let mut start = 0;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if b == delim || b == b'\n' {
            field(&text[start..i], &mut values)?;
            n += 1;
            start = i + 1;
            if b == b'\n' {
                end_line(n, &mut rows)?;
                n = 0;
            }
        }
    }
    field(&text[start..], &mut values)?;
    end_line(n + 1, &mut rows)?;
    let cols = cols.unwrap_or(0);
    let m = DenseMatrix::new(values, rows, cols).map_err(|e| e.to_string())?;
    Ok((Input::Dense(m), cols))
}

/// True when a sparse entry `(row, column, value)`, its duplicates summed
/// (scipy's COO → CSR), is ±inf as the float32 the DMatrix holds.
fn any_summed_entry_infinite(entries: &[(usize, usize, f64)]) -> bool {
    let mut sorted: Vec<&(usize, usize, f64)> = entries.iter().collect();
    sorted.sort_by_key(|e| (e.0, e.1));
    sorted
        .chunk_by(|a, b| (a.0, a.1) == (b.0, b.1))
        .any(|same| (same.iter().map(|e| e.2).sum::<f64>() as f32).is_infinite())
}

/// `encoder.recordio_protobuf_to_dmatrix`: one row per record
/// ([`crate::recordio::read_rows`]); XGBoost 1.5+ refuses ±inf.
fn parse_recordio(body: &[u8], reject_inf: bool) -> Result<(Input, usize), String> {
    let fail = |e: String| format!("[sm-pack] {e}");
    let inf = || format!("<class 'xgboost.core.XGBoostError'> {INF_MESSAGE}");
    match crate::recordio::read_rows(body).map_err(fail)? {
        crate::recordio::Rows::Dense { values, rows, cols } => {
            if reject_inf && values.iter().any(|v| v.is_infinite()) {
                return Err(inf());
            }
            let m = DenseMatrix::new(values, rows, cols).map_err(|e| fail(e.to_string()))?;
            Ok((Input::Dense(m), cols))
        }
        crate::recordio::Rows::Sparse {
            entries,
            rows,
            cols,
        } => {
            if reject_inf && any_summed_entry_infinite(&entries) {
                return Err(inf());
            }
            Ok((Input::Sparse { entries, rows }, cols))
        }
    }
}

/// `_get_sparse_matrix_from_libsvm` + `xgb.DMatrix(csr)`: lines split on
/// single spaces, tokens with `:` are `int(index):float(value)`; the
/// 3.2-0 image shifts 1-based indices; XGBoost 1.5+ refuses ±inf.
fn parse_libsvm(text: &str, shift: bool, reject_inf: bool) -> Result<(Input, usize), String> {
    let mut entries: Vec<(usize, i64, f64)> = Vec::new();
    for (r, line) in text.split('\n').enumerate() {
        for item in line.split(' ') {
            if !item.contains(':') {
                continue;
            }
            let mut parts = item.split(':');
            let idx = parts.next().unwrap_or("");
            let val = parts.next().unwrap_or("");
            let col = py_int(idx).ok_or_else(|| {
                format!("<class 'ValueError'>\n invalid literal for int() with base 10: {idx:?}")
            })?;
            let v = py_float(val).ok_or_else(|| {
                format!("<class 'ValueError'>\n could not convert string to float: {val:?}")
            })?;
            entries.push((r, col, v));
        }
    }
    let Some(min) = entries.iter().map(|e| e.1).min() else {
        return Err(
            "<class 'ValueError'>\n cannot infer dimensions from zero sized index arrays".into(),
        );
    };
    let shift = i64::from(shift && min >= 1);
    if min - shift < 0 {
        return Err("<class 'ValueError'>\n negative column index found".into());
    }
    let max = entries.iter().map(|e| e.1).max().unwrap_or(0) - shift;
    let ncol = usize::try_from(max).unwrap_or(usize::MAX).saturating_add(1);
    let rows = entries.last().map_or(0, |e| e.0 + 1);
    let mut out: Vec<(usize, usize, f64)> = Vec::with_capacity(entries.len());
    for (r, c, v) in entries {
        out.push((r, (c - shift) as usize, v));
    }
    if reject_inf && any_summed_entry_infinite(&out) {
        return Err(format!(
            "<class 'xgboost.core.XGBoostError'>\n {INF_MESSAGE}"
        ));
    }
    Ok((Input::Sparse { entries: out, rows }, ncol))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffer_matches_python() {
        // Checked against CPython 3.11's csv.Sniffer on the same lines.
        for (line, want) in [
            ("1,2,3", ','),
            ("1.5", ','),
            ("0.25", ','),
            ("1 2 3", ' '),
            ("1;2", ';'),
            ("1\t2", '\t'),
            ("1:2", ':'),
            ("-1e-7", '-'),
            ("-3e-05", '-'),
            ("-3e-5", '-'),
            ("-1.25e-3", '-'),
            ("100.25", ','),
            ("1|2|3", '|'),
            ("1.5\r", ','),
        ] {
            assert_eq!(sniff_delimiter(line), Ok(want as u8), "{line:?}");
        }
        assert!(sniff_delimiter("\u{e9}").is_err());
    }

    #[test]
    fn csv_bodies_parse_like_the_container() {
        let (Input::Dense(m), n) = parse_csv("1,,3\n4,5,nan", false).unwrap() else {
            panic!()
        };
        assert_eq!((m.rows(), n), (2, 3));
        assert!(m.row(0)[1].is_nan() && m.row(1)[2].is_nan());
        assert!(parse_csv("1,2\n3", false).is_err());
        assert!(parse_csv("1, ,3", false).is_err());
        assert!(parse_csv("1,inf", true).is_err());
        assert!(parse_csv("1,1e39", true).is_err());
        assert!(parse_csv("1,inf", false).is_ok());
        let (_, n) = parse_csv("1 2 3", false).unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn libsvm_bodies_parse_like_the_container() {
        let (Input::Sparse { entries, rows }, ncol) =
            parse_libsvm("1 0:1 3:2\n\n0 2:1 2:1", false, false).unwrap()
        else {
            panic!()
        };
        assert_eq!((rows, ncol, entries.len()), (3, 4, 4));
        let (_, ncol) = parse_libsvm("1:1 3:2", true, false).unwrap();
        assert_eq!(ncol, 3);
        assert!(parse_libsvm("1 2 3", false, false).is_err());
        assert!(parse_libsvm("-1:2", false, false).is_err());
        assert!(parse_libsvm("a:2", false, false).is_err());
        assert!(parse_libsvm("1:inf 1:-inf", true, false).is_ok());
        assert!(parse_libsvm("1:inf", false, true).is_err());
    }

    #[test]
    fn duplicates_are_summed_before_the_inf_check() {
        let e = |v: &[(usize, usize, f64)]| any_summed_entry_infinite(v);
        assert!(!e(&[(0, 1, 3e38), (1, 1, 3e38)]));
        assert!(e(&[(0, 1, 3e38), (1, 1, 1.0), (0, 1, 3e38)]));
        assert!(!e(&[(0, 1, f64::INFINITY), (0, 1, f64::NEG_INFINITY)]));
        assert!(e(&[(2, 0, f64::NEG_INFINITY)]));
        assert!(!e(&[]));
    }

    #[test]
    fn content_types_follow_get_content_type() {
        assert_eq!(parse_content_type(None), Ok("libsvm"));
        assert_eq!(
            parse_content_type(Some("Text/CSV; charset=utf-8")),
            Ok("csv")
        );
        assert_eq!(parse_content_type(Some("text/csv;label_size=1")), Ok("csv"));
        assert!(parse_content_type(Some("text/csv; label_size=2")).is_err());
        assert_eq!(parse_content_type(Some("text/x-libsvm")), Ok("libsvm"));
        assert!(parse_content_type(Some("application/json")).is_err());
        assert!(parse_content_type(Some("")).is_err());
    }

    #[test]
    fn ensembles_average_and_vote_like_numpy_and_scipy() {
        let o = |v: Vec<f32>| Out {
            rows: v.len(),
            width: 1,
            values: v,
        };
        let m = mean(&[o(vec![0.1, 1.0]), o(vec![0.2, 2.0]), o(vec![0.4, 3.0])]);
        assert_eq!(m.values, vec![((0.1f32 + 0.2) + 0.4) / 3.0, 2.0]);
        let v = vote(&[
            o(vec![1.0, 0.0, 2.0]),
            o(vec![1.0, 2.0, 2.0]),
            o(vec![0.0, 2.0, 1.0]),
        ]);
        assert_eq!(v.values, vec![1.0, 2.0, 2.0]);
        let tie = vote(&[o(vec![2.0]), o(vec![1.0])]);
        assert_eq!(tie.values, vec![1.0]);
    }

    #[test]
    fn npy_header_is_aligned() {
        let b = npy(&Out {
            rows: 2,
            width: 1,
            values: vec![0.5, 1.0],
        });
        assert_eq!(&b[..6], b"\x93NUMPY");
        let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hl) % 64, 0);
        assert_eq!(b.len(), 10 + hl + 16);
    }

    #[test]
    fn tags_have_their_branch_facts() {
        assert_eq!(serving_code("0.90-1").accept, AcceptHandling::Ignored);
        assert_eq!(serving_code("1.2-1").csv, CsvLayout::Joined);
        assert_eq!(serving_code("1.2-2").csv, CsvLayout::Lines);
        assert!(!serving_code("1.7-1").vote_is_scalar);
        assert!(serving_code("3.0-5").vote_is_scalar && serving_code("3.2-0").vote_is_scalar);
        assert!(!serving_code("1.5-1").absoluteerror_selectable);
        assert!(serving_code("1.7-1").absoluteerror_selectable);
    }
}
