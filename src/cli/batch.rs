//! `sm-pack xgboost|fasttext MODEL... --out-dir DIR`: many models at once
//! (the library side is `sm_pack::batch`).

use super::args::PackArgs;
use super::style::{self, paint};
use super::{Ctx, REPORT_SCHEMA, render};
use anyhow::Result;
use clap::Args;
use serde_json::json;
use sm_pack::batch::{BatchJob, ModelEntry, Outcome, Plan, Status};
use sm_pack::pack::Family;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// The `command` of the JSON report (`fasttext` also when run as `blazingtext`).
fn pack_command(family: Family) -> &'static str {
    match family {
        Family::Blazingtext => "fasttext",
        _ => "xgboost",
    }
}

/// Options of a batch (`--out-dir`).
#[derive(Debug, Args, Default, Clone)]
#[command(next_help_heading = "Many models")]
pub struct BatchFlags {
    /// Pack every MODEL into DIR/<name>.tar.gz with its manifest, and write one SHA256SUMS
    /// and index.json for the batch (DIR is created when missing). A rerun redoes only the
    /// models that are missing or changed.
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub out_dir: Option<PathBuf>,
    /// Folders: also take the models in subfolders (named <subfolder>-<file>).
    #[arg(long, requires = "out_dir")]
    pub recursive: bool,
    /// Finish the batch when a model fails and report every failure (default: stop handing
    /// out models at the first failure).
    #[arg(long, requires = "out_dir")]
    pub keep_going: bool,
    /// Models packed at the same time (default: one per CPU).
    #[arg(long, value_name = "N", requires = "out_dir",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: Option<u16>,
    /// Archives uploaded at the same time with --upload (default 8).
    #[arg(long, value_name = "N", requires = "out_dir",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub upload_jobs: Option<u16>,
}

/// Runs the batch when `--out-dir` is given; `None` for a single model.
pub fn run_if_batch(ctx: &Ctx, family: Family, a: &PackArgs) -> Result<Option<i32>> {
    let Some(out_dir) = &a.batch.out_dir else {
        if !a.more_models.is_empty() {
            anyhow::bail!(
                "several models need --out-dir DIR (each is packed into DIR/<name>.tar.gz)"
            );
        }
        if a.model.is_dir() {
            anyhow::bail!(
                "{} is a folder: pass --out-dir DIR to pack the models in it",
                a.model.display()
            );
        }
        return Ok(None);
    };
    if a.sample.is_some() || a.expect.is_some() {
        anyhow::bail!("--sample/--expect check one model; they cannot be combined with --out-dir");
    }
    let mut inputs = vec![a.model.clone()];
    inputs.extend(a.more_models.iter().cloned());
    let mut job = BatchJob::new(family, inputs, out_dir)?;
    job.recursive = a.batch.recursive;
    job.container = a.container.clone();
    job.no_convert = a.no_convert;
    job.keep_going = a.batch.keep_going;
    job.jobs = a.batch.jobs.map(usize::from).unwrap_or(0);
    job.options.level = a.level;
    job.options.threads = a.threads;
    job.options.follow_symlinks = a.follow_symlinks;
    job.options.overwrite = a.force;
    job.options.cancel = Some(ctx.cancel.clone());
    job.fasttext.allow_quantized = a.allow_quantized;
    let upload_jobs = a.batch.upload_jobs.map(usize::from).unwrap_or(0);
    #[cfg(feature = "s3")]
    {
        job.upload = super::upload::batch_upload(ctx, &a.upload, a.force, upload_jobs)?;
    }
    #[cfg(not(feature = "s3"))]
    {
        let _ = upload_jobs;
        if a.upload.upload.is_some() || a.upload.s3.any_other_than_dry_run() {
            anyhow::bail!(
                "this sm-pack was built without S3 support; rebuild with `cargo build --features s3`"
            );
        }
    }
    let plan = sm_pack::batch::plan(&job)?;
    if a.upload.s3.dry_run {
        print_plan(ctx, family, &job, &plan)?;
        return Ok(Some(0));
    }
    Ok(Some(run(ctx, family, &job, &plan)?))
}

