//! `sm-pack predict`: quick local predictions with the pure-Rust evaluators
//! (XGBoost: `sm_pack::xgboost::predict`; fastText: `sm_pack::fasttext::Predictor`).

use super::Ctx;
use anyhow::Result;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

/// Options of `sm-pack predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The model file (XGBoost or fastText; detected from the bytes).
    pub model: PathBuf,
    /// Input rows ("-" reads stdin). XGBoost: a text/csv, text/libsvm or
    /// application/x-recordio-protobuf request body (no header; an empty field or
    /// nan is missing). fastText: text lines.
    #[arg(short, long, default_value = "-")]
    pub input: PathBuf,
    /// fastText: number of labels per line (-1 = all).
    #[arg(short, long, default_value_t = 1, allow_negative_numbers = true)]
    pub k: i32,
    /// fastText: drop labels whose probability is below this.
    #[arg(long, default_value_t = 0.0)]
    pub threshold: f32,
    /// XGBoost: the input's content type (default: RecordIO-protobuf when the input
    /// starts with the RecordIO magic, libsvm when the first line has index:value
    /// tokens, else csv).
    #[arg(long, value_name = "TYPE", value_parser = ["text/csv", "text/libsvm", "csv", "libsvm", "application/x-recordio-protobuf", "recordio-protobuf"])]
    pub content_type: Option<String>,
    /// XGBoost: print raw margins (output_margin=True) instead of transformed values.
    #[arg(long)]
    pub margin: bool,
    /// XGBoost: print what this SageMaker container tag returns (its xgboost's rules,
    /// the best_ntree_limit its predict passes, its libsvm index handling and
    /// feature-count checks); refuses when the container cannot serve the model.
    #[arg(long, value_name = "TAG")]
    pub container: Option<String>,
}

/// The whole input ("-": stdin), at most `sm_pack::input::MAX_DATA_BYTES`;
/// devices and directories are refused.
fn read_input_bytes(input: &std::path::Path) -> Result<Vec<u8>> {
    let max = sm_pack::input::MAX_DATA_BYTES;
    Ok(if input.as_os_str() == "-" {
        sm_pack::input::read_stdin(max)?
    } else {
        sm_pack::input::read_data_file(input, max)?
    })
}

fn read_lines(input: &std::path::Path) -> Result<Vec<String>> {
    let bytes = read_input_bytes(input)?;
    let mut lines = Vec::new();
    for l in bytes.split(|&b| b == b'\n') {
        lines.push(String::from_utf8_lossy(l).into_owned());
    }
    // `split` yields an empty piece after a final newline; reading lines does not.
    if bytes.ends_with(b"\n") || bytes.is_empty() {
        lines.pop();
    }
    Ok(lines)
}

fn is_fasttext(path: &PathBuf) -> Result<bool> {
    let mut head = [0u8; 4];
    let (mut f, _) = sm_pack::input::open_model_file(path)?;
    let n =
        std::io::Read::read(&mut f, &mut head).map_err(|e| sm_pack::Error::io("read", path, e))?;
    Ok(head[..n] == [0xBA, 0x16, 0x4F, 0x2F])
}

/// `sm-pack predict` for an XGBoost model: a request body in, the
/// container's text/csv (or, with --json, application/json) response out.
fn run_predict_xgboost(ctx: &Ctx, a: &PredictArgs) -> Result<i32> {
    use sm_pack::xgboost::predict::{self, ContentType, PredictOptions, Predictor};
    if a.k != 1 || a.threshold != 0.0 {
        anyhow::bail!(sm_pack::Error::Usage {
            message: "-k and --threshold apply to fastText models only".into()
        });
    }
    let bytes = sm_pack::input::read_model_file(&a.model, sm_pack::input::MAX_MODEL_BYTES)?;
    let (model, _) = sm_pack::xgboost::read_model(&bytes)?;
    let body = read_input_bytes(&a.input)?;
    let content_type = a.content_type.as_deref().and_then(ContentType::parse);
    let shift = match &a.container {
        Some(tag) => predict::container_shifts_libsvm(tag)?,
        None => false,
    };
    let num_feature = usize::try_from(model.learner.num_feature).unwrap_or(usize::MAX);
    let (rows, ct) =
        predict::parse_request_bytes(&body, content_type, shift, num_feature.saturating_add(1))?;
    let preds = match &a.container {
        Some(tag) => {
            // serve_utils.predict checks the feature count of pickled models only.
            if model.source.pickle.is_some() {
                predict::container_feature_check(num_feature, rows.cols(), ct)?;
            }
            let plan = predict::container_plan(&model, Some(&bytes), tag)?;
            if !ctx.quiet {
                if let Some(n) = plan.best_ntree_limit {
                    eprintln!(
                        "note: container {} (xgboost {}) predicts with best_ntree_limit={n}",
                        plan.tag, plan.xgboost
                    );
                }
                if let sm_pack::container::Verdict::LoadsButMispredicts { reasons } = &plan.verdict
                {
                    for r in reasons {
                        eprintln!(
                            "note: container {} differs from the producer: {}",
                            plan.tag, r.message
                        );
                    }
                }
            }
            Predictor::with_version(&model, plan.version)?.predict(
                &rows,
                &PredictOptions {
                    margin: a.margin,
                    limit: plan.limit,
                    threads: 0,
                    ..PredictOptions::default()
                },
            )?
        }
        None => Predictor::new(&model)?.predict(
            &rows,
            &PredictOptions {
                margin: a.margin,
                ..PredictOptions::default()
            },
        )?,
    };
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    if ctx.json {
        writeln!(out, "{}", predict::json_response(&preds))?;
    } else {
        out.write_all(predict::csv_response(&preds).as_bytes())?;
    }
    out.flush()?;
    Ok(0)
}

pub fn run_predict(ctx: &Ctx, a: &PredictArgs) -> Result<i32> {
    if !is_fasttext(&a.model)? {
        return run_predict_xgboost(ctx, a);
    }
    if a.margin || a.container.is_some() || a.content_type.is_some() {
        anyhow::bail!(sm_pack::Error::Usage {
            message: "--margin, --container and --content-type apply to XGBoost models only".into()
        });
    }
    let model = sm_pack::fasttext::Model::load(&a.model)?;
    let p = sm_pack::fasttext::Predictor::new(&model)?;
    let lines = read_lines(&a.input)?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    if ctx.json {
        // Exactly what the BlazingText endpoint returns for {"instances": lines, "configuration": {"k": k}}.
        let v = p.blazingtext_response(&lines, Some(a.k))?;
        writeln!(out, "{}", serde_json::to_string(&v)?)?;
        return Ok(0);
    }
    for line in &lines {
        if p.is_supervised() {
            // Like `fasttext predict-prob`: label prob pairs, space separated.
            let preds = p.predict(line.as_bytes(), a.k, a.threshold)?;
            let parts: Vec<String> = preds
                .iter()
                .map(|x| format!("{} {}", x.label_lossy(), x.prob))
                .collect();
            writeln!(out, "{}", parts.join(" "))?;
        } else {
            // Like `fasttext print-word-vectors`: the word, then its vector.
            let v = p.word_vector(line.trim().as_bytes())?;
            let nums: Vec<String> = v.iter().map(|x| x.to_string()).collect();
            writeln!(out, "{} {}", line.trim(), nums.join(" "))?;
        }
    }
    out.flush()?;
    Ok(0)
}
