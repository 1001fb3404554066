//! `sm-pack verify` and `sm-pack containers`.

use super::style::{self, paint};
use super::{Ctx, REPORT_SCHEMA, render};
use anyhow::Result;
use clap::Args;
use serde_json::json;
use sm_pack::archive::reader::ReadOptions;
use sm_pack::container::{self, ContainerTable, Encoding, Support, Verdict};
use sm_pack::verify::{Sidecar, Target, VerifyOptions, verify_archive};
use std::path::PathBuf;

/// `sm-pack verify ARCHIVE`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The model.tar.gz to check (nothing is extracted).
    pub archive: PathBuf,
    /// SageMaker XGBoost container tag to judge against (default: the newest).
    #[arg(long, value_name = "TAG", conflicts_with = "blazingtext")]
    pub container: Option<String>,
    /// Judge against BlazingText hosting (model.bin at the root) instead of XGBoost.
    #[arg(long)]
    pub blazingtext: bool,
    /// Manifest to check (default: <archive>.manifest.json beside it, when present).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// SHA256SUMS to check (default: the one beside the archive, when present).
    #[arg(long, value_name = "FILE")]
    pub sums: Option<PathBuf>,
    /// Do not look for a manifest or SHA256SUMS beside the archive.
    #[arg(long)]
    pub no_sidecars: bool,
    /// Simulate SAGEMAKER_INFERENCE_ENSEMBLE=false (load only the first file).
    #[arg(long)]
    pub no_ensemble: bool,
    /// Most MiB of one model file kept in memory to validate it (XGBoost).
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub capture_limit: u64,
    /// Accept a quantized (.ftz) model for BlazingText with a warning.
    #[arg(long)]
    pub allow_quantized: bool,
}

/// `sm-pack containers`.
#[derive(Debug, Args)]
pub struct ContainersArgs {
    /// AWS region for the image URIs (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

fn sidecar(given: &Option<PathBuf>, none: bool) -> Sidecar {
    match (given, none) {
        (Some(p), _) => Sidecar::Path(p.clone()),
        (None, true) => Sidecar::Skip,
        (None, false) => Sidecar::Auto,
    }
}

fn verdict_color(v: &Verdict) -> &'static str {
    match v {
        Verdict::Loads { .. } => style::GREEN,
        Verdict::Undetermined { .. } => style::YELLOW,
        _ => style::RED,
    }
}