/// Where `name` would go in S3, for the dry run.
fn key_for(job: &BatchJob, archive: &str) -> Option<String> {
    #[cfg(feature = "s3")]
    {
        job.upload
            .as_ref()
            .map(|u| format!("s3://{}/{}", u.dest.bucket, u.dest.object_key(archive)))
    }
    #[cfg(not(feature = "s3"))]
    {
        let _ = (job, archive);
        None
    }
}

fn print_plan(ctx: &Ctx, family: Family, job: &BatchJob, plan: &Plan) -> Result<()> {
    if ctx.json {
        let models: Vec<_> = plan
            .models
            .iter()
            .map(|m| {
                json!({
                    "name": m.name,
                    "source": m.source.to_string_lossy(),
                    "archive": job.out_dir.join(&m.archive).to_string_lossy(),
                    "upload": key_for(job, &m.archive),
                })
            })
            .collect();
        let report = json!({
            "schema": REPORT_SCHEMA,
            "command": pack_command(family),
            "batch": true,
            "dry_run": true,
            "ok": true,
            "exit_code": 0,
            "out_dir": job.out_dir.to_string_lossy(),
            "models": models,
            "skipped": plan.skipped,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} nothing was packed or contacted; {} models would go to {}:",
        paint(ctx.style.out, style::YELLOW, "dry run:"),
        plan.models.len(),
        job.out_dir.display()
    );
    for m in &plan.models {
        let mut line = format!("  {}  ->  {}", m.source.display(), m.archive);
        if let Some(k) = key_for(job, &m.archive) {
            line.push_str(&format!("  ->  {k}"));
        }
        println!("{line}");
    }
    print_skipped(ctx, plan);
    Ok(())
}

fn print_skipped(ctx: &Ctx, plan: &Plan) {
    if plan.skipped.is_empty() || ctx.quiet {
        return;
    }
    let shown = if ctx.verbose { plan.skipped.len() } else { 5 };
    println!(
        "  {} {} in the folders {} not a model and {} passed over:",
        paint(ctx.style.out, style::DIM, "skipped"),
        count(plan.skipped.len(), "file"),
        if plan.skipped.len() == 1 { "is" } else { "are" },
        if plan.skipped.len() == 1 {
            "was"
        } else {
            "were"
        },
    );
    for s in plan.skipped.iter().take(shown) {
        println!("    {}: {}", s.path, s.reason);
    }
    if plan.skipped.len() > shown {
        println!("    … (-v lists all)");
    }
}

/// `1 file`, `2 files`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// One table row (and the findings of a model that failed).
fn row(ctx: &Ctx, e: &ModelEntry) -> Option<String> {
    let on = ctx.style.out;
    let status = match e.status {
        Status::Packed => paint(on, style::GREEN, "packed    "),
        Status::Unchanged => paint(on, style::DIM, "unchanged "),
        Status::Failed => paint(on, style::RED, "failed    "),
        Status::Error => paint(on, style::RED, "error     "),
        Status::Interrupted => paint(on, style::YELLOW, "interrupt "),
        _ => return None,
    };
    let failed = matches!(
        e.status,
        Status::Failed | Status::Error | Status::Interrupted
    );
    if ctx.quiet && !failed {
        return None;
    }
    let (size, sha) = match &e.archive {
        Some(a) => (
            human_bytes(a.size),
            a.sha256.chars().take(12).collect::<String>(),
        ),
        None => ("-".into(), "-".into()),
    };
    let mut notes = Vec::new();
    if let Some(m) = &e.message {
        notes.push(m.clone());
    }
    if let (Status::Packed, Some(r)) = (e.status, &e.reason)
        && r != "new"
    {
        notes.push(format!("redone: {r}"));
    }
    if let Some(c) = &e.conversion {
        notes.push(format!("converted: {} -> {}", c.from, c.to));
    }
    if let Some(u) = &e.upload {
        notes.push(match u.status.as_str() {
            "uploaded" => "uploaded".to_string(),
            _ => "already in S3".to_string(),
        });
    }
    if e.removed_stale {
        notes.push("removed the archive of an earlier run".into());
    }
    let warnings = e
        .findings
        .iter()
        .filter(|f| f.severity == sm_pack::Severity::Warning)
        .count();
    if !failed && warnings > 0 {
        notes.push(format!(
            "{warnings} warning{}",
            if warnings == 1 { "" } else { "s" }
        ));
    }
    let mut line = format!(
        "  {status} {:<28} {:>10}  {:<12}  {}",
        e.name,
        size,
        sha,
        notes.join("; ")
    )
    .trim_end()
    .to_string();
    if failed || ctx.verbose {
        for f in &e.findings {
            if f.severity == sm_pack::Severity::Error || ctx.verbose {
                line.push('\n');
                line.push_str(&render::finding_line(ctx, f));
            }
        }
        if let Some(h) = &e.hint {
            line.push_str(&format!("\n      {} {h}", paint(on, style::DIM, "hint:")));
        }
    }
    Some(line)
}

fn summary_lines(ctx: &Ctx, job: &BatchJob, o: &Outcome) {
    let s = &o.summary;
    let on = ctx.style.out;
    let mut parts = Vec::new();
    if s.packed > 0 {
        parts.push(paint(on, style::GREEN, &format!("{} packed", s.packed)));
    }
    if s.unchanged > 0 {
        parts.push(format!("{} unchanged", s.unchanged));
    }
    if s.failed > 0 {
        parts.push(paint(on, style::RED, &format!("{} failed", s.failed)));
    }
    if s.errors > 0 {
        parts.push(paint(on, style::RED, &count(s.errors, "error")));
    }
    if s.interrupted > 0 {
        parts.push(paint(
            on,
            style::YELLOW,
            &format!("{} interrupted", s.interrupted),
        ));
    }
    if s.not_run > 0 {
        parts.push(paint(on, style::YELLOW, &format!("{} not run", s.not_run)));
    }
    let mut line = format!(
        "{}: {}",
        count(s.models, "model"),
        if parts.is_empty() {
            "none ran".into()
        } else {
            parts.join(", ")
        }
    );
    if s.converted > 0 {
        line.push_str(&format!(" ({} converted for the container)", s.converted));
    }
    println!("{line}");
    if s.not_run > 0 && !job.keep_going && s.interrupted == 0 {
        println!(
            "  stopped at the first failure; pass --keep-going to finish the batch and see every failure"
        );
    }
    if s.uploaded + s.already_uploaded > 0 {
        let mut l = format!(
            "  uploaded {}, {} already in S3 with the same sha256",
            count(s.uploaded, "archive"),
            s.already_uploaded
        );
        if let Some(r) = &o.remote_sha256sums {
            l.push_str(&format!("; {}", r.uri));
        }
        println!("{l}");
    }
    if s.removed_temp_files > 0 {
        println!(
            "  removed {} an interrupted run had left",
            count(s.removed_temp_files, "temporary file")
        );
    }
    println!(
        "  index     {}\n  checksums {}  (check with: cd {} && sha256sum -c {})",
        o.index.display(),
        o.sha256sums.display(),
        job.out_dir.display(),
        sm_pack::batch::SUMS_FILE
    );
    for e in &o.errors {
        eprintln!("{} {e}", paint(ctx.style.err, style::RED, "error:"));
    }
}

/// The `--json` report, streamed: the head when the first model is done,
/// one entry per model, the tail at the end.
struct JsonStream {
    head: Option<String>,
    first: bool,
}

impl JsonStream {
    fn entry(&mut self, e: &ModelEntry) {
        let mut out = std::io::stdout().lock();
        if let Some(h) = self.head.take() {
            let _ = write!(out, "{h}");
        }
        let sep = if self.first { "\n" } else { ",\n" };
        self.first = false;
        let body = serde_json::to_string_pretty(e).unwrap_or_default();
        let body: Vec<String> = body.lines().map(|l| format!("    {l}")).collect();
        let _ = write!(out, "{sep}{}", body.join("\n"));
        let _ = out.flush();
    }

    fn started(&self) -> bool {
        self.head.is_none()
    }

    fn finish(mut self, tail: serde_json::Value) {
        let mut out = std::io::stdout().lock();
        if let Some(h) = self.head.take() {
            let _ = write!(out, "{h}");
        }
        let _ = write!(out, "{}", if self.first { "]" } else { "\n  ]" });
        if let Some(obj) = tail.as_object() {
            for (k, v) in obj {
                let text = serde_json::to_string_pretty(v).unwrap_or_default();
                let text: Vec<&str> = text.lines().collect();
                let _ = write!(out, ",\n  \"{k}\": {}", text.join("\n  "));
            }
        }
        let _ = writeln!(out, "\n}}");
        let _ = out.flush();
    }
}

fn run(ctx: &Ctx, family: Family, job: &BatchJob, plan: &Plan) -> Result<i32> {
    let mut json = ctx.json.then(|| JsonStream {
        head: Some(format!(
            "{{\n  \"schema\": \"{REPORT_SCHEMA}\",\n  \"command\": \"{}\",\n  \"batch\": true,\n  \"out_dir\": {},\n  \"skipped\": {},\n  \"models\": [",
            pack_command(family),
            serde_json::to_string(&job.out_dir.to_string_lossy()).unwrap_or_default(),
            serde_json::to_string_pretty(&plan.skipped)
                .unwrap_or_default()
                .lines()
                .collect::<Vec<_>>()
                .join("\n  "),
        )),
        first: true,
    });
    let bar = (!ctx.json && !ctx.quiet && std::io::stderr().is_terminal() && plan.models.len() > 1)
        .then(|| {
            let b = indicatif::ProgressBar::new(plan.models.len() as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {pos}/{len} models [{bar:30}] {per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
    if !ctx.json && !ctx.quiet {
        println!(
            "packing {} {} model{} into {}{}",
            plan.models.len(),
            family.as_str(),
            if plan.models.len() == 1 { "" } else { "s" },
            job.out_dir.display(),
            job.container
                .as_deref()
                .map(|c| format!(" for container {c}"))
                .unwrap_or_default()
        );
    }
    let mut on_model = |e: &ModelEntry| {
        if let Some(j) = json.as_mut() {
            j.entry(e);
            return;
        }
        if let Some(line) = row(ctx, e) {
            match &bar {
                Some(b) => b.suspend(|| println!("{line}")),
                None => println!("{line}"),
            }
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
    };
    let result = sm_pack::batch::run(job, plan, &mut on_model);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            return match json {
                // Models were already reported: close the document with the error.
                Some(j) if j.started() => {
                    let code = match &e {
                        sm_pack::Error::Interrupted => super::EXIT_INTERRUPTED,
                        e => e.exit_code(),
                    };
                    j.finish(json!({
                        "summary": null,
                        "index": null,
                        "sha256sums": null,
                        "remote_sha256sums": null,
                        "errors": [e.to_string()],
                        "ok": false,
                        "exit_code": code,
                    }));
                    eprintln!("{} {e}", paint(ctx.style.err, style::RED, "error:"));
                    Ok(code)
                }
                _ => Err(e.into()),
            };
        }
    };
    let code = outcome.summary.exit_code;
    if let Some(j) = json {
        j.finish(json!({
            "summary": outcome.summary,
            "index": outcome.index.to_string_lossy(),
            "sha256sums": outcome.sha256sums.to_string_lossy(),
            "remote_sha256sums": outcome.remote_sha256sums,
            "errors": outcome.errors,
            "ok": code == 0,
            "exit_code": code,
        }));
    } else {
        if !ctx.quiet {
            print_skipped(ctx, plan);
        }
        if !ctx.quiet || code != 0 {
            summary_lines(ctx, job, &outcome);
        }
    }
    Ok(code)
}