/// Runs `sm-pack verify`.
pub fn run_verify(ctx: &Ctx, a: &VerifyArgs) -> Result<i32> {
    let read = ReadOptions {
        capture_limit: a.capture_limit.saturating_mul(1 << 20),
        capture_total_limit: a.capture_limit.saturating_mul(2 << 20),
        ..ReadOptions::default()
    };
    let opts = VerifyOptions {
        target: if a.blazingtext {
            Target::Blazingtext
        } else {
            Target::Xgboost(a.container.clone())
        },
        manifest: sidecar(&a.manifest, a.no_sidecars),
        sums: sidecar(&a.sums, a.no_sidecars),
        read,
        ensemble: a.no_ensemble.then_some(false),
        fasttext: sm_pack::fasttext::Options::default().allow_quantized(a.allow_quantized),
        progress: None,
    };
    let total = std::fs::metadata(&a.archive).map(|m| m.len()).unwrap_or(0);
    let bar = super::progress_bar_for(ctx, total, "verifying");
    let mut opts = opts;
    opts.progress = super::progress_fn(&bar).map(sm_pack::archive::Progress);
    let report = verify_archive(&a.archive, &opts);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = report?;
    let code = report.exit_code();
    if ctx.json {
        let out = json!({
            "schema": REPORT_SCHEMA,
            "command": "verify",
            "ok": code == 0,
            "exit_code": code,
            "report": report,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(code);
    }
    if !ctx.quiet {
        let lines = report.human_lines();
        for line in &lines {
            if let Some(rest) = line.strip_prefix("verdict ") {
                println!(
                    "{} {rest}",
                    paint(ctx.style.out, verdict_color(&report.verdict), "verdict")
                );
            } else {
                println!("{line}");
            }
        }
    }
    let shown: Vec<_> = report
        .findings
        .iter()
        .filter(|f| ctx.verbose || f.severity != sm_pack::Severity::Info)
        .collect();
    if !shown.is_empty() && !ctx.quiet {
        println!("findings:");
    }
    render::findings(ctx, &report.findings);
    let (errors, warnings) = report
        .findings
        .iter()
        .fold((0, 0), |(e, w), f| match f.severity {
            sm_pack::Severity::Error => (e + 1, w),
            sm_pack::Severity::Warning => (e, w + 1),
            sm_pack::Severity::Info => (e, w),
        });
    if !ctx.quiet || code != 0 {
        let head = if code == 0 {
            paint(ctx.style.out, style::GREEN, "OK")
        } else {
            paint(ctx.style.out, style::RED, "FAILED")
        };
        println!(
            "{head}: {} for {} ({errors} error(s), {warnings} warning(s))",
            report.archive.display(),
            report.container
        );
        if code != 0
            && let Some(cmd) = &report.rebuild
        {
            println!("  rebuild: {cmd}");
        }
    }
    Ok(code)
}

fn reads_summary(c: &container::Container) -> String {
    let v = c.xgboost;
    // Documents are read by version ranges of their producer (the JSON
    // dialect rules); show the newest producer each tag reads correctly.
    let upto = if (v.major, v.minor) < (1, 3) {
        "(saved by <=1.2)"
    } else if (v.major, v.minor) < (1, 6) {
        "(saved by <=1.5)"
    } else if (v.major, v.minor) < (3, 1) {
        "(saved by <=3.0)"
    } else {
        ""
    };
    let short = |e: Encoding| match e {
        Encoding::LegacyBinaryV0 => "bin(0.90)".to_string(),
        Encoding::LegacyBinary => "bin(1.0)".to_string(),
        Encoding::Binf => "binf".to_string(),
        Encoding::Json => format!("json{upto}"),
        Encoding::Ubjson => format!("ubj{upto}"),
        Encoding::Bs64 => "bs64".to_string(),
        Encoding::PickleRawBinary => "pkl(0.90)".to_string(),
        Encoding::PickleConfigOffset => "pkl(1.0-1.2)".to_string(),
        Encoding::PickleJsonSnapshot if (v.major, v.minor) < (1, 3) => {
            "pkl(1.3-1.5, gblinear only)".to_string()
        }
        Encoding::PickleJsonSnapshot => "pkl(1.3-1.5)".to_string(),
        Encoding::PickleUbjsonSnapshot => format!("pkl(1.6+){upto}"),
        _ => "?".to_string(),
    };
    let mut out: Vec<String> = Encoding::ALL
        .iter()
        .filter(|e| c.support(**e) == Support::Loads)
        .map(|e| short(*e))
        .collect();
    out.push(format!("pickle protocol <= {}", c.max_pickle_protocol()));
    out.join(" ")
}

/// Runs `sm-pack containers`.
pub fn run_containers(ctx: &Ctx, a: &ContainersArgs) -> Result<i32> {
    let table = ContainerTable::builtin()?;
    let (region, defaulted) = container::resolve_region(a.region.as_deref());
    let bt_uri = table.blazingtext_image_uri(&region);
    let mut rows = Vec::new();
    for c in table.containers() {
        let uri = table.image_uri(&c.tag, &region)?;
        let graviton = table.graviton_image_uri(&c.tag, &region)?;
        rows.push((c, uri, graviton));
    }
    if ctx.json {
        let tags: Vec<serde_json::Value> = rows
            .iter()
            .map(|(c, uri, graviton)| {
                let reads: serde_json::Map<String, serde_json::Value> = Encoding::ALL
                    .iter()
                    .map(|e| (e.key().to_string(), json!(c.support(*e))))
                    .collect();
                json!({
                    "tag": c.tag,
                    "xgboost": c.xgboost_text,
                    "python": c.python,
                    "python_history": c.python_history,
                    "image_tag": c.image_tag,
                    "image_uri": uri,
                    "graviton_image_uri": graviton,
                    "discovery": c.discovery,
                    "skip_dotfiles": c.skip_dotfiles,
                    "ensemble_supported": c.ensemble_supported,
                    "ensemble_default": c.ensemble_default,
                    "no_model_error": c.no_model_error,
                    "max_pickle_protocol": c.max_pickle_protocol(),
                    "reads": reads,
                    "notes": c.notes,
                    "source": c.source,
                })
            })
            .collect();
        let out = json!({
            "schema": REPORT_SCHEMA,
            "command": "containers",
            "ok": true,
            "exit_code": 0,
            "region": region,
            "region_defaulted": defaulted,
            "partition": table.partition(&region),
            "ecr_hostname": table.ecr_hostname(&region),
            "xgboost": tags,
            "json_dialects": table.json_dialects,
            "blazingtext": {
                "version": table.blazingtext.version,
                "model_file": table.blazingtext.model_file,
                "image_uri": bt_uri.as_ref().ok(),
                "discovery": table.blazingtext.discovery,
            },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    let note = if defaulted {
        format!(
            " ({} and AWS_DEFAULT_REGION are not set; pass --region)",
            "AWS_REGION"
        )
    } else {
        String::new()
    };
    println!("SageMaker built-in containers, images in {region}{note}");
    for (c, uri, graviton) in &rows {
        println!(
            "{:<7} xgboost {:<6} Python {:<5} {uri}",
            c.tag,
            c.xgboost_text,
            format!("{}.{}", c.python.major, c.python.minor),
        );
        println!("        discovery: {}", c.discovery_summary());
        println!("        reads: {}", reads_summary(c));
        if let Some(g) = graviton {
            println!("        graviton: {g}");
        }
    }
    match bt_uri {
        Ok(u) => println!("{:<7} BlazingText                  {u}", "bt 1"),
        Err(e) => println!("BlazingText: {e}"),
    }
    println!("        discovery: {}", table.blazingtext.discovery);
    if !ctx.quiet {
        println!(
            "Every XGBoost tag loads pickle first, then Booster().load_model; the ensemble is switched off with {}=false.",
            table.ensemble_env
        );
    }
    Ok(0)
}
